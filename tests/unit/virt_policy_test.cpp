// Unit tests for vmm/modules/virt_policy: CPUID filtering, MSR / I/O bitmap positions (SDM Vol. 3C §25.6.9,
// §25.6.4), XCR0 validation (SDM Vol. 1 §13.3), and guest writes to CR0 / CR3 / CR4 (SDM Vol. 2B "MOV—Move to/from
// Control Registers", Vol. 3A §2.5, §4.4.1, §10.8.5).
#include "vmm/modules/virt_policy.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace evmm;
using namespace evmm::virt;

namespace {

// A typical CPU's VMX fixed bits: CR0 PE, NE, PG fixed to 1 (FIXED0 0x80000021), everything in 31:0 allowed;
// CR4 VMXE fixed to 1, bits 0-23 except 15, 19 allowed (an Ice Lake-like FIXED1).
constexpr u64 CR0_FIXED0 = 0x80000021, CR0_FIXED1 = 0xFFFFFFFF;
constexpr u64 CR4_FIXED0 = 0x2000, CR4_FIXED1 = 0xF77FFF;

constexpr u64 LONG_CR0 = CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG; // 0x80010031
constexpr u64 LONG_CR4 = CR4_PAE_BIT | CR4_PGE_BIT | CR4_OSFXSR | CR4_OSXMMEXCPT;
constexpr u64 LONG_EFER = EFER_LME | EFER_LMA | EFER_NXE;

CrState long_mode() { return CrState{LONG_CR0, 0x1000, LONG_CR4, LONG_EFER, true}; }
// 32-bit protected mode, paging off, EFER.LME set, CR4.PAE set: one MOV to CR0 away from IA-32e mode.
CrState pre_long_mode() { return CrState{CR0_PE | CR0_ET, 0x1000, CR4_PAE_BIT, EFER_LME, false}; }

} // namespace

// --- CPUID ------------------------------------------------------------------------------------------------------

TEST(VirtCpuid, HypervisorRange) {
    EXPECT_TRUE(cpuid_is_hv_leaf(0x40000000));
    EXPECT_TRUE(cpuid_is_hv_leaf(0x400000FF));
    EXPECT_FALSE(cpuid_is_hv_leaf(0x40000100));
    EXPECT_FALSE(cpuid_is_hv_leaf(0x3FFFFFFF));
    EXPECT_FALSE(cpuid_is_hv_leaf(1));
}

TEST(VirtCpuid, VendorLeafSpellsEvmmThreeTimes) {
    const CpuidRegs r = cpuid_hv_leaf(0x40000000);
    EXPECT_EQ(r.eax, 0x40000000u);
    char sig[13];
    std::memcpy(sig, &r.ebx, 4);
    std::memcpy(sig + 4, &r.ecx, 4);
    std::memcpy(sig + 8, &r.edx, 4);
    sig[12] = '\0';
    EXPECT_STREQ(sig, "evmmevmmevmm"); // what tests/guests/cpuid.cpp checks
}

TEST(VirtCpuid, OtherHypervisorLeavesAreZero) {
    for (u32 leaf : {0x40000001u, 0x40000010u, 0x400000FFu}) {
        const CpuidRegs r = cpuid_hv_leaf(leaf);
        EXPECT_EQ(r.eax | r.ebx | r.ecx | r.edx, 0u) << std::hex << leaf;
    }
}

