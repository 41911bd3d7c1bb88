// Unit tests of guest0's identity EPT over the MTRR memory types (vmm/gpm.*).
#include "vmm/guest/gpm.h"

#include <gtest/gtest.h>

#include "tests/unit/fake_page_alloc.h"

#include <cstdlib>
#include <cstring>

using namespace evmm;

namespace {

// Page allocator over an aligned buffer (tests/unit/fake_page_alloc.h); the EPT tables' own addresses do not
// matter to the identity map they describe.
class FakeMem : public test::FakePageAlloc {
public:
    static constexpr u64 BASE = 0x10000000000ull; // 1 TiB
    explicit FakeMem(size_t pages) : FakePageAlloc(pages, BASE) {}
};

constexpr u8 PHYS_BITS = 39;
constexpr u64 MTRR_ADDR_MASK = ((u64{1} << PHYS_BITS) - 1) & ~u64{0xFFF};

constexpr u64 fixed_all(MemType t) { return 0x0101010101010101ull * static_cast<u8>(t); }

// Variable range [base, base + size) (size a power of two, base aligned to it).
void set_var(MtrrState& st, u32 i, u64 base, u64 size, MemType t) {
    st.var_base[i] = base | static_cast<u8>(t);
    st.var_mask[i] = (~(size - 1) & MTRR_ADDR_MASK) | MTRR_PHYSMASK_VALID;
    if (st.var_count <= i) st.var_count = i + 1;
}

// A typical PC: default WB; fixed ranges WB below 0xA0000, UC for the legacy VGA window [0xA0000, 0xC0000),
// WP for the option ROM / BIOS area [0xC0000, 0x100000); one variable range UC for the PCI hole [3 GiB, 4 GiB).
MtrrState typical_mtrr() {
    MtrrState st{};
    st.cap = MTRRCAP_FIX | MTRRCAP_WC | 8;
    st.def_type = MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | static_cast<u8>(MemType::WB);
    st.fixed[0] = fixed_all(MemType::WB); // FIX64K_00000
    st.fixed[1] = fixed_all(MemType::WB); // FIX16K_80000
    st.fixed[2] = fixed_all(MemType::UC); // FIX16K_A0000
    for (u32 i = 3; i < MTRR_FIXED_MSR_COUNT; ++i) st.fixed[i] = fixed_all(MemType::WP);
    st.phys_addr_bits = PHYS_BITS;
    set_var(st, 0, 0xC0000000, GiB, MemType::UC);
    return st;
}

constexpr MemoryMap::Range HYPERVISOR_HOLE{0x0FA00000, 4 * MiB}; // 2 MiB aligned, 4 MiB

struct GpmTest : ::testing::Test {
    FakeMem mem{512};
    EptTables ept{mem};
    MtrrState mtrr = typical_mtrr();
    GpmStats stats{};
    void SetUp() override { ASSERT_TRUE(ept.init().ok()); }

