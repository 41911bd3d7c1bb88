// Unit tests for vmm/modules/icr_route: which IPIs guest0 may send as written, which evmm drops, and which CPUs an
// INIT or Start-up IPI reaches in every destination shorthand and mode (SDM Vol. 3A §11.6.1, §11.6.2, §11.12.10).
#include "vmm/modules/icr_route.h"

#include <gtest/gtest.h>

#include <string>

#include "arch/x86_64/lapic.h"

using namespace evmm;
using namespace evmm::virt;

namespace {

constexpr u64 NMI = u64{4} << 8, INIT = u64{5} << 8, SIPI = u64{6} << 8, SMI = u64{2} << 8, FIXED = 0;
constexpr u64 LOWEST = u64{1} << 8, RESERVED3 = u64{3} << 8, RESERVED7 = u64{7} << 8;
constexpr u64 ASSERT = u64{1} << 14, LOGICAL = u64{1} << 11;
constexpr u64 SELF = u64{1} << 18, ALL_INCL = u64{2} << 18, ALL_EXCL = u64{3} << 18;

u64 xdest(u32 d) { return u64{d} << 56; }
u64 x2dest(u32 d) { return u64{d} << 32; }

// Four CPUs with APIC IDs 0, 2, 4, 6 (x2APIC IDs the same), flat model with LDRs 1, 2, 4, 8.
struct Four {
    u32 ids[4] = {0, 2, 4, 6};
    u32 ldr[4] = {0x01000000, 0x02000000, 0x04000000, 0x08000000};
    u32 dfr[4] = {XAPIC_DFR_RESET, XAPIC_DFR_RESET, XAPIC_DFR_RESET, XAPIC_DFR_RESET};
    ApicView v{4, ids, ldr, dfr};
};

TEST(IcrRoute, FixedLowestNmiAreSentAsWritten) {
    Four f;
    for (u64 mode : {FIXED, LOWEST, NMI}) {
        EXPECT_EQ(icr_route(mode | ASSERT | 0x40 | xdest(2), false, 0, f.v).action, IcrAction::Send) << mode;
        EXPECT_EQ(icr_route(mode | ASSERT | SELF, false, 1, f.v).action, IcrAction::Send) << mode;
        EXPECT_EQ(icr_route(mode | ASSERT | x2dest(4), true, 0, f.v).action, IcrAction::Send) << mode;
    }
}

TEST(IcrRoute, SmiAndReservedModesAreDropped) {
    Four f;
    for (u64 icr : {SMI | ASSERT | xdest(2), SMI | ASSERT | ALL_EXCL, SMI | ASSERT | SELF}) {
        const IcrRoute r = icr_route(icr, false, 0, f.v);
        EXPECT_EQ(r.action, IcrAction::Drop);
        ASSERT_NE(r.why, nullptr);
        EXPECT_NE(std::string(r.why).find("SMI"), std::string::npos);
    }
    EXPECT_EQ(icr_route(SMI | ASSERT | x2dest(2), true, 0, f.v).action, IcrAction::Drop);
    EXPECT_EQ(icr_route(RESERVED3 | ASSERT | xdest(2), false, 0, f.v).action, IcrAction::Drop);
    EXPECT_EQ(icr_route(RESERVED7 | ASSERT | xdest(2), false, 0, f.v).action, IcrAction::Drop);
}

TEST(IcrRoute, InitDeassertHasNoEffect) {
    Four f;
    EXPECT_EQ(icr_route(INIT | (u64{1} << 15) | ALL_EXCL, false, 0, f.v).action, IcrAction::Drop);
}

TEST(IcrRoute, PhysicalDestinationAndBroadcast) {
    Four f;
    IcrRoute r = icr_route(INIT | ASSERT | xdest(4), false, 0, f.v);
    EXPECT_EQ(r.action, IcrAction::Init);
    EXPECT_EQ(r.targets, 0b0100u);
    r = icr_route(SIPI | ASSERT | 0x9A | xdest(6), false, 0, f.v);
    EXPECT_EQ(r.action, IcrAction::Startup);
    EXPECT_EQ(r.vector, 0x9Au);
    EXPECT_EQ(r.targets, 0b1000u);
    EXPECT_EQ(icr_route(INIT | ASSERT | xdest(0xFF), false, 1, f.v).targets, 0b1111u); // broadcast includes self
    EXPECT_EQ(icr_route(INIT | ASSERT | xdest(3), false, 0, f.v).targets, 0u);         // no such APIC ID
    EXPECT_EQ(icr_route(INIT | ASSERT | x2dest(2), true, 0, f.v).targets, 0b0010u);
    EXPECT_EQ(icr_route(INIT | ASSERT | x2dest(0xFFFFFFFF), true, 0, f.v).targets, 0b1111u);
}

TEST(IcrRoute, Shorthands) {
    Four f;
    EXPECT_EQ(icr_route(INIT | ASSERT | SELF, false, 2, f.v).targets, 0b0100u);
    EXPECT_EQ(icr_route(INIT | ASSERT | ALL_INCL, false, 2, f.v).targets, 0b1111u);
    EXPECT_EQ(icr_route(SIPI | ASSERT | ALL_EXCL | 0x10, false, 2, f.v).targets, 0b1011u);
    // A shorthand ignores the destination field and the destination mode.
    EXPECT_EQ(icr_route(INIT | ASSERT | ALL_EXCL | LOGICAL | xdest(1), false, 0, f.v).targets, 0b1110u);
}

TEST(IcrRoute, XapicLogicalFlatModel) {
    Four f;
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | xdest(0x06), false, 0, f.v).targets, 0b0110u);
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | xdest(0xFF), false, 0, f.v).targets, 0b1111u);
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | xdest(0x10), false, 0, f.v).targets, 0u);
}

TEST(IcrRoute, XapicLogicalClusterModel) {
    Four f;
    for (u32& d : f.dfr) d = 0x0FFFFFFF; // cluster model
    // cluster 1 members 1, 2; cluster 2 members 1, 2
    f.ldr[0] = 0x11000000;
    f.ldr[1] = 0x12000000;
    f.ldr[2] = 0x21000000;
    f.ldr[3] = 0x22000000;
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | xdest(0x13), false, 0, f.v).targets, 0b0011u);
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | xdest(0x22), false, 0, f.v).targets, 0b1000u);
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | xdest(0x32), false, 0, f.v).targets, 0u);
}

TEST(IcrRoute, X2apicLogicalClusters) {
    u32 ids[4] = {0, 1, 16, 17};
    u32 ldr[4] = {}, dfr[4] = {};
    ApicView v{4, ids, ldr, dfr};
    // cluster 0 (IDs 0-15) member bits 0 and 1; cluster 1 (IDs 16-31) member bit 1 = ID 17
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | x2dest(0x00000003), true, 0, v).targets, 0b0011u);
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | x2dest(0x00010002), true, 0, v).targets, 0b1000u);
    EXPECT_EQ(icr_route(INIT | ASSERT | LOGICAL | x2dest(0x00020001), true, 0, v).targets, 0u);
}

} // namespace
