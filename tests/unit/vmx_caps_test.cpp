// Unit tests for arch/x86_64/vmx_caps: every reason VT-x is refused, and the features decoded on success.
#include "arch/x86_64/vmx_caps.h"

#include <gtest/gtest.h>

#include <string>

#include "arch/x86_64/msr.h"

using namespace evmm;

namespace {

constexpr u64 allow1(u32 bits) { return u64{bits} << 32; }

// IA32_VMX_BASIC of a typical modern CPU: revision 4, 4 KiB regions, WB, TRUE controls, no 32-bit limit.
constexpr u64 kBasic = 0x4 | (u64{0x1000} << VMX_BASIC_REGION_SIZE_SHIFT) |
                       (VMX_BASIC_MEMTYPE_WB << VMX_BASIC_MEMTYPE_SHIFT) | VMX_BASIC_TRUE_CTLS;
constexpr u64 kEptCap = EPT_CAP_PAGE_WALK_4 | EPT_CAP_MEMTYPE_WB | EPT_CAP_INVEPT | EPT_CAP_INVEPT_SINGLE |
                        EPT_CAP_INVEPT_ALL | EPT_CAP_2M_PAGES | EPT_CAP_1G_PAGES | VPID_CAP_INVVPID;

// A snapshot that passes every check (firmware locked feature control with VMX outside SMX).
VmxCapsSnapshot good() {
    VmxCapsSnapshot s{};
    s.cpuid_vmx = true;
    s.feature_control = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX;
    s.basic = kBasic;
    s.procbased = allow1(PROC_ACTIVATE_SECONDARY | PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS) | 0x0401e172;
    s.procbased2 = allow1(PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST);
    s.ept_vpid_cap = kEptCap;
    return s;
}

std::string what(const Status& s) { return s.what ? s.what : "<ok>"; }

Status check(const VmxCapsSnapshot& s) {
    VmxFeatures f;
    return vmx_caps_check(s, f);
}

bool contains(const Status& s, const char* needle) { return what(s).find(needle) != std::string::npos; }

} // namespace

TEST(VmxCaps, GoodSnapshotPasses) {
    VmxFeatures f;
    Status s = vmx_caps_check(good(), f);
    ASSERT_TRUE(s.ok()) << what(s);
    EXPECT_EQ(f.revision, 4u);
    EXPECT_EQ(f.region_size, 0x1000u);
    EXPECT_TRUE(f.true_ctls);
    EXPECT_TRUE(f.ept);
    EXPECT_TRUE(f.ept_2m);
    EXPECT_TRUE(f.ept_1g);
    EXPECT_TRUE(f.vpid);
    EXPECT_TRUE(f.unrestricted_guest);
    EXPECT_FALSE(f.feature_control_needs_lock);
}

TEST(VmxCaps, NoCpuidVmx) {
    VmxCapsSnapshot s = good();
    s.cpuid_vmx = false;
    VmxFeatures f;
    f.ept = true; // stale output must be cleared
    Status st = vmx_caps_check(s, f);
    EXPECT_EQ(what(st), "CPUID.1:ECX.VMX = 0");
    EXPECT_FALSE(f.ept);
    EXPECT_EQ(f.revision, 0u);
}

TEST(VmxCaps, FeatureControlLockedWithoutVmxOutsideSmx) {
    VmxCapsSnapshot s = good();
    s.feature_control = FEATURE_CONTROL_LOCK;
    Status st = check(s);
    EXPECT_FALSE(st.ok());
    EXPECT_TRUE(contains(st, "locked")) << what(st);
    EXPECT_EQ(st.value, FEATURE_CONTROL_LOCK);
    // VMX inside SMX alone does not help outside SMX.
    s.feature_control = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_IN_SMX;
    EXPECT_TRUE(contains(check(s), "locked"));
}

TEST(VmxCaps, FeatureControlUnlockedNeedsLock) {
    for (u64 fc : {u64{0}, FEATURE_CONTROL_VMX_OUTSIDE_SMX, FEATURE_CONTROL_VMX_IN_SMX}) {
        VmxCapsSnapshot s = good();
        s.feature_control = fc;
        VmxFeatures f;
        Status st = vmx_caps_check(s, f);
        ASSERT_TRUE(st.ok()) << what(st) << " fc=" << fc;
        EXPECT_TRUE(f.feature_control_needs_lock) << fc;
    }
}

TEST(VmxCaps, VmcsMemtypeNotWriteBack) {
    VmxCapsSnapshot s = good();
    s.basic = (kBasic & ~(VMX_BASIC_MEMTYPE_MASK << VMX_BASIC_MEMTYPE_SHIFT)); // UC = 0
    Status st = check(s);
    EXPECT_TRUE(contains(st, "write-back")) << what(st);
    EXPECT_EQ(st.value, s.basic);
    // The whole 4-bit field (bits 53:50) counts: 14 (reserved) is not WB even though its low 3 bits are 6.
    s.basic = (kBasic & ~(VMX_BASIC_MEMTYPE_MASK << VMX_BASIC_MEMTYPE_SHIFT)) | (u64{0xE} << VMX_BASIC_MEMTYPE_SHIFT);
    EXPECT_TRUE(contains(check(s), "write-back"));
    s.basic = kBasic | bit(54); // a bit just above the field does not disturb it
    EXPECT_TRUE(check(s).ok());
}

TEST(VmxCaps, ThirtyTwoBitAddressLimit) {
    VmxCapsSnapshot s = good();
    s.basic |= VMX_BASIC_ADDR_32BIT;
    Status st = check(s);
    EXPECT_TRUE(contains(st, "32-bit")) << what(st);
    EXPECT_EQ(st.value, s.basic);
}