TEST(VirtCpuid, Leaf1HidesVmxAndSmxAndSetsHypervisor) {
    const CpuidRegs host{0x000906EA, 0x00100800, 0x7FFAFBFF, 0xBFEBFBFF}; // VMX, SMX, XSAVE, OSXSAVE all set
    const CpuidRegs r = cpuid_adjust(1, 0, host, 0);
    EXPECT_EQ(r.ecx & CPUID1_ECX_VMX, 0u);
    EXPECT_EQ(r.ecx & CPUID1_ECX_SMX, 0u);
    EXPECT_NE(r.ecx & CPUID1_ECX_HYPERVISOR, 0u);
    EXPECT_EQ(r.ecx & CPUID1_ECX_OSXSAVE, 0u); // the guest's CR4.OSXSAVE is 0
    EXPECT_EQ(r.ecx | CPUID1_ECX_VMX | CPUID1_ECX_SMX | CPUID1_ECX_OSXSAVE,
              host.ecx | CPUID1_ECX_HYPERVISOR); // nothing else touched
    EXPECT_EQ(r.eax, host.eax);
    EXPECT_EQ(r.ebx, host.ebx);
    EXPECT_EQ(r.edx, host.edx);
}

TEST(VirtCpuid, SvmHidden) {
    const CpuidRegs ext1{0, 0, 0x75C237FF, 0x2FD3FBFF}; // an AMD CPU's leaf 8000_0001h: SVM (ECX[2]) set
    const CpuidRegs r = cpuid_adjust(CPUID_EXT1_LEAF, 0, ext1, 0);
    EXPECT_EQ(r.ecx, ext1.ecx & ~CPUID_EXT1_ECX_SVM);
    EXPECT_EQ(r.edx, ext1.edx);
    const CpuidRegs svm = cpuid_adjust(CPUID_SVM_LEAF, 0, CpuidRegs{1, 0x8000, 0, 0x1BFBCFF}, 0);
    EXPECT_EQ(svm.eax | svm.ebx | svm.ecx | svm.edx, 0u);
    EXPECT_TRUE(cpuid_hides_svm(CPUID_EXT1_LEAF));
    EXPECT_TRUE(cpuid_hides_svm(CPUID_SVM_LEAF));
    EXPECT_FALSE(cpuid_hides_svm(0x80000000));
    // Every leaf cpuid_adjust changes takes the adjusting path.
    for (u32 leaf : {1u, 7u, CPUID_EXT1_LEAF, CPUID_SVM_LEAF}) EXPECT_TRUE(cpuid_needs_adjust(leaf)) << leaf;
    for (u32 leaf : {0u, 8u, 0xDu, 0x40000000u, 0x7FFFFFFFu}) EXPECT_FALSE(cpuid_needs_adjust(leaf)) << leaf;
}

TEST(VirtCpuid, OsxsaveAndOspkeFollowTheGuestCr4) {
    const CpuidRegs host{1, 2, 0, 4};
    EXPECT_NE(cpuid_adjust(1, 0, host, CR4_OSXSAVE_BIT).ecx & CPUID1_ECX_OSXSAVE, 0u);
    EXPECT_NE(cpuid_adjust(7, 0, host, CR4_PKE_BIT).ecx & CPUID7_ECX_OSPKE, 0u);
    const CpuidRegs pke_host{0, 0, CPUID7_ECX_OSPKE | 1, 0};
    EXPECT_EQ(cpuid_adjust(7, 0, pke_host, 0).ecx, 1u);
    EXPECT_EQ(cpuid_adjust(7, 1, pke_host, 0).ecx, pke_host.ecx); // subleaf 1 untouched
    EXPECT_TRUE(cpuid_needs_guest_cr4(1));
    EXPECT_TRUE(cpuid_needs_guest_cr4(7));
    EXPECT_FALSE(cpuid_needs_guest_cr4(0));
}

TEST(VirtCpuid, OtherLeavesPassThrough) {
    const CpuidRegs host{0x16, 0x756e6547, 0x6c65746e, 0x49656e69};
    const CpuidRegs r = cpuid_adjust(0, 0, host, ~u64{0});
    EXPECT_EQ(r.eax, host.eax);
    EXPECT_EQ(r.ebx, host.ebx);
    EXPECT_EQ(r.ecx, host.ecx);
    EXPECT_EQ(r.edx, host.edx);
}

// --- MSR and I/O bitmaps -----------------------------------------------------------------------------------------

