// teeclient: guest0's side of the secure world (issue 11, docs/tee-test-kit.md). Calls the test TEE
// (tests/guests/tee.cpp) through the SMC VMCALL of include/evmm_tee.h: echo (and guest0's other registers survive
// the world switch), add, the counter, the MAC of a guest0 buffer (stable, keyed, length and address checks),
// the TEE's own self-test, calls from every AP at once (distinct counter values, each answered by its own TEE CPU),
// guest0 reading and writing TEE memory (#GP), and last the TEE's crash: that SMC and every later one, on the BSP
// and on the APs, return EVMM_TEE_SMC_ERR_DEAD while guest0 keeps running.
//
// Command line (all optional): expect=none (evmm runs without a `tee` module: every SMC returns
// EVMM_TEE_SMC_ERR_NO_TEE), teebase=N (the TEE's memory base, decimal; default: found as the hole of at least
// EVMM_TEE_MIN_SIZE + 2 barriers in guest0's memory map), timeout_ms=N (per-AP start bound, default 1000),
// crash=0 (leave the TEE alive at the end).
#include "evmm_tee.h"
#include "guest.h"
#include "siphash.h"
#include "smp.h"
#include "tee_smc.h"

using namespace guest;

namespace {

constexpr u64 AP_TIMEOUT_MS_DEFAULT = 1000;
constexpr u64 AP_WORK_TIMEOUT_US = 120000000; // all APs finish their calls within this (Bochs under evmm: slow)
constexpr u32 AP_ECHOES = 10;                 // per AP
constexpr u32 AP_COUNTS = 20;                 // per AP
constexpr u32 BSP_COUNTS = 3;
constexpr u64 ECHO_A = 0x0123'4567'89ab'cdefull, ECHO_B = 0xfedc'ba98'7654'3210ull, ECHO_C = 0x5a5a'a5a5'0f0f'f0f0ull;
constexpr u64 UNKNOWN_SERVICE = 0x7f;
constexpr u64 SMC_BOOT_DONE = 0; // the TEE's boot call: from guest0 an unknown service
constexpr u64 MAC_MAX = 4096;
constexpr u64 MAC_FLIP_AT = 1234;
constexpr u64 ERR_FAULT = static_cast<u64>(E_FAULT);
constexpr u64 ERR_INVAL = static_cast<u64>(E_INVAL);
constexpr u64 TEE_HOLE_MIN = EVMM_TEE_MIN_SIZE + 2 * EVMM_TEE_BARRIER; // 18 MiB
constexpr u64 FNV_OFFSET = 0xcbf29ce484222325ull, FNV_PRIME = 0x100000001b3ull;
constexpr u64 PATTERN = 0x5eed'0000'0000'0000ull; // guest0's registers across the switch: PATTERN | register

alignas(4096) u8 g_buf[MAC_MAX];

// What each AP records (slot 1..): written by that AP, read by the BSP after the AP's release store of `done`.
struct ApReport {
    u32 echo_ok;
    u32 counted;
    u64 counter[AP_COUNTS];
    u64 tee_cpu; // RDX of its COUNTER answers (all the same: the AP's own TEE CPU)
    bool tee_cpu_stable;
    u32 done;     // phase 1 (calls) finished
    u64 dead_rax; // phase 2 (after the crash): its SMC's RAX and RDI
    u64 dead_rdi;
    u32 dead_done;
};
ApReport g_ap[SMP_MAX_CPUS];
u32 g_phase; // 2: the TEE crashed, every AP makes one more SMC

bool cmdline_has(const char* word) {
    const evmm::Mb2Info* m = mb2();
    if (m == nullptr || m->cmdline.str == nullptr) return false;
    const char* s = m->cmdline.str;
    const size_t n = __builtin_strlen(word);
    for (size_t i = 0; s[i] != '\0'; ++i)
        if ((i == 0 || s[i - 1] == ' ') && __builtin_memcmp(s + i, word, n) == 0 &&
            (s[i + n] == '\0' || s[i + n] == ' '))
            return true;
    return false;
}

u64 fnv1a(const u8* p, size_t n) {
    u64 h = FNV_OFFSET;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

SmcRegs mac(const void* buf, u64 len) { return smc(EVMM_TEE_SVC_MAC, reinterpret_cast<u64>(buf), len, 0); }

// ---- the APs ------------------------------------------------------------------------------------------------------

void ap_main(u32 slot, void*) {
    ApReport& r = g_ap[slot];
    for (u32 i = 0; i < AP_ECHOES; ++i) {
        const u64 x = ECHO_A ^ (u64{slot} << 32) ^ i;
        const SmcRegs a = smc(EVMM_TEE_SVC_ECHO, x, ~x, slot);
        if (a.rax == EVMM_TEE_VMCALL_SMC && a.rdi == 0 && a.rsi == x && a.rdx == ~x && a.rcx == slot) ++r.echo_ok;
    }
    r.tee_cpu_stable = true;
    for (u32 i = 0; i < AP_COUNTS; ++i) {
        const SmcRegs a = smc(EVMM_TEE_SVC_COUNTER, 0, 0, 0);
        if (a.rdi != 0) continue;
        r.counter[r.counted++] = a.rsi;
        if (i == 0) r.tee_cpu = a.rdx;
        if (a.rdx != r.tee_cpu) r.tee_cpu_stable = false;
    }
    __atomic_store_n(&r.done, 1u, __ATOMIC_RELEASE);
    const u64 end = tsc_deadline_us(AP_WORK_TIMEOUT_US);
    while (__atomic_load_n(&g_phase, __ATOMIC_ACQUIRE) < 2) {
        if (tsc_past(end)) return;
        asm volatile("pause");
    }
    const SmcRegs a = smc(EVMM_TEE_SVC_ECHO, ECHO_A, ECHO_B, ECHO_C);
    r.dead_rax = a.rax;
    r.dead_rdi = a.rdi;
    __atomic_store_n(&r.dead_done, 1u, __ATOMIC_RELEASE);
}

bool wait_flag(const u32& flag, u64 end) {
    while (__atomic_load_n(&flag, __ATOMIC_ACQUIRE) == 0) {
        if (tsc_past(end)) return false;
        asm volatile("pause");
    }
    return true;
}

// Starts every AP the MADT lists (slots 1..); returns how many started.
u32 start_aps(u32* slots_used) {
    static SmpTopology topo;
    const evmm::Status st = smp_find_cpus(topo);
    if (!check(st.ok(), "ACPI MADT found")) return 0;
    if (topo.madt.count < 2) return 0;
    const u64 page = smp_choose_trampoline();
    if (!check(page != 0, "a trampoline page below 1 MiB chosen")) return 0;
    smp_prepare(page);
    const u32 bsp = apic_id();
    const u64 timeout_us = cmdline_u64("timeout_ms", AP_TIMEOUT_MS_DEFAULT) * 1000;
    u32 slot = 1, started = 0;
    for (u32 i = 0; i < topo.madt.count && slot < SMP_MAX_CPUS; ++i) {
        if (topo.madt.apic_id[i] == bsp) continue;
        SmpStartResult r;
        if (check(smp_start_ap(topo.madt.apic_id[i], slot, ap_main, nullptr, timeout_us, r),
                  "AP APIC ID %u started (slot %u)", topo.madt.apic_id[i], slot))
            ++started;
        ++slot;
    }
    *slots_used = slot;
    return started;
}

// ---- the TEE's memory as guest0 sees it (a hole in its memory map) -------------------------------------------------

// The lowest address of the largest gap of at least TEE_HOLE_MIN between usable ranges of guest0's memory map, with
// evmm's region (when known) cut out, whose start + EVMM_TEE_BARRIER is EVMM_TEE_ALIGN aligned: the TEE's base is
// that start + the barrier. 0 when there is none.
u64 find_tee_hole(u64 hv_base, u64 hv_size, u64& hole_len) {
    const evmm::Mb2Info* m = mb2();
    if (m == nullptr || !m->has_mmap) return 0;
    static evmm_mmap_entry_t usable[EVMM_MAX_MMAP];
    u32 n = 0;
    for (u32 i = 0; i < m->mmap_count; ++i) {
        if (m->mmap[i].type != EVMM_MEM_USABLE) continue;
        u32 j = n++; // insertion sort by base
        for (; j > 0 && usable[j - 1].base > m->mmap[i].base; --j) usable[j] = usable[j - 1];
        usable[j] = m->mmap[i];
    }
    u64 best = 0;
    hole_len = 0;
    auto consider = [&](u64 lo, u64 hi) {
        if (hi <= lo || hi - lo < TEE_HOLE_MIN || ((lo + EVMM_TEE_BARRIER) & (EVMM_TEE_ALIGN - 1)) != 0) return;
        if (hi - lo > hole_len) {
            best = lo;
            hole_len = hi - lo;
        }
    };
    for (u32 i = 1; i < n; ++i) {
        const u64 lo = usable[i - 1].base + usable[i - 1].length, hi = usable[i].base;
        if (hi <= lo) continue;
        if (hv_size != 0 && hv_base < hi && lo < hv_base + hv_size) {
            consider(lo, hv_base);
            consider(hv_base + hv_size, hi);
        } else {
            consider(lo, hi);
        }
    }
    return best;
}

// ---- the checks -------------------------------------------------------------------------------------------------

void no_tee(const SmcRegs& first) {
    check_eq(first.rax, EVMM_TEE_SMC_ERR_NO_TEE, "without a TEE the SMC returns ERR_NO_TEE in RAX");
    check_eq(first.rdi, EVMM_TEE_SMC_ERR_NO_TEE, "without a TEE the SMC returns ERR_NO_TEE in RDI");
    const SmcRegs again = smc(EVMM_TEE_SVC_COUNTER, 0, 0, 0);
    check(again.rax == EVMM_TEE_SMC_ERR_NO_TEE && again.rdi == EVMM_TEE_SMC_ERR_NO_TEE,
          "a second SMC (COUNTER) returns ERR_NO_TEE too");
    VmcallResult p;
    u8 vec;
    const bool done = probe_vmcall(EVMM_VMCALL_PING, 0, 0, 0, p, vec);
    check(done && p.rax == 0 && p.rbx == EVMM_VMCALL_PING_MAGIC, "ordinary VMCALLs still work (PING)");
}

// ECHO with guest0's RBX and R8-R15 set to patterns: they are guest0's own across the switch (include/evmm_tee.h).
void echo_keeps_registers() {
    const bool vmmcall = hypercall_is_vmmcall(); // a call: before the register variables (it may clobber R8-R11)
    register u64 r8 asm("r8") = PATTERN | 8, r9 asm("r9") = PATTERN | 9, r10 asm("r10") = PATTERN | 10;
    register u64 r11 asm("r11") = PATTERN | 11, r12 asm("r12") = PATTERN | 12, r13 asm("r13") = PATTERN | 13;
    register u64 r14 asm("r14") = PATTERN | 14, r15 asm("r15") = PATTERN | 15;
    u64 rax = EVMM_TEE_VMCALL_SMC, rdi = EVMM_TEE_SVC_ECHO, rsi = ECHO_A, rdx = ECHO_B, rcx = ECHO_C;
    u64 rbx = PATTERN | 3;
    if (vmmcall)
        asm volatile("vmmcall"
                     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx), "+b"(rbx), "+r"(r8), "+r"(r9), "+r"(r10),
                       "+r"(r11), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15)
                     :
                     : "memory");
    else
        asm volatile("vmcall"
                     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx), "+b"(rbx), "+r"(r8), "+r"(r9), "+r"(r10),
                       "+r"(r11), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15)
                     :
                     : "memory");
    const u64 got[9] = {rbx, r8, r9, r10, r11, r12, r13, r14, r15};
    const u64 want[9] = {PATTERN | 3,  PATTERN | 8,  PATTERN | 9,  PATTERN | 10, PATTERN | 11,
                         PATTERN | 12, PATTERN | 13, PATTERN | 14, PATTERN | 15};
    u32 bad = 0;
    for (u32 i = 0; i < 9; ++i)
        if (got[i] != want[i]) {
            if (bad++ == 0)
                note("register %u: got 0x%llx want 0x%llx", i, static_cast<unsigned long long>(got[i]),
                     static_cast<unsigned long long>(want[i]));
        }
    check(rdi == 0 && rsi == ECHO_A && rdx == ECHO_B && rcx == ECHO_C && bad == 0,
          "ECHO keeps guest0's RBX and R8-R15 (the TEE's registers are its own)");
}