    // The whole EPT: leaves ascending, identity, RWX, ignore-PAT 0, type = the MTRR type of the leaf's whole range,
    // never touching a hole, and together covering exactly [0, limit) minus the holes.
    void expect_identity(u64 limit, const MemoryMap::Range* holes, u32 hole_count) {
        u64 next = 0;
        u64 bytes = 0;
        const u64 bad = ept.for_each_leaf([&](const EptLeaf& l) {
            EXPECT_EQ(l.hpa, l.gpa);
            EXPECT_TRUE(l.perms.read && l.perms.write && l.perms.exec);
            EXPECT_FALSE(l.ignore_pat);
            const char* why = nullptr;
            EXPECT_FALSE(ept_entry_misconfigured(l.entry, l.level, ept_phys_addr_mask(PHYS_BITS), false, why))
                << std::hex << l.gpa << ": " << (why ? why : "");
            MemType t = MemType::WC;
            EXPECT_TRUE(mtrr_range_type(mtrr, l.gpa, l.size, t)) << std::hex << l.gpa << " size " << l.size;
            EXPECT_EQ(l.mem_type, t) << std::hex << l.gpa;
            for (u32 i = 0; i < hole_count; ++i)
                EXPECT_FALSE(ranges_overlap(
                    l.gpa, l.size, align_down(holes[i].base, PAGE_4K),
                    align_up(holes[i].base + holes[i].length, PAGE_4K) - align_down(holes[i].base, PAGE_4K)))
                    << std::hex << l.gpa;
            // Whatever lies between two leaves must be hole.
            for (u64 gap = next; gap < l.gpa; gap += PAGE_4K) {
                bool in_hole = false;
                for (u32 i = 0; i < hole_count; ++i)
                    in_hole =
                        in_hole || (gap >= align_down(holes[i].base, PAGE_4K) && gap < holes[i].base + holes[i].length);
                ASSERT_TRUE(in_hole) << "unmapped gap at " << std::hex << gap;
            }
            next = l.gpa + l.size;
            bytes += l.size;
        });
        EXPECT_EQ(bad, 0u);
        EXPECT_LE(next, limit);
        for (u64 gap = next; gap < limit; gap += PAGE_4K) { // after the last leaf: hole up to limit
            bool in_hole = false;
            for (u32 i = 0; i < hole_count; ++i)
                in_hole =
                    in_hole || (gap >= align_down(holes[i].base, PAGE_4K) && gap < holes[i].base + holes[i].length);
            ASSERT_TRUE(in_hole) << "unmapped tail at " << std::hex << gap;
        }
        const EptStats s = ept.stats();
        EXPECT_EQ(s.leaves_1g, stats.pages_1g);
        EXPECT_EQ(s.leaves_2m, stats.pages_2m);
        EXPECT_EQ(s.leaves_4k, stats.pages_4k);
        EXPECT_EQ(s.table_pages, stats.table_pages);
        EXPECT_EQ(s.bytes_mapped, bytes);
    }

    void expect_type(u64 gpa, MemType t, u64 page_size) {
        const auto w = ept.walk(gpa);
        ASSERT_TRUE(w.present) << std::hex << gpa;
        EXPECT_EQ(w.hpa, gpa);
        EXPECT_EQ(w.mem_type, t) << std::hex << gpa;
        EXPECT_EQ(w.page_size, page_size) << std::hex << gpa;
    }
};

} // namespace

// The realistic case: 4 GiB, typical MTRRs, the hypervisor's 4 MiB at 0x0FA00000.
//   [0, 2 MiB):        the fixed ranges (WB / UC / WP) make the first 2 MiB non-uniform: 512 leaves of 4 KiB
//   [2 MiB, 1 GiB):    uniform WB but the hole is inside: 511 - 2 = 509 leaves of 2 MiB
//   [1 GiB, 3 GiB):    WB: 2 leaves of 1 GiB
//   [3 GiB, 4 GiB):    UC: 1 leaf of 1 GiB
// 1024 leaves, 4 table pages (PML4, PDPT, the PD of the first GiB, the PT of the first 2 MiB).
TEST_F(GpmTest, Realistic4GiBWithHypervisorHole) {
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, &HYPERVISOR_HOLE, 1, stats).ok());
    EXPECT_EQ(stats.pages_4k, 512u);
    EXPECT_EQ(stats.pages_2m, 509u);
    EXPECT_EQ(stats.pages_1g, 3u);
    EXPECT_EQ(stats.table_pages, 4u);
    EXPECT_LT(stats.pages_1g + stats.pages_2m + stats.pages_4k, 1100u);
    expect_identity(4 * GiB, &HYPERVISOR_HOLE, 1);

    // The hole is absent, its edges are mapped WB with 2 MiB pages.
    EXPECT_FALSE(ept.walk(0x0FA00000).present);
    EXPECT_FALSE(ept.walk(0x0FC00000).present);
    EXPECT_FALSE(ept.walk(0x0FDFFFFF).present);
    expect_type(0x0F9FFFFF, MemType::WB, PAGE_2M);
    expect_type(0x0FE00000, MemType::WB, PAGE_2M);
    // Below 1 MiB the fixed-range types, 4 KiB pages.
    expect_type(0x00000000, MemType::WB, PAGE_4K);
    expect_type(0x0009F000, MemType::WB, PAGE_4K);
    expect_type(0x000A0000, MemType::UC, PAGE_4K);
    expect_type(0x000BFFFF, MemType::UC, PAGE_4K);
    expect_type(0x000C0000, MemType::WP, PAGE_4K);
    expect_type(0x000FF000, MemType::WP, PAGE_4K);
    expect_type(0x00100000, MemType::WB, PAGE_4K);
    expect_type(0x001FF000, MemType::WB, PAGE_4K);
    expect_type(0x00200000, MemType::WB, PAGE_2M);
    // 1 GiB pages where uniform; the PCI hole UC.
    expect_type(1 * GiB, MemType::WB, PAGE_1G);
    expect_type(GiB + GiB / 2, MemType::WB, PAGE_1G);
    expect_type(0xBFFFFFFF, MemType::WB, PAGE_1G);
    expect_type(0xC0000000, MemType::UC, PAGE_1G);
    expect_type(0xFEE00000, MemType::UC, PAGE_1G);
    EXPECT_FALSE(ept.walk(4 * GiB).present);
}

