// MSR isolation through the MSR bitmaps (SDM Vol. 3C §25.6.9; exits 31 RDMSR / 32 WRMSR, §26.1.3).
//
// One 4 KiB bitmap page shared by every gcpu, all zero (pass-through) but for what evmm hides:
//   IA32_FEATURE_CONTROL (0x3A)      read: the host value, locked, VMX inside/outside SMX cleared; write: #GP(0)
//   IA32_VMX_* (0x480-0x493)         read and write: #GP(0) (guest0 has no VMX; 0x492/0x493 are the newest ones)
//   IA32_SMM_MONITOR_CTL (0x9B)      read and write: #GP(0) (exists only with VMX or SMX, both hidden)
// RDMSR/WRMSR of an MSR outside the bitmap ranges (0x2000-0xBFFFFFFF and 0xC0002000-0xFFFFFFFF) always exits: evmm
// answers #GP(0) unless a module hooked that MSR. It never executes such an MSR access on the host: evmm has no
// fault recovery, and no architectural MSR lives there. Pass-through MSRs fault (or not) natively in the guest.
//
// Results follow RDMSR: EDX:EAX with the upper halves of RAX and RDX cleared; WRMSR takes EDX:EAX.
#pragma once

#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

// A hooked MSR's emulation. Return false to raise #GP(0) in the guest (nothing else changes).
using MsrReadHandler = bool (*)(Gcpu& g, u32 msr, u64& value);
using MsrWriteHandler = bool (*)(Gcpu& g, u32 msr, u64 value);

void msr_monitor_init(); // stage 3, before any other module hooks an MSR

// (Which accesses exit is the backend's MSR bitmap: intercept_msr in vmm/guest/intercept.h. An intercepted access
// with no hook is a hypervisor bug (gcpu_fatal), so modules use msr_hook.)
// Emulates `msr`: rd for RDMSR, wr for WRMSR (nullptr: that direction passes through, or #GP(0) outside the bitmap
// ranges). Intercepts the directions that have a handler. Stage 3 only (the table has a fixed size).
void msr_hook(u32 msr, MsrReadHandler rd, MsrWriteHandler wr);

} // namespace evmm
