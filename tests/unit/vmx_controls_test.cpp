// Unit tests for arch/x86_64/vmx_controls: adjusting control words to the capability MSRs (SDM Vol. 3D A.3 - A.5)
// and the CR0/CR4 fixed bits (A.7, A.8).
#include "arch/x86_64/vmx_controls.h"

#include <gtest/gtest.h>

#include <string>

#include "arch/x86_64/cr.h"
#include "arch/x86_64/vmcs.h"

using namespace evmm;

namespace {
constexpr u64 cap(u32 allowed0, u32 allowed1_bits) { return (u64{allowed1_bits} << 32) | allowed0; }
// IA32_VMX_TRUE_PINBASED_CTLS of a typical CPU: bits 1, 2, 4 must be 1; bits 0-6 may be 1.
constexpr u64 kPin = cap(0x16, 0x7F);
} // namespace

TEST(VmxControls, AdjustForcesRequiredBitsOn) {
    u32 out = 0;
    Status s = vmx_adjust_controls(PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING, kPin, "pin-based", out);
    ASSERT_TRUE(s.ok()) << s.what;
    EXPECT_EQ(out, 0x16u | PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING);
    EXPECT_EQ(vmx_control_violations(out, kPin), 0u);
}

TEST(VmxControls, AdjustOfNothingGivesTheAllowed0Bits) {
    u32 out = 0;
    ASSERT_TRUE(vmx_adjust_controls(0, kPin, "pin-based", out).ok());
    EXPECT_EQ(out, 0x16u);
}

TEST(VmxControls, AdjustRefusesBitsThatMayNotBeOne) {
    u32 out = 0xFFFF;
    Status s = vmx_adjust_controls(PIN_PROCESS_POSTED_INTERRUPTS | PIN_NMI_EXITING, kPin, "pin-based controls", out);
    ASSERT_FALSE(s.ok());
    EXPECT_STREQ(s.where, "pin-based controls");
    EXPECT_EQ(s.value, u64{PIN_PROCESS_POSTED_INTERRUPTS}); // only the offending bit
    EXPECT_EQ(s.value2, 0x7Fu);
    EXPECT_EQ(out, 0u);
    EXPECT_NE(std::string(s.what).find("allowed-1"), std::string::npos);
}

TEST(VmxControls, SecondaryControlsHaveNoAllowed0Bits) {
    const u64 proc2 = cap(0, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST);
    u32 out = 0;
    ASSERT_TRUE(vmx_adjust_controls(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST, proc2, "secondary", out).ok());
    EXPECT_EQ(out, PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST);
    EXPECT_FALSE(vmx_adjust_controls(PROC2_ENABLE_PML, proc2, "secondary", out).ok());
}

TEST(VmxControls, ControlViolationsNameBothDirections) {
    EXPECT_EQ(vmx_control_violations(0x16, kPin), 0u);
    EXPECT_EQ(vmx_control_violations(0x12, kPin), 0x4u);                // required bit 2 missing
    EXPECT_EQ(vmx_control_violations(0x16 | (1u << 8), kPin), 1u << 8); // bit 8 not allowed
    EXPECT_EQ(vmx_allowed0(kPin), 0x16u);
    EXPECT_EQ(allowed1(kPin), 0x7Fu);
}

TEST(VmxControls, FixedBitsApply) {
    const u64 cr0_fixed0 = CR0_PE | CR0_NE | CR0_PG, cr0_fixed1 = 0xFFFFFFFF;
    EXPECT_EQ(vmx_fixed_bits_apply(CR0_ET, cr0_fixed0, cr0_fixed1), CR0_ET | cr0_fixed0);
    // A bit outside FIXED1 is cleared.
    const u64 cr4_fixed0 = CR4_VMXE, cr4_fixed1 = 0x3727FF;
    EXPECT_EQ(vmx_fixed_bits_apply(CR4_PAE | bit(23), cr4_fixed0, cr4_fixed1), CR4_PAE | CR4_VMXE);
}

TEST(VmxControls, FixedBitsCheck) {
    const u64 f0 = CR0_PE | CR0_NE | CR0_PG, f1 = 0xFFFFFFFF;
    EXPECT_TRUE(vmx_fixed_bits_check(f0 | CR0_ET, f0, f1, "host CR0").ok());
    Status s = vmx_fixed_bits_check(CR0_PE | CR0_PG | bit(32), f0, f1, "host CR0");
    ASSERT_FALSE(s.ok());
    EXPECT_STREQ(s.where, "host CR0");
    EXPECT_EQ(s.value, CR0_NE | bit(32));
    EXPECT_EQ(s.value2, CR0_PE | CR0_PG | bit(32));
    EXPECT_EQ(vmx_fixed_bits_violations(f0, f0, f1), 0u);
}

TEST(VmxControls, MiscLayout) {
    const u64 misc = 0x300481E5; // a Skylake-like IA32_VMX_MISC
    EXPECT_EQ(misc & VMX_MISC_PREEMPTION_TIMER_RATE_MASK, 5u);
    EXPECT_TRUE(misc & VMX_MISC_ACTIVITY_HLT);
    EXPECT_TRUE(misc & VMX_MISC_ACTIVITY_SHUTDOWN);
    EXPECT_TRUE(misc & VMX_MISC_ACTIVITY_WAIT_SIPI);
    EXPECT_EQ((misc >> VMX_MISC_CR3_TARGETS_SHIFT) & VMX_MISC_CR3_TARGETS_MASK, 4u);
    EXPECT_TRUE(misc & VMX_MISC_VMWRITE_ANY_FIELD);
    EXPECT_FALSE(misc & VMX_MISC_INJECT_ZERO_LENGTH);
}
