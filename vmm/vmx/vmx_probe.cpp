#include "vmm/vmx/vmx_probe.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/msr.h"

namespace evmm {

Status vmx_probe(VmxCapsSnapshot& s, VmxFeatures& f) {
    s = VmxCapsSnapshot{};
    s.cpuid_vmx = (cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_VMX) != 0;
    if (s.cpuid_vmx) {
        s.feature_control = rdmsr(Msr::IA32_FEATURE_CONTROL);
        s.basic = rdmsr(Msr::IA32_VMX_BASIC);
        s.procbased =
            rdmsr((s.basic & VMX_BASIC_TRUE_CTLS) ? Msr::IA32_VMX_TRUE_PROCBASED_CTLS : Msr::IA32_VMX_PROCBASED_CTLS);
        if (allowed1(s.procbased) & PROC_ACTIVATE_SECONDARY) {
            s.procbased2 = rdmsr(Msr::IA32_VMX_PROCBASED_CTLS2);
            if (allowed1(s.procbased2) & (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID))
                s.ept_vpid_cap = rdmsr(Msr::IA32_VMX_EPT_VPID_CAP);
        }
    }
    EVMM_TRY(vmx_caps_check(s, f));
    if (f.feature_control_needs_lock) {
        // SDM Vol. 3C §24.7: enable VMX outside SMX and lock, so VMXON is allowed.
        wrmsr(Msr::IA32_FEATURE_CONTROL, s.feature_control | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK);
    }
    return Status::success();
}

} // namespace evmm
