// guest0's own multiprocessor start-up, and NMIs (SDM Vol. 3C §26.2, §27.4 and §28.2):
//   0 exception or NMI  with "NMI exiting" on, an NMI in VMX non-root mode exits: the stop NMI of a final stop
//                       stops this CPU; any other NMI is handed to guest0 (re-injected). Exceptions never exit
//                       (the exception bitmap is 0) and stay unexpected.
//   3 INIT signal       a hardware INIT reached a running gcpu (evmm sends one when guest0 INITs a running AP,
//                       vmm/modules/guest_apic.h): the gcpu waits in VMX root for guest0's next SIPI and restarts
//                       in real mode at its vector.
// SIPI exits (4) never happen: no gcpu ever enters the wait-for-SIPI activity state (guest0's SIPIs are
// virtualized by guest_apic), so one would be an unexpected exit.
#pragma once

namespace evmm {

void smp_guest_init();  // stage 3

} // namespace evmm