void services() {
    echo_keeps_registers();
    SmcRegs a = smc(EVMM_TEE_SVC_ADD, 40, 2, 0);
    check(a.rdi == 0 && a.rsi == 42, "ADD: 40 + 2 = 42");
    a = smc(EVMM_TEE_SVC_ADD, ~u64{0}, 2, 0);
    check(a.rdi == 0 && a.rsi == 1, "ADD wraps modulo 2^64");

    u64 c[BSP_COUNTS];
    bool cpu0 = true;
    for (u32 i = 0; i < BSP_COUNTS; ++i) {
        a = smc(EVMM_TEE_SVC_COUNTER, 0, 0, 0);
        c[i] = a.rsi;
        cpu0 = cpu0 && a.rdi == 0 && a.rdx == 0;
    }
    check(c[0] >= 1 && c[1] == c[0] + 1 && c[2] == c[1] + 1, "COUNTER increments by one per call (%llu, %llu, %llu)",
          static_cast<unsigned long long>(c[0]), static_cast<unsigned long long>(c[1]),
          static_cast<unsigned long long>(c[2]));
    check(cpu0, "the BSP's calls are answered by the TEE's CPU 0");

    check_eq(smc(UNKNOWN_SERVICE, 0, 0, 0).rdi, ERR_INVAL, "an unknown service returns -EINVAL");
    check_eq(smc(SMC_BOOT_DONE, 0, 0, 0).rdi, ERR_INVAL, "service 0 (the TEE's boot call) from guest0: -EINVAL");
}

