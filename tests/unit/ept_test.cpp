// Unit tests of the EPT builder / walker / misconfiguration detector (arch/x86_64/ept.*).
#include "arch/x86_64/ept.h"

#include <gtest/gtest.h>

#include "tests/unit/fake_page_alloc.h"

#include <cstdlib>
#include <cstring>
#include <vector>

using namespace evmm;

namespace {

// Page allocator over an aligned buffer (tests/unit/fake_page_alloc.h), physical addresses from 0x200000.
using FakeMem = test::FakeTableMem<EptEntry, 0x200000>;

constexpr EptPerms RWX{true, true, true};
constexpr EptPerms RO{true, false, false};
constexpr EptPerms RX{true, false, true};
constexpr EptPerms XO{false, false, true};

constexpr u64 PHYS_MASK_39 = (u64{1} << 39) - 1;

struct EptTest : ::testing::Test {
    FakeMem mem{64};
    EptTables ept{mem};
    void SetUp() override { ASSERT_TRUE(ept.init().ok()); }

    // Every entry the builder wrote must pass the misconfiguration detector (with execute-only unsupported).
    void expect_no_misconfig() {
        u64 checked = 0;
        check_table(ept.root_pa(), LEVEL_PML4, checked);
        EXPECT_GT(checked, 0u);
    }
    void check_table(u64 pa, int level, u64& checked) {
        const auto* t = static_cast<const u64*>(mem.phys_to_virt(pa));
        ASSERT_NE(t, nullptr);
        for (unsigned i = 0; i < ENTRIES_PER_TABLE; ++i) {
            const u64 e = t[i];
            if ((e & epte::RWX) == 0) {
                EXPECT_EQ(e, 0u) << "not-present entries are zero";
                continue;
            }
            const char* why = nullptr;
            EXPECT_FALSE(ept_entry_misconfigured(e, level, PHYS_MASK_39, false, why))
                << std::hex << e << " level " << level << ": " << (why ? why : "");
            ++checked;
            if (level != LEVEL_PT && (level == LEVEL_PML4 || (e & epte::LARGE) == 0))
                check_table(e & pte::ADDR_4K, level - 1, checked);
        }
    }
};

bool misconf(u64 e, int level, bool xo = false) {
    const char* why = nullptr;
    const bool r = ept_entry_misconfigured(e, level, PHYS_MASK_39, xo, why);
    EXPECT_EQ(r, why != nullptr);
    return r;
}

constexpr u64 memtype(u8 t) { return u64{t} << epte::MEMTYPE_SHIFT; }

} // namespace

// ----------------------------------------------------------------------------------------------------------------
// Constants and EPTP

TEST(EptConst, EntryBitsMatchSdm) {
    EXPECT_EQ(epte::R, 0x1u);
    EXPECT_EQ(epte::W, 0x2u);
    EXPECT_EQ(epte::X, 0x4u);
    EXPECT_EQ(epte::MEMTYPE_MASK, 0x38u);
    EXPECT_EQ(epte::IGNORE_PAT, 0x40u);
    EXPECT_EQ(epte::LARGE, 0x80u);
    EXPECT_EQ(epte::A, 0x100u);
    EXPECT_EQ(epte::D, 0x200u);
    EXPECT_EQ(epte::UX, 0x400u);
    EXPECT_EQ(epte::SUPPRESS_VE, 0x8000000000000000ull);
    EXPECT_TRUE(ept_memtype_valid(0));
    EXPECT_TRUE(ept_memtype_valid(1));
    EXPECT_FALSE(ept_memtype_valid(2));
    EXPECT_FALSE(ept_memtype_valid(3));
    EXPECT_TRUE(ept_memtype_valid(4));
    EXPECT_TRUE(ept_memtype_valid(5));
    EXPECT_TRUE(ept_memtype_valid(6));
    EXPECT_FALSE(ept_memtype_valid(7));
    EXPECT_EQ(ept_phys_addr_mask(39), PHYS_MASK_39);
    EXPECT_EQ(ept_phys_addr_mask(52), (u64{1} << 52) - 1);
    EXPECT_EQ(ept_phys_addr_mask(60), (u64{1} << 52) - 1);
}

