// The SMC VMCALL of include/evmm_tee.h (VMMCALL on AMD SVM) from either world (the test TEE, tests/guests/tee.cpp, and
// guest0's teeclient.cpp): VMCALL with RAX = EVMM_TEE_VMCALL_SMC; RDI, RSI, RDX and RCX go to the other world and come
// back with its answer (or, in guest0 without a live TEE, RAX = RDI = EVMM_TEE_SMC_ERR_*). Every other register is the
// calling world's own across the switch, so only these five are outputs. Outside VMX non-root the VMCALL raises #UD
// (Intel SDM Vol. 2B, VMCALL: "#UD If executed outside VMX operation").
#pragma once

#include <stdint.h>

#include "evmm_tee.h"

namespace guest {

struct SmcRegs {
    uint64_t rax = 0, rdi = 0, rsi = 0, rdx = 0, rcx = 0;
};

// The hypercall instruction: VMCALL (0F 01 C1) on Intel VT-x, VMMCALL (0F 01 D9) on AMD SVM (AMD APM Vol. 3
// "VMMCALL"; VMCALL is #UD there), by the CPU vendor (AuthenticAMD, HygonGenuine), read once. For code without the
// guest kit (the test TEE); the kit's own is hypercall_is_vmmcall.
inline bool smc_is_vmmcall() {
    constexpr uint32_t AMD_EBX = 0x68747541, AMD_EDX = 0x69746E65, AMD_ECX = 0x444D4163;       // "AuthenticAMD"
    constexpr uint32_t HYGON_EBX = 0x6F677948, HYGON_EDX = 0x6E65476E, HYGON_ECX = 0x656E6975; // "HygonGenuine"
    static int amd = -1;
    if (amd < 0) {
        uint32_t a = 0, b, c = 0, d;
        asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        amd = (b == AMD_EBX && d == AMD_EDX && c == AMD_ECX) || (b == HYGON_EBX && d == HYGON_EDX && c == HYGON_ECX);
    }
    return amd != 0;
}

// The SMC with the instruction chosen at compile time (VMMCALL: AMD SVM), for a loop that picks it once.
template <bool VMMCALL>
inline SmcRegs smc_with(uint64_t rdi, uint64_t rsi, uint64_t rdx, uint64_t rcx) {
    SmcRegs r;
    r.rax = EVMM_TEE_VMCALL_SMC;
    if constexpr (VMMCALL)
        asm volatile("vmmcall" : "+a"(r.rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx) : : "memory");
    else
        asm volatile("vmcall" : "+a"(r.rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx) : : "memory");
    r.rdi = rdi;
    r.rsi = rsi;
    r.rdx = rdx;
    r.rcx = rcx;
    return r;
}

inline SmcRegs smc(uint64_t rdi, uint64_t rsi, uint64_t rdx, uint64_t rcx) {
    return smc_is_vmmcall() ? smc_with<true>(rdi, rsi, rdx, rcx) : smc_with<false>(rdi, rsi, rdx, rcx);
}

} // namespace guest
