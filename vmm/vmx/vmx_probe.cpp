#include "vmm/vmx/vmx_probe.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/msr.h"

namespace evmm {
namespace {
// One line for the caller's "VT-x not available: ..." (vmm_main.cpp): which MSR faulted.
Status unreadable(Msr msr) {
    return Status::error("msr not readable on this CPU although CPUID.1:ECX.VMX = 1: VT-x not used", "msr",
                         static_cast<u32>(msr));
}
} // namespace

Status vmx_probe(VmxCapsSnapshot& s, VmxFeatures& f) {
    s = VmxCapsSnapshot{};
    s.cpuid_vmx = (cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_VMX) != 0;
    if (s.cpuid_vmx) {
        // The SDM guarantees each MSR under the condition checked before it (Vol. 4 Table 2-2; Vol. 3D A.1-A.10), but
        // a hypervisor below evmm may claim VMX and lack them: read safely, a fault ends the probe with one line.
        if (!rdmsr_safe(Msr::IA32_FEATURE_CONTROL, s.feature_control)) return unreadable(Msr::IA32_FEATURE_CONTROL);
        if (!rdmsr_safe(Msr::IA32_VMX_BASIC, s.basic)) return unreadable(Msr::IA32_VMX_BASIC);
        const Msr proc =
            (s.basic & VMX_BASIC_TRUE_CTLS) ? Msr::IA32_VMX_TRUE_PROCBASED_CTLS : Msr::IA32_VMX_PROCBASED_CTLS;
        if (!rdmsr_safe(proc, s.procbased)) return unreadable(proc);
        if (allowed1(s.procbased) & PROC_ACTIVATE_SECONDARY) {
            if (!rdmsr_safe(Msr::IA32_VMX_PROCBASED_CTLS2, s.procbased2))
                return unreadable(Msr::IA32_VMX_PROCBASED_CTLS2);
            if ((allowed1(s.procbased2) & (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID)) &&
                !rdmsr_safe(Msr::IA32_VMX_EPT_VPID_CAP, s.ept_vpid_cap))
                return unreadable(Msr::IA32_VMX_EPT_VPID_CAP);
        }
    }
    EVMM_TRY(vmx_caps_check(s, f));
    if (f.feature_control_needs_lock) {
        // SDM Vol. 3C §24.7: enable VMX outside SMX and lock, so VMXON is allowed.
        if (!wrmsr_safe(Msr::IA32_FEATURE_CONTROL,
                        s.feature_control | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK))
            return Status::error("msr not writable on this CPU: enabling VMX in it faulted", "IA32_FEATURE_CONTROL",
                                 s.feature_control);
    }
    return Status::success();
}

} // namespace evmm
