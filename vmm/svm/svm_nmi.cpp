#include "vmm/svm/svm_nmi.h"

#include "arch/x86_64/rflags.h"
#include "arch/x86_64/svm.h"
#include "evmm_desc.h"
#include "vmm/guest/guest.h"
#include "vmm/host/panic.h"
#include "vmm/host/percpu.h"
#include "vmm/svm/svm_dr.h"
#include "vmm/svm/vmcb_setup.h"

namespace evmm {
namespace {

constexpr u64 DR6_BS = bit(14); // single step (APM Vol. 2 §13.1.1.4)
constexpr u32 DB_INTERCEPT = 1u << static_cast<u32>(Vector::DB);

struct NmiState {
    volatile bool pending; // an NMI for the guest waits (set by evmm's NMI handler)
    bool blocked;          // the guest handles an injected NMI: blocked until its next IRET
    bool stepping;         // the IRET that unblocks runs with TF set; its #DB trap injects the pending NMI
};
NmiState g_nmi[EVMM_MAX_CPUS];

NmiState& state(const Gcpu& g) { return g_nmi[g.cpu_id % EVMM_MAX_CPUS]; }

void close_window(Vmcb& v) {
    v.control.vintr &= ~(VINTR_V_IRQ | VINTR_V_IGN_TPR);
    v.control.intercept_misc &= ~static_cast<u32>(SvmIntercept1::VINTR);
}

// evmm's NMI handler, for an NMI that is neither a stop nor a cross-CPU call: the guest's.
void guest_nmi() { g_nmi[this_cpu().cpu_id % EVMM_MAX_CPUS].pending = true; }

} // namespace

void svm_nmi_init() { set_guest_nmi_hook(guest_nmi); }

void svm_nmi_exit(Gcpu&) {}

// The window asked for above: the guest can take an interrupt now; the pending NMI goes in at this exit's end.
void svm_vintr_exit(Gcpu& g) { close_window(vmcb_of(g)); }

// §15.9: the IRET intercept exits before the IRET executes; it ends the guest's NMI blocking (any IRET does, SDM Vol.
// 3A §6.7.1). With an NMI pending, the IRET runs single-stepped so that the NMI comes right after it.
void svm_iret_exit(Gcpu& g) {
    Vmcb& v = vmcb_of(g);
    NmiState& n = state(g);
    n.blocked = false;
    v.control.intercept_misc &= ~static_cast<u32>(SvmIntercept1::IRET);
    if (!n.pending) return;
    n.stepping = true;
    v.save.rflags |= RFLAGS_TF; // the trap follows the IRET (TF as it was before the instruction)
    v.control.intercept_exc |= DB_INTERCEPT;
}

// The single-step trap after the unblocking IRET (RIP is its return address, RFLAGS what it popped); any other #DB is
// the guest's and goes to it.
void svm_db_exit(Gcpu& g) {
    Vmcb& v = vmcb_of(g);
    NmiState& n = state(g);
    if (!n.stepping) return svm_exception_exit(g);
    n.stepping = false;
    v.control.intercept_exc = svm_exception_intercepts();
    v.save.dr6 &= ~DR6_BS;
}

void svm_nmi_reset(Gcpu& g) {
    NmiState& n = state(g);
    n.blocked = false;
    n.stepping = false;
    Vmcb& v = vmcb_of(g);
    v.control.intercept_misc &= ~static_cast<u32>(SvmIntercept1::IRET);
    v.control.intercept_exc = svm_exception_intercepts();
    close_window(v);
}

void svm_nmi_before_vmrun(Gcpu& g) {
    svm_clgi(); // an NMI from now on stays pending in the CPU and exits right after VMRUN (NMI intercept)
    NmiState& n = state(g);
    if (!n.pending || n.blocked || n.stepping) [[likely]]
        return;
    // The guest's NMIs are guest0's (the platform's): the TEE's vCPU of this CPU (docs/tee.md) leaves it pending for
    // guest0's next VMRUN (a world switch back, vmm/svm/gcpu_svm.cpp), so this state is guest0's alone.
    if (!g.guest->owns_platform()) return;
    Vmcb& v = vmcb_of(g);
    if (v.control.eventinj & EVENT_VALID) {
        // An exception goes first; the NMI when the guest can next take an interrupt (a virtual-interrupt window,
        // §15.21.4: SVM has no NMI window): its exit brings evmm back here.
        v.control.vintr |= VINTR_V_IRQ | VINTR_V_IGN_TPR;
        v.control.intercept_misc |= static_cast<u32>(SvmIntercept1::VINTR);
        return;
    }
    v.control.eventinj = static_cast<u64>(Vector::NMI) | (EVENT_TYPE_NMI << EVENT_TYPE_SHIFT) | EVENT_VALID;
    v.control.intercept_misc |= static_cast<u32>(SvmIntercept1::IRET);
    n.pending = false;
    n.blocked = true;
}

} // namespace evmm
