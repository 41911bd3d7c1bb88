// vmcall: the VMCALL ABI: PING, VERSION, LOG (text, too long -> -EINVAL, in the hypervisor region -> -EFAULT),
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

    vmcall_check(0x7777, 0, 0, 0, E_NOSYS, nullptr, r, "unknown call 0x7777 returns -38 (ENOSYS)");

    unsigned n = clobbered_registers(EVMM_VMCALL_PING);
    if (!check(n == 0, "PING preserves RSI, RDI, RBP, R8-R15"))
        note(n == 99 ? "  vmcall raised an exception" : "  %u of 11 registers changed", n);
    n = clobbered_registers(0x7777);
    if (!check(n == 0, "an unknown call preserves RSI, RDI, RBP, R8-R15"))
        note(n == 99 ? "  vmcall raised an exception" : "  %u of 11 registers changed", n);
}