TEST_F(GpmTest, MemoryAbove4GiBAndUnalignedTop) {
    // RAM up to 5 GiB + 6 MiB (already rounded by the caller to 2 MiB): one more 1 GiB page and 3 of 2 MiB.
    const u64 limit = 5 * GiB + 6 * MiB;
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, limit, &HYPERVISOR_HOLE, 1, stats).ok());
    EXPECT_EQ(stats.pages_4k, 512u);
    EXPECT_EQ(stats.pages_2m, 509u + 3u);
    EXPECT_EQ(stats.pages_1g, 4u);
    EXPECT_EQ(stats.table_pages, 5u); // + the PD of [5 GiB, 6 GiB)
    expect_identity(limit, &HYPERVISOR_HOLE, 1);
    expect_type(4 * GiB, MemType::WB, PAGE_1G);
    expect_type(limit - 1, MemType::WB, PAGE_2M);
    EXPECT_FALSE(ept.walk(limit).present);
    // A top only 4 KiB aligned ends in 4 KiB pages.
    FakeMem m2{64};
    EptTables e2{m2};
    ASSERT_TRUE(e2.init().ok());
    GpmStats s2{};
    ASSERT_TRUE(gpm_build_identity_ept(e2, mtrr, 4 * GiB + 2 * MiB + 3 * PAGE_4K, nullptr, 0, s2).ok());
    EXPECT_EQ(s2.pages_4k, 512u + 3u);
    EXPECT_EQ(s2.pages_2m, 511u + 1u);
    EXPECT_EQ(s2.pages_1g, 3u);
}

TEST_F(GpmTest, UnalignedHoleAndSmallMtrrRangeOnlySplitTheirOwn2MiB) {
    // A 4 KiB-granular hole (the loader's runtime region, say) and a 4 KiB UC variable range (e.g. an SMM or
    // MMIO page) in the middle of RAM: each cuts only the 2 MiB block it lies in.
    const MemoryMap::Range holes[] = {{0x7F3F5000, 0x2B000}, {0x12345678, 1}}; // second one: widened to 4 KiB
    set_var(mtrr, 1, 0x4FFFF000, PAGE_4K, MemType::UC);
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, holes, 2, stats).ok());
    // [0, 1 GiB):  first 2 MiB in 4K (512); the block of 0x12345678 in 4K (511) -> 510 x 2M
    // [1, 2 GiB):  the block of 0x4FFFF000 in 4K (512); the hole [0x7F3F5000, 0x7F420000) crosses 0x7F400000,
    //              so both its blocks go 4K (2 x 512 - 43) -> 509 x 2M
    // [2, 4 GiB):  2 x 1G
    EXPECT_EQ(stats.pages_4k, 512u + 511u + 512u + (2 * 512u - 0x2Bu));
    EXPECT_EQ(stats.pages_2m, 510u + 509u);
    EXPECT_EQ(stats.pages_1g, 2u);
    EXPECT_EQ(stats.table_pages, 2u + 2u + 5u); // PML4, PDPT, 2 PDs, 5 PTs
    expect_identity(4 * GiB, holes, 2);
    EXPECT_FALSE(ept.walk(0x7F3F5000).present);
    EXPECT_FALSE(ept.walk(0x7F41FFFF).present);
    expect_type(0x7F3F4000, MemType::WB, PAGE_4K);
    expect_type(0x7F420000, MemType::WB, PAGE_4K);
    expect_type(0x7F1FF000, MemType::WB, PAGE_2M);
    expect_type(0x7F600000, MemType::WB, PAGE_2M);
    EXPECT_FALSE(ept.walk(0x12345000).present);
    expect_type(0x12344000, MemType::WB, PAGE_4K);
    expect_type(0x12346000, MemType::WB, PAGE_4K);
    expect_type(0x4FFFF000, MemType::UC, PAGE_4K);
    expect_type(0x4FFFE000, MemType::WB, PAGE_4K);
    expect_type(0x50000000, MemType::WB, PAGE_2M);
}

