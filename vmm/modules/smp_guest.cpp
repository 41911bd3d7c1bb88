#include "vmm/modules/smp_guest.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/vmx.h"
#include "lib/log.h"
#include "vmm/host/panic.h"
#include "vmm/host/ipc.h"
#include "vmm/modules/guest_apic.h"
#include "vmm/host/smp.h"
#include "vmm/vmx/vmexit.h"

namespace evmm {
namespace {

void on_exception_or_nmi(Gcpu& g) {
    const u32 info = static_cast<u32>(vmread(VmcsField::VM_EXIT_INTERRUPTION_INFO));
    if (intr_info_type(info) != InterruptionType::NMI) {
        gcpu_fatal(g, "unexpected exception VM exit (the exception bitmap is 0)");
    }
    if (smp_stop_requested()) smp_stopped("running guest0", vmread(VmcsField::GUEST_RIP));
    // An NMI exits only when guest0's NMIs are unblocked, and it was not delivered to guest0, so guest0's "blocking
    // by NMI" must stay clear (SDM Vol. 3C §25.4.2, §27.3.1.5: an NMI cannot be injected with it set). Bochs 2.7
    // saves it set, as if the NMI had been delivered; left so, guest0 would never see another NMI.
    const u64 intr = vmread(VmcsField::GUEST_INTERRUPTIBILITY_STATE);
    if (intr & INTERRUPTIBILITY_NMI) vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE, intr & ~u64{INTERRUPTIBILITY_NMI});
    if (!ipc_handle_nmi()) {  // not a cross-CPU call from another CPU (vmm/host/ipc.h): guest0's own NMI
        // Deliver it to guest0 at the next entry (SDM Vol. 3C §27.6.1).
        vmwrite(VmcsField::VM_ENTRY_INTERRUPTION_INFO,
                intr_info_make(InterruptionType::NMI, static_cast<u8>(Vector::NMI), false));
    }
    cpu_unblock_nmi();
}

void on_init(Gcpu& g) {
    LOG_DEBUG("gcpu%u: INIT (was at %lx:%lx, %lu exits): reset, waits for a SIPI", g.cpu_id,
              vmread(VmcsField::GUEST_CS_BASE), vmread(VmcsField::GUEST_RIP), g.exits_total);
    guest_apic_on_init_exit(g);
}

} // namespace

void smp_guest_init() {
    vmx_request_controls(ControlRequest{.pin = PIN_NMI_EXITING});
    vmexit_register(ExitReason::EXCEPTION_OR_NMI, on_exception_or_nmi);
    vmexit_register(ExitReason::INIT_SIGNAL, on_init);
}

} // namespace evmm
