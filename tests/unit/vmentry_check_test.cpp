// Unit tests for vmm/vmentry_check: a VMCS like the one evmm launches guest0 with (64-bit host; unrestricted guest
// in 32-bit protected mode with paging off; EPT and VPID on) passes with no violation; then each test breaks one
// rule of SDM Vol. 3C §27.2 / §27.3 and expects that rule, and only it, to be reported.
#include "vmm/vmx/vmentry_check.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "arch/x86_64/cr.h"
#include "arch/x86_64/ept.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmx_controls.h"

using namespace evmm;

namespace {

using F = VmcsField;

constexpr u64 cap(u32 allowed0, u32 allowed1_bits) { return (u64{allowed1_bits} << 32) | allowed0; }
constexpr u64 CR4_PCIDE_BIT = bit(17);
constexpr u64 CR4_CET_BIT = bit(23);
constexpr u64 RFLAGS_FIXED = 0x2, RFLAGS_TF = bit(8), RFLAGS_IF = bit(9), RFLAGS_VM = bit(17);
constexpr u64 POWER_ON_PAT = 0x0007040600070406ull;
constexpr u64 PHYS_BITS = 39;
constexpr u64 NONCANONICAL = 0x0000800000000000ull;

// Access rights (Table 25-2) used below.
constexpr u32 AR_CODE32 = 0xC09B;   // execute/read accessed code, S, DPL 0, P, D/B, G
constexpr u32 AR_DATA32 = 0xC093;   // read/write accessed data, S, DPL 0, P, D/B, G
constexpr u32 AR_TSS32_BUSY = 0x8B; // busy 32-bit TSS, P
constexpr u32 AR_LDT = 0x82;        // LDT, P
constexpr u32 AR_CODE64 = 0xA09B;   // execute/read accessed code, L, G

struct Env {
    VmcsSnapshot s{};
    VmxCapMsrs c{};
    void set(F f, u64 v) { s.set(f, v); }
    u64 get(F f) const { return s.get(f); }
    void orr(F f, u64 v) { s.set(f, s.get(f) | v); }
    void clr(F f, u64 v) { s.set(f, s.get(f) & ~v); }
    void set_dpl(F ar, u32 dpl) {
        s.set(ar, (s.get(ar) & ~(u64{VMX_AR_DPL_MASK} << VMX_AR_DPL_SHIFT)) | (u64{dpl} << VMX_AR_DPL_SHIFT));
    }
    void set_type(F ar, u32 type) { s.set(ar, (s.get(ar) & ~u64{VMX_AR_TYPE_MASK}) | type); }
};

// Capability MSRs of a Skylake-class processor (TRUE controls).
VmxCapMsrs good_caps() {
    VmxCapMsrs c{};
    c.pinbased = cap(0x16, 0xFF);
    c.procbased = cap(0x04006172, 0xFFF9FFFE);
    c.procbased2 = cap(0, 0x00F7FFFF);
    c.exit = cap(0x00036DFB, 0x01FFFFFF);
    c.entry = cap(0x000011FB, 0x0003FFFF);
    c.misc = 0x300481E5; // HLT/shutdown/wait-for-SIPI, 4 CR3 targets, no zero-length injection
    c.cr0_fixed0 = CR0_PE | CR0_NE | CR0_PG;
    c.cr0_fixed1 = 0xFFFFFFFF;
    c.cr4_fixed0 = CR4_VMXE;
    c.cr4_fixed1 = 0x003727FF | CR4_CET_BIT;
    c.ept_vpid_cap = 0x00000F0106734141ull; // 4-level walk, UC/WB, 2M/1G, INVEPT, A/D, INVVPID
    c.vmfunc = VMFUNC_EPTP_SWITCHING;
    c.phys_addr_bits = PHYS_BITS;
    return c;
}

u32 adjust(u32 desired, u64 msr) {
    u32 out = 0;
    Status s = vmx_adjust_controls(desired, msr, "test", out);
    EXPECT_TRUE(s.ok()) << s.what;
    return out;
}

void set_seg(Env& e, F sel, F base, F limit, F ar, u64 s, u64 b, u64 l, u32 a) {
    e.set(sel, s);
    e.set(base, b);
    e.set(limit, l);
    e.set(ar, a);
}

// The VMCS of a guest0 launch.
Env good() {
    Env e;
    e.c = good_caps();
    for (F f : VMCS_FIELDS) e.set(f, 0); // every field read back

    // Controls.
    e.set(F::PIN_BASED_VM_EXEC_CONTROLS,
          adjust(PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, e.c.pinbased));
    e.set(
        F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS,
        adjust(PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_ACTIVATE_SECONDARY, e.c.procbased));
    e.set(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
          adjust(PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST, e.c.procbased2));
    e.set(F::VM_EXIT_CONTROLS,
          adjust(VM_EXIT_HOST_ADDRESS_SPACE_SIZE | VM_EXIT_ACKNOWLEDGE_INTERRUPT | VM_EXIT_SAVE_IA32_PAT |
                     VM_EXIT_LOAD_IA32_PAT | VM_EXIT_SAVE_IA32_EFER | VM_EXIT_LOAD_IA32_EFER,
                 e.c.exit));
    e.set(F::VM_ENTRY_CONTROLS,
          adjust(VM_ENTRY_LOAD_DEBUG_CONTROLS | VM_ENTRY_LOAD_IA32_PAT | VM_ENTRY_LOAD_IA32_EFER, e.c.entry));
    e.set(F::VIRTUAL_PROCESSOR_ID, 1);
    e.set(F::EPT_POINTER, ept_make_eptp(0x5000, false));
    e.set(F::IO_BITMAP_A_ADDR, 0x1000);
    e.set(F::IO_BITMAP_B_ADDR, 0x2000);
    e.set(F::MSR_BITMAPS_ADDR, 0x3000);
    e.set(F::EXCEPTION_BITMAP, bit(18)); // #MC
    e.set(F::CR0_GUEST_HOST_MASK, CR0_PE | CR0_PG | CR0_NE);
    e.set(F::CR4_GUEST_HOST_MASK, CR4_VMXE);
    e.set(F::CR0_READ_SHADOW, CR0_PE | CR0_ET);

    // Host: evmm's VMM, 64-bit, higher-half.
    e.set(F::HOST_CR0, CR0_PG | CR0_AM | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE);
    e.set(F::HOST_CR3, 0x100000);
    e.set(F::HOST_CR4, CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_VMXE);
    e.set(F::HOST_CS_SELECTOR, 0x08);
    e.set(F::HOST_SS_SELECTOR, 0x10);
    e.set(F::HOST_DS_SELECTOR, 0x10);
    e.set(F::HOST_ES_SELECTOR, 0x10);
    e.set(F::HOST_TR_SELECTOR, 0x18);
    e.set(F::HOST_GS_BASE, 0xFFFF800000001000ull);
    e.set(F::HOST_TR_BASE, 0xFFFF800000002000ull);
    e.set(F::HOST_GDTR_BASE, 0xFFFF800000003000ull);
    e.set(F::HOST_IDTR_BASE, 0xFFFF800000004000ull);
    e.set(F::HOST_RSP, 0xFFFF800000010000ull);
    e.set(F::HOST_RIP, 0xFFFF800000200000ull);
    e.set(F::HOST_IA32_PAT, POWER_ON_PAT);
    e.set(F::HOST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE);

    // Guest: 32-bit protected mode, paging off, flat segments.
    e.set(F::GUEST_CR0, CR0_PE | CR0_ET | CR0_NE);
    e.set(F::GUEST_CR4, CR4_VMXE);
    e.set(F::GUEST_DR7, 0x400);
    e.set(F::GUEST_RIP, 0x100000);
    e.set(F::GUEST_RFLAGS, RFLAGS_FIXED);
    set_seg(e, F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_ACCESS_RIGHTS, 0x08, 0,
            0xFFFFFFFF, AR_CODE32);
    set_seg(e, F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_ACCESS_RIGHTS, 0x10, 0,
            0xFFFFFFFF, AR_DATA32);
    set_seg(e, F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_ACCESS_RIGHTS, 0x10, 0,
            0xFFFFFFFF, AR_DATA32);
    set_seg(e, F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_ACCESS_RIGHTS, 0x10, 0,
            0xFFFFFFFF, AR_DATA32);
    set_seg(e, F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_ACCESS_RIGHTS, 0x10, 0,
            0xFFFFFFFF, AR_DATA32);
    set_seg(e, F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_ACCESS_RIGHTS, 0x10, 0,
            0xFFFFFFFF, AR_DATA32);
    set_seg(e, F::GUEST_LDTR_SELECTOR, F::GUEST_LDTR_BASE, F::GUEST_LDTR_LIMIT, F::GUEST_LDTR_ACCESS_RIGHTS, 0, 0, 0,
            VMX_AR_UNUSABLE);
    set_seg(e, F::GUEST_TR_SELECTOR, F::GUEST_TR_BASE, F::GUEST_TR_LIMIT, F::GUEST_TR_ACCESS_RIGHTS, 0, 0, 0x67,
            AR_TSS32_BUSY);
    e.set(F::GUEST_GDTR_BASE, 0x7000);
    e.set(F::GUEST_GDTR_LIMIT, 0x17);
    e.set(F::GUEST_IDTR_LIMIT, 0);
    e.set(F::VMCS_LINK_POINTER, VMCS_LINK_POINTER_NONE);
    e.set(F::GUEST_IA32_PAT, POWER_ON_PAT);
    e.set(F::GUEST_IA32_EFER, 0);
    return e;
}

// The same guest with paging on and without unrestricted guest (the PE/PG relaxation gone): the checks that
// apply only then (SS.RPL, DPL vs RPL) can be exercised.
Env paged_restricted() {
    Env e = good();
    e.clr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_UNRESTRICTED_GUEST);
    e.orr(F::GUEST_CR0, CR0_PG);
    e.set(F::GUEST_CR3, 0x9000);
    return e;
}

