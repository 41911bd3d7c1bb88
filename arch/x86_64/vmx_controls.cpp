#include "arch/x86_64/vmx_controls.h"

namespace evmm {

Status vmx_adjust_controls(u32 desired, u64 cap_msr, const char* name, u32& out) {
    out = 0;
    const u32 not_allowed = desired & ~allowed1(cap_msr);
    if (not_allowed != 0)
        return Status::error("VMX control bits not supported (allowed-1 = 0 in the capability MSR)", name, not_allowed,
                             allowed1(cap_msr));
    out = (desired | vmx_allowed0(cap_msr)) & allowed1(cap_msr);
    return Status::success();
}

Status vmx_fixed_bits_check(u64 value, u64 fixed0, u64 fixed1, const char* name) {
    const u64 bad = vmx_fixed_bits_violations(value, fixed0, fixed1);
    if (bad != 0)
        return Status::error("bits not allowed in VMX operation (IA32_VMX_CRn_FIXED0/FIXED1)", name, bad, value);
    return Status::success();
}

} // namespace evmm
