// Two worlds on one CPU (docs/tee.md): the per-world processor state that neither the VMCS nor the VMCB holds for
// evmm, and the switch of it. guest0 (the normal world) and the TEE (the secure world) each have a vCPU on every
// CPU; a world switch on a CPU saves the leaving vCPU's state here and restores the entering one's, with the
// mitigations between them. Vendor-neutral x86: the backend (VT-x: vmm/vmx/gcpu_vmx.cpp) makes the other VMCS
// current and enters it (gcpu_switch in gcpu.h).
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "vmm/guest/gcpu.h"
#include "vmm/host/heap.h"

namespace evmm {

// One MSR and its value, in the layout of the VMX MSR areas (SDM Vol. 3C §25.7.2 Table 25-15: bits 31:0 the MSR's
// index, 63:32 reserved (0), 127:64 the data).
struct WorldMsr {
    u32 index, reserved;
    u64 value;
};
inline constexpr u32 WORLD_MSR_COUNT = 4; // IA32_STAR, IA32_LSTAR, IA32_FMASK, IA32_KERNEL_GS_BASE

struct GcpuWorld {
    u8* xsave_area; // XSAVE area, CPUID.(EAX=0DH,ECX=0):ECX bytes for every XCR0 component (FXSAVE's 512 without XSAVE)
    u64 xcr0;       // the world's XCR0 (evmm performs a guest's XSETBV on the real CPU: the live value is the world's)
    u64 dr[4], dr6; // DR0-3, DR6 (DR7 is in the VMCS)
    u64 spec_ctrl;
    // The syscall MSRs: the backend has the CPU store them at every exit of the world's vCPU and load them at every
    // entry (VT-x: its VMCS's VM-exit MSR-store and VM-entry MSR-load areas are both this array, SDM Vol. 3C
    // §25.7.2, §25.8.2, §28.4, §27.4), so a world switch neither reads nor writes them. 16-byte aligned (§25.7.2).
    alignas(16) WorldMsr msrs[WORLD_MSR_COUNT];
    u64 msrs_pa; // the physical address of msrs
    Gcpu* peer;  // the other world's vCPU on the same CPU (world_pair)
    bool normal; // this is the normal world's (guest0's) vCPU
    // DR0-3 are switched lazily: until the world first accesses a debug register (MOV DR exits, world_dr_claim),
    // it can neither read nor use them (its DR7, in the VMCS, enables no breakpoint), so they stay in `dr` and a
    // switch leaves the CPU's alone; from then on they are live whenever it runs and every switch saves and loads
    // them. Always true where the backend cannot trap the accesses (gcpu_trap_dr_access).
    bool dr_live;
};

// Boot-time facts (stage 4, BSP): XSAVE area size, which mitigations the CPU has. Logs one line.
void world_probe();
// Gives g its per-world state (initial values: XCR0 = x87, DR6 = its reset value, MSRs 0, x87/SSE/AVX init state).
Status world_init(Gcpu& g, PageHeap& heap);
// Makes the two vCPUs of one CPU each other's peer (GcpuWorld::peer), both with their world state (world_init).
void world_pair(Gcpu& normal, Gcpu& secure);
// Stage 5, on g's CPU: records the CPU's live XCR0 as the world's (neither world has run or executed XSETBV yet).
void world_gcpu_init(Gcpu& g);
// A MOV DR exit of g: when g's DR0-3 were not live (GcpuWorld::dr_live), they are loaded into the CPU now and
// stay live; true then (the backend stops trapping g's accesses and lets the instruction run again).
bool world_dr_claim(Gcpu& g);
// g's XSETBV loaded xcr0 into the CPU's XCR0 (vmm/modules/xsetbv.cpp): the world's value from now on.
void world_xcr0_written(Gcpu& g, u64 xcr0);
// The world switch on the exiting `from`'s CPU: saves from's state, restores to's, IBPB; entering the normal world
// also an L1D flush and VERW (docs/tee.md "Mitigations"); then the backend makes to's VMCS/VMCB current and enters
// it (gcpu_switch). Never returns.
[[noreturn]] void world_switch(Gcpu& from, Gcpu& to);

// A guest that does not own the platform (the TEE) stopped (triple fault, unexpected exit): the backend calls the
// handler the TEE module set instead of stopping the machine; it does not return when it took care of it.
using GuestStopHandler = void (*)(Gcpu& g, const char* why);
void world_set_stop_handler(GuestStopHandler h);
void world_guest_stopped(Gcpu& g, const char* why); // returns only when no handler took it

} // namespace evmm