u64 mac_checks() {
    for (u64 i = 0; i < MAC_MAX; ++i) g_buf[i] = static_cast<u8>(i * 131 + 7);
    const SmcRegs m1 = mac(g_buf, MAC_MAX), m2 = mac(g_buf, MAC_MAX);
    check(m1.rdi == 0 && m2.rdi == 0 && m1.rsi == m2.rsi, "MAC of a 4 KiB guest0 buffer is stable (0x%016llx)",
          static_cast<unsigned long long>(m1.rsi));
    g_buf[MAC_FLIP_AT] ^= 1;
    const SmcRegs m3 = mac(g_buf, MAC_MAX);
    g_buf[MAC_FLIP_AT] ^= 1;
    check(m3.rdi == 0 && m3.rsi != m1.rsi, "MAC changes when one bit of the buffer changes");
    check_eq(mac(g_buf, MAC_MAX).rsi, m1.rsi, "MAC is back when the bit is back");
    const SipKey zero{};
    check(m1.rsi != fnv1a(g_buf, MAC_MAX) && m1.rsi != siphash24(zero, g_buf, MAC_MAX),
          "MAC is keyed: neither FNV-1a nor SipHash-2-4 under a zero key");
    const SmcRegs part = mac(g_buf + 5, 100);
    check(part.rdi == 0 && part.rsi != m1.rsi, "MAC of an unaligned 100-byte slice");
    check_eq(mac(g_buf, 0).rdi, 0, "MAC of 0 bytes is accepted");
    check_eq(mac(g_buf, MAC_MAX + 1).rdi, ERR_INVAL, "MAC of more than 4096 bytes: -EINVAL");
    return m1.rsi;
}