TEST(VirtMsrBitmap, FourQuarters) {
    EXPECT_EQ(msr_bitmap_pos(0, false).byte, 0x000u);
    EXPECT_EQ(msr_bitmap_pos(0, true).byte, 0x800u);
    const BitmapPos fc = msr_bitmap_pos(0x3A, false); // IA32_FEATURE_CONTROL
    EXPECT_TRUE(fc.valid);
    EXPECT_EQ(fc.byte, 7u);
    EXPECT_EQ(fc.bit, 2u);
    const BitmapPos vmx = msr_bitmap_pos(0x480, true);
    EXPECT_EQ(vmx.byte, 0x800u + 0x90);
    EXPECT_EQ(vmx.bit, 0u);
    EXPECT_EQ(msr_bitmap_pos(0x1FFF, false).byte, 0x3FFu);
    EXPECT_EQ(msr_bitmap_pos(0x1FFF, false).bit, 7u);
    const BitmapPos efer = msr_bitmap_pos(0xC0000080, false);
    EXPECT_TRUE(efer.valid);
    EXPECT_EQ(efer.byte, 0x400u + 0x10);
    EXPECT_EQ(efer.bit, 0u);
    EXPECT_EQ(msr_bitmap_pos(0xC0001FFF, true).byte, 0xFFFu);
}

TEST(VirtMsrBitmap, OutsideTheRangesAlwaysExits) {
    for (u32 msr : {0x2000u, 0x12345678u, 0x40000000u, 0xBFFFFFFFu, 0xC0002000u, 0xFFFFFFFFu}) {
        EXPECT_FALSE(msr_bitmap_pos(msr, false).valid) << std::hex << msr;
        EXPECT_FALSE(msr_bitmap_pos(msr, true).valid) << std::hex << msr;
    }
}

TEST(VirtMsr, VmxCapabilityRangeAndFeatureControl) {
    EXPECT_TRUE(msr_is_vmx_capability(0x480));
    EXPECT_TRUE(msr_is_vmx_capability(0x48B));
    EXPECT_TRUE(msr_is_vmx_capability(0x491));
    EXPECT_TRUE(msr_is_vmx_capability(0x493));
    EXPECT_FALSE(msr_is_vmx_capability(0x47F));
    EXPECT_FALSE(msr_is_vmx_capability(0x494));
    // Host: locked, VMX outside SMX enabled, SGX bits etc. kept.
    EXPECT_EQ(feature_control_for_guest(0x40005), 0x40001u);
    EXPECT_EQ(feature_control_for_guest(0x0), FEATURE_CONTROL_LOCK);
    EXPECT_EQ(feature_control_for_guest(0x7) & 0x6, 0u);
}

TEST(VirtIoBitmap, TwoPages) {
    const IoBitmapPos com1 = io_bitmap_pos(0x3F8);
    EXPECT_EQ(com1.bitmap, 0u);
    EXPECT_EQ(com1.byte, 0x7Fu);
    EXPECT_EQ(com1.bit, 0u);
    const IoBitmapPos bochs = io_bitmap_pos(0x8900);
    EXPECT_EQ(bochs.bitmap, 1u);
    EXPECT_EQ(bochs.byte, 0x120u);
    EXPECT_EQ(bochs.bit, 0u);
    const IoBitmapPos last = io_bitmap_pos(0xFFFF);
    EXPECT_EQ(last.bitmap, 1u);
    EXPECT_EQ(last.byte, 0xFFFu);
    EXPECT_EQ(last.bit, 7u);
    EXPECT_EQ(io_bitmap_pos(0x7FFF).bitmap, 0u);
    EXPECT_EQ(io_bitmap_pos(0x7FFF).byte, 0xFFFu);
}

// --- XCR0 --------------------------------------------------------------------------------------------------------

