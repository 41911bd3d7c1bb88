// vmcall: the VMCALL ABI: PING, VERSION, LOG (text, too long -> -EINVAL, in the hypervisor region -> -EFAULT),
// LOG_READ (evmm's log ring read whole and page by page with the cursor; bad buffers, sizes and cursors refused),
// unknown numbers -> -ENOSYS, and registers outside the ABI preserved.
#include "guest.h"

using namespace guest;

namespace {

// One vmcall as a check: passes when it completes with RAX == want_rax (and RBX == *want_rbx when given).
bool vmcall_check(u64 nr, u64 a1, u64 a2, u64 a3, i64 want_rax, const u64* want_rbx, VmcallResult& r,
                  const char* name) {
    u8 vec = 0;
    bool done = probe_vmcall(nr, a1, a2, a3, r, vec);
    bool ok = done && static_cast<i64>(r.rax) == want_rax && (want_rbx == nullptr || r.rbx == *want_rbx);
    check(ok, "%s", name);
    if (!done)
        note("  vmcall raised %s (vector %u): not running under a hypervisor?", vector_name(vec), vec);
    else if (!ok)
        note("  rax %lld (want %lld), rbx 0x%llx%s", static_cast<long long>(r.rax), static_cast<long long>(want_rax),
             static_cast<unsigned long long>(r.rbx), want_rbx != nullptr ? " (want checked too)" : "");
    return ok;
}

const char g_log_text[] = "vmcall: hello from guest0 via VMCALL LOG";

// vmcall with every register outside the ABI (RSI, RDI, RBP, R8-R15) set to a pattern; how many changed
// (99: the vmcall raised an exception).
u8 g_vmmcall; // 1: the hypercall is VMMCALL (AMD SVM); a global, so the asm below reaches it RIP-relative

unsigned clobbered_registers(u64 nr) {
    g_vmmcall = hypercall_is_vmmcall() ? 1 : 0;
    u64 buf[22]; // [0, 11): values loaded before the vmcall; [11, 22): values found after it
    for (int i = 0; i < 11; ++i) {
        buf[i] = 0x1111111111111111ull * static_cast<u64>(i + 1);
        buf[11 + i] = 0;
    }
    u64 rax = nr;
    u64* p = buf;
    u8 vec = 0;
    bool done = probe_fn(
        [&] {
            asm volatile(
                "pushq %%rbp\n\t"
                "pushq %%rbx\n\t"
                "movq 0(%%rbx), %%rsi\n\t"
                "movq 8(%%rbx), %%rdi\n\t"
                "movq 16(%%rbx), %%rbp\n\t"
                "movq 24(%%rbx), %%r8\n\t"
                "movq 32(%%rbx), %%r9\n\t"
                "movq 40(%%rbx), %%r10\n\t"
                "movq 48(%%rbx), %%r11\n\t"
                "movq 56(%%rbx), %%r12\n\t"
                "movq 64(%%rbx), %%r13\n\t"
                "movq 72(%%rbx), %%r14\n\t"
                "movq 80(%%rbx), %%r15\n\t"
                "xorl %%ebx, %%ebx\n\t"
                "xorl %%ecx, %%ecx\n\t"
                "xorl %%edx, %%edx\n\t"
                "cmpb $0, %[vmmcall]\n\t"
                "jne 1f\n\t"
                "vmcall\n\t"
                "jmp 2f\n"
                "1:\tvmmcall\n"
                "2:\txchgq %%rax, 0(%%rsp)\n\t" // rax = buf; the result waits on the stack
                "movq %%rsi, 88(%%rax)\n\t"
                "movq %%rdi, 96(%%rax)\n\t"
                "movq %%rbp, 104(%%rax)\n\t"
                "movq %%r8, 112(%%rax)\n\t"
                "movq %%r9, 120(%%rax)\n\t"
                "movq %%r10, 128(%%rax)\n\t"
                "movq %%r11, 136(%%rax)\n\t"
                "movq %%r12, 144(%%rax)\n\t"
                "movq %%r13, 152(%%rax)\n\t"
                "movq %%r14, 160(%%rax)\n\t"
                "movq %%r15, 168(%%rax)\n\t"
                "movq %%rax, %%rbx\n\t"
                "popq %%rax\n\t"
                "popq %%rbp\n\t"
                : "+a"(rax), "+b"(p)
                : [vmmcall] "m"(g_vmmcall)
                : "cc", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory");
        },
        vec);
    if (!done) return 99;
    unsigned n = 0;
    for (int i = 0; i < 11; ++i)
        if (buf[11 + i] != buf[i]) ++n;
    return n;
}

// ---- LOG_READ -----------------------------------------------------------------------------------------------------

constexpr u64 LOG_RING_SIZE = 16384; // evmm's ring (lib/log.h), LOG_READ's largest buffer
constexpr u64 LOG_PAGE = 100;        // the paged read's chunk: not a divisor of anything, so pages cut lines
constexpr u8 FILL = 0xA5;            // what a buffer holds before a refused call, and must still hold after it
constexpr u64 MAX_PAGES = LOG_RING_SIZE / LOG_PAGE + 2;
const char STAGE6[] = "stage 6: launch guest";
u8 g_whole[LOG_RING_SIZE];
u8 g_paged[LOG_RING_SIZE];
u8 g_small[LOG_PAGE];

bool contains(const u8* buf, u64 len, const char* s) {
    u64 n = 0;
    while (s[n] != 0) ++n;
    for (u64 i = 0; i + n <= len; ++i) {
        u64 k = 0;
        while (k < n && buf[i + k] == static_cast<u8>(s[k])) ++k;
        if (k == n) return true;
    }
    return false;
}

bool all_fill(const u8* buf, u64 len) {
    for (u64 i = 0; i < len; ++i)
        if (buf[i] != FILL) return false;
    return true;
}

// A refused LOG_READ into g_small (a1 defaults to it): RAX = want, and g_small is untouched.
void log_read_refused(u64 a1, u64 a2, u64 a3, i64 want, const char* name) {
    __builtin_memset(g_small, FILL, sizeof g_small);
    VmcallResult r;
    vmcall_check(EVMM_VMCALL_LOG_READ, a1, a2, a3, want, nullptr, r, name);
    check(all_fill(g_small, sizeof g_small), "  ... and nothing was written to the guest's buffer");
}

void log_read_tests(const VmcallResult& region, bool have_region) {
    VmcallResult r;
    // Size 0: the end of the log, nothing copied.
    vmcall_check(EVMM_VMCALL_LOG_READ, reinterpret_cast<u64>(g_whole), 0, 0, 0, nullptr, r,
                 "LOG_READ of 0 bytes returns 0");
    check(r.rbx == 0 && r.rdx > 0, "  ... with RBX = 0 bytes copied and RDX = the log's end (%llu)",
          static_cast<unsigned long long>(r.rdx));

    // The whole ring at once: what evmm still holds, from the oldest byte.
    if (!vmcall_check(EVMM_VMCALL_LOG_READ, reinterpret_cast<u64>(g_whole), sizeof g_whole, 0, 0, nullptr, r,
                      "LOG_READ of the whole ring (16384 bytes from cursor 0) returns 0"))
        return;
    const u64 whole_n = r.rbx, whole_next = r.rcx, whole_end = r.rdx;
    const u64 whole_first = whole_next - whole_n;
    note("  log: %llu bytes logged, %llu read from stream position %llu", static_cast<unsigned long long>(whole_end),
         static_cast<unsigned long long>(whole_n), static_cast<unsigned long long>(whole_first));
    check(whole_n > 0 && whole_n <= sizeof g_whole && whole_next <= whole_end,
          "LOG_READ: 0 < bytes copied <= 16384, next cursor <= end");
    check(whole_end <= LOG_RING_SIZE ? whole_first == 0 : whole_n == LOG_RING_SIZE,
          "LOG_READ: starts at 0, or (the ring wrapped) returns the whole ring");
    check(contains(g_whole, whole_n, STAGE6), "evmm's log read through LOG_READ has \"%s\"", STAGE6);
    check(contains(g_whole, whole_n, g_log_text), "evmm's log has this guest's LOG line");

    // Page by page from the same start, LOG_PAGE bytes at a time, until a call copies nothing.
    u64 cursor = whole_first, got = 0, pages = 0;
    bool chained = true, done = false;
    while (pages < MAX_PAGES) {
        __builtin_memset(g_small, FILL, sizeof g_small);
        u8 vec = 0;
        if (!probe_vmcall(EVMM_VMCALL_LOG_READ, reinterpret_cast<u64>(g_small), sizeof g_small, cursor, r, vec) ||
            r.rax != 0) {
            chained = false;
            break;
        }
        if (r.rbx == 0) {
            done = r.rcx == cursor && r.rdx == cursor;
            break;
        }
        if (r.rcx - r.rbx != cursor || r.rbx > sizeof g_small || got + r.rbx > sizeof g_paged) chained = false;
        if (!chained) break;
        __builtin_memcpy(g_paged + got, g_small, r.rbx);
        got += r.rbx;
        cursor = r.rcx;
        ++pages;
    }
    check(chained, "LOG_READ paged (%llu bytes a call): each call continues at the cursor the last one returned",
          static_cast<unsigned long long>(LOG_PAGE));
    check(done, "  ... and the last call copies 0 bytes, its next cursor and end both the log's end");
    const u64 common = got < whole_n ? got : whole_n;
    check(common == whole_n && __builtin_memcmp(g_paged, g_whole, common) == 0,
          "  ... %llu pages put together equal the whole read", static_cast<unsigned long long>(pages));
    check(contains(g_paged, got, STAGE6), "  ... and have \"%s\"", STAGE6);

    // A cursor beyond the end; too large a size; buffers that are not guest0's RAM.
    log_read_refused(reinterpret_cast<u64>(g_small), sizeof g_small, cursor + 1000, E_INVAL,
                     "LOG_READ with a cursor past the log's end returns -22 (EINVAL)");
    log_read_refused(reinterpret_cast<u64>(g_small), LOG_RING_SIZE + 1, 0, E_INVAL,
                     "LOG_READ of 16385 bytes (more than the ring) returns -22 (EINVAL)");
    log_read_refused(reinterpret_cast<u64>(g_small), ~u64{0}, 0, E_INVAL,
                     "LOG_READ of 2^64-1 bytes returns -22 (EINVAL)");
    constexpr u64 APIC_MMIO = 0xFEE00000;            // the local APIC's page: MMIO, never usable RAM
    constexpr u64 FAR_AWAY = 0x7FFFFFFFF000ull;      // 128 TiB: no RAM there
    constexpr u64 WRAPPING = ~u64{0} - LOG_PAGE / 2; // [a, a + len) wraps past 2^64
    log_read_refused(APIC_MMIO, LOG_PAGE, 0, E_FAULT, "LOG_READ into the local APIC page returns -14 (EFAULT)");
    log_read_refused(FAR_AWAY, LOG_PAGE, 0, E_FAULT, "LOG_READ into an address without RAM returns -14 (EFAULT)");
    log_read_refused(WRAPPING, LOG_PAGE, 0, E_FAULT, "LOG_READ into a buffer that wraps 2^64 returns -14 (EFAULT)");
    if (have_region) {
        log_read_refused(region.rbx, LOG_PAGE, 0, E_FAULT, "LOG_READ into the hypervisor region returns -14 (EFAULT)");
        // A buffer that starts in guest RAM just below the region and runs into it.
        log_read_refused(region.rbx - LOG_PAGE / 2, LOG_PAGE, 0, E_FAULT,
                         "LOG_READ into a buffer that runs into the hypervisor region returns -14 (EFAULT)");
    } else {
        skip("no hypervisor region (VMCALL DEBUG_HV_REGION failed)",
             "LOG_READ into the hypervisor region returns -14 (EFAULT)");
    }
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("vmcall", "VMCALL ABI: PING, VERSION, LOG and its errors, unknown numbers, register preservation");
    VmcallResult r;

    u64 magic = EVMM_VMCALL_PING_MAGIC;
    vmcall_check(EVMM_VMCALL_PING, 0, 0, 0, 0, &magic, r, "PING returns RAX = 0, RBX = 0x6d6d7665 (\"evmm\")");
    u64 version = 1;
    vmcall_check(EVMM_VMCALL_VERSION, 0, 0, 0, 0, &version, r, "VERSION returns RAX = 0, RBX = 1");

    note("  LOG text: %s", g_log_text); // the runner expects "guest0: <this text>" in the hypervisor's log
    vmcall_check(EVMM_VMCALL_LOG, reinterpret_cast<u64>(g_log_text), sizeof g_log_text - 1, 0, 0, nullptr, r,
                 "LOG of a text returns 0");
    vmcall_check(EVMM_VMCALL_LOG, reinterpret_cast<u64>(g_log_text), 0x100000, 0, E_INVAL, nullptr, r,
                 "LOG with length 0x100000 (too long) returns -22 (EINVAL)");

    VmcallResult region;
    u8 vec = 0;
    bool done = probe_vmcall(EVMM_VMCALL_DEBUG_HV_REGION, 0, 0, 0, region, vec);
    if (done && region.rax == 0 && region.rcx != 0) {
        note("  hypervisor region [0x%llx, 0x%llx)", static_cast<unsigned long long>(region.rbx),
             static_cast<unsigned long long>(region.rbx + region.rcx));
        vmcall_check(EVMM_VMCALL_LOG, region.rbx, 16, 0, E_FAULT, nullptr, r,
                     "LOG of a text inside the hypervisor region returns -14 (EFAULT)");
    } else {
        skip("no hypervisor region (VMCALL DEBUG_HV_REGION failed)",
             "LOG of a text inside the hypervisor region returns -14 (EFAULT)");
    }

    log_read_tests(region, done && region.rax == 0 && region.rcx != 0);

    vmcall_check(0x7777, 0, 0, 0, E_NOSYS, nullptr, r, "unknown call 0x7777 returns -38 (ENOSYS)");

    unsigned n = clobbered_registers(EVMM_VMCALL_PING);
    if (!check(n == 0, "PING preserves RSI, RDI, RBP, R8-R15"))
        note(n == 99 ? "  vmcall raised an exception" : "  %u of 11 registers changed", n);
    n = clobbered_registers(0x7777);
    if (!check(n == 0, "an unknown call preserves RSI, RDI, RBP, R8-R15"))
        note(n == 99 ? "  vmcall raised an exception" : "  %u of 11 registers changed", n);
}
