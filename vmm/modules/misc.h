// The remaining exits evmm expects (SDM Vol. 3C Appendix C):
//   2  triple fault  guest0 shut down: reported with its RIP (gcpu_guest_stopped), the hypervisor stops.
//   12 HLT           not requested ("HLT exiting" 0: the guest halts natively); should it exit anyway, it is skipped.
//   13 INVD          exits unconditionally (§26.1.2). evmm treats it as a no-op and skips it: invalidating the caches
//                    without writing them back would throw away the hypervisor's own dirty lines (its data shares the
//                    caches with guest0), and WBINVD in its place would only cost time for nothing guest0 can see.
// Left unregistered on purpose, so that they are reported as unexpected exits: 0 exception or NMI (the exception
// bitmap is 0), 3 INIT and 4 SIPI (SMP bring-up of guest0 is not implemented).
#pragma once

namespace evmm {

void misc_init(); // stage 3

} // namespace evmm
