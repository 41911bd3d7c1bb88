// VMX capability reporting (Intel SDM Vol. 3D Appendix A, "VMX Capability Reporting Facility") and the check of
// what evmm needs before VMXON. Pure logic over a snapshot of the MSRs, so it is unit-tested on the host.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

// IA32_VMX_BASIC (SDM A.1).
inline constexpr u64 VMX_BASIC_REVISION_MASK = 0x7FFFFFFF;
inline constexpr unsigned VMX_BASIC_REGION_SIZE_SHIFT = 32;
inline constexpr u64 VMX_BASIC_REGION_SIZE_MASK = 0x1FFF;
inline constexpr u64 VMX_BASIC_ADDR_32BIT = bit(48);
inline constexpr unsigned VMX_BASIC_MEMTYPE_SHIFT = 50;
inline constexpr u64 VMX_BASIC_MEMTYPE_MASK = 0xF;
inline constexpr u64 VMX_BASIC_MEMTYPE_WB = 6;
inline constexpr u64 VMX_BASIC_TRUE_CTLS = bit(55);

// Primary processor-based VM-execution controls (SDM Vol. 3C §25.6.2, Table 25-6).
inline constexpr u32 PROC_USE_IO_BITMAPS = 1u << 25;
inline constexpr u32 PROC_USE_MSR_BITMAPS = 1u << 28;
inline constexpr u32 PROC_ACTIVATE_SECONDARY = 1u << 31;
// Secondary processor-based VM-execution controls (Table 25-7).
inline constexpr u32 PROC2_ENABLE_EPT = 1u << 1;
inline constexpr u32 PROC2_ENABLE_VPID = 1u << 5;
inline constexpr u32 PROC2_UNRESTRICTED_GUEST = 1u << 7;

// IA32_VMX_EPT_VPID_CAP (SDM A.10).
inline constexpr u64 EPT_CAP_PAGE_WALK_4 = bit(6);
inline constexpr u64 EPT_CAP_MEMTYPE_WB = bit(14);
inline constexpr u64 EPT_CAP_2M_PAGES = bit(16);
inline constexpr u64 EPT_CAP_1G_PAGES = bit(17);
inline constexpr u64 EPT_CAP_INVEPT = bit(20);
inline constexpr u64 EPT_CAP_INVEPT_SINGLE = bit(25);
inline constexpr u64 EPT_CAP_INVEPT_ALL = bit(26);
inline constexpr u64 VPID_CAP_INVVPID = bit(32);

// Allowed-1 settings live in bits 63:32 of a control-capability MSR (SDM A.3.2).
constexpr u32 allowed1(u64 ctl_msr) { return static_cast<u32>(ctl_msr >> 32); }

struct VmxCapsSnapshot {
    bool cpuid_vmx;      // CPUID.1:ECX.VMX[bit 5]
    u64 feature_control; // IA32_FEATURE_CONTROL
    u64 basic;           // IA32_VMX_BASIC
    u64 procbased;       // IA32_VMX_PROCBASED_CTLS (or the TRUE one)
    u64 procbased2;      // IA32_VMX_PROCBASED_CTLS2 (0 when secondary controls are not allowed)
    u64 ept_vpid_cap;    // IA32_VMX_EPT_VPID_CAP (0 when neither EPT nor VPID is allowed)
};

struct VmxFeatures {
    u32 revision;
    u32 region_size;
    bool true_ctls;
    bool ept, ept_2m, ept_1g, vpid, unrestricted_guest;
    bool feature_control_needs_lock; // unlocked: evmm will set VMX-outside-SMX and lock it
};

// Why VT-x is unusable, as one line ("CPUID.1:ECX.VMX = 0"), or success with the features found.
// Needs: CPUID VMX; IA32_FEATURE_CONTROL unlocked, or locked with VMX outside SMX enabled; VMCS write-back
// memory type; no 32-bit address limit; secondary controls with EPT (4-level walk, WB, INVEPT) and
// unrestricted guest (guest0 starts in 32-bit protected mode with paging off).
Status vmx_caps_check(const VmxCapsSnapshot& s, VmxFeatures& out);

} // namespace evmm