TEST(VirtXcr0, Rules) {
    constexpr u64 ALL = XCR0_X87 | XCR0_SSE | XCR0_AVX | XCR0_MPX | XCR0_AVX512 | bit(9) | XCR0_AMX;
    EXPECT_EQ(xcr0_violation(XCR0_X87, ALL), nullptr);
    EXPECT_EQ(xcr0_violation(XCR0_X87 | XCR0_SSE, ALL), nullptr);
    EXPECT_EQ(xcr0_violation(XCR0_X87 | XCR0_SSE | XCR0_AVX, ALL), nullptr);
    EXPECT_EQ(xcr0_violation(XCR0_X87 | XCR0_SSE | XCR0_AVX | XCR0_AVX512, ALL), nullptr);
    EXPECT_EQ(xcr0_violation(ALL, ALL), nullptr);

    EXPECT_NE(xcr0_violation(0, ALL), nullptr);                                              // x87 cleared
    EXPECT_NE(xcr0_violation(XCR0_SSE | XCR0_AVX, ALL), nullptr);                            // x87 cleared
    EXPECT_NE(xcr0_violation(XCR0_X87 | XCR0_AVX, ALL), nullptr);                            // AVX without SSE
    EXPECT_NE(xcr0_violation(XCR0_X87 | XCR0_BNDREGS, ALL), nullptr);                        // half of MPX
    EXPECT_NE(xcr0_violation(XCR0_X87 | XCR0_SSE | XCR0_AVX | XCR0_OPMASK, ALL), nullptr);   // part of AVX-512
    EXPECT_NE(xcr0_violation(XCR0_X87 | XCR0_SSE | XCR0_AVX512, ALL), nullptr);              // AVX-512 without AVX
    EXPECT_NE(xcr0_violation(XCR0_X87 | XCR0_SSE | XCR0_XTILEDATA, ALL), nullptr);           // half of AMX
    EXPECT_NE(xcr0_violation(XCR0_X87 | XCR0_SSE | XCR0_AVX, XCR0_X87 | XCR0_SSE), nullptr); // AVX unsupported
    EXPECT_NE(xcr0_violation(XCR0_X87 | bit(63), ~u64{0} >> 1), nullptr);                    // bit 63
}

// --- CR0 ---------------------------------------------------------------------------------------------------------

TEST(VirtCr, MasksOwnFixedBitsButPeAndPgAndVmxe) {
    const u64 m0 = cr0_host_mask(CR0_FIXED0, CR0_FIXED1);
    EXPECT_EQ(m0, CR0_NE | 0xFFFFFFFF00000000ull);
    const u64 m4 = cr4_host_mask(CR4_FIXED0, CR4_FIXED1);
    EXPECT_NE(m4 & CR4_VMXE_BIT, 0u);
    EXPECT_EQ(m4 & (CR4_PAE_BIT | CR4_PGE_BIT | CR4_OSFXSR | CR4_OSXSAVE), 0u);
    EXPECT_NE(m4 & bit(15), 0u);                        // not allowed by FIXED1: host-owned
    EXPECT_EQ(cr4_host_mask(0, ~u64{0}), CR4_VMXE_BIT); // VMXE owned even if FIXED0 did not fix it
}

TEST(VirtCr, RealValuesCarryTheFixedBits) {
    // The guest clears NE: GUEST_CR0 keeps it; PE and PG follow the guest (unrestricted guest).
    EXPECT_EQ(cr0_real(CR0_PE | CR0_ET, CR0_FIXED0, CR0_FIXED1), CR0_PE | CR0_ET | CR0_NE);
    EXPECT_EQ(cr0_real(CR0_ET, CR0_FIXED0, CR0_FIXED1), CR0_ET | CR0_NE);
    EXPECT_EQ(cr4_real(CR4_PAE_BIT, CR4_FIXED0, CR4_FIXED1), CR4_PAE_BIT | CR4_VMXE_BIT);
    // The guest view takes masked bits from the shadow.
    const u64 m0 = cr0_host_mask(CR0_FIXED0, CR0_FIXED1);
    EXPECT_EQ(cr_guest_view(CR0_PE | CR0_ET | CR0_NE | CR0_TS, CR0_PE | CR0_ET, m0), CR0_PE | CR0_ET | CR0_TS);
}

