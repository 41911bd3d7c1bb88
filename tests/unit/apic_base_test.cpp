// Unit tests for vmm/modules/apic_base: guest0's IA32_APIC_BASE writes, refused as the processor refuses them
// (SDM Vol. 3A §11.4.4, §11.12.5) and where they would put the APIC page over the hypervisor's memory.
#include "vmm/modules/apic_base.h"

#include <gtest/gtest.h>

using namespace evmm;
using namespace evmm::virt;

namespace {

constexpr u64 EN = u64{1} << 11, EXTD = u64{1} << 10, BSP = u64{1} << 8;
constexpr u64 DEFAULT = 0xFEE00000;
constexpr u64 LIMIT = u64{4} << 30;
const MemoryMap::Range KEPT[] = {{0x1FA00000, 0x400000}, {0x9F000, 0x1000}}; // runtime region, AP start page

ApicBaseCheck check(u64 from, u64 to, bool x2 = true) { return apic_base_check(from, to, 39, x2, LIMIT, KEPT, 2); }

TEST(ApicBase, LegalWritesPass) {
    EXPECT_TRUE(check(DEFAULT | EN | BSP, DEFAULT | EN | BSP).ok);    // unchanged
    EXPECT_TRUE(check(DEFAULT | EN | BSP, 0xFED00000 | EN | BSP).ok); // relocation to a free page
    EXPECT_TRUE(check(DEFAULT | EN, DEFAULT | EN | EXTD).ok);         // xAPIC -> x2APIC
    EXPECT_TRUE(check(DEFAULT | EN | EXTD, DEFAULT).ok);              // x2APIC -> disabled
    EXPECT_TRUE(check(DEFAULT, DEFAULT | EN).ok);                     // disabled -> xAPIC
    EXPECT_TRUE(check(DEFAULT | EN, DEFAULT).ok);                     // xAPIC -> disabled
}

TEST(ApicBase, ProcessorRefusalsAreRefused) {
    EXPECT_FALSE(check(DEFAULT | EN, DEFAULT | EN | 0x1).ok);           // reserved bit 0
    EXPECT_FALSE(check(DEFAULT | EN, DEFAULT | EN | (u64{1} << 9)).ok); // reserved bit 9
    EXPECT_FALSE(check(DEFAULT | EN, (u64{1} << 39) | EN).ok);          // above MAXPHYADDR
    EXPECT_FALSE(check(DEFAULT | EN, DEFAULT | EXTD).ok);               // EXTD without EN
    EXPECT_FALSE(check(DEFAULT | EN | EXTD, DEFAULT | EN).ok);          // x2APIC -> xAPIC
    EXPECT_FALSE(check(DEFAULT, DEFAULT | EN | EXTD).ok);               // disabled -> x2APIC
    EXPECT_FALSE(check(DEFAULT | EN, DEFAULT | EN | EXTD, false).ok);   // no x2APIC support
}

TEST(ApicBase, ApicPageOverTheHypervisorIsRefused) {
    const ApicBaseCheck c = check(DEFAULT | EN, 0x1FA00000 | EN); // the runtime region's first page
    EXPECT_FALSE(c.ok);
    ASSERT_NE(c.why, nullptr);
    EXPECT_FALSE(check(DEFAULT | EN, 0x1FDFF000 | EN).ok);     // its last page
    EXPECT_FALSE(check(DEFAULT | EN, 0x9F000 | EN).ok);        // the AP start page
    EXPECT_TRUE(check(DEFAULT | EN, 0x1FE00000 | EN).ok);      // right after the region
    EXPECT_FALSE(check(DEFAULT | EN, (u64{4} << 30) | EN).ok); // outside the guest's space
    // Disabling or x2APIC mode puts no page anywhere: the base field does not matter then.
    EXPECT_TRUE(check(DEFAULT | EN, 0x1FA00000).ok);
}

} // namespace
