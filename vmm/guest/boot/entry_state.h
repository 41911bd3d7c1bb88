// Architectural CPU states a guest loader starts a vCPU in: the Multiboot entry state and the state after INIT.
// Pure (host-tested); used by the guest loaders (vmm/guest/boot/) and by the vCPUs that wait for their SIPI.
#pragma once

#include "evmm/base.h"
#include "evmm/gcpu_state.h"

namespace evmm {

// The CPU state a Multiboot2 kernel gets at entry (Multiboot2 spec §3.3 "I386 machine state"): 32-bit protected
// mode, paging off, flat 4 GiB code and data segments, EFLAGS.IF and VM clear, EAX = magic; EBX (the information
// address) and EIP are set by whoever loads guest0.
void gcpu_multiboot2_entry_state(evmm_gcpu_state_t& s);

// The state INIT puts a CPU in (Intel SDM Vol. 3A §10.1.1, Table 10-1): real mode at F000:FFF0, CR0 = 60000010H,
// 64 KiB segments, EDX = the CPUID.1 processor signature `edx`. Used for guest CPUs waiting for their SIPI.
void gcpu_init_state(evmm_gcpu_state_t& s, u32 edx);

} // namespace evmm
