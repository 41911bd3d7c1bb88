#include "vmm/modules/smp_guest.h"

#include "arch/x86_64/vmx.h"
#include "lib/log.h"
#include "vmm/panic.h"
#include "vmm/modules/guest_apic.h"
#include "vmm/smp.h"
#include "vmm/vmexit.h"

namespace evmm {
namespace {

void on_exception_or_nmi(Gcpu& g) {
    const u32 info = static_cast<u32>(vmread(VmcsField::VM_EXIT_INTERRUPTION_INFO));
    if (intr_info_type(info) != InterruptionType::NMI) {
        gcpu_fatal(g, "unexpected exception VM exit (the exception bitmap is 0)");
    }
    if (smp_stop_requested()) smp_stopped("running guest0", vmread(VmcsField::GUEST_RIP));
    // Not ours: deliver it to guest0 at the next entry (SDM Vol. 3C §27.6.1).
    vmwrite(VmcsField::VM_ENTRY_INTERRUPTION_INFO, intr_info_make(InterruptionType::NMI, static_cast<u8>(Vector::NMI), false));
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
