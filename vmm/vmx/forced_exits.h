// Exits evmm never asks for, handled all the same: every exit the configured controls can produce has a handler.
//
// evmm turns on only the exits it needs (the modules' intercepts). But a processor may force a control to 1 (its
// allowed 0-setting is 1, SDM Vol. 3D A.3), e.g. a CPU without the TRUE capability MSRs forces CR3-load/store
// exiting, and a hypervisor below evmm may report odd capabilities. For each instruction exit such a control can
// produce, this backend part performs the instruction for the guest as bare metal would (SDM Vol. 3C §26.1.3 lists
// the controls):
//   INVLPG, INVPCID         the guest's cached translations are invalidated (its whole VPID: more than asked, which
//                           is always allowed)
//   MWAIT, MONITOR, PAUSE   a no-op (MWAIT may return at any time; PAUSE is a hint)
//   WBINVD/WBNOINVD         WBINVD on the guest's behalf
//   RDPMC                   the counter the guest names (CPUID leaf 0AH), #GP(0) for one that does not exist
//   RDRAND, RDSEED          a value from the instruction itself, CF as it reports, OF/SF/ZF/AF/PF cleared
//   MOV DR                  DR0-DR3 and DR6 are live in the CPU while evmm runs (VM exits do not switch them);
//                           DR7 is the VMCS's guest DR7; DR4/DR5 alias DR6/DR7 (CR4.DE = 0: with DE = 1 the CPU
//                           raises #UD before any exit); bits 63:32 of DR6/DR7 written as 1 -> #GP(0); DR7.GD
//                           -> #DB with DR6.BD (SDM Vol. 3B §18.2.4)
// (HLT is the misc module's: the vCPU waits in the HLT activity state; CR3/CR8 accesses are cr_access's.)
// Other exits with no handler end in vmexit.cpp: an instruction exit that only an enable control evmm leaves 0
// can produce (ENCLS, PCONFIG, UMWAIT, ...) gets #UD, as the instruction without its feature; any other is fatal.
//
// `forceexits=1` on evmm's command line (docs/options.md) turns these controls on, so that the handlers run in
// Bochs (test `guest_exits_forced`).
#pragma once

#include "evmm/base.h"

namespace evmm {

// Stage 3, BSP, after the modules registered theirs: registers a handler for each exit above whose control the CPU
// forces to 1 (or `force` asks for), and requests the controls when `force`.
void forced_exits_init(bool force);

} // namespace evmm