TEST(VmxCaps, NoSecondaryControls) {
    VmxCapsSnapshot s = good();
    // The bit allowed to be 0 (low half) does not count: only the allowed-1 half matters.
    s.procbased = allow1(PROC_USE_MSR_BITMAPS) | PROC_ACTIVATE_SECONDARY;
    Status st = check(s);
    EXPECT_TRUE(contains(st, "secondary")) << what(st);
    EXPECT_EQ(st.value, s.procbased);
}

TEST(VmxCaps, NoEpt) {
    VmxCapsSnapshot s = good();
    s.procbased2 = allow1(PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST) | PROC2_ENABLE_EPT;
    Status st = check(s);
    EXPECT_EQ(what(st), "no EPT");
    s.procbased2 = 0;
    EXPECT_EQ(what(check(s)), "no EPT");
}

TEST(VmxCaps, EptMissingRequiredCapability) {
    for (u64 missing : {EPT_CAP_PAGE_WALK_4, EPT_CAP_MEMTYPE_WB, EPT_CAP_INVEPT}) {
        VmxCapsSnapshot s = good();
        s.ept_vpid_cap = kEptCap & ~missing;
        Status st = check(s);
        EXPECT_TRUE(contains(st, "EPT lacks")) << what(st) << " missing=" << missing;
        EXPECT_EQ(st.value, s.ept_vpid_cap);
    }
    VmxCapsSnapshot s = good();
    s.ept_vpid_cap = 0;
    EXPECT_TRUE(contains(check(s), "EPT lacks"));
}

TEST(VmxCaps, NoUnrestrictedGuest) {
    VmxCapsSnapshot s = good();
    s.procbased2 = allow1(PROC2_ENABLE_EPT | PROC2_ENABLE_VPID);
    Status st = check(s);
    EXPECT_TRUE(contains(st, "unrestricted guest")) << what(st);
    EXPECT_EQ(st.value, s.procbased2);
}

TEST(VmxCaps, FirstFailureWins) {
    // With everything wrong, the most basic reason is reported.
    VmxCapsSnapshot s{};
    EXPECT_EQ(what(check(s)), "CPUID.1:ECX.VMX = 0");
    s.cpuid_vmx = true;
    s.feature_control = FEATURE_CONTROL_LOCK;
    EXPECT_TRUE(contains(check(s), "locked"));
    s.feature_control = 0;
    EXPECT_TRUE(contains(check(s), "write-back")); // basic = 0: memtype UC
}

TEST(VmxCaps, DecodesBasicFields) {
    VmxCapsSnapshot s = good();
    // Bit 31 of IA32_VMX_BASIC is always 0 per the SDM; set it anyway to prove the revision mask drops it.
    s.basic = 0x80000000u | 0x12345 | (u64{0x400} << VMX_BASIC_REGION_SIZE_SHIFT) |
              (VMX_BASIC_MEMTYPE_WB << VMX_BASIC_MEMTYPE_SHIFT);
    VmxFeatures f;
    ASSERT_TRUE(vmx_caps_check(s, f).ok());
    EXPECT_EQ(f.revision, 0x12345u);
    EXPECT_EQ(f.region_size, 0x400u);
    EXPECT_FALSE(f.true_ctls);

    s.basic = 0x7FFFFFFF | (u64{0x1FFF} << VMX_BASIC_REGION_SIZE_SHIFT) | (u64{1} << 45) |
              (VMX_BASIC_MEMTYPE_WB << VMX_BASIC_MEMTYPE_SHIFT) | VMX_BASIC_TRUE_CTLS;
    ASSERT_TRUE(vmx_caps_check(s, f).ok());
    EXPECT_EQ(f.revision, 0x7FFFFFFFu);
    EXPECT_EQ(f.region_size, 0x1FFFu); // bit 45 is outside the 13-bit size field
    EXPECT_TRUE(f.true_ctls);
}

TEST(VmxCaps, OptionalFeaturesDecoded) {
    VmxCapsSnapshot s = good();
    s.ept_vpid_cap = EPT_CAP_PAGE_WALK_4 | EPT_CAP_MEMTYPE_WB | EPT_CAP_INVEPT;
    s.procbased2 = allow1(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST);
    VmxFeatures f;
    ASSERT_TRUE(vmx_caps_check(s, f).ok());
    EXPECT_TRUE(f.ept);
    EXPECT_FALSE(f.ept_2m);
    EXPECT_FALSE(f.ept_1g);
    EXPECT_FALSE(f.vpid);
    EXPECT_TRUE(f.unrestricted_guest);

    s.ept_vpid_cap |= EPT_CAP_2M_PAGES;
    s.procbased2 |= allow1(PROC2_ENABLE_VPID);
    ASSERT_TRUE(vmx_caps_check(s, f).ok());
    EXPECT_TRUE(f.ept_2m);
    EXPECT_FALSE(f.ept_1g);
    EXPECT_TRUE(f.vpid);

    s.ept_vpid_cap = (s.ept_vpid_cap & ~EPT_CAP_2M_PAGES) | EPT_CAP_1G_PAGES;
    ASSERT_TRUE(vmx_caps_check(s, f).ok());
    EXPECT_FALSE(f.ept_2m);
    EXPECT_TRUE(f.ept_1g);
}

TEST(VmxCaps, Allowed1IsHighHalf) {
    EXPECT_EQ(allowed1(0x12345678'9abcdef0ull), 0x12345678u);
    EXPECT_EQ(allowed1(0xFFFFFFFFull), 0u);
}
