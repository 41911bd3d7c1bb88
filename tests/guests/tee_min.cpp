// tee_min: the smallest secure world for evmm's own tests (docs/tee.md). An ELF64 static PIE with its own 64-bit
// entry (no Multiboot header, no kit): evmm starts it on every CPU with RDI = the startup structure, RSI = the CPU
// number, RSP = that CPU's stack top (include/evmm_tee.h). It checks the startup structure, then answers every SMC:
//   EVMM_TEE_SVC_ECHO      RSI, RDX, RCX back unchanged, RDI = 0
//   EVMM_TEE_SVC_ADD       RSI = RSI + RDX, RDI = 0
//   EVMM_TEE_SVC_SELFTEST  RSI = checks passed, RDX = checks failed (of the startup structure, on that CPU)
//   EVMM_TEE_SVC_CRASH     ud2 with no IDT: #UD cannot be delivered, #DF neither: a triple fault (the TEE dies)
//   TEE_MIN_SVC_INFO       RSI = the TEE's base, RDX = its size (tests find its memory with it)
//   anything else          RDI = -38 (ENOSYS)
// The full test TEE (services COUNTER, MAC, its own view of memory) is tests/guests/tee.cpp.
#include <stdint.h>

#include "evmm_tee.h"
#include "lib/tee_smc.h"

namespace {

using u64 = uint64_t;
constexpr u64 TEE_MIN_SVC_INFO = 0x100;
constexpr u64 ENOSYS = static_cast<u64>(-38);

struct Args {
    u64 rdi, rsi, rdx, rcx;
};

// The SMC VMCALL: hands `a` to the other world and returns what it sends back (its next call).
Args smc(Args a) {
    u64 rax = EVMM_TEE_VMCALL_SMC;
    if (guest::smc_is_vmmcall())
        asm volatile("vmmcall" : "+a"(rax), "+D"(a.rdi), "+S"(a.rsi), "+d"(a.rdx), "+c"(a.rcx) : : "memory");
    else
        asm volatile("vmcall" : "+a"(rax), "+D"(a.rdi), "+S"(a.rsi), "+d"(a.rdx), "+c"(a.rcx) : : "memory");
    return a;
}

struct Checks {
    u64 passed, failed;
    void check(bool ok) { ok ? ++passed : ++failed; }
};

Checks self_check(const evmm_tee_startup_info_t* si, u64 cpu, u64 rsp) {
    Checks c{0, 0};
    const u64 base = reinterpret_cast<u64>(si) - EVMM_TEE_STARTUP_OFFSET;
    const auto* seed = reinterpret_cast<const evmm_tee_seed_t*>(base);
    c.check(si->size_of_this_struct == sizeof(evmm_tee_startup_info_t));
    c.check(si->mem_size >= EVMM_TEE_MIN_SIZE && si->mem_size % EVMM_TEE_ALIGN == 0);
    c.check(si->trusty_mem_base == base && base % EVMM_TEE_ALIGN == 0);
    c.check(si->calibrate_tsc_per_ms != 0);
    c.check(si->sipi_ap_wkup_addr == 0);
    c.check(seed->size_of_this_struct == sizeof(evmm_tee_seed_t) && seed->version == 1);
    u64 any = 0;
    for (unsigned i = 0; i < EVMM_TEE_SEED_SIZE; ++i) any |= seed->seed[i];
    c.check(any != 0);
    // The stack: this CPU's, inside the TEE's memory, below the stack top evmm gave (a few frames deep).
    const u64 top = base + si->mem_size - cpu * EVMM_TEE_STACK_SIZE;
    c.check(rsp < top && rsp > top - EVMM_TEE_STACK_SIZE);
    // The code runs from the TEE's memory, at the image offset or above.
    const u64 here = reinterpret_cast<u64>(&self_check);
    c.check(here >= base + EVMM_TEE_IMAGE_OFFSET && here < base + si->mem_size);
    return c;
}

} // namespace

extern "C" [[noreturn]] void tee_min_main(const evmm_tee_startup_info_t* si, u64 cpu) {
    u64 rsp;
    asm volatile("mov %%rsp, %0" : "=r"(rsp));
    const Checks c = self_check(si, cpu, rsp);
    // The first SMC on this CPU: booted; the CPU goes to guest0. What comes back is guest0's first call.
    Args a = smc(Args{0, c.passed, c.failed, 0});
    for (;;) {
        Args r{0, a.rsi, a.rdx, a.rcx};
        switch (a.rdi) {
        case EVMM_TEE_SVC_ECHO: break;
        case EVMM_TEE_SVC_ADD: r.rsi = a.rsi + a.rdx; break;
        case EVMM_TEE_SVC_SELFTEST: r.rsi = c.passed, r.rdx = c.failed; break;
        case EVMM_TEE_SVC_CRASH: {
            const struct [[gnu::packed]] {
                uint16_t limit;
                u64 base;
            } no_idt{0, 0};
            asm volatile("lidt %0; ud2" : : "m"(no_idt));
            __builtin_unreachable();
        }
        case TEE_MIN_SVC_INFO:
            r.rsi = si->trusty_mem_base;
            r.rdx = si->mem_size;
            break;
        default: r.rdi = ENOSYS; break;
        }
        a = smc(r);
    }
}

// The entry: RDI, RSI, RSP as evmm set them; RSP is 16-byte aligned, so the call leaves it as the ABI wants.
asm(R"(
    .text
    .globl _start
    .type _start, @function
_start:
    xorl %ebp, %ebp
    call tee_min_main
1:  hlt
    jmp 1b
)");
