// The secure world's calls and lifecycle (docs/tee.md), vendor-neutral: the SMC VMCALL from either world (a world
// switch on the calling CPU), the TEE's boot on every CPU before guest0 (its first SMC hands the CPU to guest0; no
// SMC within 5 s: a clear stop), and its death (triple fault, unexpected exit, requested exit:
// logged with RIP, the CPU back to guest0 with EVMM_TEE_SMC_ERR_DEAD, every later SMC answered so at once). The
// state switch is vmm/guest/world.h's, the VMCS switch the backend's (gcpu_make_current, gcpu_enter).
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm {

class Guest;

void tee_init(); // stage 3 (MODULES)
// Stage 4 (BSP): the guests (tee nullptr: no TEE; guest0's SMCs return EVMM_TEE_SMC_ERR_NO_TEE).
void tee_attach(Guest& guest0, Guest* tee);
// The vCPU a CPU enters first in stage 6: the TEE's where there is one, else guest0's.
Gcpu& tee_first_vcpu(u32 cpu);
// The exit of a VMCALL with RAX = EVMM_TEE_VMCALL_SMC (vmm/modules/vmcall.cpp): at CPL > 0 #UD (the VMCALL rule,
// gcpu_hypercall_begin); else the instruction is skipped and the call made. Returns only when the call is answered
// in place (no TEE, a dead TEE, #UD); else the other world runs.
void tee_smc(Gcpu& g);

} // namespace evmm
