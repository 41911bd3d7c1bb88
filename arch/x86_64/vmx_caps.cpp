#include "arch/x86_64/vmx_caps.h"

#include "arch/x86_64/msr.h"

namespace evmm {

Status vmx_caps_check(const VmxCapsSnapshot& s, VmxFeatures& out) {
    out = VmxFeatures{};
    if (!s.cpuid_vmx) return Status::error("CPUID.1:ECX.VMX = 0");
    // SDM Vol. 3C §24.7: with the lock bit set, VMXON needs VMX-outside-SMX enabled; unlocked, we may set it.
    const bool locked = (s.feature_control & FEATURE_CONTROL_LOCK) != 0;
    if (locked && (s.feature_control & FEATURE_CONTROL_VMX_OUTSIDE_SMX) == 0)
        return Status::error("IA32_FEATURE_CONTROL is locked with VMX outside SMX disabled (firmware setting)",
                             "IA32_FEATURE_CONTROL", s.feature_control);
    out.feature_control_needs_lock = !locked;
    out.revision = static_cast<u32>(s.basic & VMX_BASIC_REVISION_MASK);
    out.region_size = static_cast<u32>((s.basic >> VMX_BASIC_REGION_SIZE_SHIFT) & VMX_BASIC_REGION_SIZE_MASK);
    out.true_ctls = (s.basic & VMX_BASIC_TRUE_CTLS) != 0;
    if (((s.basic >> VMX_BASIC_MEMTYPE_SHIFT) & VMX_BASIC_MEMTYPE_MASK) != VMX_BASIC_MEMTYPE_WB)
        return Status::error("IA32_VMX_BASIC: VMCS memory type is not write-back", "IA32_VMX_BASIC", s.basic);
    if (s.basic & VMX_BASIC_ADDR_32BIT)
        return Status::error("IA32_VMX_BASIC: VMX structures limited to 32-bit addresses", "IA32_VMX_BASIC", s.basic);
    if ((allowed1(s.procbased) & PROC_ACTIVATE_SECONDARY) == 0)
        return Status::error("no secondary processor-based controls (needed for EPT)", "IA32_VMX_PROCBASED_CTLS",
                             s.procbased);
    const u32 p2 = allowed1(s.procbased2);
    out.ept = (p2 & PROC2_ENABLE_EPT) != 0;
    out.vpid = (p2 & PROC2_ENABLE_VPID) != 0;
    out.unrestricted_guest = (p2 & PROC2_UNRESTRICTED_GUEST) != 0;
    if (!out.ept) return Status::error("no EPT", "IA32_VMX_PROCBASED_CTLS2", s.procbased2);
    const u64 ept = s.ept_vpid_cap;
    if ((ept & EPT_CAP_PAGE_WALK_4) == 0 || (ept & EPT_CAP_MEMTYPE_WB) == 0 || (ept & EPT_CAP_INVEPT) == 0)
        return Status::error("EPT lacks a 4-level walk, write-back paging structures or INVEPT",
                             "IA32_VMX_EPT_VPID_CAP", ept);
    out.ept_2m = (ept & EPT_CAP_2M_PAGES) != 0;
    out.ept_1g = (ept & EPT_CAP_1G_PAGES) != 0;
    if (!out.unrestricted_guest)
        return Status::error("no unrestricted guest (guest0 starts with paging off)", "IA32_VMX_PROCBASED_CTLS2",
                             s.procbased2);
    return Status::success();
}

} // namespace evmm