TEST(EptConst, EptpFormat) {
    // Table 25-9: bits 2:0 memory type (WB = 6), bits 5:3 walk length - 1 (3), bit 6 A/D, bits N-1:12 PML4.
    EXPECT_EQ(ept_make_eptp(0x12345000, false), 0x12345000ull | 6 | (3 << 3));
    EXPECT_EQ(ept_make_eptp(0x12345000, false), 0x1234501Eull);
    EXPECT_EQ(ept_make_eptp(0x12345000, true), 0x1234505Eull);
    EXPECT_EQ(ept_make_eptp(0xF'FFFF'FFFF'F000ull, false) & ~u64{0xFFF}, 0xF'FFFF'FFFF'F000ull);
    // Low bits of the root address never leak into the control bits.
    EXPECT_EQ(ept_make_eptp(0x12345FFF, false), 0x1234501Eull);
    constexpr u64 e = ept_make_eptp(0x1000, true);
    static_assert((e & eptp::MEMTYPE_MASK) == EPT_MEMTYPE_WB);
    static_assert(((e & eptp::WALK_LENGTH_MASK) >> eptp::WALK_LENGTH_SHIFT) == 3);
    static_assert((e & eptp::RESERVED_11_8) == 0);
    static_assert((e & eptp::SSS_ENABLE) == 0);
}

// ----------------------------------------------------------------------------------------------------------------
// Builder and walker

TEST_F(EptTest, InitGivesRootAndRejectsSecondInit) {
    EXPECT_EQ(ept.root_pa(), FakeMem::BASE);
    EXPECT_EQ(ept.table_pages(), 1u);
    EXPECT_FALSE(ept.init().ok());
    FakeMem m2{4};
    EptTables uninit{m2};
    EXPECT_FALSE(uninit.map(0, 0, PAGE_4K, RWX, MemType::WB, false, false).ok());
    EXPECT_FALSE(uninit.unmap(0, PAGE_4K).ok());
    EXPECT_FALSE(uninit.walk(0).present);
    EXPECT_EQ(uninit.stats().bad_entries, 1u);
    EXPECT_FALSE(ept.walk(0).present);
    EXPECT_EQ(ept.walk(0).level, LEVEL_PML4);
}

TEST_F(EptTest, Map4K) {
    ASSERT_TRUE(ept.map(0x5000, 0x7654000, PAGE_4K, RX, MemType::WT, true, true).ok());
    auto w = ept.walk(0x5123);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.hpa, 0x7654123u);
    EXPECT_EQ(w.page_size, PAGE_4K);
    EXPECT_EQ(w.level, LEVEL_PT);
    EXPECT_TRUE(w.perms.read);
    EXPECT_FALSE(w.perms.write);
    EXPECT_TRUE(w.perms.exec);
    EXPECT_EQ(w.mem_type, MemType::WT);
    EXPECT_FALSE(w.ignore_pat);
    // Raw leaf: R|X, type 4 in bits 5:3, nothing else besides the frame.
    EXPECT_EQ(w.entry, 0x7654000ull | epte::R | epte::X | memtype(4));
    // Non-leaf entries: RWX, bits 7:3 zero.
    u64* pml4e = mem.entry_ptr(ept.root_pa(), 0x5000, LEVEL_PML4);
    ASSERT_NE(pml4e, nullptr);
    EXPECT_EQ(*pml4e & 0xFFF, epte::RWX);
    EXPECT_FALSE(ept.walk(0x4000).present);
    EXPECT_EQ(ept.walk(0x4000).level, LEVEL_PT);
    EXPECT_FALSE(ept.walk(0x6000).present);
    EXPECT_EQ(ept.table_pages(), 4u); // PML4, PDPT, PD, PT
    expect_no_misconfig();
}