// A 64-bit guest (IA-32e mode).
Env long_mode() {
    Env e = good();
    e.orr(F::VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE_GUEST);
    e.orr(F::GUEST_CR0, CR0_PG);
    e.orr(F::GUEST_CR4, CR4_PAE);
    e.set(F::GUEST_CR3, 0x9000);
    e.set(F::GUEST_IA32_EFER, EFER_LME | EFER_LMA);
    e.set(F::GUEST_CS_ACCESS_RIGHTS, AR_CODE64);
    e.set(F::GUEST_RIP, 0xFFFFFFFF80000000ull);
    return e;
}

// A virtual-8086 guest: RFLAGS.VM with the segments as §27.3.1.2 wants them.
Env v86() {
    Env e = good();
    e.orr(F::GUEST_RFLAGS, RFLAGS_VM);
    const F segs[][4] = {
        {F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_ACCESS_RIGHTS},
        {F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_ACCESS_RIGHTS},
        {F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_ACCESS_RIGHTS},
        {F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_ACCESS_RIGHTS},
        {F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_ACCESS_RIGHTS},
        {F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_ACCESS_RIGHTS},
    };
    u64 sel = 0x1000;
    for (const auto& s : segs) {
        set_seg(e, s[0], s[1], s[2], s[3], sel, sel << 4, 0xFFFF, 0xF3);
        sel += 0x100;
    }
    e.set(F::GUEST_RIP, 0x100);
    return e;
}

std::vector<Violation> violations(const Env& e) {
    std::vector<Violation> v(64);
    const u32 n = vmentry_check(e.s, e.c, v.data(), static_cast<u32>(v.size()));
    v.resize(n < v.size() ? n : v.size());
    return v;
}

std::string describe(const std::vector<Violation>& vs) {
    std::string out;
    for (const Violation& v : vs) {
        char buf[256];
        vmentry_format_violation(v, buf, sizeof buf);
        out += "\n  ";
        out += buf;
    }
    return out.empty() ? " (none)" : out;
}

std::set<std::string> rules(const std::vector<Violation>& vs) {
    std::set<std::string> r;
    for (const Violation& v : vs) r.insert(v.rule);
    return r;
}

// The violations are all of `rule` (at least one).
::testing::AssertionResult only(const Env& e, const char* rule) {
    const std::vector<Violation> vs = violations(e);
    if (rules(vs) == std::set<std::string>{rule}) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected only " << rule << ", got:" << describe(vs);
}
// The violations are exactly of these rules.
::testing::AssertionResult exactly(const Env& e, std::set<std::string> want) {
    const std::vector<Violation> vs = violations(e);
    if (rules(vs) == want) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "unexpected set of rules:" << describe(vs);
}
::testing::AssertionResult clean(const Env& e) {
    const std::vector<Violation> vs = violations(e);
    if (vs.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected no violation, got:" << describe(vs);
}

u32 inject(InterruptionType t, u8 vector, bool error_code) { return intr_info_make(t, vector, error_code); }

} // namespace

// ---- the known-good states ---------------------------------------------------------------------------------------

TEST(VmentryCheck, Guest0LaunchStatePasses) { EXPECT_TRUE(clean(good())); }
TEST(VmentryCheck, PagedRestrictedGuestPasses) { EXPECT_TRUE(clean(paged_restricted())); }
TEST(VmentryCheck, LongModeGuestPasses) { EXPECT_TRUE(clean(long_mode())); }
TEST(VmentryCheck, Virtual8086GuestPasses) { EXPECT_TRUE(clean(v86())); }

TEST(VmentryCheck, ValidInjectionsPass) {
    Env e = good();
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 14, true));
    e.set(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0x2);
    EXPECT_TRUE(clean(e));
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::SOFTWARE_INTERRUPT, 0x80, false));
    e.set(F::VM_ENTRY_INSTRUCTION_LENGTH, 2);
    EXPECT_TRUE(clean(e));
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::NMI, 2, false));
    EXPECT_TRUE(clean(e));
    // An HLTed guest may take an external interrupt.
    e.set(F::GUEST_ACTIVITY_STATE, static_cast<u64>(ActivityState::HLT));
    e.orr(F::GUEST_RFLAGS, RFLAGS_IF);
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::EXTERNAL_INTERRUPT, 0x20, false));
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, UsableLdtrAndTssPass) {
    Env e = good();
    e.set(F::GUEST_LDTR_ACCESS_RIGHTS, AR_LDT);
    e.set(F::GUEST_LDTR_SELECTOR, 0x20);
    e.set(F::GUEST_LDTR_LIMIT, 0xFFF);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, CountsBeyondCapAndAcceptsNoBuffer) {
    Env e = good();
    e.set(F::HOST_CR3, bit(45));
    e.set(F::GUEST_CR3, bit(45));
    e.set(F::CR3_TARGET_COUNT, 9);
    EXPECT_EQ(vmentry_check(e.s, e.c, nullptr, 0), 3u);
    Violation one[1];
    EXPECT_EQ(vmentry_check(e.s, e.c, one, 1), 3u);
    EXPECT_STREQ(one[0].rule, "ctl.cr3_target_count");
    EXPECT_STREQ(one[0].sdm, "SDM 27.2.1.1");
    EXPECT_EQ(one[0].field, F::CR3_TARGET_COUNT);
    EXPECT_EQ(one[0].value, 9u);
}

