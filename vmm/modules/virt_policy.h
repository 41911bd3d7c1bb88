// The pure decisions behind evmm's virtualisation modules (vmm/modules/*): what guest0 sees in CPUID, where an MSR
// or an I/O port sits in the VMX bitmaps, whether an XCR0 value is legal, and what a guest write to CR0 / CR3 / CR4
// does. No VMREAD/VMWRITE, no hardware access: the modules feed these functions the guest state they read from the
// VMCS and apply the answer, and tests/unit/virt_policy_test.cpp checks every rule on the host.
//
// Constants not (yet) in arch/ live in namespace evmm::virt so that a later arch/ header defining the same SDM name
// cannot collide with them.
#pragma once

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "evmm/base.h"

namespace evmm::virt {

// ---------------------------------------------------------------------------------------------------------------
// CPUID (SDM Vol. 2A "CPUID"). Leaves 0x40000000-0x400000FF are reserved for hypervisor use: Intel never defines
// them (CPUID reference, "INPUT EAX = 40000000H-4FFFFFFFH: invalid, reserved").
// ---------------------------------------------------------------------------------------------------------------
inline constexpr u32 CPUID_HV_FIRST = 0x40000000;      // evmm's vendor leaf
inline constexpr u32 CPUID_HV_RANGE_MASK = 0xFFFFFF00; // 0x40000000-0x400000FF answered by evmm
inline constexpr u32 CPUID_HV_MAX_LEAF = 0x40000000;   // the highest hypervisor leaf evmm defines
inline constexpr u32 EVMM_SIGNATURE = 0x6d6d7665;      // "evmm" little-endian, in EBX, ECX and EDX
inline constexpr u32 CPUID1_ECX_OSXSAVE = 1u << 27;    // reflects CR4.OSXSAVE
inline constexpr u32 CPUID7_LEAF = 7;
inline constexpr u32 CPUID7_ECX_OSPKE = 1u << 4; // CPUID.(7,0):ECX: reflects CR4.PKE
// AMD APM Vol. 3 Appendix E: CPUID Fn8000_0001 ECX[2] = SVM; Fn8000_000A = the SVM features (reserved without SVM).
inline constexpr u32 CPUID_EXT1_LEAF = 0x80000001;
inline constexpr u32 CPUID_EXT1_ECX_SVM = 1u << 2;
inline constexpr u32 CPUID_SVM_LEAF = 0x8000000A;

inline constexpr bool cpuid_is_hv_leaf(u32 leaf) { return (leaf & CPUID_HV_RANGE_MASK) == CPUID_HV_FIRST; }

// evmm's answer for a hypervisor leaf (cpuid_is_hv_leaf(leaf)): the vendor leaf, zeros for the rest.
constexpr CpuidRegs cpuid_hv_leaf(u32 leaf) {
    if (leaf == CPUID_HV_FIRST) return CpuidRegs{CPUID_HV_MAX_LEAF, EVMM_SIGNATURE, EVMM_SIGNATURE, EVMM_SIGNATURE};
    return CpuidRegs{0, 0, 0, 0};
}

// CR4 bits CPUID reflects (SDM Vol. 3A §2.5).
inline constexpr u64 CR4_OSXSAVE_BIT = bit(18);
inline constexpr u64 CR4_PKE_BIT = bit(22);

// A host CPUID result turned into guest0's (leaves other than the hypervisor range). The host executes CPUID with
// its own CR4, so the bits that mirror CR4 (OSXSAVE, OSPKE) are taken from the guest's CR4 instead.
//   leaf 1:     ECX.VMX (5) and ECX.SMX (6) cleared: guest0 gets neither VT-x nor TXT; ECX.hypervisor (31) set;
//               ECX.OSXSAVE (27) = guest CR4.OSXSAVE.
//   leaf 7.0:   ECX.OSPKE (4) = guest CR4.PKE.
//   leaf 8000_0001h: ECX.SVM (2) cleared (Intel: reserved, 0); leaf 8000_000Ah: zero. guest0 gets no AMD SVM.
// Everything else passes through.
constexpr bool cpuid_needs_guest_cr4(u32 leaf) { return leaf == 1 || leaf == CPUID7_LEAF; }
constexpr bool cpuid_hides_svm(u32 leaf) { return leaf == CPUID_EXT1_LEAF || leaf == CPUID_SVM_LEAF; }
// The leaves cpuid_adjust may change, in one cheap test for the CPUID exit's path (P1): 1-7 and the extended
// range 8000_0000h- (cpuid_adjust passes the others of these through).
constexpr bool cpuid_needs_adjust(u32 leaf) { return leaf - 1 < CPUID7_LEAF || (leaf & 0x80000000u) != 0; }
constexpr CpuidRegs cpuid_adjust(u32 leaf, u32 subleaf, CpuidRegs r, u64 guest_cr4) {
    if (leaf == 1) {
        r.ecx = (r.ecx & ~(CPUID1_ECX_VMX | CPUID1_ECX_SMX | CPUID1_ECX_OSXSAVE)) | CPUID1_ECX_HYPERVISOR |
                ((guest_cr4 & CR4_OSXSAVE_BIT) ? CPUID1_ECX_OSXSAVE : 0);
    } else if (leaf == CPUID7_LEAF && subleaf == 0) {
        r.ecx = (r.ecx & ~CPUID7_ECX_OSPKE) | ((guest_cr4 & CR4_PKE_BIT) ? CPUID7_ECX_OSPKE : 0);
    } else if (leaf == CPUID_EXT1_LEAF) {
        r.ecx &= ~CPUID_EXT1_ECX_SVM;
    } else if (leaf == CPUID_SVM_LEAF) {
        r = CpuidRegs{0, 0, 0, 0};
    }
    return r;
}

// ---------------------------------------------------------------------------------------------------------------
// MSR bitmaps (SDM Vol. 3C §25.6.9): one 4 KiB page, four 1 KiB bitmaps:
//   0x000 read low  (MSRs 0x00000000-0x00001FFF)   0x400 read high  (MSRs 0xC0000000-0xC0001FFF)
//   0x800 write low                                 0xC00 write high
// A set bit makes RDMSR/WRMSR of that MSR exit. MSRs outside both ranges always exit (§26.1.3).
// ---------------------------------------------------------------------------------------------------------------
inline constexpr u32 MSR_LOW_LAST = 0x00001FFF;
inline constexpr u32 MSR_HIGH_FIRST = 0xC0000000;
inline constexpr u32 MSR_HIGH_LAST = 0xC0001FFF;
inline constexpr u32 MSR_BITMAP_READ_LOW = 0x000;
inline constexpr u32 MSR_BITMAP_READ_HIGH = 0x400;
inline constexpr u32 MSR_BITMAP_WRITE_LOW = 0x800;
inline constexpr u32 MSR_BITMAP_WRITE_HIGH = 0xC00;

struct BitmapPos {
    bool valid; // false: the MSR is outside the bitmap ranges (it always exits)
    u32 byte;   // offset in the 4 KiB page
    u8 bit;
};
constexpr BitmapPos msr_bitmap_pos(u32 msr, bool write) {
    if (msr <= MSR_LOW_LAST)
        return {true, (write ? MSR_BITMAP_WRITE_LOW : MSR_BITMAP_READ_LOW) + msr / 8, static_cast<u8>(msr % 8)};
    if (msr >= MSR_HIGH_FIRST && msr <= MSR_HIGH_LAST) {
        const u32 i = msr - MSR_HIGH_FIRST;
        return {true, (write ? MSR_BITMAP_WRITE_HIGH : MSR_BITMAP_READ_HIGH) + i / 8, static_cast<u8>(i % 8)};
    }
    return {false, 0, 0};
}

// MSRs evmm hides or fakes (SDM Vol. 4, Table 2-2).
inline constexpr u32 MSR_IA32_SMM_MONITOR_CTL = 0x9B;
inline constexpr u32 MSR_IA32_VMX_FIRST = 0x480; // IA32_VMX_BASIC
inline constexpr u32 MSR_IA32_VMX_LAST = 0x493;  // IA32_VMX_EXIT_CTLS2 (0x492: IA32_VMX_PROCBASED_CTLS3)
constexpr bool msr_is_vmx_capability(u32 msr) { return msr >= MSR_IA32_VMX_FIRST && msr <= MSR_IA32_VMX_LAST; }

// IA32_FEATURE_CONTROL as guest0 reads it: locked, VMX disabled inside and outside SMX (SDM Vol. 3C §24.7), so
// software that checks it concludes VT-x is off (and cannot turn it on: a locked MSR faults on writes).
constexpr u64 feature_control_for_guest(u64 host) {
    return (host & ~(FEATURE_CONTROL_VMX_IN_SMX | FEATURE_CONTROL_VMX_OUTSIDE_SMX)) | FEATURE_CONTROL_LOCK;
}

// ---------------------------------------------------------------------------------------------------------------
// I/O bitmaps (SDM Vol. 3C §25.6.4): bitmap A covers ports 0x0000-0x7FFF, bitmap B 0x8000-0xFFFF, one bit per port.
// ---------------------------------------------------------------------------------------------------------------
struct IoBitmapPos {
    u8 bitmap; // 0 = A, 1 = B
    u16 byte;  // offset in that 4 KiB page
    u8 bit;
};
constexpr IoBitmapPos io_bitmap_pos(u16 port) {
    return {static_cast<u8>(port >> 15), static_cast<u16>((port & 0x7FFF) / 8), static_cast<u8>(port % 8)};
}

// ---------------------------------------------------------------------------------------------------------------
// XCR0 (SDM Vol. 1 §13.3 "Enabling the XSAVE Feature Set and XSAVE-Enabled Features"; Vol. 3A §2.6; XSETBV).
// ---------------------------------------------------------------------------------------------------------------
inline constexpr u64 XCR0_X87 = bit(0);
inline constexpr u64 XCR0_SSE = bit(1);
inline constexpr u64 XCR0_AVX = bit(2);
inline constexpr u64 XCR0_BNDREGS = bit(3);
inline constexpr u64 XCR0_BNDCSR = bit(4);
inline constexpr u64 XCR0_OPMASK = bit(5);
inline constexpr u64 XCR0_ZMM_HI256 = bit(6);
inline constexpr u64 XCR0_HI16_ZMM = bit(7);
inline constexpr u64 XCR0_XTILECFG = bit(17);
inline constexpr u64 XCR0_XTILEDATA = bit(18);
inline constexpr u64 XCR0_AVX512 = XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM;
inline constexpr u64 XCR0_MPX = XCR0_BNDREGS | XCR0_BNDCSR;
inline constexpr u64 XCR0_AMX = XCR0_XTILECFG | XCR0_XTILEDATA;

// nullptr when XSETBV may load `value` into XCR0; otherwise the rule it breaks (each one is a #GP(0)).
// supported: CPUID.(EAX=0DH,ECX=0):EDX:EAX, the XCR0 bits this processor implements.
constexpr const char* xcr0_violation(u64 value, u64 supported) {
    if ((value & XCR0_X87) == 0) return "XCR0.x87 (bit 0) must be 1";
    if (value & ~supported) return "sets a bit CPUID.(EAX=0DH,ECX=0):EDX:EAX does not report";
    if ((value & XCR0_AVX) && !(value & XCR0_SSE)) return "XCR0.AVX without XCR0.SSE";
    if ((value & XCR0_MPX) != 0 && (value & XCR0_MPX) != XCR0_MPX) return "XCR0.BNDREGS and BNDCSR differ";
    if ((value & XCR0_AVX512) != 0) {
        if ((value & XCR0_AVX512) != XCR0_AVX512) return "XCR0 bits 7:5 (AVX-512) neither all 0 nor all 1";
        if (!(value & XCR0_AVX)) return "XCR0 AVX-512 bits without XCR0.AVX";
    }
    if ((value & XCR0_AMX) != 0 && (value & XCR0_AMX) != XCR0_AMX) return "XCR0.XTILECFG and XTILEDATA differ";
    return nullptr;
}

// ---------------------------------------------------------------------------------------------------------------
// Control registers. Host-owned bits are set in the CR0/CR4 guest/host masks (SDM Vol. 3C §25.6.6): the guest
// reads them from the read shadows, and a MOV to CRn that would change one of them exits (§26.1.3). A host-owned
// bit is one VMX fixes (IA32_VMX_CRn_FIXED0/FIXED1, SDM Vol. 3D A.7/A.8) — but CR0.PE and CR0.PG, which
// "unrestricted guest" frees (§27.3.1.1) — plus CR4.VMXE, which guest0 must see 0.
// ---------------------------------------------------------------------------------------------------------------
inline constexpr u64 CR0_DEFINED =
    CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG;
inline constexpr u64 CR0_UNRESTRICTED_FREE = CR0_PE | CR0_PG;
inline constexpr u64 CR4_PSE_BIT = bit(4);
inline constexpr u64 CR4_PAE_BIT = bit(5);
inline constexpr u64 CR4_PGE_BIT = bit(7);
inline constexpr u64 CR4_LA57_BIT = bit(12);
inline constexpr u64 CR4_VMXE_BIT = bit(13);
inline constexpr u64 CR4_PCIDE_BIT = bit(17);
inline constexpr u64 CR4_SMEP_BIT = bit(20);
inline constexpr u64 CR4_SMAP_BIT = bit(21);
inline constexpr u64 CR4_CET_BIT = bit(23);
inline constexpr u64 CR3_PCID_NOFLUSH = bit(63); // MOV to CR3 with CR4.PCIDE = 1 (SDM Vol. 3A §4.10.4.1)
inline constexpr u64 CR3_PCID_MASK = 0xFFF;
inline constexpr u64 CR3_PAE_PDPT_MASK = 0xFFFFFFE0; // PAE paging: CR3[31:5] locate the PDPT (§4.4.1)
inline constexpr u64 CR8_TPR_MASK = 0xF;             // MOV to CR8: bits 63:4 reserved (#GP)

constexpr u64 cr0_host_mask(u64 fixed0, u64 fixed1) { return (fixed0 & ~CR0_UNRESTRICTED_FREE) | ~fixed1; }
constexpr u64 cr4_host_mask(u64 fixed0, u64 fixed1) { return fixed0 | ~fixed1 | CR4_VMXE_BIT; }
// The value GUEST_CRn gets for a guest-visible value: the VMX fixed bits applied (A.7, A.8).
constexpr u64 cr0_real(u64 guest, u64 fixed0, u64 fixed1) {
    return (guest | (fixed0 & ~CR0_UNRESTRICTED_FREE)) & fixed1;
}
constexpr u64 cr4_real(u64 guest, u64 fixed0, u64 fixed1) { return (guest | fixed0) & fixed1; }
// What the guest sees: its own bits from GUEST_CRn, the host-owned ones from the read shadow.
constexpr u64 cr_guest_view(u64 real, u64 shadow, u64 mask) { return (real & ~mask) | (shadow & mask); }

// The guest state a control-register write is judged against (guest-visible values).
struct CrState {
    u64 cr0, cr3, cr4;
    u64 efer;  // GUEST_IA32_EFER
    bool cs_l; // CS.L: with EFER.LMA, the guest runs 64-bit code
};
constexpr bool cr_state_64bit_mode(const CrState& s) { return (s.efer & EFER_LMA) && s.cs_l; }

// The outcome of a guest write to CR0, CR3 or CR4.
struct CrWrite {
    const char* gp;     // non-null: the write raises #GP(0) (the rule broken); nothing else applies
    u64 value;          // the new guest-visible value of the register
    u64 efer;           // IA32_EFER afterwards (LMA follows CR0.PG when EFER.LME = 1)
    bool ia32e;         // "IA-32e mode guest" VM-entry control afterwards (= EFER.LMA)
    bool flush_tlb;     // the write invalidates the guest's TLBs and paging-structure caches
    bool retain_global; // ... but not its global translations (MOV to CR3)
    bool load_pdptes;   // PAE paging is in use afterwards and the PDPTEs are reloaded from CR3 (§4.4.1)
};

// MOV to CR0 (also CLTS and LMSW, through their resulting value). SDM Vol. 2B "MOV—Move to/from Control
// Registers" (exceptions), Vol. 3A §2.5, §10.8.5 (IA-32e mode activation), §4.4.1 (PDPTE loading), §4.10.4.1.
CrWrite cr0_write(const CrState& s, u64 value);
// MOV to CR4. cr4_allowed: the bits that may be 1 (IA32_VMX_CR4_FIXED1); VMXE is refused (guest0 has no VMX).
CrWrite cr4_write(const CrState& s, u64 value, u64 cr4_allowed);
// MOV to CR3 (only when the CPU forces CR3-load exiting). maxphyaddr: CPUID.80000008H:EAX[7:0].
CrWrite cr3_write(const CrState& s, u64 value, u8 maxphyaddr);
// LMSW source operand applied to CR0 (SDM Vol. 2A "LMSW"): loads PE, MP, EM, TS; cannot clear PE.
constexpr u64 lmsw_value(u64 cr0, u16 src) {
    constexpr u64 LMSW_BITS = CR0_PE | CR0_MP | CR0_EM | CR0_TS;
    return (cr0 & ~(CR0_MP | CR0_EM | CR0_TS)) | (src & LMSW_BITS) | (cr0 & CR0_PE);
}

// A PAE page-directory-pointer-table entry (SDM Vol. 3A §4.4.1, Table 4-8): a present entry with a reserved bit
// set (bits 2:1, 8:5, 63:MAXPHYADDR) makes the CR write that loads it raise #GP(0).
constexpr bool pdpte_valid(u64 e, u8 maxphyaddr) {
    if ((e & 1) == 0) return true;
    const u64 reserved = (u64{0x3} << 1) | (u64{0xF} << 5) | (maxphyaddr >= 64 ? 0 : ~u64{0} << maxphyaddr);
    return (e & reserved) == 0;
}

// ---------------------------------------------------------------------------------------------------------------
// VMCALL LOG (docs/vmcall.md).
// ---------------------------------------------------------------------------------------------------------------
inline constexpr u64 VMCALL_LOG_MAX = 256;
// The guest's bytes as one printable line: bytes outside 0x20-0x7E become '.', trailing CR/LF are dropped.
// out holds at least len + 1 bytes; returns the length written (NUL not counted).
size_t log_sanitize(const volatile u8* text, size_t len, char* out);

} // namespace evmm::virt