TEST_F(EptTest, Map2MAnd1G) {
    ASSERT_TRUE(ept.map(2 * MiB, 6 * MiB, 2 * MiB, RWX, MemType::WB, true, true).ok());
    ASSERT_TRUE(ept.map(3 * GiB, 5 * GiB, GiB, RO, MemType::UC, true, true).ok());
    auto w2 = ept.walk(2 * MiB + 0x12345);
    ASSERT_TRUE(w2.present);
    EXPECT_EQ(w2.page_size, PAGE_2M);
    EXPECT_EQ(w2.level, LEVEL_PD);
    EXPECT_EQ(w2.hpa, 6 * MiB + 0x12345);
    EXPECT_EQ(w2.entry, 6 * MiB | epte::RWX | memtype(6) | epte::LARGE);
    auto w1 = ept.walk(3 * GiB + 0x3FFFFFFF);
    ASSERT_TRUE(w1.present);
    EXPECT_EQ(w1.page_size, PAGE_1G);
    EXPECT_EQ(w1.level, LEVEL_PDPT);
    EXPECT_EQ(w1.hpa, 5 * GiB + 0x3FFFFFFF);
    EXPECT_EQ(w1.mem_type, MemType::UC);
    EXPECT_FALSE(w1.perms.write);
    EXPECT_EQ(w1.entry, 5 * GiB | epte::R | memtype(0) | epte::LARGE);
    const EptStats s = ept.stats();
    EXPECT_EQ(s.leaves_2m, 1u);
    EXPECT_EQ(s.leaves_1g, 1u);
    EXPECT_EQ(s.leaves_4k, 0u);
    EXPECT_EQ(s.bytes_mapped, GiB + 2 * MiB);
    EXPECT_EQ(s.table_pages, 3u); // PML4, PDPT, one PD
    EXPECT_EQ(s.table_pages, ept.table_pages());
    expect_no_misconfig();
}

TEST_F(EptTest, LargePagesOnlyWhenAllowedAndAligned) {
    // Not allowed: 2 MiB as 512 leaves of 4 KiB.
    ASSERT_TRUE(ept.map(0, 0, 2 * MiB, RWX, MemType::WB, false, false).ok());
    EXPECT_EQ(ept.stats().leaves_4k, 512u);
    // Allowed but gpa and hpa differently aligned: still 4 KiB.
    ASSERT_TRUE(ept.map(4 * MiB, 8 * MiB + PAGE_4K, 2 * MiB, RWX, MemType::WB, true, true).ok());
    EXPECT_EQ(ept.stats().leaves_4k, 1024u);
    EXPECT_EQ(ept.stats().leaves_2m, 0u);
    // 1 GiB not allowed: 2 MiB leaves.
    ASSERT_TRUE(ept.map(GiB, GiB, GiB, RWX, MemType::WB, true, false).ok());
    EXPECT_EQ(ept.stats().leaves_2m, 512u);
    EXPECT_EQ(ept.stats().leaves_1g, 0u);
    expect_no_misconfig();
}

TEST_F(EptTest, UnalignedRangeUsesLargestPagesInside) {
    // [1 GiB - 8 KiB, 2 GiB + 2 MiB + 4 KiB): 2 x 4K, 1 x 1G, 1 x 2M, 1 x 4K.
    const u64 base = GiB - 2 * PAGE_4K;
    const u64 size = GiB + 2 * MiB + 3 * PAGE_4K;
    ASSERT_TRUE(ept.map(base, base, size, RWX, MemType::WB, true, true).ok());
    const EptStats s = ept.stats();
    EXPECT_EQ(s.leaves_4k, 3u);
    EXPECT_EQ(s.leaves_2m, 1u);
    EXPECT_EQ(s.leaves_1g, 1u);
    EXPECT_EQ(s.bytes_mapped, size);
    // Visitor: ascending, contiguous, identity.
    u64 next = base;
    EXPECT_EQ(ept.for_each_leaf([&](const EptLeaf& l) {
        EXPECT_EQ(l.gpa, next);
        EXPECT_EQ(l.hpa, l.gpa);
        EXPECT_TRUE(l.perms.read && l.perms.write && l.perms.exec);
        EXPECT_EQ(l.mem_type, MemType::WB);
        next = l.gpa + l.size;
    }),
              0u);
    EXPECT_EQ(next, base + size);
    expect_no_misconfig();
}

