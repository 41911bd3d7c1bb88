// guest0's own multiprocessor start-up, and NMIs (SDM Vol. 3C §26.2, §27.4 and §28.2):
//   0 exception or NMI  with "NMI exiting" on, an NMI in VMX non-root mode exits: the stop NMI of a final stop
//                       stops this CPU; any other NMI is handed to guest0 (re-injected). Exceptions never exit
//                       (the exception bitmap is 0) and stay unexpected.
//   3 INIT signal       guest0 sent INIT to this CPU (as any OS does before SIPI): the gcpu is reset to the INIT
//                       state (Table 10-1) and waits for SIPI (activity state wait-for-SIPI).
//   4 SIPI              exits only in wait-for-SIPI: the gcpu starts in real mode at vector * 4 KiB
//                       (CS = vector << 8, RIP = 0), as the processor would.
// A second INIT puts a running gcpu back in wait-for-SIPI.
#pragma once

namespace evmm {

void smp_guest_init();  // stage 3

} // namespace evmm