TEST(VirtCr, Cr0ToggleNeAndWpInLongMode) {
    const CrState s = long_mode();
    CrWrite w = cr0_write(s, LONG_CR0 & ~CR0_NE);
    ASSERT_EQ(w.gp, nullptr) << w.gp;
    EXPECT_EQ(w.value, LONG_CR0 & ~CR0_NE);
    EXPECT_EQ(w.efer, s.efer);
    EXPECT_TRUE(w.ia32e);
    EXPECT_FALSE(w.flush_tlb);
    EXPECT_FALSE(w.load_pdptes);
    w = cr0_write(s, LONG_CR0 & ~CR0_WP);
    ASSERT_EQ(w.gp, nullptr);
    EXPECT_TRUE(w.flush_tlb);
}

TEST(VirtCr, Cr0ReservedAndInconsistentValues) {
    const CrState s = long_mode();
    EXPECT_NE(cr0_write(s, LONG_CR0 | bit(32)).gp, nullptr);
    EXPECT_NE(cr0_write(s, LONG_CR0 | CR0_NW).gp, nullptr); // NW without CD
    EXPECT_EQ(cr0_write(s, LONG_CR0 | CR0_NW | CR0_CD).gp, nullptr);
    CrState pm = pre_long_mode();
    pm.efer = 0;
    EXPECT_NE(cr0_write(pm, CR0_PG | CR0_ET).gp, nullptr); // PG without PE
    // Reserved bits of 31:0 are ignored; ET always reads 1.
    const CrWrite w = cr0_write(pm, CR0_PE | bit(7));
    ASSERT_EQ(w.gp, nullptr);
    EXPECT_EQ(w.value, CR0_PE | CR0_ET);
}

TEST(VirtCr, Cr0PgActivatesIa32eMode) {
    const CrState s = pre_long_mode();
    const CrWrite w = cr0_write(s, s.cr0 | CR0_PG);
    ASSERT_EQ(w.gp, nullptr) << w.gp;
    EXPECT_EQ(w.efer, EFER_LME | EFER_LMA);
    EXPECT_TRUE(w.ia32e);
    EXPECT_TRUE(w.flush_tlb);
    EXPECT_FALSE(w.load_pdptes); // IA-32e paging has no PDPTE registers

    CrState no_pae = s;
    no_pae.cr4 = 0;
    EXPECT_NE(cr0_write(no_pae, s.cr0 | CR0_PG).gp, nullptr);
    CrState cs_l = s;
    cs_l.cs_l = true;
    EXPECT_NE(cr0_write(cs_l, s.cr0 | CR0_PG).gp, nullptr);
}

TEST(VirtCr, Cr0PgOffLeavesIa32eModeOnlyFromCompatibilityMode) {
    CrState s = long_mode();
    EXPECT_NE(cr0_write(s, LONG_CR0 & ~CR0_PG).gp, nullptr); // 64-bit mode
    s.cs_l = false;                                          // compatibility mode
    const CrWrite w = cr0_write(s, LONG_CR0 & ~CR0_PG);
    ASSERT_EQ(w.gp, nullptr) << w.gp;
    EXPECT_EQ(w.efer, EFER_LME | EFER_NXE);
    EXPECT_FALSE(w.ia32e);
    s.cr4 |= CR4_PCIDE_BIT;
    EXPECT_NE(cr0_write(s, LONG_CR0 & ~CR0_PG).gp, nullptr); // PCIDE needs paging
}