TEST(VmentryCheck, FormatsAViolation) {
    Env e = good();
    e.set(F::GUEST_CR0, CR0_PE | CR0_ET); // NE missing
    const std::vector<Violation> vs = violations(e);
    ASSERT_EQ(vs.size(), 1u);
    char buf[256];
    const size_t n = vmentry_format_violation(vs[0], buf, sizeof buf);
    EXPECT_EQ(std::string(buf),
              "guest.cr0: bits not allowed by IA32_VMX_CR0_FIXED0/FIXED1 (GUEST_CR0 = 0x11, bits 0x20) "
              "[SDM 27.3.1.1]");
    EXPECT_EQ(n, std::string(buf).size());
    char small[8];
    vmentry_format_violation(vs[0], small, sizeof small);
    EXPECT_EQ(std::string(small), "guest.c");
}

TEST(VmentryCheck, SnapshotAccessors) {
    VmcsSnapshot s{};
    EXPECT_FALSE(s.has(F::GUEST_RIP));
    EXPECT_EQ(s.get(F::GUEST_RIP), 0u);
    s.set(F::GUEST_RIP, 0x1234);
    EXPECT_TRUE(s.has(F::GUEST_RIP));
    EXPECT_EQ(s.get(F::GUEST_RIP), 0x1234u);
    s.set(F::GUEST_CS_SELECTOR, 0x12345); // 16-bit: truncated as VMWRITE would
    EXPECT_EQ(s.get(F::GUEST_CS_SELECTOR), 0x2345u);
    s.set(F::VM_ENTRY_CONTROLS, 0x1'0000'0001ull); // 32-bit
    EXPECT_EQ(s.get(F::VM_ENTRY_CONTROLS), 1u);
    s.erase(F::GUEST_RIP);
    EXPECT_FALSE(s.has(F::GUEST_RIP));
    s.set(static_cast<F>(0x6FFE), 1); // not a listed field: ignored
    EXPECT_FALSE(s.has(static_cast<F>(0x6FFE)));
}

// ---- §27.2.1.1 VM-execution control fields ---------------------------------------------------------------------

TEST(VmentryCheck, PinBasedControlsOutsideTheCapability) {
    Env e = good();
    e.orr(F::PIN_BASED_VM_EXEC_CONTROLS, bit(8)); // allowed-1 is 0xFF
    EXPECT_TRUE(only(e, "ctl.pin"));
    e = good();
    e.clr(F::PIN_BASED_VM_EXEC_CONTROLS, bit(1)); // allowed-0: must be 1
    EXPECT_TRUE(only(e, "ctl.pin"));
}

TEST(VmentryCheck, PrimaryControlsOutsideTheCapability) {
    Env e = good();
    e.clr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, bit(1));
    EXPECT_TRUE(only(e, "ctl.proc"));
}

TEST(VmentryCheck, SecondaryControlsOutsideTheCapability) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_CONCEAL_VMX_FROM_PT); // not allowed-1 here
    EXPECT_TRUE(only(e, "ctl.proc2"));
}

TEST(VmentryCheck, SecondaryControlsIgnoredWhenNotActivated) {
    Env e = paged_restricted();
    e.clr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, PROC_ACTIVATE_SECONDARY);
    e.set(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, ~u64{0});
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, Cr3TargetCountAbove4) {
    Env e = good();
    e.set(F::CR3_TARGET_COUNT, 5);
    EXPECT_TRUE(only(e, "ctl.cr3_target_count"));
}

TEST(VmentryCheck, IoBitmapAddresses) {
    Env e = good();
    e.set(F::IO_BITMAP_A_ADDR, 0x1800);
    e.set(F::IO_BITMAP_B_ADDR, bit(40));
    EXPECT_TRUE(only(e, "ctl.io_bitmaps"));
    EXPECT_EQ(violations(e).size(), 2u);
}

TEST(VmentryCheck, MsrBitmapAddress) {
    Env e = good();
    e.set(F::MSR_BITMAPS_ADDR, 0x3004);
    EXPECT_TRUE(only(e, "ctl.msr_bitmaps"));
}

TEST(VmentryCheck, VirtualApicAddressWithTprShadow) {
    Env e = good();
    e.orr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, PROC_USE_TPR_SHADOW);
    e.set(F::VIRTUAL_APIC_ADDR, 0x4010);
    EXPECT_TRUE(only(e, "ctl.virtual_apic"));
}

TEST(VmentryCheck, TprThresholdHighBits) {
    Env e = good();
    e.orr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, PROC_USE_TPR_SHADOW);
    e.set(F::VIRTUAL_APIC_ADDR, 0x4000);
    e.set(F::TPR_THRESHOLD, 0x10);
    EXPECT_TRUE(only(e, "ctl.tpr_threshold"));
}

TEST(VmentryCheck, ApicVirtualizationWithoutTprShadow) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_VIRTUALIZE_X2APIC_MODE);
    EXPECT_TRUE(only(e, "ctl.tpr_shadow"));
}

TEST(VmentryCheck, X2apicVirtualizationWithApicAccessVirtualization) {
    Env e = good();
    e.orr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, PROC_USE_TPR_SHADOW);
    e.set(F::VIRTUAL_APIC_ADDR, 0x4000);
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_VIRTUALIZE_X2APIC_MODE | PROC2_VIRTUALIZE_APIC_ACCESSES);
    e.set(F::APIC_ACCESS_ADDR, 0xFEE00000);
    EXPECT_TRUE(only(e, "ctl.x2apic"));
}

TEST(VmentryCheck, VirtualInterruptDeliveryWithoutExternalInterruptExiting) {
    Env e = good();
    e.orr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, PROC_USE_TPR_SHADOW);
    e.set(F::VIRTUAL_APIC_ADDR, 0x4000);
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    e.clr(F::PIN_BASED_VM_EXEC_CONTROLS, PIN_EXTERNAL_INTERRUPT_EXITING);
    EXPECT_TRUE(only(e, "ctl.virtual_interrupt_delivery"));
}

TEST(VmentryCheck, VirtualNmisWithoutNmiExiting) {
    Env e = good();
    e.clr(F::PIN_BASED_VM_EXEC_CONTROLS, PIN_NMI_EXITING);
    EXPECT_TRUE(only(e, "ctl.virtual_nmis"));
    e = good();
    e.clr(F::PIN_BASED_VM_EXEC_CONTROLS, PIN_VIRTUAL_NMIS);
    e.orr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, PROC_NMI_WINDOW_EXITING);
    EXPECT_TRUE(only(e, "ctl.virtual_nmis"));
}

TEST(VmentryCheck, ApicAccessAddress) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_VIRTUALIZE_APIC_ACCESSES);
    e.set(F::APIC_ACCESS_ADDR, 0xFEE00001);
    EXPECT_TRUE(only(e, "ctl.apic_access"));
}

