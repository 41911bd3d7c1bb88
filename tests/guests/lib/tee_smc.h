// The SMC VMCALL of include/evmm_tee.h from either world (the test TEE, tests/guests/tee.cpp, and guest0's
// teeclient.cpp): VMCALL with RAX = EVMM_TEE_VMCALL_SMC; RDI, RSI, RDX and RCX go to the other world and come back
// with its answer (or, in guest0 without a live TEE, RAX = RDI = EVMM_TEE_SMC_ERR_*). Every other register is the
// calling world's own across the switch, so only these five are outputs. Outside VMX non-root the VMCALL raises #UD
// (Intel SDM Vol. 2B, VMCALL: "#UD If executed outside VMX operation").
#pragma once

#include <stdint.h>

#include "evmm_tee.h"

namespace guest {

struct SmcRegs {
    uint64_t rax = 0, rdi = 0, rsi = 0, rdx = 0, rcx = 0;
};

inline SmcRegs smc(uint64_t rdi, uint64_t rsi, uint64_t rdx, uint64_t rcx) {
    SmcRegs r;
    r.rax = EVMM_TEE_VMCALL_SMC;
    asm volatile("vmcall" : "+a"(r.rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx) : : "memory");
    r.rdi = rdi;
    r.rsi = rsi;
    r.rdx = rdx;
    r.rcx = rcx;
    return r;
}

} // namespace guest