TEST_F(GpmTest, HoleBoundariesOf1GiB) {
    // A hole ending exactly at 2 GiB and one starting exactly at 3 GiB: 1 GiB pages right up to them.
    const MemoryMap::Range holes[] = {{2 * GiB - 2 * MiB, 2 * MiB}, {3 * GiB, 2 * MiB}};
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, holes, 2, stats).ok());
    expect_identity(4 * GiB, holes, 2);
    expect_type(2 * GiB, MemType::WB, PAGE_1G);
    expect_type(GiB, MemType::WB, PAGE_2M);
    EXPECT_FALSE(ept.walk(2 * GiB - 1).present);
    EXPECT_FALSE(ept.walk(3 * GiB).present);
    expect_type(3 * GiB + 2 * MiB, MemType::UC, PAGE_2M);
    EXPECT_EQ(stats.pages_1g, 1u);                 // [2, 3 GiB)
    EXPECT_EQ(stats.pages_2m, 511u + 511u + 511u); // [2M, 1G), [1G, 2G - 2M), [3G + 2M, 4G)
    EXPECT_EQ(stats.pages_4k, 512u);
}

TEST_F(GpmTest, PreexistingMappingOverTheHoleIsRemoved) {
    ASSERT_TRUE(ept.map(0, 0, GiB, EptPerms{true, true, true}, MemType::WB, true, true).ok());
    ASSERT_TRUE(ept.walk(0x0FA00000).present);
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, &HYPERVISOR_HOLE, 1, stats).ok());
    EXPECT_FALSE(ept.walk(0x0FA00000).present);
    EXPECT_FALSE(ept.walk(0x0FDFF000).present);
    expect_identity(4 * GiB, &HYPERVISOR_HOLE, 1);
}

TEST_F(GpmTest, ExecOnlyRangeForTheSecureWorld) {
    // The TEE's EPT: executable only inside its 16 MiB range (2 MiB aligned, inside a 1 GiB block); RW elsewhere.
    const MemoryMap::Range tee{0x40200000, 16 * MiB};
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, &HYPERVISOR_HOLE, 1, stats, true, true, &tee).ok());
    for (u64 gpa : {u64{0x40200000}, u64{0x40200000 + 16 * MiB - PAGE_4K}}) {
        const auto w = ept.walk(gpa);
        ASSERT_TRUE(w.present);
        EXPECT_TRUE(w.perms.read && w.perms.write && w.perms.exec);
        EXPECT_LE(w.page_size, PAGE_2M);
    }
    for (u64 gpa : {u64{0x40200000 - PAGE_4K}, u64{0x40200000 + 16 * MiB}, u64{0}, u64{0x80000000}}) {
        const auto w = ept.walk(gpa);
        ASSERT_TRUE(w.present);
        EXPECT_TRUE(w.perms.read && w.perms.write);
        EXPECT_FALSE(w.perms.exec);
    }
    EXPECT_FALSE(ept.walk(0x0FA00000).present);
    EXPECT_EQ(stats.pages_1g, 2u); // [1, 2) GiB is split around the range; [2, 3) GiB and [3, 4) GiB: 1 GiB leaves
}

TEST_F(GpmTest, LargePagesNotAllowed) {
    // No 1 GiB EPT pages: 2 MiB everywhere uniform.
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, &HYPERVISOR_HOLE, 1, stats, true, false).ok());
    EXPECT_EQ(stats.pages_1g, 0u);
    EXPECT_EQ(stats.pages_2m, 4 * 512u - 1u - 2u);
    EXPECT_EQ(stats.pages_4k, 512u);
    EXPECT_EQ(stats.table_pages, 2u + 4u + 1u); // PML4, PDPT, 4 PDs, 1 PT
    expect_identity(4 * GiB, &HYPERVISOR_HOLE, 1);
    // Neither: 4 KiB only (small limit to keep the test quick).
    FakeMem m2{64};
    EptTables e2{m2};
    ASSERT_TRUE(e2.init().ok());
    GpmStats s2{};
    ASSERT_TRUE(gpm_build_identity_ept(e2, mtrr, 16 * MiB, nullptr, 0, s2, false, false).ok());
    EXPECT_EQ(s2.pages_4k, 16 * MiB / PAGE_4K);
    EXPECT_EQ(s2.pages_2m + s2.pages_1g, 0u);
    EXPECT_EQ(s2.table_pages, 3u + 8u);
}