TEST(VmentryCheck, PostedInterrupts) {
    Env e = good();
    e.orr(F::PIN_BASED_VM_EXEC_CONTROLS, PIN_PROCESS_POSTED_INTERRUPTS);
    e.set(F::POSTED_INTERRUPT_NOTIFICATION_VECTOR, 0xF2);
    e.set(F::POSTED_INTERRUPT_DESCRIPTOR_ADDR, 0x7040);
    EXPECT_TRUE(only(e, "ctl.posted_interrupts")); // no virtual-interrupt delivery
    e.orr(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, PROC_USE_TPR_SHADOW);
    e.set(F::VIRTUAL_APIC_ADDR, 0x4000);
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    EXPECT_TRUE(clean(e));
    e.set(F::POSTED_INTERRUPT_NOTIFICATION_VECTOR, 0x1F2);
    e.set(F::POSTED_INTERRUPT_DESCRIPTOR_ADDR, 0x7020);
    EXPECT_TRUE(only(e, "ctl.posted_interrupts"));
    EXPECT_EQ(violations(e).size(), 2u);
}

TEST(VmentryCheck, VpidZero) {
    Env e = good();
    e.set(F::VIRTUAL_PROCESSOR_ID, 0);
    EXPECT_TRUE(only(e, "ctl.vpid"));
}

TEST(VmentryCheck, EptpMemoryType) {
    Env e = good();
    e.set(F::EPT_POINTER, (e.get(F::EPT_POINTER) & ~eptp::MEMTYPE_MASK) | 1); // WC
    EXPECT_TRUE(only(e, "ctl.eptp.memtype"));
    e = good();
    e.set(F::EPT_POINTER, e.get(F::EPT_POINTER) & ~eptp::MEMTYPE_MASK); // UC: supported
    EXPECT_TRUE(clean(e));
    e.c.ept_vpid_cap &= ~EPT_CAP_MEMTYPE_UC;
    EXPECT_TRUE(only(e, "ctl.eptp.memtype"));
}

TEST(VmentryCheck, EptpWalkLength) {
    Env e = good();
    e.set(F::EPT_POINTER, (e.get(F::EPT_POINTER) & ~eptp::WALK_LENGTH_MASK) | (u64{2} << eptp::WALK_LENGTH_SHIFT));
    EXPECT_TRUE(only(e, "ctl.eptp.walk_length"));
    // 5 levels only where the capability says so.
    e.set(F::EPT_POINTER, (e.get(F::EPT_POINTER) & ~eptp::WALK_LENGTH_MASK) | (u64{4} << eptp::WALK_LENGTH_SHIFT));
    EXPECT_TRUE(only(e, "ctl.eptp.walk_length"));
    e.c.ept_vpid_cap |= EPT_CAP_PAGE_WALK_5;
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, EptpAccessedDirtyWithoutSupport) {
    Env e = good();
    e.orr(F::EPT_POINTER, eptp::AD_ENABLE);
    EXPECT_TRUE(clean(e));
    e.c.ept_vpid_cap &= ~EPT_CAP_ACCESSED_DIRTY;
    EXPECT_TRUE(only(e, "ctl.eptp.accessed_dirty"));
}

TEST(VmentryCheck, EptpReservedBits) {
    Env e = good();
    e.orr(F::EPT_POINTER, bit(9));
    EXPECT_TRUE(only(e, "ctl.eptp.reserved"));
    e = good();
    e.orr(F::EPT_POINTER, bit(PHYS_BITS)); // beyond MAXPHYADDR
    EXPECT_TRUE(only(e, "ctl.eptp.reserved"));
    e = good();
    e.orr(F::EPT_POINTER, eptp::SSS_ENABLE); // supervisor shadow stack not supported
    EXPECT_TRUE(only(e, "ctl.eptp.reserved"));
}

TEST(VmentryCheck, PmlAddress) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_ENABLE_PML);
    e.set(F::PML_ADDR, 0x8008);
    EXPECT_TRUE(only(e, "ctl.pml"));
}

TEST(VmentryCheck, UnrestrictedGuestWithoutEpt) {
    Env e = good();
    e.clr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_ENABLE_EPT);
    EXPECT_TRUE(only(e, "ctl.unrestricted_guest"));
}

TEST(VmentryCheck, EptDependentControlsWithoutEpt) {
    Env e = paged_restricted();
    e.clr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_ENABLE_EPT);
    EXPECT_TRUE(clean(e));
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_MODE_BASED_EXECUTE_CONTROL);
    EXPECT_TRUE(only(e, "ctl.mode_based_execute"));
    e.clr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_MODE_BASED_EXECUTE_CONTROL);
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_ENABLE_PML);
    e.set(F::PML_ADDR, 0x8000);
    EXPECT_TRUE(only(e, "ctl.pml"));
}

TEST(VmentryCheck, SubPageWritePermissions) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_SUB_PAGE_WRITE_PERMISSIONS);
    e.set(F::SUB_PAGE_PERMISSION_TABLE_POINTER, 0x9001);
    EXPECT_TRUE(only(e, "ctl.sub_page_write"));
}

TEST(VmentryCheck, VmFunctions) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_ENABLE_VM_FUNCTIONS);
    e.set(F::VM_FUNCTION_CONTROLS, bit(1)); // IA32_VMX_VMFUNC allows only EPTP switching
    EXPECT_TRUE(only(e, "ctl.vmfunc"));
    e.set(F::VM_FUNCTION_CONTROLS, VMFUNC_EPTP_SWITCHING);
    e.set(F::EPTP_LIST_ADDR, 0xA008);
    EXPECT_TRUE(only(e, "ctl.vmfunc"));
    e.set(F::EPTP_LIST_ADDR, 0xA000);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, VmcsShadowingBitmaps) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_VMCS_SHADOWING);
    e.set(F::VMREAD_BITMAP_ADDR, 0xA000);
    e.set(F::VMWRITE_BITMAP_ADDR, 0xB001);
    EXPECT_TRUE(only(e, "ctl.vmcs_shadowing"));
}

TEST(VmentryCheck, EptViolationVeInformationAddress) {
    Env e = good();
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_EPT_VIOLATION_VE);
    e.set(F::VIRTUALIZATION_EXCEPTION_INFO_ADDR, 0xC001);
    EXPECT_TRUE(only(e, "ctl.ept_violation_ve"));
}

// ---- §27.2.1.2 VM-exit control fields ---------------------------------------------------------------------------

TEST(VmentryCheck, ExitControlsOutsideTheCapability) {
    Env e = good();
    e.clr(F::VM_EXIT_CONTROLS, bit(0)); // allowed-0
    EXPECT_TRUE(only(e, "ctl.exit"));
}

TEST(VmentryCheck, SavePreemptionTimerWithoutTimer) {
    Env e = good();
    e.orr(F::VM_EXIT_CONTROLS, VM_EXIT_SAVE_PREEMPTION_TIMER);
    EXPECT_TRUE(only(e, "ctl.exit.preemption_timer"));
    e.orr(F::PIN_BASED_VM_EXEC_CONTROLS, PIN_ACTIVATE_PREEMPTION_TIMER);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, ExitMsrStoreArea) {
    Env e = good();
    e.set(F::VM_EXIT_MSR_STORE_ADDR, 0xD008); // ignored while the count is 0
    EXPECT_TRUE(clean(e));
    e.set(F::VM_EXIT_MSR_STORE_COUNT, 1);
    EXPECT_TRUE(only(e, "ctl.exit.msr_store"));
}

TEST(VmentryCheck, ExitMsrLoadAreaEndsBeyondPhysicalWidth) {
    Env e = good();
    e.set(F::VM_EXIT_MSR_LOAD_ADDR, bit(PHYS_BITS) - VMX_MSR_ENTRY_SIZE);
    e.set(F::VM_EXIT_MSR_LOAD_COUNT, 1);
    EXPECT_TRUE(clean(e));
    e.set(F::VM_EXIT_MSR_LOAD_COUNT, 2);
    EXPECT_TRUE(only(e, "ctl.exit.msr_load"));
}

