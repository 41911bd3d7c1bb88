// The VT-x backend's own exits: what is VT-x business rather than a module's. NMIs (evmm's stop and cross-CPU
// calls arrive as NMIs; guest0's own NMIs are re-injected), EPT misconfigurations (a malformed entry: a hypervisor
// bug), control-register accesses (vmm/vmx/cr_access: CR0/CR4 masks, read shadows, PDPTEs and the IA-32e entry
// control are VMCS mechanics), and the MSR / I/O bitmaps the modules' intercepts fill.
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/vmx.h"
#include "lib/format.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/ipc.h"
#include "vmm/host/panic.h"
#include "vmm/host/smp.h"
#include "vmm/vmx/bitmaps.h"
#include "vmm/vmx/cr_access.h"
#include "vmm/vmx/vmexit.h"

namespace evmm {
namespace {

void on_exception_or_nmi(Gcpu& g) {
    const u32 info = static_cast<u32>(vmread(VmcsField::VM_EXIT_INTERRUPTION_INFO));
    if (intr_info_type(info) != InterruptionType::NMI) {
        gcpu_fatal(g, "unexpected exception VM exit (the exception bitmap is 0)");
    }
    if (smp_stop_requested()) smp_stopped("running guest0", vmread(VmcsField::GUEST_RIP));
    // An NMI exits only when the guest's NMIs are unblocked, and it was not delivered to the guest, so the guest's
    // "blocking by NMI" must stay clear (SDM Vol. 3C §25.4.2, §27.3.1.5: an NMI cannot be injected with it set).
    // Bochs 2.7 saves it set, as if the NMI had been delivered; left so, the guest would never see another NMI.
    const u64 intr = vmread(VmcsField::GUEST_INTERRUPTIBILITY_STATE);
    if (intr & INTERRUPTIBILITY_NMI)
        vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE, intr & ~u64{INTERRUPTIBILITY_NMI});
    if (!ipc_handle_nmi()) { // not a cross-CPU call from another CPU (vmm/host/ipc.h): the guest's own NMI
        // Deliver it to the guest at the next entry (SDM Vol. 3C §27.6.1).
        vmwrite(VmcsField::VM_ENTRY_INTERRUPTION_INFO,
                intr_info_make(InterruptionType::NMI, static_cast<u8>(Vector::NMI), false));
    }
    cpu_unblock_nmi();
}

void on_ept_misconfig(Gcpu& g) {
    static char what[112];
    format(what, sizeof what, "EPT misconfiguration at GPA 0x%lx (a malformed EPT entry: hypervisor bug)",
           vmread(VmcsField::GUEST_PHYSICAL_ADDR));
    gcpu_fatal(g, what);
}

} // namespace

void vmx_exits_init(PageHeap& heap) {
    intercept_set_owner("vmx");
    CHECK_OK(vmx_bitmaps_init(heap), "MSR and I/O bitmaps");
    vmx_request_controls(ControlRequest{.pin = PIN_NMI_EXITING});
    vmexit_register(ExitReason::EXCEPTION_OR_NMI, on_exception_or_nmi);
    vmexit_register(ExitReason::EPT_MISCONFIG, on_ept_misconfig);
    cr_access_init();
}

} // namespace evmm
