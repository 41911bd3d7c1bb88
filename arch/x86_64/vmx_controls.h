// Adjusting VMX controls and control registers to what the processor allows (Intel SDM Vol. 3D Appendix A,
// "VMX Capability Reporting Facility"), and the layout of the capability MSRs vmx_caps.h does not cover.
//
// A control-capability MSR (IA32_VMX_PINBASED_CTLS, IA32_VMX_PROCBASED_CTLS, IA32_VMX_PROCBASED_CTLS2,
// IA32_VMX_EXIT_CTLS, IA32_VMX_ENTRY_CTLS or their TRUE variants; SDM A.3 - A.5) reports
//   bits 31:0  allowed 0-settings: a bit set here must be 1 in the control word;
//   bits 63:32 allowed 1-settings: a bit clear here must be 0 in the control word.
// (IA32_VMX_PROCBASED_CTLS2 has no allowed-0 bits: its low half is 0.) With IA32_VMX_BASIC bit 55 set, the TRUE
// MSRs report the real allowed-0 settings of the "default1" controls and are the ones to use (A.2).
//
// IA32_VMX_CRn_FIXED0/FIXED1 (A.7, A.8): a bit set in FIXED0 must be 1 in CRn in VMX operation; a bit clear in
// FIXED1 must be 0.
#pragma once

#include "arch/x86_64/vmx_caps.h"
#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

// Allowed 0-settings of a control-capability MSR (bits 31:0: the bits that must be 1). The allowed 1-settings are
// vmx_caps.h's allowed1().
constexpr u32 vmx_allowed0(u64 ctl_msr) { return static_cast<u32>(ctl_msr); }

// Bits of `value` that the capability MSR forbids: required-1 bits that are 0 and bits set that may not be 1.
constexpr u32 vmx_control_violations(u32 value, u64 ctl_msr) {
    return (vmx_allowed0(ctl_msr) & ~value) | (value & ~allowed1(ctl_msr));
}

// out = (desired | allowed0) & allowed1: the required-1 bits are forced on. Error when a desired bit is not
// allowed to be 1: what names the problem, where = name (the control word, e.g. "secondary processor-based
// controls"), value = the offending bits, value2 = the allowed-1 mask. out is 0 on error.
Status vmx_adjust_controls(u32 desired, u64 cap_msr, const char* name, u32& out);

// CR0/CR4 in VMX operation (A.7, A.8): the fixed-1 bits set, the fixed-0 bits cleared.
constexpr u64 vmx_fixed_bits_apply(u64 value, u64 fixed0, u64 fixed1) { return (value | fixed0) & fixed1; }
// Bits of `value` that break the fixed settings: FIXED0 bits that are 0, and bits set outside FIXED1.
constexpr u64 vmx_fixed_bits_violations(u64 value, u64 fixed0, u64 fixed1) {
    return (fixed0 & ~value) | (value & ~fixed1);
}
// Error when value breaks the fixed settings: where = name ("host CR0"), value = the offending bits,
// value2 = value.
Status vmx_fixed_bits_check(u64 value, u64 fixed0, u64 fixed1, const char* name);

// IA32_VMX_MISC (A.6).
inline constexpr u64 VMX_MISC_PREEMPTION_TIMER_RATE_MASK = 0x1F; // bits 4:0: timer ticks every 2^X TSC
inline constexpr u64 VMX_MISC_STORE_LMA = bit(5);                // VM exits store EFER.LMA in "IA-32e mode guest"
inline constexpr u64 VMX_MISC_ACTIVITY_HLT = bit(6);             // activity state 1 (HLT) supported
inline constexpr u64 VMX_MISC_ACTIVITY_SHUTDOWN = bit(7);        // activity state 2 (shutdown) supported
inline constexpr u64 VMX_MISC_ACTIVITY_WAIT_SIPI = bit(8);       // activity state 3 (wait-for-SIPI) supported
inline constexpr unsigned VMX_MISC_ACTIVITY_SHIFT = 5;           // activity state n is bit 5 + n (n = 1..3)
inline constexpr u64 VMX_MISC_PT_IN_VMX = bit(14);
inline constexpr u64 VMX_MISC_RDMSR_SMBASE_IN_SMM = bit(15);
inline constexpr unsigned VMX_MISC_CR3_TARGETS_SHIFT = 16; // bits 24:16: number of CR3-target values
inline constexpr u64 VMX_MISC_CR3_TARGETS_MASK = 0x1FF;
inline constexpr unsigned VMX_MISC_MAX_MSR_LIST_SHIFT = 25; // bits 27:25: N, lists up to 512 * (N + 1)
inline constexpr u64 VMX_MISC_MAX_MSR_LIST_MASK = 0x7;
inline constexpr u64 VMX_MISC_VMWRITE_ANY_FIELD = bit(29);  // VMWRITE may write VM-exit information fields
inline constexpr u64 VMX_MISC_INJECT_ZERO_LENGTH = bit(30); // injection with instruction length 0 allowed
static_assert(VMX_MISC_ACTIVITY_HLT == bit(VMX_MISC_ACTIVITY_SHIFT + 1));
static_assert(VMX_MISC_ACTIVITY_WAIT_SIPI == bit(VMX_MISC_ACTIVITY_SHIFT + 3));

// IA32_VMX_EPT_VPID_CAP bits (A.10) beyond vmx_caps.h's EPT_CAP_* / VPID_CAP_*.
inline constexpr u64 EPT_CAP_EXECUTE_ONLY = bit(0);
inline constexpr u64 EPT_CAP_PAGE_WALK_5 = bit(7);
inline constexpr u64 EPT_CAP_MEMTYPE_UC = bit(8);
inline constexpr u64 EPT_CAP_ACCESSED_DIRTY = bit(21);
inline constexpr u64 EPT_CAP_ADVANCED_VIOLATION_INFO = bit(22);
inline constexpr u64 EPT_CAP_SUPERVISOR_SHADOW_STACK = bit(23);

} // namespace evmm