// ---- §27.2.1.3 VM-entry control fields --------------------------------------------------------------------------

TEST(VmentryCheck, EntryControlsOutsideTheCapability) {
    Env e = good();
    e.orr(F::VM_ENTRY_CONTROLS, bit(20)); // allowed-1 is bits 17:0
    EXPECT_TRUE(only(e, "ctl.entry"));
}

TEST(VmentryCheck, EntryToSmmOutsideSmm) {
    Env e = good();
    e.orr(F::VM_ENTRY_CONTROLS, VM_ENTRY_ENTRY_TO_SMM);
    EXPECT_TRUE(only(e, "ctl.entry.smm"));
}

TEST(VmentryCheck, EntryMsrLoadArea) {
    Env e = good();
    e.set(F::VM_ENTRY_MSR_LOAD_COUNT, 1);
    e.set(F::VM_ENTRY_MSR_LOAD_ADDR, 0xE004);
    EXPECT_TRUE(only(e, "ctl.entry.msr_load"));
}

TEST(VmentryCheck, InjectionOfReservedType) {
    Env e = good();
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::RESERVED, 0, false));
    EXPECT_TRUE(only(e, "ctl.entry.event_type"));
    // "Other event" (pending MTF) needs the monitor trap flag control to exist.
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::OTHER_EVENT, 0, false));
    EXPECT_TRUE(clean(e));
    e.c.procbased &= ~(u64{PROC_MONITOR_TRAP_FLAG} << 32);
    EXPECT_TRUE(only(e, "ctl.entry.event_type"));
}

TEST(VmentryCheck, InjectionVectorNotFittingTheType) {
    Env e = good();
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::NMI, 3, false));
    EXPECT_TRUE(only(e, "ctl.entry.event_vector"));
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 32, false));
    EXPECT_TRUE(only(e, "ctl.entry.event_vector"));
}

TEST(VmentryCheck, InjectionDeliverErrorCode) {
    Env e = good();
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 13, false)); // #GP
    EXPECT_TRUE(only(e, "ctl.entry.event_error_code"));
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 6, true)); // #UD
    EXPECT_TRUE(only(e, "ctl.entry.event_error_code"));
    // In real mode (unrestricted guest, CR0.PE = 0) no exception delivers an error code.
    e.set(F::GUEST_CR0, CR0_ET | CR0_NE);
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 13, true));
    EXPECT_TRUE(only(e, "ctl.entry.event_error_code"));
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 13, false));
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, InjectionReservedBits) {
    Env e = good();
    e.orr(F::GUEST_RFLAGS, RFLAGS_IF);
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::EXTERNAL_INTERRUPT, 0x20, false) | bit(12));
    EXPECT_TRUE(only(e, "ctl.entry.event_reserved"));
}

TEST(VmentryCheck, InjectionErrorCodeHighBits) {
    Env e = good();
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 13, true));
    e.set(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0x10000);
    EXPECT_TRUE(only(e, "ctl.entry.error_code"));
}

TEST(VmentryCheck, InjectionInstructionLength) {
    Env e = good();
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::SOFTWARE_INTERRUPT, 0x80, false));
    e.set(F::VM_ENTRY_INSTRUCTION_LENGTH, 0);
    EXPECT_TRUE(only(e, "ctl.entry.instruction_length"));
    e.set(F::VM_ENTRY_INSTRUCTION_LENGTH, 16);
    EXPECT_TRUE(only(e, "ctl.entry.instruction_length"));
    e.set(F::VM_ENTRY_INSTRUCTION_LENGTH, 0);
    e.c.misc |= VMX_MISC_INJECT_ZERO_LENGTH;
    EXPECT_TRUE(clean(e));
}

// ---- §27.2.2 - §27.2.4 host state -----------------------------------------------------------------------------

TEST(VmentryCheck, HostCr0FixedBits) {
    Env e = good();
    e.clr(F::HOST_CR0, CR0_NE);
    EXPECT_TRUE(only(e, "host.cr0"));
}

TEST(VmentryCheck, HostCr4FixedBits) {
    Env e = good();
    e.clr(F::HOST_CR4, CR4_VMXE);
    EXPECT_TRUE(only(e, "host.cr4"));
}

TEST(VmentryCheck, HostCr3BeyondPhysicalWidth) {
    Env e = good();
    e.set(F::HOST_CR3, bit(40) | 0x100000);
    EXPECT_TRUE(only(e, "host.cr3"));
}

TEST(VmentryCheck, HostSysenterNotCanonical) {
    Env e = good();
    e.set(F::HOST_IA32_SYSENTER_ESP, NONCANONICAL);
    EXPECT_TRUE(only(e, "host.sysenter"));
}

TEST(VmentryCheck, HostPatReservedType) {
    Env e = good();
    e.set(F::HOST_IA32_PAT, (POWER_ON_PAT & ~u64{0xFF}) | 0x2); // entry 0 = 2 (reserved)
    EXPECT_TRUE(only(e, "host.pat"));
    e.clr(F::VM_EXIT_CONTROLS, VM_EXIT_LOAD_IA32_PAT); // not loaded: not checked
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, HostEfer) {
    Env e = good();
    e.orr(F::HOST_IA32_EFER, bit(1));
    EXPECT_TRUE(only(e, "host.efer"));
    e = good();
    e.clr(F::HOST_IA32_EFER, EFER_LMA);
    EXPECT_TRUE(only(e, "host.efer"));
}

TEST(VmentryCheck, HostSelectorRplOrTi) {
    Env e = good();
    e.set(F::HOST_CS_SELECTOR, 0x0B);
    e.set(F::HOST_TR_SELECTOR, 0x1C);
    EXPECT_TRUE(only(e, "host.selector"));
    EXPECT_EQ(violations(e).size(), 2u);
}

TEST(VmentryCheck, HostNullCsOrTr) {
    Env e = good();
    e.set(F::HOST_TR_SELECTOR, 0);
    EXPECT_TRUE(only(e, "host.selector_null"));
    e = good();
    e.set(F::HOST_CS_SELECTOR, 0);
    EXPECT_TRUE(only(e, "host.selector_null"));
}

TEST(VmentryCheck, HostBaseNotCanonical) {
    Env e = good();
    e.set(F::HOST_GDTR_BASE, NONCANONICAL);
    EXPECT_TRUE(only(e, "host.base"));
}

TEST(VmentryCheck, HostAddressSpaceSizeZero) {
    Env e = good();
    e.clr(F::VM_EXIT_CONTROLS, VM_EXIT_HOST_ADDRESS_SPACE_SIZE | VM_EXIT_LOAD_IA32_EFER);
    e.set(F::HOST_RIP, 0x200000);
    EXPECT_TRUE(only(e, "host.address_space_size"));
    // With it, the other consequences are named too.
    e.orr(F::VM_EXIT_CONTROLS, VM_EXIT_LOAD_IA32_EFER);
    e.set(F::HOST_RIP, 0xFFFF800000200000ull);
    EXPECT_TRUE(exactly(e, {"host.address_space_size", "host.efer", "host.rip"}));
}

TEST(VmentryCheck, HostCr4PaeClearWith64BitHost) {
    Env e = good();
    e.clr(F::HOST_CR4, CR4_PAE);
    EXPECT_TRUE(only(e, "host.cr4_pae"));
}

TEST(VmentryCheck, HostRipNotCanonical) {
    Env e = good();
    e.set(F::HOST_RIP, NONCANONICAL);
    EXPECT_TRUE(only(e, "host.rip"));
}

