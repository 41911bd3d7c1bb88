#include "vmm/svm/svm_tick.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/svm.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/host_timer.h"
#include "vmm/svm/vmcb_setup.h"

namespace evmm::svm {

[[gnu::cold]] bool gcpu_tick_every(Gcpu& g, u64 tsc_ticks) {
    const u64 deadline = rdtsc() + tsc_ticks;
    if (g.guest != nullptr && !g.guest->owns_platform()) {
        if (!host_timer_arm(deadline)) return false;
        VmcbControl& c = vmcb_of(g).control;
        c.intercept_misc |= static_cast<u32>(SvmIntercept1::INTR);
        c.vintr |= VINTR_V_INTR_MASKING;
    }
    g.arch.tick_deadline = deadline != 0 ? deadline : 1;
    return true;
}

[[gnu::cold]] void gcpu_tick_stop(Gcpu& g) {
    g.arch.tick_deadline = 0;
    VmcbControl& c = vmcb_of(g).control;
    if ((c.intercept_misc & static_cast<u32>(SvmIntercept1::INTR)) == 0) return;
    c.intercept_misc &= ~static_cast<u32>(SvmIntercept1::INTR);
    c.vintr &= ~VINTR_V_INTR_MASKING;
    host_timer_release();
}

} // namespace evmm::svm

namespace evmm {

// §15.9.1: the interrupt that caused the exit is still pending; the host takes (and acknowledges) it here.
[[gnu::cold]] void svm_intr_exit(Gcpu&) { host_timer_on_interrupt(); }

[[gnu::cold]] void svm_tick_check(Gcpu& g) {
    if (rdtsc() < g.arch.tick_deadline) return;
    g.arch.tick_deadline = 0; // one-shot: the handler arms the next one
    if (InterceptHandler h = intercept_handler(Intercept::Tick)) h(g);
}

} // namespace evmm