TEST(VirtCr, Cr0PaePagingLoadsPdptes) {
    CrState s = pre_long_mode();
    s.efer = 0; // no LME: PAE paging
    const CrWrite w = cr0_write(s, s.cr0 | CR0_PG);
    ASSERT_EQ(w.gp, nullptr);
    EXPECT_FALSE(w.ia32e);
    EXPECT_TRUE(w.load_pdptes);
    s.cr0 |= CR0_PG;
    EXPECT_FALSE(cr0_write(s, s.cr0 | CR0_TS).load_pdptes); // TS: no reload
    EXPECT_TRUE(cr0_write(s, s.cr0 | CR0_CD).load_pdptes);  // CD: reload
}

TEST(VirtCr, Cr0WpCannotBeClearedWithCet) {
    CrState s = long_mode();
    s.cr4 |= CR4_CET_BIT;
    EXPECT_NE(cr0_write(s, LONG_CR0 & ~CR0_WP).gp, nullptr);
}

TEST(VirtCr, LmswAndClts) {
    EXPECT_EQ(lmsw_value(CR0_PE | CR0_ET | CR0_TS, 0), CR0_PE | CR0_ET); // cannot clear PE
    EXPECT_EQ(lmsw_value(CR0_ET, 0xF), CR0_ET | CR0_PE | CR0_MP | CR0_EM | CR0_TS);
    EXPECT_EQ(lmsw_value(CR0_ET | CR0_NE | CR0_PG | CR0_PE, 0xFFF0), CR0_ET | CR0_NE | CR0_PG | CR0_PE);
}

// --- CR4 ---------------------------------------------------------------------------------------------------------

TEST(VirtCr, Cr4VmxeAndReservedBitsFault) {
    const CrState s = long_mode();
    EXPECT_NE(cr4_write(s, LONG_CR4 | CR4_VMXE_BIT, CR4_FIXED1).gp, nullptr);
    EXPECT_NE(cr4_write(s, LONG_CR4 | bit(15), CR4_FIXED1).gp, nullptr);
    EXPECT_NE(cr4_write(s, LONG_CR4 | bit(40), CR4_FIXED1).gp, nullptr);
}

TEST(VirtCr, Cr4TogglesReadBack) {
    const CrState s = long_mode();
    for (u64 b : {CR4_PGE_BIT, CR4_OSFXSR, CR4_OSXSAVE_BIT}) {
        const CrWrite w = cr4_write(s, LONG_CR4 ^ b, CR4_FIXED1);
        ASSERT_EQ(w.gp, nullptr) << w.gp;
        EXPECT_EQ(w.value, LONG_CR4 ^ b);
        EXPECT_EQ(w.flush_tlb, b == CR4_PGE_BIT);
        EXPECT_TRUE(w.ia32e);
        EXPECT_EQ(w.efer, s.efer);
    }
}

TEST(VirtCr, Cr4LongModeRules) {
    CrState s = long_mode();
    EXPECT_NE(cr4_write(s, LONG_CR4 & ~CR4_PAE_BIT, CR4_FIXED1).gp, nullptr);
    EXPECT_NE(cr4_write(s, LONG_CR4 | CR4_LA57_BIT, CR4_FIXED1).gp, nullptr);
    EXPECT_EQ(cr4_write(s, LONG_CR4 | CR4_PCIDE_BIT, CR4_FIXED1).gp, nullptr);
    s.cr3 = 0x1005; // PCID 5 in CR3 before PCIDE
    EXPECT_NE(cr4_write(s, LONG_CR4 | CR4_PCIDE_BIT, CR4_FIXED1).gp, nullptr);
    const CrState pm = pre_long_mode();
    EXPECT_NE(cr4_write(pm, CR4_PAE_BIT | CR4_PCIDE_BIT, CR4_FIXED1).gp, nullptr); // PCIDE outside IA-32e
    EXPECT_EQ(cr4_write(pm, 0, CR4_FIXED1).gp, nullptr);                           // PAE may go outside it
    CrState no_wp = long_mode();
    no_wp.cr0 &= ~CR0_WP;
    EXPECT_NE(cr4_write(no_wp, LONG_CR4 | CR4_CET_BIT, CR4_FIXED1).gp, nullptr);
}