u64 read_drs(u64 (&v)[4]) {
    asm volatile("mov %%db0, %0; mov %%db1, %1; mov %%db2, %2; mov %%db3, %3"
                 : "=r"(v[0]), "=r"(v[1]), "=r"(v[2]), "=r"(v[3]));
    return v[0] | v[1] | v[2] | v[3];
}

// guest0's own state across world switches (include/evmm_tee.h: only RDI/RSI/RDX/RCX cross): its syscall MSRs,
// DR0-DR3 and a callee-saved register it set survive calls into a TEE that sets its own values of them.
void own_state() {
    // The TEE set its DR0 at boot; guest0 has not touched a debug register yet: its first read sees its own zeros
    // (evmm switches DR0-3 lazily, docs/tee.md), not the TEE's value.
    u64 first[4];
    const u64 any = read_drs(first);
    check(any == 0, "guest0's first read of DR0-DR3 sees its own zeros, not the TEE's DR0 (0x%llx)",
          static_cast<unsigned long long>(first[0]));
    constexpr u32 LSTAR = 0xC0000082, KGS = 0xC0000102, STAR = 0xC0000081, FMASK = 0xC0000084;
    const u64 saved[4] = {rdmsr(LSTAR), rdmsr(KGS), rdmsr(STAR), rdmsr(FMASK)};
    constexpr u64 MINE[4] = {0xFFFFFFFF81000000ull, 0xFFFF888000000000ull, 0x0023001000000000ull, 0x47700};
    wrmsr(LSTAR, MINE[0]);
    wrmsr(KGS, MINE[1]);
    wrmsr(STAR, MINE[2]);
    wrmsr(FMASK, MINE[3]);
    constexpr u64 DR[4] = {0x600DF00D, 0x600DF01D, 0x600DF02D, 0x600DF03D};
    asm volatile("mov %0, %%db0; mov %1, %%db1; mov %2, %%db2; mov %3, %%db3"
                 :
                 : "r"(DR[0]), "r"(DR[1]), "r"(DR[2]), "r"(DR[3]));
    for (u64 i = 0; i < 4; ++i) (void)smc(EVMM_TEE_SVC_ECHO, i, 0, 0);
    (void)smc(EVMM_TEE_SVC_SELFTEST, 0, 0, 0);
    u64 dr[4];
    read_drs(dr);
    const bool ok = rdmsr(LSTAR) == MINE[0] && rdmsr(KGS) == MINE[1] && rdmsr(STAR) == MINE[2] &&
                    rdmsr(FMASK) == MINE[3] && dr[0] == DR[0] && dr[1] == DR[1] && dr[2] == DR[2] && dr[3] == DR[3];
    check(ok, "guest0's LSTAR, KERNEL_GS_BASE, STAR, FMASK and DR0-DR3 survive calls into the TEE");
    wrmsr(LSTAR, saved[0]);
    wrmsr(KGS, saved[1]);
    wrmsr(STAR, saved[2]);
    wrmsr(FMASK, saved[3]);
    asm volatile("mov %0, %%db0; mov %0, %%db1; mov %0, %%db2; mov %0, %%db3" : : "r"(u64{0}));
}

