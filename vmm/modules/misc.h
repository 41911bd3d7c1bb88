// The remaining exits evmm expects (SDM Vol. 3C Appendix C):
//   2  triple fault  guest0 shut down: reported with its RIP (gcpu_guest_stopped), the hypervisor stops.
//   12 HLT           not requested ("HLT exiting" 0: the guest halts natively); should it exit anyway, it is skipped.
//   13 INVD          exits unconditionally (§26.1.2). evmm treats it as a no-op and skips it: invalidating the caches
//                    without writing them back would throw away the hypervisor's own dirty lines (its data shares the
//                    caches with guest0), and WBINVD in its place would only cost time for nothing guest0 can see.
// 0 (exception or NMI), 3 (INIT) and 4 (SIPI) belong to vmm/modules/smp_guest.h.
#pragma once

namespace evmm {

void misc_init(); // stage 3

} // namespace evmm
