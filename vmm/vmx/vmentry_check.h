// Why would VM entry fail? The checks the processor makes on VMLAUNCH/VMRESUME (Intel SDM Vol. 3C §27.2 "Checks on
// VMX Controls and Host-State Area" and §27.3.1 "Checks on the Guest State Area"), replayed in software over a
// snapshot of the VMCS (read back with VMREAD) and of the VMX capability MSRs, so that a failed VM entry -
// VMfailValid with VM-instruction error 7 or 8, or exit reason 33 - is explained as "which rule, which field".
// Pure logic: unit-tested on the host.
//
// Assumptions (what evmm's VMM is when it enters a guest): the processor is in IA-32e mode (IA32_EFER.LMA = 1,
// 64-bit code), not in SMM and not under the dual-monitor treatment; linear addresses are 48 bits (4-level paging),
// so "canonical" means bits 63:47 equal. Not checked: anything that needs memory contents (MSR-load lists, the
// virtual-APIC page, the linked VMCS region), model-specific reserved bits of IA32_PERF_GLOBAL_CTRL, CET, PKRS,
// IA32_RTIT_CTL, the tertiary controls and SGX (enclave interruption).
#pragma once

#include "arch/x86_64/vmcs.h"
#include "evmm/base.h"

namespace evmm {

// The VMCS as read back: one value per entry of VMCS_FIELDS (same index), present[i] when it was read. An absent
// field reads as 0. Value-initialize it: VmcsSnapshot s{};
struct VmcsSnapshot {
    u64 value[VMCS_FIELD_COUNT];
    bool present[VMCS_FIELD_COUNT];

    constexpr bool has(VmcsField f) const {
        const size_t i = vmcs_field_position(f);
        return i < VMCS_FIELD_COUNT && present[i];
    }
    constexpr u64 get(VmcsField f) const {
        const size_t i = vmcs_field_position(f);
        return i < VMCS_FIELD_COUNT && present[i] ? value[i] : 0;
    }
    // Stores v truncated to the field's width (as VMWRITE does). A field not in VMCS_FIELDS is ignored.
    constexpr void set(VmcsField f, u64 v) {
        const size_t i = vmcs_field_position(f);
        if (i >= VMCS_FIELD_COUNT) return;
        const unsigned bits = vmcs_width_bits(vmcs_field_width(f));
        value[i] = bits >= 64 ? v : v & (bit(bits) - 1);
        present[i] = true;
    }
    constexpr void erase(VmcsField f) {
        const size_t i = vmcs_field_position(f);
        if (i < VMCS_FIELD_COUNT) value[i] = 0, present[i] = false;
    }
};

// The VMX capability MSRs the checks consult (SDM Appendix A). For the control words use the TRUE MSRs
// (IA32_VMX_TRUE_PINBASED_CTLS ...) when IA32_VMX_BASIC bit 55 is set, else the plain ones. procbased2 is 0 and
// ept_vpid_cap / vmfunc are 0 where the processor does not have them.
struct VmxCapMsrs {
    u64 pinbased;               // IA32_VMX_(TRUE_)PINBASED_CTLS
    u64 procbased;              // IA32_VMX_(TRUE_)PROCBASED_CTLS
    u64 procbased2;             // IA32_VMX_PROCBASED_CTLS2
    u64 exit;                   // IA32_VMX_(TRUE_)EXIT_CTLS
    u64 entry;                  // IA32_VMX_(TRUE_)ENTRY_CTLS
    u64 misc;                   // IA32_VMX_MISC
    u64 cr0_fixed0, cr0_fixed1; // IA32_VMX_CR0_FIXED0 / FIXED1
    u64 cr4_fixed0, cr4_fixed1; // IA32_VMX_CR4_FIXED0 / FIXED1
    u64 ept_vpid_cap;           // IA32_VMX_EPT_VPID_CAP
    u64 vmfunc;                 // IA32_VMX_VMFUNC
    u8 phys_addr_bits;          // MAXPHYADDR, CPUID.80000008H:EAX[7:0] (0 or > 52: taken as 52)
};

// One broken rule. rule: a stable identifier ("guest.cr0", "ctl.eptp.memtype"); sdm: the section that states it
// ("SDM 27.3.1.1"); field/value: the VMCS field found wrong and its value; bits: the offending bits where the rule
// is about bits (0 otherwise); message: what is wrong, one line. All strings are static.
struct Violation {
    const char* rule;
    const char* sdm;
    VmcsField field;
    u64 value;
    const char* message;
    u64 bits;
};

// Runs every check; writes the first `cap` violations to out (out may be nullptr when cap is 0) and returns how
// many there are in all. 0 means the snapshot passes every check modelled here.
u32 vmentry_check(const VmcsSnapshot& vmcs, const VmxCapMsrs& caps, Violation* out, u32 cap);

// "guest.cr0: bits not allowed by IA32_VMX_CR0_FIXED0/FIXED1 (GUEST_CR0 = 0x11, bits 0x20) [SDM 27.3.1.1]" into
// buf (NUL-terminated, truncated to cap); returns the length written (without the NUL).
size_t vmentry_format_violation(const Violation& v, char* buf, size_t cap);

} // namespace evmm