void selftest() {
    own_state();
    const SmcRegs s = smc(EVMM_TEE_SVC_SELFTEST, 0, 0, 0);
    const u64 exec_vector = s.rcx >> 32;
    note("TEE self-test: %llu passed, %llu failed, failed mask 0x%llx, executing guest0's RAM raised %s",
         static_cast<unsigned long long>(s.rsi), static_cast<unsigned long long>(s.rdx),
         static_cast<unsigned long long>(s.rcx & 0xFFFFFFFFu),
         exec_vector < 32 ? vector_name(static_cast<unsigned>(exec_vector)) : "nothing");
    check(s.rdi == 0 && s.rsi > 0, "SELFTEST answers with a count of passed checks");
    check_eq(s.rdx, 0, "the TEE's self-test: 0 failed");
}

void smp_calls(u64 bsp_last_counter) {
    u32 slots = 1;
    const u32 started = start_aps(&slots);
    if (started == 0) {
        skip("one CPU", "calls from every AP");
        return;
    }
    const u64 end = tsc_deadline_us(AP_WORK_TIMEOUT_US);
    u32 done = 0;
    for (u32 s = 1; s < slots; ++s)
        if (smp_slot_started(s) && wait_flag(g_ap[s].done, end)) ++done;
    check_eq(done, started, "every AP finished its SMCs");
    static u64 seen[SMP_MAX_CPUS * AP_COUNTS];
    u32 n = 0, echo_bad = 0, count_bad = 0, cpu_bad = 0;
    u64 cpus_seen = 0; // bit n: TEE CPU n answered an AP
    static_assert(SMP_MAX_CPUS <= 64);
    for (u32 s = 1; s < slots; ++s) {
        const ApReport& r = g_ap[s];
        if (!smp_slot_started(s) || __atomic_load_n(&r.done, __ATOMIC_ACQUIRE) == 0) continue;
        if (r.echo_ok != AP_ECHOES) ++echo_bad;
        if (r.counted != AP_COUNTS) ++count_bad;
        for (u32 i = 0; i < r.counted; ++i) seen[n++] = r.counter[i];
        // Each AP is answered by its own TEE CPU: not 0 (the BSP's), the same for all its calls, one per AP.
        if (!r.tee_cpu_stable || r.tee_cpu == 0 || r.tee_cpu >= SMP_MAX_CPUS || (cpus_seen & (1ull << r.tee_cpu)) != 0)
            ++cpu_bad;
        else
            cpus_seen |= 1ull << r.tee_cpu;
    }
    check_eq(echo_bad, 0, "every AP's %u ECHOs came back unchanged", AP_ECHOES);
    check_eq(count_bad, 0, "every AP's %u COUNTERs answered", AP_COUNTS);
    check_eq(cpu_bad, 0, "each AP is answered by its own TEE CPU (not 0, one per AP, the same every call)");
    // Concurrent increments: the values are exactly bsp_last + 1 .. bsp_last + n, each once.
    u32 dup_or_out = 0;
    for (u32 i = 0; i < n; ++i) {
        if (seen[i] <= bsp_last_counter || seen[i] > bsp_last_counter + n) ++dup_or_out;
        for (u32 j = i + 1; j < n; ++j)
            if (seen[i] == seen[j]) ++dup_or_out;
    }
    check(n > 0 && dup_or_out == 0, "the APs' %u counter values are distinct and contiguous", n);
    const SmcRegs after = smc(EVMM_TEE_SVC_COUNTER, 0, 0, 0);
    check_eq(after.rsi, bsp_last_counter + n + 1, "the BSP's next COUNTER follows all of the APs'");
}

