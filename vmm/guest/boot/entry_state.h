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

// The secure world's entry state on CPU `cpu` (include/evmm_tee.h, docs/tee.md): 64-bit mode at `entry`, CS 0x08
// (L = 1), SS/DS/ES/FS/GS 0x10 of the info page's GDT, CR0.PE|PG, CR4.PAE, EFER.LME|LMA|NXE, CR3 = the initial
// page tables, RFLAGS 0x2; RDI = the startup structure, RSI = cpu, RSP = that CPU's stack top.
void gcpu_tee_entry_state(evmm_gcpu_state_t& s, u64 entry, u64 tee_base, u64 tee_size, u32 cpu);

} // namespace evmm