TEST_F(EptTest, PartialRemapSplitsKeepingTheRest) {
    ASSERT_TRUE(ept.map(GiB, 4 * GiB, GiB, RWX, MemType::WB, true, true).ok());
    u64* pdpte = mem.entry_ptr(ept.root_pa(), GiB, LEVEL_PDPT);
    ASSERT_NE(pdpte, nullptr);
    *pdpte |= epte::A | epte::D; // as the CPU would with A/D enabled: kept by the split
    // Change one 4 KiB page in the middle of the 1 GiB leaf.
    const u64 page = GiB + 300 * MiB + 5 * PAGE_4K;
    ASSERT_TRUE(ept.map(page, 0x1234000, PAGE_4K, RO, MemType::UC, true, true).ok());
    const EptStats s = ept.stats();
    EXPECT_EQ(s.leaves_1g, 0u);
    EXPECT_EQ(s.leaves_2m, 511u);
    EXPECT_EQ(s.leaves_4k, 512u);
    EXPECT_EQ(s.bytes_mapped, GiB);
    auto w = ept.walk(page + 0x10);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.hpa, 0x1234010u);
    EXPECT_EQ(w.mem_type, MemType::UC);
    EXPECT_FALSE(w.perms.write);
    EXPECT_FALSE(w.perms.exec);
    // Neighbours keep frame, rights, type and the A/D bits of the split leaf.
    for (u64 g : {page - PAGE_4K, page + PAGE_4K, GiB, GiB + GiB - PAGE_4K, GiB + 300 * MiB}) {
        auto n = ept.walk(g);
        ASSERT_TRUE(n.present) << std::hex << g;
        EXPECT_EQ(n.hpa, g - GiB + 4 * GiB);
        EXPECT_EQ(n.mem_type, MemType::WB);
        EXPECT_TRUE(n.perms.read && n.perms.write && n.perms.exec);
        EXPECT_EQ(n.entry & (epte::A | epte::D), epte::A | epte::D);
    }
    EXPECT_EQ(ept.walk(page - PAGE_4K).page_size, PAGE_4K);
    EXPECT_EQ(ept.walk(GiB).page_size, PAGE_2M);
    // The 4K pieces lost the LARGE bit (ignored in a PTE, but the split must not leave it set).
    EXPECT_EQ(ept.walk(page - PAGE_4K).entry & epte::LARGE, 0u);
    expect_no_misconfig();
}

TEST_F(EptTest, IdenticalPartialRemapKeepsLargeLeaf) {
    ASSERT_TRUE(ept.map(0, 0, GiB, RWX, MemType::WB, true, true).ok());
    u64* pdpte = mem.entry_ptr(ept.root_pa(), 0, LEVEL_PDPT);
    ASSERT_NE(pdpte, nullptr);
    *pdpte |= epte::A | epte::D; // A/D are the CPU's: not part of "same mapping"
    const u64 used = mem.used();
    ASSERT_TRUE(ept.map(5 * MiB, 5 * MiB, 3 * PAGE_4K, RWX, MemType::WB, true, true).ok());
    EXPECT_EQ(mem.used(), used);
    EXPECT_EQ(ept.stats().leaves_1g, 1u);
    // A different memory type is a change: split.
    ASSERT_TRUE(ept.map(5 * MiB, 5 * MiB, PAGE_4K, RWX, MemType::WC, true, true).ok());
    EXPECT_EQ(ept.walk(5 * MiB).mem_type, MemType::WC);
    EXPECT_EQ(ept.walk(5 * MiB + PAGE_4K).mem_type, MemType::WB);
    EXPECT_EQ(ept.stats().leaves_1g, 0u);
}

