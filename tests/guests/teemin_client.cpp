// teemin_client: guest0's side of the TEE tests with tests/guests/tee_min.cpp (docs/tee.md): SMC echo and add from
// the BSP, the TEE's self-check of its startup structure, the TEE's memory and its barriers unreadable (#GP),
// unknown services refused, and (crash=1) a TEE that crashes: the call returns EVMM_TEE_SMC_ERR_DEAD and so does every
// later one. notee=1: there is no TEE (no module, or one evmm refused): every SMC returns EVMM_TEE_SMC_ERR_NO_TEE.
// dead=1: the TEE died before its first SMC (tests/guests/tee_broken.S): every SMC returns EVMM_TEE_SMC_ERR_DEAD.
#include "evmm_tee.h"
#include "guest.h"

using namespace guest;

namespace {

constexpr u64 TEE_MIN_SVC_INFO = 0x100; // tee_min's own: RSI = base, RDX = size

struct Smc {
    u64 rax, rdi, rsi, rdx, rcx;
};

Smc smc(u64 rdi, u64 rsi = 0, u64 rdx = 0, u64 rcx = 0) {
    Smc r{EVMM_TEE_VMCALL_SMC, rdi, rsi, rdx, rcx};
    if (hypercall_is_vmmcall()) // VMMCALL on AMD SVM (VMCALL is #UD there)
        asm volatile("vmmcall" : "+a"(r.rax), "+D"(r.rdi), "+S"(r.rsi), "+d"(r.rdx), "+c"(r.rcx) : : "memory");
    else
        asm volatile("vmcall" : "+a"(r.rax), "+D"(r.rdi), "+S"(r.rsi), "+d"(r.rdx), "+c"(r.rcx) : : "memory");
    return r;
}

void no_tee() {
    const Smc r = smc(EVMM_TEE_SVC_ECHO, 1, 2, 3);
    check_eq(r.rax, EVMM_TEE_SMC_ERR_NO_TEE, "SMC without a TEE: RAX = EVMM_TEE_SMC_ERR_NO_TEE");
    check_eq(r.rdi, EVMM_TEE_SMC_ERR_NO_TEE, "SMC without a TEE: RDI = EVMM_TEE_SMC_ERR_NO_TEE");
    u64 rbx = 0;
    check_eq(vmcall(0, 0, 0, 0, &rbx), 0, "the ordinary VMCALL ABI still answers (PING)");
}

void with_tee(bool crash) {
    Smc r = smc(EVMM_TEE_SVC_ECHO, 0x1111, 0x2222, 0x3333);
    check(r.rdi == 0 && r.rsi == 0x1111 && r.rdx == 0x2222 && r.rcx == 0x3333 && r.rax == EVMM_TEE_VMCALL_SMC,
          "SMC echo: RSI/RDX/RCX back, RDI = 0, RAX = the SMC number");
    if (r.rdi != 0)
        note("  rax 0x%llx rdi 0x%llx rsi 0x%llx", static_cast<unsigned long long>(r.rax),
             static_cast<unsigned long long>(r.rdi), static_cast<unsigned long long>(r.rsi));
    r = smc(EVMM_TEE_SVC_ADD, 40, 2);
    check(r.rdi == 0 && r.rsi == 42, "SMC add: 40 + 2 = %llu", static_cast<unsigned long long>(r.rsi));
    u64 sum = 0;
    for (u64 i = 0; i < 20; ++i) sum += smc(EVMM_TEE_SVC_ADD, i, 1000).rsi;
    check_eq(sum, 20 * 1000 + 190, "20 SMC round trips in a row");
    r = smc(EVMM_TEE_SVC_SELFTEST);
    check(r.rdi == 0 && r.rsi >= 9 && r.rdx == 0, "the TEE's check of its startup structure: %llu passed, %llu failed",
          static_cast<unsigned long long>(r.rsi), static_cast<unsigned long long>(r.rdx));
    r = smc(0x7777);
    check_eq(r.rdi, static_cast<u64>(-38), "an unknown service: -ENOSYS");
    r = smc(TEE_MIN_SVC_INFO);
    const u64 base = r.rsi, size = r.rdx;
    check(base != 0 && base % EVMM_TEE_ALIGN == 0 && size >= EVMM_TEE_MIN_SIZE, "TEE memory 0x%llx + 0x%llx",
          static_cast<unsigned long long>(base), static_cast<unsigned long long>(size));
    if (base != 0) {
        const u64 addrs[] = {base, base + EVMM_TEE_IMAGE_OFFSET, base + size - 8, base - EVMM_TEE_BARRIER,
                             base + size + EVMM_TEE_BARRIER - 8};
        const char* names[] = {"its info page", "its image", "its last bytes", "the barrier below",
                               "the barrier above"};
        for (u32 i = 0; i < 5; ++i) {
            u64 v = 0;
            u8 vec = 0;
            const bool done = probe_read64(addrs[i], v, vec);
            check_fault(done, vec, VEC_GP, "guest0 reading the TEE's memory (%s, 0x%llx): #GP", names[i],
                        static_cast<unsigned long long>(addrs[i]));
        }
        u8 vec = 0;
        const bool done = probe_write64(base + 0x2000, 0x4141414141414141ull, vec);
        check_fault(done, vec, VEC_GP, "guest0 writing the TEE's memory: #GP");
    }
    r = smc(EVMM_TEE_SVC_ECHO, 5, 6, 7);
    check(r.rdi == 0 && r.rsi == 5, "the TEE still answers after guest0's refused accesses");
    if (!crash) return;
    r = smc(EVMM_TEE_SVC_CRASH);
    check(r.rax == EVMM_TEE_SMC_ERR_DEAD && r.rdi == EVMM_TEE_SMC_ERR_DEAD,
          "the call that crashed the TEE: RAX = RDI = EVMM_TEE_SMC_ERR_DEAD");
    r = smc(EVMM_TEE_SVC_ECHO, 1, 2, 3);
    check(r.rax == EVMM_TEE_SMC_ERR_DEAD && r.rdi == EVMM_TEE_SMC_ERR_DEAD, "a later SMC: EVMM_TEE_SMC_ERR_DEAD");
    u64 rbx = 0;
    check_eq(vmcall(0, 0, 0, 0, &rbx), 0, "guest0 keeps running (PING)");
}

void dead_tee() {
    for (u64 i = 0; i < 3; ++i) {
        const Smc r = smc(EVMM_TEE_SVC_ECHO, i, 0, 0);
        check(r.rax == EVMM_TEE_SMC_ERR_DEAD && r.rdi == EVMM_TEE_SMC_ERR_DEAD,
              "SMC %llu to a TEE that died at boot: RAX = RDI = EVMM_TEE_SMC_ERR_DEAD",
              static_cast<unsigned long long>(i));
    }
    u64 rbx = 0;
    check_eq(vmcall(0, 0, 0, 0, &rbx), 0, "guest0 runs (PING)");
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("teemin_client", "SMC calls into tests/guests/tee_min.cpp; its memory hidden from guest0; its death");
    if (cmdline_u64("dead", 0) != 0)
        dead_tee();
    else if (cmdline_u64("notee", 0) != 0)
        no_tee();
    else
        with_tee(cmdline_u64("crash", 0) != 0);
}