TEST(VirtCr, Cr4PaePagingReloadsPdptes) {
    CrState s{CR0_PE | CR0_ET | CR0_PG, 0x2000, CR4_PAE_BIT, 0, false};
    EXPECT_TRUE(cr4_write(s, CR4_PAE_BIT | CR4_PGE_BIT, CR4_FIXED1).load_pdptes);
    EXPECT_FALSE(cr4_write(s, CR4_PAE_BIT | CR4_OSFXSR, CR4_FIXED1).load_pdptes);
    s.cr4 = 0; // 32-bit paging -> PAE paging
    EXPECT_TRUE(cr4_write(s, CR4_PAE_BIT, CR4_FIXED1).load_pdptes);
}

// --- CR3 ---------------------------------------------------------------------------------------------------------

TEST(VirtCr, Cr3) {
    CrState s = long_mode();
    CrWrite w = cr3_write(s, 0x5000 | 0x18, 39);
    ASSERT_EQ(w.gp, nullptr);
    EXPECT_EQ(w.value, 0x5018u);
    EXPECT_TRUE(w.flush_tlb);
    EXPECT_TRUE(w.retain_global);
    EXPECT_FALSE(w.load_pdptes);
    EXPECT_NE(cr3_write(s, bit(39) | 0x5000, 39).gp, nullptr); // beyond MAXPHYADDR
    EXPECT_NE(cr3_write(s, bit(63) | 0x5000, 39).gp, nullptr); // bit 63 without PCIDE
    s.cr4 |= CR4_PCIDE_BIT;
    w = cr3_write(s, bit(63) | 0x5003, 39); // no-flush load of PCID 3
    ASSERT_EQ(w.gp, nullptr);
    EXPECT_EQ(w.value, 0x5003u);
    EXPECT_FALSE(w.flush_tlb);
    // Outside 64-bit mode the operand is 32-bit; PAE paging reloads the PDPTEs.
    const CrState pae{CR0_PE | CR0_ET | CR0_PG, 0x2000, CR4_PAE_BIT, 0, false};
    w = cr3_write(pae, 0xDEAD00003000ull, 36);
    ASSERT_EQ(w.gp, nullptr);
    EXPECT_EQ(w.value, 0x3000u);
    EXPECT_TRUE(w.load_pdptes);
}

TEST(VirtCr, PdpteReservedBits) {
    EXPECT_TRUE(pdpte_valid(0, 39));
    EXPECT_TRUE(pdpte_valid(0xFFFFFFFFFFFFFFFEull, 39)); // not present: anything goes
    EXPECT_TRUE(pdpte_valid(0x12345001, 39));
    EXPECT_TRUE(pdpte_valid(0x12345019, 39));   // PWT, PCD
    EXPECT_FALSE(pdpte_valid(0x12345003, 39));  // bit 1 (R/W) reserved
    EXPECT_FALSE(pdpte_valid(0x12345021, 39));  // bit 5 reserved
    EXPECT_FALSE(pdpte_valid(bit(39) | 1, 39)); // beyond MAXPHYADDR
    EXPECT_FALSE(pdpte_valid(bit(63) | 1, 52)); // XD is reserved in a PDPTE
}

// --- VMCALL LOG ----------------------------------------------------------------------------------------------------

TEST(VirtLog, Sanitize) {
    char out[VMCALL_LOG_MAX + 1];
    const char text[] = "vmcall: hello\x01\x7f\xff!\r\n";
    EXPECT_EQ(log_sanitize(reinterpret_cast<const volatile u8*>(text), sizeof text - 1, out), 17u);
    EXPECT_STREQ(out, "vmcall: hello...!");
    EXPECT_EQ(log_sanitize(reinterpret_cast<const volatile u8*>(text), 0, out), 0u);
    EXPECT_STREQ(out, "");
    const char nl[] = "\n\n";
    EXPECT_EQ(log_sanitize(reinterpret_cast<const volatile u8*>(nl), 2, out), 0u);
}
