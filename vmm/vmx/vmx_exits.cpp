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

// NMI virtualization (SDM Vol. 3C §25.6.1 "virtual NMIs", §26.7.6 "NMI-window exiting", §27.6.1.2): every NMI meant
// for the guest — one that exits from the guest, or one that reaches this CPU while evmm runs (a self-NMI whose ICR
// write evmm emulated) — turns on NMI-window exiting in the current VMCS. The CPU then exits as soon as the guest
// can take an NMI (no virtual-NMI blocking, no MOV-SS blocking): immediately when it is not handling one, after its
// handler's IRET when it is (the CPU tracks virtual-NMI blocking from injection to IRET). At that exit evmm injects
// it. Like the hardware, one NMI stays pending while another is being handled; further ones merge with it.
void request_nmi_window() {
    if (vmptrst() == VMCS_NONE) return; // no gcpu on this CPU yet (or waiting for a SIPI): nothing to deliver to
    const u64 proc = vmread(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS);
    if ((proc & PROC_NMI_WINDOW_EXITING) == 0)
        vmwrite(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, proc | PROC_NMI_WINDOW_EXITING);
}

void on_nmi_window(Gcpu&) {
    vmwrite(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS,
            vmread(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS) & ~u64{PROC_NMI_WINDOW_EXITING});
    vmwrite(VmcsField::VM_ENTRY_INTERRUPTION_INFO,
            intr_info_make(InterruptionType::NMI, static_cast<u8>(Vector::NMI), false));
}

void on_exception_or_nmi(Gcpu& g) {
    const u32 info = static_cast<u32>(vmread(VmcsField::VM_EXIT_INTERRUPTION_INFO));
    if (intr_info_type(info) != InterruptionType::NMI) {
        gcpu_fatal(g, "unexpected exception VM exit (the exception bitmap is 0)");
    }
    if (smp_stop_requested()) smp_stopped("running guest0", vmread(VmcsField::GUEST_RIP));
    // Not a cross-CPU call from another CPU (vmm/host/ipc.h): the guest's own NMI, delivered when it can take it.
    if (!ipc_handle_nmi()) request_nmi_window();
    // An NMI VM exit leaves NMIs blocked in VMX root as if one had been delivered; unblock them so that evmm's own
    // stop and cross-CPU NMIs still reach this CPU.
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
    vmx_request_controls(ControlRequest{.pin = PIN_NMI_EXITING | PIN_VIRTUAL_NMIS});
    vmexit_register(ExitReason::EXCEPTION_OR_NMI, on_exception_or_nmi);
    vmexit_register(ExitReason::NMI_WINDOW, on_nmi_window);
    set_guest_nmi_hook(request_nmi_window);
    vmexit_register(ExitReason::EPT_MISCONFIG, on_ept_misconfig);
    cr_access_init();
}

} // namespace evmm