void tee_memory(u64 mac_ref) {
    u64 hv_base = 0, hv_size = 0;
    VmcallResult vr;
    u8 vec;
    if (probe_vmcall(EVMM_VMCALL_DEBUG_HV_REGION, 0, 0, 0, vr, vec) && vr.rax == 0) {
        hv_base = vr.rbx;
        hv_size = vr.rcx;
    }
    u64 base = cmdline_u64("teebase", 0), hole = 0;
    if (base == 0) {
        const u64 lo = find_tee_hole(hv_base, hv_size, hole);
        if (!check(lo != 0, "guest0's memory map has a hole of >= 18 MiB for the TEE (evmm's region excluded)")) return;
        base = lo + EVMM_TEE_BARRIER;
        note("TEE hole 0x%llx-0x%llx: TEE base 0x%llx", static_cast<unsigned long long>(lo),
             static_cast<unsigned long long>(lo + hole), static_cast<unsigned long long>(base));
    }
    u64 val = 0;
    bool done = probe_read64(base, val, vec);
    check_fault(done, vec, VEC_GP, "reading the TEE's info page (0x%llx) from guest0 raises #GP",
                static_cast<unsigned long long>(base));
    done = probe_write64(base + EVMM_TEE_IMAGE_OFFSET, 0, vec);
    check_fault(done, vec, VEC_GP, "writing the TEE's image (0x%llx) from guest0 raises #GP",
                static_cast<unsigned long long>(base + EVMM_TEE_IMAGE_OFFSET));
    const SmcRegs e = smc(EVMM_TEE_SVC_ECHO, ECHO_A, ECHO_B, ECHO_C);
    check(e.rdi == 0 && e.rsi == ECHO_A && mac(g_buf, MAC_MAX).rsi == mac_ref, "the TEE is unharmed afterwards");
    check_eq(mac(reinterpret_cast<const void*>(base), 64).rdi, ERR_FAULT,
             "MAC over the TEE's own memory is refused (-EFAULT)");
    if (hv_size != 0)
        check_eq(mac(reinterpret_cast<const void*>(hv_base), 64).rdi, ERR_FAULT,
                 "MAC over evmm's region is refused (-EFAULT)");
}