// ---- §27.3.1.1 guest control registers, debug registers, MSRs -------------------------------------------------

TEST(VmentryCheck, GuestCr0FixedBits) {
    Env e = good();
    e.clr(F::GUEST_CR0, CR0_NE);
    EXPECT_TRUE(only(e, "guest.cr0"));
    // PE and PG are only relaxed under unrestricted guest.
    e = paged_restricted();
    e.clr(F::GUEST_CR0, CR0_PG);
    EXPECT_TRUE(only(e, "guest.cr0"));
}

TEST(VmentryCheck, GuestCr0PagingWithoutProtection) {
    Env e = good();
    e.set(F::GUEST_CR0, CR0_PG | CR0_NE | CR0_ET);
    EXPECT_TRUE(only(e, "guest.cr0_pg_pe"));
}

TEST(VmentryCheck, GuestCr4FixedBits) {
    Env e = good();
    e.clr(F::GUEST_CR4, CR4_VMXE);
    EXPECT_TRUE(only(e, "guest.cr4"));
}

TEST(VmentryCheck, GuestCr4CetWithoutWp) {
    Env e = good();
    e.orr(F::GUEST_CR4, CR4_CET_BIT);
    EXPECT_TRUE(only(e, "guest.cr4_cet"));
    e.orr(F::GUEST_CR0, CR0_WP);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, GuestDebugctlReservedBits) {
    Env e = good();
    e.set(F::GUEST_IA32_DEBUGCTL, bit(2));
    EXPECT_TRUE(only(e, "guest.debugctl"));
}

TEST(VmentryCheck, GuestDr7HighBits) {
    Env e = good();
    e.set(F::GUEST_DR7, bit(32) | 0x400);
    EXPECT_TRUE(only(e, "guest.dr7"));
    e.clr(F::VM_ENTRY_CONTROLS, VM_ENTRY_LOAD_DEBUG_CONTROLS); // not loaded: not checked
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, Ia32eGuestWithoutPaging) {
    Env e = good();
    e.orr(F::VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE_GUEST);
    e.clr(F::VM_ENTRY_CONTROLS, VM_ENTRY_LOAD_IA32_EFER);
    EXPECT_TRUE(only(e, "guest.ia32e_paging"));
}

TEST(VmentryCheck, GuestPcideOutsideIa32e) {
    Env e = good();
    e.orr(F::GUEST_CR4, CR4_PCIDE_BIT);
    EXPECT_TRUE(only(e, "guest.cr4_pcide"));
}

TEST(VmentryCheck, GuestCr3BeyondPhysicalWidth) {
    Env e = good();
    e.set(F::GUEST_CR3, bit(PHYS_BITS));
    EXPECT_TRUE(only(e, "guest.cr3"));
}

TEST(VmentryCheck, GuestSysenterNotCanonical) {
    Env e = good();
    e.set(F::GUEST_IA32_SYSENTER_EIP, NONCANONICAL);
    EXPECT_TRUE(only(e, "guest.sysenter"));
}

TEST(VmentryCheck, GuestPatReservedType) {
    Env e = good();
    e.set(F::GUEST_IA32_PAT, POWER_ON_PAT | (u64{3} << 56));
    EXPECT_TRUE(only(e, "guest.pat"));
}

TEST(VmentryCheck, GuestEferReservedBits) {
    Env e = good();
    e.set(F::GUEST_IA32_EFER, bit(9));
    EXPECT_TRUE(only(e, "guest.efer"));
}

TEST(VmentryCheck, GuestEferLmaDiffersFromIa32eModeGuest) {
    Env e = good();
    e.set(F::GUEST_IA32_EFER, EFER_LMA);
    EXPECT_TRUE(only(e, "guest.efer_lma"));
    e = long_mode();
    e.clr(F::GUEST_IA32_EFER, EFER_LMA);
    EXPECT_TRUE(exactly(e, {"guest.efer_lma", "guest.efer_lme"}));
}

TEST(VmentryCheck, GuestEferLmeDiffersFromLmaWithPaging) {
    Env e = good();
    e.orr(F::GUEST_CR0, CR0_PG);
    e.set(F::GUEST_IA32_EFER, EFER_LME);
    EXPECT_TRUE(only(e, "guest.efer_lme"));
    e.clr(F::GUEST_CR0, CR0_PG); // LME without paging is how long mode is entered: fine
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, GuestBndcfgs) {
    Env e = good();
    e.orr(F::VM_ENTRY_CONTROLS, VM_ENTRY_LOAD_IA32_BNDCFGS);
    e.set(F::GUEST_IA32_BNDCFGS, 0xFFFF800000001000ull | 1);
    EXPECT_TRUE(clean(e));
    e.set(F::GUEST_IA32_BNDCFGS, 0x4);
    EXPECT_TRUE(only(e, "guest.bndcfgs"));
    e.set(F::GUEST_IA32_BNDCFGS, NONCANONICAL);
    EXPECT_TRUE(only(e, "guest.bndcfgs"));
}

// ---- §27.3.1.2 guest segment registers --------------------------------------------------------------------------

TEST(VmentryCheck, GuestTrSelectorTi) {
    Env e = good();
    e.set(F::GUEST_TR_SELECTOR, 0x04);
    EXPECT_TRUE(only(e, "guest.selector_ti"));
}

TEST(VmentryCheck, GuestLdtrSelectorTiWhenUsable) {
    Env e = good();
    e.set(F::GUEST_LDTR_SELECTOR, 0x24); // unusable: not checked
    EXPECT_TRUE(clean(e));
    e.set(F::GUEST_LDTR_ACCESS_RIGHTS, AR_LDT);
    EXPECT_TRUE(only(e, "guest.selector_ti"));
}

TEST(VmentryCheck, GuestSsRplDiffersFromCsRpl) {
    Env e = paged_restricted();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_CODE_XRC_ACCESSED); // conforming: CS.DPL <= SS.DPL
    e.set(F::GUEST_SS_SELECTOR, 0x13);
    e.set_dpl(F::GUEST_SS_ACCESS_RIGHTS, 3);
    EXPECT_TRUE(only(e, "guest.ss_rpl"));
    // Unrestricted guest does not check it.
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_UNRESTRICTED_GUEST);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, GuestSegmentBases) {
    Env e = good();
    e.set(F::GUEST_CS_BASE, bit(32));
    EXPECT_TRUE(only(e, "guest.base"));
    e = good();
    e.set(F::GUEST_FS_BASE, NONCANONICAL);
    EXPECT_TRUE(only(e, "guest.base"));
    e = good();
    e.set(F::GUEST_DS_BASE, bit(32));
    EXPECT_TRUE(only(e, "guest.base"));
    e.set(F::GUEST_DS_ACCESS_RIGHTS, VMX_AR_UNUSABLE); // unusable: not checked
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, Virtual8086Segments) {
    Env e = good();
    e.orr(F::GUEST_RFLAGS, RFLAGS_VM); // flat 32-bit segments are not virtual-8086 ones
    EXPECT_TRUE(only(e, "guest.v86"));
    e = v86();
    e.set(F::GUEST_SS_LIMIT, 0xFFFFF);
    EXPECT_TRUE(only(e, "guest.v86"));
}

TEST(VmentryCheck, GuestCsType) {
    Env e = good();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, 1); // read-only data
    EXPECT_TRUE(only(e, "guest.cs_type"));
    // Type 3 is allowed with unrestricted guest only.
    e = good();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_DATA_RW_ACCESSED);
    EXPECT_TRUE(clean(e));
    e = paged_restricted();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_DATA_RW_ACCESSED);
    EXPECT_TRUE(only(e, "guest.cs_type"));
}

