#include "vmm/svm/svm_tick.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/svm.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/host_timer.h"
#include "vmm/svm/vmcb_setup.h"

namespace evmm::svm {

[[gnu::cold]] bool gcpu_tick_every(Gcpu& g, u64 tsc_ticks) {
    if (g.guest == nullptr || g.guest->owns_platform()) return false; // guest0's LAPIC timer is guest0's
    if (!host_timer_arm(rdtsc() + tsc_ticks)) return false;
    VmcbControl& c = vmcb_of(g).control;
    c.intercept_misc |= static_cast<u32>(SvmIntercept1::INTR);
    c.vintr |= VINTR_V_INTR_MASKING;
    return true;
}

[[gnu::cold]] void gcpu_tick_stop(Gcpu& g) {
    VmcbControl& c = vmcb_of(g).control;
    if ((c.intercept_misc & static_cast<u32>(SvmIntercept1::INTR)) == 0) return;
    c.intercept_misc &= ~static_cast<u32>(SvmIntercept1::INTR);
    c.vintr &= ~VINTR_V_INTR_MASKING;
    host_timer_release();
}

} // namespace evmm::svm

namespace evmm {

// §15.9.1: the interrupt that caused the exit is still pending; it is taken (and acknowledged) by the host here.
[[gnu::cold]] void svm_intr_exit(Gcpu& g) {
    if (!host_timer_on_interrupt()) return; // early: armed again for the rest
    if (InterceptHandler h = intercept_handler(Intercept::Tick)) h(g);
}

} // namespace evmm