TEST_F(EptTest, LargeLeafOverExistingTableDescends) {
    ASSERT_TRUE(ept.map(0, 0, PAGE_4K, RO, MemType::UC, true, true).ok());
    const u64 used = mem.used();
    ASSERT_TRUE(ept.map(0, 0, 2 * MiB, RWX, MemType::WB, true, true).ok());
    EXPECT_EQ(mem.used(), used); // the PT stays (tables are never freed) and is refilled
    EXPECT_EQ(ept.stats().leaves_4k, 512u);
    EXPECT_EQ(ept.walk(0).mem_type, MemType::WB);
    EXPECT_TRUE(ept.walk(0).perms.write);
}

TEST_F(EptTest, UnmapHoleInsideLargePages) {
    ASSERT_TRUE(ept.map(0, 0, 4 * GiB, RWX, MemType::WB, true, true).ok());
    EXPECT_EQ(ept.stats().leaves_1g, 4u);
    // A 2 MiB-aligned 4 MiB hole, and a 4 KiB-granular one.
    ASSERT_TRUE(ept.unmap(0x0FA00000, 4 * MiB).ok());
    ASSERT_TRUE(ept.unmap(2 * GiB + 0x1000, 0x3000).ok());
    EXPECT_FALSE(ept.walk(0x0FA00000).present);
    EXPECT_FALSE(ept.walk(0x0FDFFFFF).present);
    EXPECT_EQ(ept.walk(0x0FA00000).level, LEVEL_PD);
    EXPECT_TRUE(ept.walk(0x0F9FFFFF).present);
    EXPECT_TRUE(ept.walk(0x0FE00000).present);
    EXPECT_FALSE(ept.walk(2 * GiB + 0x1000).present);
    EXPECT_FALSE(ept.walk(2 * GiB + 0x3FFF).present);
    EXPECT_TRUE(ept.walk(2 * GiB).present);
    EXPECT_TRUE(ept.walk(2 * GiB + 0x4000).present);
    const EptStats s = ept.stats();
    EXPECT_EQ(s.leaves_1g, 2u);
    EXPECT_EQ(s.leaves_2m, 510u + 511u);
    EXPECT_EQ(s.leaves_4k, 512u - 3u);
    EXPECT_EQ(s.bytes_mapped, 4 * GiB - 4 * MiB - 0x3000);
    // Unmapping what is not mapped is fine; unmapping a whole large leaf clears it.
    ASSERT_TRUE(ept.unmap(0x0FA00000, 4 * MiB).ok());
    ASSERT_TRUE(ept.unmap(100 * GiB, GiB).ok());
    ASSERT_TRUE(ept.unmap(3 * GiB, GiB).ok());
    EXPECT_FALSE(ept.walk(3 * GiB).present);
    EXPECT_EQ(ept.walk(3 * GiB).level, LEVEL_PDPT);
    EXPECT_EQ(ept.walk(3 * GiB).entry, 0u);
    expect_no_misconfig();
}