TEST(VmentryCheck, GuestSsType) {
    Env e = good();
    e.set_type(F::GUEST_SS_ACCESS_RIGHTS, SEG_TYPE_CODE_XR_ACCESSED);
    EXPECT_TRUE(only(e, "guest.ss_type"));
}

TEST(VmentryCheck, GuestDataSegmentType) {
    Env e = good();
    e.set_type(F::GUEST_DS_ACCESS_RIGHTS, 2); // not accessed
    EXPECT_TRUE(only(e, "guest.data_type"));
    e = good();
    e.set_type(F::GUEST_GS_ACCESS_RIGHTS, SEG_TYPE_CODE_X_ACCESSED); // execute-only code
    EXPECT_TRUE(only(e, "guest.data_type"));
}

TEST(VmentryCheck, GuestSegmentSFlag) {
    Env e = good();
    e.clr(F::GUEST_DS_ACCESS_RIGHTS, VMX_AR_S);
    EXPECT_TRUE(only(e, "guest.seg_s"));
}

TEST(VmentryCheck, GuestSegmentNotPresent) {
    Env e = good();
    e.clr(F::GUEST_ES_ACCESS_RIGHTS, VMX_AR_P);
    EXPECT_TRUE(only(e, "guest.seg_present"));
    e.set(F::GUEST_ES_ACCESS_RIGHTS, VMX_AR_UNUSABLE); // an unusable segment need not be present
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, GuestSegmentAccessRightsReservedBits) {
    Env e = good();
    e.orr(F::GUEST_GS_ACCESS_RIGHTS, bit(8));
    EXPECT_TRUE(only(e, "guest.seg_reserved"));
    e = good();
    e.orr(F::GUEST_CS_ACCESS_RIGHTS, bit(17));
    EXPECT_TRUE(only(e, "guest.seg_reserved"));
}

TEST(VmentryCheck, GuestSegmentGranularity) {
    Env e = good();
    e.set(F::GUEST_SS_LIMIT, 0xFFFFF); // bits 11:0 all 1 but G set with bits 31:20 zero is fine...
    EXPECT_TRUE(clean(e));
    e.set(F::GUEST_SS_LIMIT, 0xFFFFE); // ...bits 11:0 not all 1 needs G = 0
    EXPECT_TRUE(only(e, "guest.seg_granularity"));
    e = good();
    e.clr(F::GUEST_CS_ACCESS_RIGHTS, VMX_AR_G); // limit above 1 MiB needs G = 1
    EXPECT_TRUE(only(e, "guest.seg_granularity"));
}

TEST(VmentryCheck, GuestCsDpl) {
    Env e = good();
    e.set_dpl(F::GUEST_CS_ACCESS_RIGHTS, 1); // non-conforming: must equal SS.DPL (0)
    EXPECT_TRUE(only(e, "guest.cs_dpl"));
    e = good();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_DATA_RW_ACCESSED);
    e.set_dpl(F::GUEST_CS_ACCESS_RIGHTS, 3); // type 3: DPL must be 0
    EXPECT_TRUE(only(e, "guest.cs_dpl"));
    e = good();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_CODE_XRC_ACCESSED);
    e.set_dpl(F::GUEST_CS_ACCESS_RIGHTS, 2); // conforming: DPL <= SS.DPL
    EXPECT_TRUE(only(e, "guest.cs_dpl"));
}

TEST(VmentryCheck, GuestSsDpl) {
    Env e = paged_restricted();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_CODE_XRC_ACCESSED);
    e.set_dpl(F::GUEST_SS_ACCESS_RIGHTS, 3); // SS.RPL is 0
    EXPECT_TRUE(only(e, "guest.ss_dpl"));
    // Real mode (unrestricted guest, CR0.PE = 0): SS.DPL must be 0.
    e = good();
    e.set(F::GUEST_CR0, CR0_ET | CR0_NE);
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_CODE_XRC_ACCESSED);
    e.set_dpl(F::GUEST_SS_ACCESS_RIGHTS, 3);
    EXPECT_TRUE(only(e, "guest.ss_dpl"));
}

TEST(VmentryCheck, GuestDataDplBelowRpl) {
    Env e = paged_restricted();
    e.set(F::GUEST_DS_SELECTOR, 0x13);
    EXPECT_TRUE(only(e, "guest.data_dpl"));
    e.set_dpl(F::GUEST_DS_ACCESS_RIGHTS, 3);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, GuestCsLongAndDefaultSizeBoth) {
    Env e = long_mode();
    e.orr(F::GUEST_CS_ACCESS_RIGHTS, VMX_AR_DB);
    EXPECT_TRUE(only(e, "guest.cs_db"));
}

TEST(VmentryCheck, GuestTr) {
    Env e = good();
    e.set_type(F::GUEST_TR_ACCESS_RIGHTS, 9); // available, not busy
    EXPECT_TRUE(only(e, "guest.tr"));
    e = good();
    e.set(F::GUEST_TR_ACCESS_RIGHTS, AR_TSS32_BUSY | VMX_AR_UNUSABLE);
    EXPECT_TRUE(only(e, "guest.tr"));
    e = good();
    e.orr(F::GUEST_TR_ACCESS_RIGHTS, VMX_AR_S);
    EXPECT_TRUE(only(e, "guest.tr"));
    // A 16-bit busy TSS only outside IA-32e mode.
    e = good();
    e.set_type(F::GUEST_TR_ACCESS_RIGHTS, SEG_TYPE_SYS_TSS16_BUSY);
    EXPECT_TRUE(clean(e));
    e = long_mode();
    e.set_type(F::GUEST_TR_ACCESS_RIGHTS, SEG_TYPE_SYS_TSS16_BUSY);
    EXPECT_TRUE(only(e, "guest.tr"));
}

TEST(VmentryCheck, GuestLdtr) {
    Env e = good();
    e.set(F::GUEST_LDTR_ACCESS_RIGHTS, AR_LDT);
    EXPECT_TRUE(clean(e));
    e.set_type(F::GUEST_LDTR_ACCESS_RIGHTS, 3);
    EXPECT_TRUE(only(e, "guest.ldtr"));
    e.set(F::GUEST_LDTR_ACCESS_RIGHTS, AR_LDT & ~VMX_AR_P);
    EXPECT_TRUE(only(e, "guest.ldtr"));
}

// ---- §27.3.1.3 guest descriptor-table registers ----------------------------------------------------------------

TEST(VmentryCheck, GuestGdtrBaseNotCanonical) {
    Env e = good();
    e.set(F::GUEST_GDTR_BASE, NONCANONICAL);
    EXPECT_TRUE(only(e, "guest.dtr_base"));
}

TEST(VmentryCheck, GuestIdtrLimitHighBits) {
    Env e = good();
    e.set(F::GUEST_IDTR_LIMIT, 0x10000);
    EXPECT_TRUE(only(e, "guest.dtr_limit"));
}

// ---- §27.3.1.4 guest RIP and RFLAGS ----------------------------------------------------------------------------

TEST(VmentryCheck, GuestRip) {
    Env e = good();
    e.set(F::GUEST_RIP, bit(32));
    EXPECT_TRUE(only(e, "guest.rip"));
    e = long_mode();
    e.set(F::GUEST_RIP, NONCANONICAL);
    EXPECT_TRUE(only(e, "guest.rip"));
}