TEST_F(GpmTest, LargeMachineIsCheap) {
    // 256 GiB of RAM, PCI hole UC: 1 GiB leaves almost everywhere.
    const u64 limit = 256 * GiB;
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, limit, &HYPERVISOR_HOLE, 1, stats).ok());
    EXPECT_EQ(stats.pages_1g, 255u);
    EXPECT_EQ(stats.pages_2m, 509u);
    EXPECT_EQ(stats.pages_4k, 512u);
    EXPECT_EQ(stats.table_pages, 4u);
    expect_identity(limit, &HYPERVISOR_HOLE, 1);
}

TEST_F(GpmTest, MtrrsDisabledGiveUcEverywhere) {
    MtrrState off{};
    mtrr = off;
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, nullptr, 0, stats).ok());
    EXPECT_EQ(stats.pages_1g, 4u);
    EXPECT_EQ(stats.pages_2m + stats.pages_4k, 0u);
    EXPECT_EQ(stats.table_pages, 2u);
    expect_type(0, MemType::UC, PAGE_1G);
    expect_type(0xA0000, MemType::UC, PAGE_1G);
}

TEST_F(GpmTest, HolesBeyondLimitAndEmptyHolesAreIgnored) {
    const MemoryMap::Range holes[] = {{8 * GiB, GiB}, {0x100000, 0}, {4 * GiB - PAGE_4K, 2 * PAGE_4K}};
    ASSERT_TRUE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, holes, 3, stats).ok());
    expect_identity(4 * GiB, holes, 3);
    EXPECT_FALSE(ept.walk(4 * GiB - PAGE_4K).present);
    expect_type(4 * GiB - 2 * PAGE_4K, MemType::UC, PAGE_4K);
    expect_type(0x100000, MemType::WB, PAGE_4K);
    EXPECT_EQ(stats.pages_1g, 2u);
    EXPECT_EQ(stats.pages_2m, 511u + 511u);
    EXPECT_EQ(stats.pages_4k, 512u + 511u);
}

TEST_F(GpmTest, Errors) {
    EXPECT_FALSE(gpm_build_identity_ept(ept, mtrr, 0, nullptr, 0, stats).ok());
    EXPECT_FALSE(gpm_build_identity_ept(ept, mtrr, 4 * GiB + 1, nullptr, 0, stats).ok());
    EXPECT_FALSE(gpm_build_identity_ept(ept, mtrr, EPT_GPA_LIMIT + PAGE_4K, nullptr, 0, stats).ok());
    EXPECT_FALSE(gpm_build_identity_ept(ept, mtrr, 4 * GiB, nullptr, 1, stats).ok());
    const MemoryMap::Range wraps{~u64{0} - PAGE_4K, 3 * PAGE_4K};
    const Status s = gpm_build_identity_ept(ept, mtrr, 4 * GiB, &wraps, 1, stats);
    EXPECT_FALSE(s.ok());
    EXPECT_STREQ(s.where, "gpm.identity_ept");
    EXPECT_EQ(ept.stats().leaves(), 0u); // nothing written on argument errors
    FakeMem m2{8};
    EptTables uninit{m2};
    EXPECT_FALSE(gpm_build_identity_ept(uninit, mtrr, 4 * GiB, nullptr, 0, stats).ok());
}

TEST_F(GpmTest, OutOfPagesFailsWithoutMappingTheHole) {
    mem.set_limit(mem.used() + 2); // PDPT and PD, no PT for the first 2 MiB
    const Status s = gpm_build_identity_ept(ept, mtrr, 4 * GiB, &HYPERVISOR_HOLE, 1, stats);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(stats.pages_4k + stats.pages_2m + stats.pages_1g, 0u);
    EXPECT_EQ(stats.table_pages, 3u);
    EXPECT_FALSE(ept.walk(0x0FA00000).present);
}