TEST_F(EptTest, ArgumentErrors) {
    EXPECT_FALSE(ept.map(0x1001, 0, PAGE_4K, RWX, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(0, 0x1001, PAGE_4K, RWX, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(0, 0, 0x1001, RWX, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(EPT_GPA_LIMIT, 0, PAGE_4K, RWX, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(EPT_GPA_LIMIT - PAGE_4K, 0, 2 * PAGE_4K, RWX, MemType::WB, true, true).ok());
    EXPECT_TRUE(ept.map(EPT_GPA_LIMIT - PAGE_4K, 0, PAGE_4K, RWX, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(0, pte::PHYS_LIMIT - PAGE_4K, 2 * PAGE_4K, RWX, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(0, 0, PAGE_4K, EptPerms{false, true, false}, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(0, 0, PAGE_4K, EptPerms{false, true, true}, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(0, 0, PAGE_4K, EptPerms{false, false, false}, MemType::WB, true, true).ok());
    EXPECT_FALSE(ept.map(0, 0, PAGE_4K, RWX, static_cast<MemType>(2), true, true).ok());
    EXPECT_FALSE(ept.map(0, 0, PAGE_4K, RWX, static_cast<MemType>(7), true, true).ok());
    EXPECT_FALSE(ept.unmap(0x800, PAGE_4K).ok());
    EXPECT_FALSE(ept.unmap(EPT_GPA_LIMIT, PAGE_4K).ok());
    EXPECT_TRUE(ept.map(0, 0, 0, RWX, MemType::WB, true, true).ok());
    EXPECT_TRUE(ept.unmap(0, 0).ok());
    EXPECT_FALSE(ept.walk(EPT_GPA_LIMIT).present);
    EXPECT_EQ(ept.walk(EPT_GPA_LIMIT).level, 0);
    // Execute-only is accepted (the caller checks the capability).
    EXPECT_TRUE(ept.map(0, 0, PAGE_4K, XO, MemType::WB, true, true).ok());
    auto w = ept.walk(0);
    ASSERT_TRUE(w.present);
    EXPECT_FALSE(w.perms.read);
    EXPECT_TRUE(w.perms.exec);
    const Status s = ept.map(0x1001, 0, PAGE_4K, RWX, MemType::WB, true, true);
    ASSERT_NE(s.where, nullptr);
    EXPECT_STREQ(s.where, "ept.map");
}

TEST_F(EptTest, OutOfPagesLeavesConsistentTables) {
    mem.set_limit(mem.used() + 2); // PDPT and PD, but no PT
    const Status s = ept.map(0x1000, 0x1000, PAGE_4K, RWX, MemType::WB, true, true);
    EXPECT_FALSE(s.ok());
    EXPECT_FALSE(ept.walk(0x1000).present);
    EXPECT_EQ(ept.stats().bad_entries, 0u);
    // A large page needs no PT: still possible.
    EXPECT_TRUE(ept.map(2 * MiB, 2 * MiB, 2 * MiB, RWX, MemType::WB, true, true).ok());
    EXPECT_TRUE(ept.walk(2 * MiB).present);
}

TEST_F(EptTest, VisitorReportsBadEntries) {
    ASSERT_TRUE(ept.map(0, 0, PAGE_4K, RWX, MemType::WB, true, true).ok());
    auto* root = static_cast<u64*>(mem.phys_to_virt(ept.root_pa()));
    root[1] = 0x5000 | epte::RWX | epte::LARGE; // reserved bit 7 in a PML4E
    root[2] = 0x7FFF0000000ull | epte::RWX;     // table the fake cannot give
    u64 leaves = 0;
    EXPECT_EQ(ept.for_each_leaf([&](const EptLeaf&) { ++leaves; }), 2u);
    EXPECT_EQ(leaves, 1u);
    EXPECT_EQ(ept.stats().bad_entries, 2u);
    EXPECT_FALSE(ept.walk(u64{1} << 39).present);
    EXPECT_EQ(ept_visit_leaves(
                  0, mem, [](void*, const EptLeaf&) {}, nullptr),
              1u);
}

TEST_F(EptTest, EffectiveRightsAreAndedOverLevels) {
    ASSERT_TRUE(ept.map(0, 0, PAGE_4K, RWX, MemType::WB, true, true).ok());
    u64* pde = mem.entry_ptr(ept.root_pa(), 0, LEVEL_PD);
    ASSERT_NE(pde, nullptr);
    *pde &= ~epte::W; // a non-leaf entry without write denies writes below it
    auto w = ept.walk(0);
    ASSERT_TRUE(w.present);
    EXPECT_TRUE(w.perms.read);
    EXPECT_FALSE(w.perms.write);
    EXPECT_TRUE(w.perms.exec);
    ept.for_each_leaf([&](const EptLeaf& l) { EXPECT_FALSE(l.perms.write); });
}

// ----------------------------------------------------------------------------------------------------------------
// Misconfiguration detector (§29.3.3.1)

TEST(EptMisconfig, NotPresentIsNeverMisconfigured) {
    const char* why = "stale";
    EXPECT_FALSE(ept_entry_misconfigured(0, LEVEL_PT, PHYS_MASK_39, false, why));
    EXPECT_EQ(why, nullptr);
    // Bits 2:0 = 000b: the CPU ignores bits 63:3, garbage included.
    EXPECT_FALSE(misconf(~u64{0} & ~epte::RWX, LEVEL_PD));
    EXPECT_FALSE(misconf(~u64{0} & ~epte::RWX, LEVEL_PML4));
}

TEST(EptMisconfig, WriteWithoutRead) {
    for (int level = LEVEL_PT; level <= LEVEL_PML4; ++level) {
        EXPECT_TRUE(misconf(0x1000 | epte::W, level));
        EXPECT_TRUE(misconf(0x1000 | epte::W | epte::X, level));
        EXPECT_TRUE(misconf(0x1000 | epte::W | epte::X, level, true));
        EXPECT_FALSE(misconf(0x1000 | epte::R | epte::W, level));
    }
    const char* why = nullptr;
    ASSERT_TRUE(ept_entry_misconfigured(epte::W | memtype(6), LEVEL_PT, PHYS_MASK_39, true, why));
    EXPECT_NE(std::strstr(why, "write"), nullptr);
}

TEST(EptMisconfig, ExecuteOnlyDependsOnSupport) {
    const u64 e = 0x1000 | epte::X | memtype(6);
    EXPECT_TRUE(misconf(e, LEVEL_PT, false));
    EXPECT_FALSE(misconf(e, LEVEL_PT, true));
    EXPECT_TRUE(misconf(0x1000 | epte::X, LEVEL_PML4, false));
    EXPECT_FALSE(misconf(0x1000 | epte::X, LEVEL_PML4, true));
    EXPECT_FALSE(misconf(e | epte::R, LEVEL_PT, false));
    const char* why = nullptr;
    ASSERT_TRUE(ept_entry_misconfigured(e, LEVEL_PT, PHYS_MASK_39, false, why));
    EXPECT_NE(std::strstr(why, "execute-only"), nullptr);
}

TEST(EptMisconfig, ReservedAddressBits) {
    const u64 ok = 0x7F'FFFF'F000ull | epte::RWX | memtype(6); // highest 4K frame below 2^39
    EXPECT_FALSE(misconf(ok, LEVEL_PT));
    EXPECT_TRUE(misconf(ok | (u64{1} << 39), LEVEL_PT));
    EXPECT_TRUE(misconf(ok | (u64{1} << 51), LEVEL_PT));
    EXPECT_TRUE(misconf((u64{1} << 45) | epte::RWX, LEVEL_PML4));
    // Bits 63:52 are ignored (or feature bits such as suppress #VE), never reserved.
    EXPECT_FALSE(misconf(ok | (u64{0xFFF} << 52), LEVEL_PT));
    EXPECT_FALSE(misconf(0x1000 | epte::RWX | epte::SUPPRESS_VE, LEVEL_PML4));
    // With MAXPHYADDR 52 nothing in 51:12 is reserved.
    const char* why = nullptr;
    EXPECT_FALSE(ept_entry_misconfigured(ok | (u64{1} << 51), LEVEL_PT, ept_phys_addr_mask(52), false, why));
    ASSERT_TRUE(ept_entry_misconfigured(ok | (u64{1} << 40), LEVEL_PT, PHYS_MASK_39, false, why));
    EXPECT_NE(std::strstr(why, "51:MAXPHYADDR"), nullptr);
}

TEST(EptMisconfig, ReservedBits7To3OfNonLeafEntries) {
    const u64 table = 0x5000 | epte::RWX;
    EXPECT_FALSE(misconf(table, LEVEL_PML4));
    EXPECT_FALSE(misconf(table, LEVEL_PDPT));
    EXPECT_FALSE(misconf(table, LEVEL_PD));
    for (unsigned b = 3; b <= 6; ++b) {
        EXPECT_TRUE(misconf(table | bit(b), LEVEL_PML4)) << b;
        EXPECT_TRUE(misconf(table | bit(b), LEVEL_PDPT)) << b;
        EXPECT_TRUE(misconf(table | bit(b), LEVEL_PD)) << b;
    }
    EXPECT_TRUE(misconf(table | epte::LARGE, LEVEL_PML4)); // bit 7 of a PML4E is reserved
    // Ignored bits of a table entry: 8 (A), 9, 10 (UX), 11.
    EXPECT_FALSE(misconf(table | epte::A | bit(9) | epte::UX | bit(11), LEVEL_PDPT));
    const char* why = nullptr;
    ASSERT_TRUE(ept_entry_misconfigured(table | epte::LARGE, LEVEL_PML4, PHYS_MASK_39, false, why));
    EXPECT_NE(std::strstr(why, "PML4E"), nullptr);
}

TEST(EptMisconfig, ReservedBitsOfLargeLeaves) {
    const u64 leaf1g = GiB | epte::RWX | epte::LARGE | memtype(6);
    const u64 leaf2m = 2 * MiB | epte::RWX | epte::LARGE | memtype(6);
    EXPECT_FALSE(misconf(leaf1g, LEVEL_PDPT));
    EXPECT_FALSE(misconf(leaf2m, LEVEL_PD));
    EXPECT_TRUE(misconf(leaf1g | bit(12), LEVEL_PDPT));
    EXPECT_TRUE(misconf(leaf1g | bit(29), LEVEL_PDPT));
    EXPECT_FALSE(misconf(leaf1g | bit(30), LEVEL_PDPT));
    EXPECT_TRUE(misconf(leaf2m | bit(12), LEVEL_PD));
    EXPECT_TRUE(misconf(leaf2m | bit(20), LEVEL_PD));
    EXPECT_FALSE(misconf(leaf2m | bit(21), LEVEL_PD));
    // A/D/ignore-PAT/UX are fine in leaves.
    EXPECT_FALSE(misconf(leaf2m | epte::A | epte::D | epte::IGNORE_PAT | epte::UX, LEVEL_PD));
    // In a PTE bit 7 is ignored and bits 20:12 are the frame.
    EXPECT_FALSE(misconf(0x1FF000 | epte::RWX | epte::LARGE | memtype(6), LEVEL_PT));
}

TEST(EptMisconfig, ReservedMemoryTypesInLeaves) {
    for (u8 t = 0; t < 8; ++t) {
        const bool reserved = t == 2 || t == 3 || t == 7;
        EXPECT_EQ(misconf(0x1000 | epte::RWX | memtype(t), LEVEL_PT), reserved) << int(t);
        EXPECT_EQ(misconf(2 * MiB | epte::RWX | epte::LARGE | memtype(t), LEVEL_PD), reserved) << int(t);
        EXPECT_EQ(misconf(GiB | epte::R | epte::LARGE | memtype(t), LEVEL_PDPT), reserved) << int(t);
    }
    const char* why = nullptr;
    ASSERT_TRUE(ept_entry_misconfigured(0x1000 | epte::R | memtype(7), LEVEL_PT, PHYS_MASK_39, false, why));
    EXPECT_NE(std::strstr(why, "memory type"), nullptr);
}

TEST(EptMisconfig, BadLevel) {
    EXPECT_TRUE(misconf(epte::RWX, 0));
    EXPECT_TRUE(misconf(epte::RWX, 5));
    EXPECT_TRUE(misconf(0, 5));
}