TEST(VmentryCheck, GuestRflagsReservedBits) {
    Env e = good();
    e.set(F::GUEST_RFLAGS, 0);
    EXPECT_TRUE(only(e, "guest.rflags"));
    e.set(F::GUEST_RFLAGS, RFLAGS_FIXED | bit(3));
    EXPECT_TRUE(only(e, "guest.rflags"));
    e.set(F::GUEST_RFLAGS, RFLAGS_FIXED | bit(22));
    EXPECT_TRUE(only(e, "guest.rflags"));
}

TEST(VmentryCheck, GuestRflagsVmInRealMode) {
    Env e = v86();
    e.set(F::GUEST_CR0, CR0_ET | CR0_NE); // unrestricted guest, real mode
    EXPECT_TRUE(only(e, "guest.rflags_vm"));
}

TEST(VmentryCheck, ExternalInterruptInjectionWithIfClear) {
    Env e = good();
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::EXTERNAL_INTERRUPT, 0x20, false));
    EXPECT_TRUE(only(e, "guest.rflags_if"));
}

// ---- §27.3.1.5 guest non-register state -------------------------------------------------------------------------

TEST(VmentryCheck, GuestActivityState) {
    Env e = good();
    e.set(F::GUEST_ACTIVITY_STATE, 4);
    EXPECT_TRUE(only(e, "guest.activity"));
    e.set(F::GUEST_ACTIVITY_STATE, static_cast<u64>(ActivityState::WAIT_FOR_SIPI));
    EXPECT_TRUE(clean(e));
    e.c.misc &= ~VMX_MISC_ACTIVITY_WAIT_SIPI;
    EXPECT_TRUE(only(e, "guest.activity"));
}

TEST(VmentryCheck, GuestHltWithSsDplNotZero) {
    Env e = good();
    e.set_type(F::GUEST_CS_ACCESS_RIGHTS, SEG_TYPE_CODE_XRC_ACCESSED);
    e.set_dpl(F::GUEST_SS_ACCESS_RIGHTS, 3);
    EXPECT_TRUE(clean(e));
    e.set(F::GUEST_ACTIVITY_STATE, static_cast<u64>(ActivityState::HLT));
    EXPECT_TRUE(only(e, "guest.activity_hlt"));
}

TEST(VmentryCheck, GuestBlockingOutsideActiveState) {
    Env e = good();
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_MOV_SS);
    EXPECT_TRUE(clean(e));
    e.set(F::GUEST_ACTIVITY_STATE, static_cast<u64>(ActivityState::HLT));
    EXPECT_TRUE(only(e, "guest.activity_blocking"));
}

TEST(VmentryCheck, InjectionBlockedByActivityState) {
    Env e = good();
    e.set(F::GUEST_ACTIVITY_STATE, static_cast<u64>(ActivityState::SHUTDOWN));
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 13, true));
    EXPECT_TRUE(only(e, "guest.activity_event"));
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::HARDWARE_EXCEPTION, 18, false)); // #MC
    EXPECT_TRUE(clean(e));
    e.set(F::GUEST_ACTIVITY_STATE, static_cast<u64>(ActivityState::WAIT_FOR_SIPI));
    EXPECT_TRUE(only(e, "guest.activity_event"));
}

TEST(VmentryCheck, GuestInterruptibilityReservedBits) {
    Env e = good();
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, bit(5));
    EXPECT_TRUE(only(e, "guest.interruptibility"));
}

TEST(VmentryCheck, GuestBlockingByStiAndMovSs) {
    Env e = good();
    e.orr(F::GUEST_RFLAGS, RFLAGS_IF);
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS);
    EXPECT_TRUE(only(e, "guest.interruptibility_sti_movss"));
}

TEST(VmentryCheck, GuestBlockingByStiWithIfClear) {
    Env e = good();
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_STI);
    EXPECT_TRUE(only(e, "guest.interruptibility_sti_if"));
    e.orr(F::GUEST_RFLAGS, RFLAGS_IF);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, InjectionAgainstBlocking) {
    Env e = good();
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_MOV_SS);
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::NMI, 2, false));
    EXPECT_TRUE(only(e, "guest.interruptibility_event"));
    e = good();
    e.orr(F::GUEST_RFLAGS, RFLAGS_IF);
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_STI);
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::EXTERNAL_INTERRUPT, 0x20, false));
    EXPECT_TRUE(only(e, "guest.interruptibility_event"));
    // Virtual NMIs (on in the launch state): an injected NMI with blocking by NMI.
    e = good();
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_NMI);
    e.set(F::VM_ENTRY_INTERRUPTION_INFO, inject(InterruptionType::NMI, 2, false));
    EXPECT_TRUE(only(e, "guest.interruptibility_event"));
}

TEST(VmentryCheck, GuestBlockingBySmiOutsideSmm) {
    Env e = good();
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_SMI);
    EXPECT_TRUE(only(e, "guest.interruptibility_smi"));
}

TEST(VmentryCheck, GuestPendingDebugExceptionsReservedBits) {
    Env e = good();
    e.set(F::GUEST_PENDING_DEBUG_EXCEPTIONS, bit(4));
    EXPECT_TRUE(only(e, "guest.pending_debug"));
    e.set(F::GUEST_PENDING_DEBUG_EXCEPTIONS, PENDING_DBG_BS | PENDING_DBG_ENABLED_BP | 0x3);
    EXPECT_TRUE(clean(e));
}

TEST(VmentryCheck, GuestPendingSingleStepWithBlocking) {
    Env e = good();
    e.orr(F::GUEST_RFLAGS, RFLAGS_IF | RFLAGS_TF);
    e.set(F::GUEST_INTERRUPTIBILITY_STATE, INTERRUPTIBILITY_STI);
    EXPECT_TRUE(only(e, "guest.pending_debug_bs")); // TF set, BTF clear: BS must be 1
    e.set(F::GUEST_PENDING_DEBUG_EXCEPTIONS, PENDING_DBG_BS);
    EXPECT_TRUE(clean(e));
    e.clr(F::GUEST_RFLAGS, RFLAGS_TF); // and 0 without TF
    EXPECT_TRUE(only(e, "guest.pending_debug_bs"));
}

TEST(VmentryCheck, VmcsLinkPointerNotAllOnes) {
    Env e = good();
    e.set(F::VMCS_LINK_POINTER, 0);
    EXPECT_TRUE(only(e, "guest.vmcs_link"));
    // With VMCS shadowing it names a shadow VMCS: a 4 KiB aligned address.
    e.orr(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, PROC2_VMCS_SHADOWING);
    e.set(F::VMCS_LINK_POINTER, 0xF000);
    EXPECT_TRUE(clean(e));
    e.set(F::VMCS_LINK_POINTER, 0xF010);
    EXPECT_TRUE(only(e, "guest.vmcs_link"));
}

// ---- §27.3.1.6 guest PDPTEs --------------------------------------------------------------------------------------

TEST(VmentryCheck, GuestPdpteReservedBits) {
    Env e = good();
    e.orr(F::GUEST_CR0, CR0_PG);
    e.orr(F::GUEST_CR4, CR4_PAE);
    e.set(F::GUEST_CR3, 0x9000);
    e.set(F::GUEST_PDPTE0, 0xA000 | 1);
    e.set(F::GUEST_PDPTE1, 0xA000 | 2); // not present: not checked
    EXPECT_TRUE(clean(e));
    e.set(F::GUEST_PDPTE2, 0xB000 | 1 | bit(5));
    EXPECT_TRUE(only(e, "guest.pdpte"));
    e.set(F::GUEST_PDPTE2, bit(PHYS_BITS) | 1);
    EXPECT_TRUE(only(e, "guest.pdpte"));
}