void crash(u32 slots_started) {
    const SmcRegs c = smc(EVMM_TEE_SVC_CRASH, 0, 0, 0);
    check(c.rax == EVMM_TEE_SMC_ERR_DEAD && c.rdi == EVMM_TEE_SMC_ERR_DEAD,
          "CRASH: the TEE's triple fault returns ERR_DEAD in RAX and RDI (got 0x%llx, 0x%llx)",
          static_cast<unsigned long long>(c.rax), static_cast<unsigned long long>(c.rdi));
    const SmcRegs e = smc(EVMM_TEE_SVC_ECHO, ECHO_A, ECHO_B, ECHO_C);
    check(e.rax == EVMM_TEE_SMC_ERR_DEAD && e.rdi == EVMM_TEE_SMC_ERR_DEAD, "a later ECHO returns ERR_DEAD too");
    if (slots_started > 0) {
        __atomic_store_n(&g_phase, 2u, __ATOMIC_RELEASE);
        const u64 end = tsc_deadline_us(AP_WORK_TIMEOUT_US);
        u32 dead = 0, answered = 0;
        for (u32 s = 1; s < SMP_MAX_CPUS; ++s) {
            if (!smp_slot_started(s)) continue;
            if (!wait_flag(g_ap[s].dead_done, end)) continue;
            ++answered;
            if (g_ap[s].dead_rax == EVMM_TEE_SMC_ERR_DEAD && g_ap[s].dead_rdi == EVMM_TEE_SMC_ERR_DEAD) ++dead;
        }
        check(answered == smp_started_count() && dead == answered,
              "every AP's SMC after the crash: ERR_DEAD (%u of %u)", dead, smp_started_count());
    }
    VmcallResult p;
    u8 vec;
    const bool done = probe_vmcall(EVMM_VMCALL_PING, 0, 0, 0, p, vec);
    check(done && p.rax == 0 && p.rbx == EVMM_VMCALL_PING_MAGIC, "guest0 keeps running: evmm answers PING");
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("teeclient", "guest0 calls the test TEE through the SMC VMCALL (issue 11)");
    const bool expect_none = cmdline_has("expect=none");
    SmcRegs first;
    u8 vec;
    const bool done = probe_fn([&] { first = smc(EVMM_TEE_SVC_ECHO, ECHO_A, ECHO_B, ECHO_C); }, vec);
    if (!check_no_fault(done, vec, "the SMC VMCALL returns (a hypervisor is there)")) {
        note("no hypervisor answered the VMCALL: nothing else can be checked");
        return;
    }
    if (expect_none) {
        no_tee(first);
        return;
    }
    if (!check(first.rax == EVMM_TEE_VMCALL_SMC && first.rdi == 0, "the TEE answers (RAX = the SMC number, RDI = 0)")) {
        note("RAX 0x%llx RDI 0x%llx: no live TEE; nothing else can be checked",
             static_cast<unsigned long long>(first.rax), static_cast<unsigned long long>(first.rdi));
        return;
    }
    check(first.rsi == ECHO_A && first.rdx == ECHO_B && first.rcx == ECHO_C, "ECHO: RSI, RDX, RCX come back");
    services();
    const u64 mac_ref = mac_checks();
    selftest();
    check(tsc_calibrate(), "TSC calibrated against PIT channel 2");
    const SmcRegs last = smc(EVMM_TEE_SVC_COUNTER, 0, 0, 0);
    smp_calls(last.rsi);
    tee_memory(mac_ref);
    if (cmdline_u64("crash", 1) != 0) crash(smp_started_count());
}
