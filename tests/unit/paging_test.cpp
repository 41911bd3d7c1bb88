// Unit tests of the x86-64 4-level page-table builder / walker (arch/x86_64/paging.*).
#include "arch/x86_64/paging.h"

#include <gtest/gtest.h>

#include "tests/unit/fake_page_alloc.h"

#include <cstdlib>
#include <cstring>
#include <vector>

using namespace evmm;

namespace {

// Page allocator over an aligned buffer (tests/unit/fake_page_alloc.h), physical addresses from 0x100000.
using FakeMem = test::FakeTableMem<Ia32ePte, 0x100000>;

constexpr PagePerms RW_NX{true, false};
constexpr PagePerms RO_NX{false, false};
constexpr PagePerms RX{false, true};
constexpr PagePerms RWX{true, true};

struct Counts {
    u64 leaves = 0, n4k = 0, n2m = 0, n1g = 0, bytes = 0;
};

Counts count_leaves(const PageTables& pt) {
    Counts c;
    pt.for_each_leaf([&](const Leaf& l) {
        ++c.leaves;
        c.bytes += l.size;
        if (l.size == PAGE_4K) ++c.n4k;
        if (l.size == PAGE_2M) ++c.n2m;
        if (l.size == PAGE_1G) ++c.n1g;
    });
    return c;
}

struct PagingTest : ::testing::Test {
    FakeMem mem{64};
    PageTables pt{mem};
    void SetUp() override { ASSERT_TRUE(pt.init().ok()); }
};

} // namespace

TEST(PagingConst, EntryBitsMatchSdm) {
    EXPECT_EQ(pte::P, 0x1u);
    EXPECT_EQ(pte::RW, 0x2u);
    EXPECT_EQ(pte::PS, 0x80u);
    EXPECT_EQ(pte::XD, 0x8000000000000000ull);
    EXPECT_TRUE(is_canonical(0x00007FFFFFFFFFFFull));
    EXPECT_TRUE(is_canonical(0xFFFF800000000000ull));
    EXPECT_FALSE(is_canonical(0x0000800000000000ull));
    EXPECT_FALSE(is_canonical(0xFFFF7FFFFFFFFFFFull));
}

TEST_F(PagingTest, InitGivesRootAndRejectsSecondInit) {
    EXPECT_EQ(pt.root_pa(), FakeMem::BASE);
    EXPECT_FALSE(pt.init().ok());
    FakeMem m2{4};
    PageTables uninit{m2};
    EXPECT_FALSE(uninit.map(0, 0, PAGE_4K, RW_NX, false, false).ok());
    EXPECT_FALSE(uninit.walk(0).present);
}

TEST_F(PagingTest, IdentityMap4GiBWith1GPages) {
    ASSERT_TRUE(pt.map(0, 0, 4 * GiB, RW_NX, true, true).ok());
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.n1g, 4u);
    EXPECT_EQ(c.leaves, 4u);
    EXPECT_EQ(c.bytes, 4 * GiB);
    EXPECT_EQ(mem.used(), 2u); // PML4 + one PDPT
    auto w = pt.walk(3 * GiB + 0x12345000);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.pa, 3 * GiB + 0x12345000);
    EXPECT_EQ(w.page_size, PAGE_1G);
    EXPECT_EQ(w.level, LEVEL_PDPT);
    EXPECT_TRUE(w.write);
    EXPECT_FALSE(w.exec);
    EXPECT_FALSE(pt.walk(4 * GiB).present);
}

TEST_F(PagingTest, IdentityMap4GiBWith2MPages) {
    ASSERT_TRUE(pt.map(0, 0, 4 * GiB, RW_NX, true, false).ok());
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.n2m, 2048u);
    EXPECT_EQ(c.leaves, 2048u);
    EXPECT_EQ(c.bytes, 4 * GiB);
    EXPECT_EQ(mem.used(), 1u + 1u + 4u); // PML4, PDPT, 4 PDs
    auto w = pt.walk(0x7654321);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.pa, 0x7654321u);
    EXPECT_EQ(w.page_size, PAGE_2M);
}

TEST_F(PagingTest, FourKOnlyWhenLargePagesNotAllowed) {
    ASSERT_TRUE(pt.map(0, 0, 4 * MiB, RW_NX, false, false).ok());
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.n4k, 1024u);
    EXPECT_EQ(c.leaves, 1024u);
    EXPECT_EQ(mem.used(), 1u + 1u + 1u + 2u);
}

TEST_F(PagingTest, FourKAtUnalignedEdges) {
    // [2M-4K, 4M+4K): 4K head, one 2M page, 4K tail.
    ASSERT_TRUE(pt.map(PAGE_2M - PAGE_4K, PAGE_2M - PAGE_4K, PAGE_2M + 2 * PAGE_4K, RW_NX, true, true).ok());
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.leaves, 3u);
    EXPECT_EQ(c.n4k, 2u);
    EXPECT_EQ(c.n2m, 1u);
    EXPECT_EQ(pt.walk(PAGE_2M - PAGE_4K).page_size, PAGE_4K);
    EXPECT_EQ(pt.walk(PAGE_2M).page_size, PAGE_2M);
    EXPECT_EQ(pt.walk(2 * PAGE_2M).page_size, PAGE_4K);
    EXPECT_FALSE(pt.walk(2 * PAGE_2M + PAGE_4K).present);
    EXPECT_FALSE(pt.walk(PAGE_2M - 2 * PAGE_4K).present);
}

TEST_F(PagingTest, MisalignedVaPaPairUses4K) {
    // va 2M aligned but pa only 4K aligned: no 2M leaf possible.
    ASSERT_TRUE(pt.map(4 * MiB, 4 * MiB + PAGE_4K, PAGE_2M, RW_NX, true, true).ok());
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.n4k, 512u);
    EXPECT_EQ(c.n2m, 0u);
    EXPECT_EQ(pt.walk(4 * MiB + 0x10).pa, 4 * MiB + PAGE_4K + 0x10);
}

TEST_F(PagingTest, ImageSectionsInHighHalf) {
    constexpr u64 VBASE = 0xFFFFFFFF80000000ull;
    constexpr u64 PBASE = 0x200000;
    ASSERT_TRUE(pt.map(VBASE, PBASE, 3 * PAGE_4K, RX, true, true).ok());                                // .text
    ASSERT_TRUE(pt.map(VBASE + 3 * PAGE_4K, PBASE + 3 * PAGE_4K, 2 * PAGE_4K, RO_NX, true, true).ok()); // .rodata
    ASSERT_TRUE(pt.map(VBASE + 5 * PAGE_4K, PBASE + 5 * PAGE_4K, 4 * PAGE_4K, RW_NX, true, true).ok()); // .data

    auto text = pt.walk(VBASE + 0x1234);
    ASSERT_TRUE(text.present);
    EXPECT_EQ(text.pa, PBASE + 0x1234);
    EXPECT_FALSE(text.write);
    EXPECT_TRUE(text.exec);
    EXPECT_EQ(text.level, LEVEL_PT);
    EXPECT_TRUE(text.entry & pte::P);
    EXPECT_FALSE(text.entry & pte::XD);

    auto ro = pt.walk(VBASE + 4 * PAGE_4K + 8);
    ASSERT_TRUE(ro.present);
    EXPECT_EQ(ro.pa, PBASE + 4 * PAGE_4K + 8);
    EXPECT_FALSE(ro.write);
    EXPECT_FALSE(ro.exec);
    EXPECT_TRUE(ro.entry & pte::XD);

    auto data = pt.walk(VBASE + 8 * PAGE_4K);
    ASSERT_TRUE(data.present);
    EXPECT_TRUE(data.write);
    EXPECT_FALSE(data.exec);
    EXPECT_EQ(data.cache, CacheType::WB);
    EXPECT_FALSE(pt.walk(VBASE + 9 * PAGE_4K).present);

    // Leaves are visited in ascending, sign-extended va order.
    std::vector<u64> vas;
    pt.for_each_leaf([&](const Leaf& l) { vas.push_back(l.va); });
    ASSERT_EQ(vas.size(), 9u);
    for (size_t i = 0; i < vas.size(); ++i) EXPECT_EQ(vas[i], VBASE + i * PAGE_4K);

    WxReport r = check_wx(pt);
    EXPECT_TRUE(r.clean());
    EXPECT_EQ(r.leaves, 9u);
    EXPECT_EQ(r.bytes_mapped, 9 * PAGE_4K);
}

TEST_F(PagingTest, NonLeafEntriesArePresentWritableExecutable) {
    ASSERT_TRUE(pt.map(0x40000000, 0x40000000, PAGE_4K, RO_NX, false, false).ok());
    for (int level = LEVEL_PML4; level > LEVEL_PT; --level) {
        u64* e = mem.entry_ptr(pt.root_pa(), 0x40000000, level);
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(*e & ~pte::ADDR_4K, pte::P | pte::RW) << "level " << level;
    }
    u64* leaf = mem.entry_ptr(pt.root_pa(), 0x40000000, LEVEL_PT);
    ASSERT_NE(leaf, nullptr);
    EXPECT_EQ(*leaf & pte::ADDR_4K, 0x40000000u);
    EXPECT_EQ(*leaf & (pte::RW | pte::US | pte::XD | pte::P), pte::P | pte::XD);
}

TEST_F(PagingTest, UncachedMapping) {
    ASSERT_TRUE(pt.map(0xFEE00000, 0xFEE00000, PAGE_4K, PagePerms{true, false, CacheType::UC}, true, true).ok());
    auto w = pt.walk(0xFEE00000);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.cache, CacheType::UC);
    EXPECT_EQ(w.entry & (pte::PCD | pte::PWT), pte::PCD | pte::PWT);
}

TEST_F(PagingTest, Split2MPageKeepsNeighbours) {
    ASSERT_TRUE(pt.map(0, 0, 4 * MiB, PagePerms{true, false, CacheType::UC}, true, true).ok());
    const size_t before = mem.used();
    ASSERT_TRUE(pt.map(0x201000, 0x201000, PAGE_4K, RX, true, true).ok());
    EXPECT_EQ(mem.used(), before + 1); // one new page table

    auto w = pt.walk(0x201000);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.page_size, PAGE_4K);
    EXPECT_FALSE(w.write);
    EXPECT_TRUE(w.exec);
    EXPECT_EQ(w.cache, CacheType::WB);

    for (u64 va = 0x200000; va < 0x400000; va += PAGE_4K) {
        if (va == 0x201000) continue;
        auto n = pt.walk(va + 0x10);
        ASSERT_TRUE(n.present) << std::hex << va;
        EXPECT_EQ(n.pa, va + 0x10);
        EXPECT_EQ(n.page_size, PAGE_4K);
        EXPECT_TRUE(n.write);
        EXPECT_FALSE(n.exec);
        EXPECT_EQ(n.cache, CacheType::UC);
    }
    auto other = pt.walk(0x100000); // the other 2M page is untouched
    EXPECT_EQ(other.page_size, PAGE_2M);
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.n2m, 1u);
    EXPECT_EQ(c.n4k, 512u);
    EXPECT_EQ(c.bytes, 4 * MiB);
}

TEST_F(PagingTest, Split1GPageIntoTwoMegPieces) {
    ASSERT_TRUE(pt.map(0, 0, 1 * GiB, RW_NX, true, true).ok());
    ASSERT_EQ(count_leaves(pt).n1g, 1u);
    ASSERT_TRUE(pt.map(0x10201000, 0x10201000, PAGE_4K, RX, true, true).ok());
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.n1g, 0u);
    EXPECT_EQ(c.n2m, 511u);
    EXPECT_EQ(c.n4k, 512u);
    EXPECT_EQ(c.bytes, 1 * GiB);
    EXPECT_TRUE(pt.walk(0x10201000).exec);
    auto n = pt.walk(0x3FE00000);
    EXPECT_TRUE(n.present && n.write && !n.exec);
    EXPECT_EQ(n.page_size, PAGE_2M);
    EXPECT_EQ(n.pa, 0x3FE00000u);
    EXPECT_TRUE(check_wx(pt).clean());
}

TEST_F(PagingTest, IdenticalRemapDoesNotSplit) {
    ASSERT_TRUE(pt.map(0, 0, PAGE_2M, RW_NX, true, true).ok());
    const size_t before = mem.used();
    ASSERT_TRUE(pt.map(0x1000, 0x1000, 0x3000, RW_NX, false, false).ok());
    EXPECT_EQ(mem.used(), before);
    EXPECT_EQ(pt.walk(0x1000).page_size, PAGE_2M);
    // Same perms but a different frame does split.
    ASSERT_TRUE(pt.map(0x1000, 0x9000, PAGE_4K, RW_NX, false, false).ok());
    EXPECT_EQ(pt.walk(0x1000).pa, 0x9000u);
    EXPECT_EQ(pt.walk(0x2000).pa, 0x2000u);
}

TEST_F(PagingTest, SplitMovesPatBit) {
    ASSERT_TRUE(pt.map(0, 0, PAGE_2M, RW_NX, true, false).ok());
    u64* pde = mem.entry_ptr(pt.root_pa(), 0, LEVEL_PD);
    ASSERT_NE(pde, nullptr);
    ASSERT_TRUE(*pde & pte::PS);
    *pde |= pte::PAT_LARGE; // as if someone had chosen PAT entry 4
    ASSERT_TRUE(pt.map(0x5000, 0x5000, PAGE_4K, RX, true, false).ok());
    u64* pte6 = mem.entry_ptr(pt.root_pa(), 0x6000, LEVEL_PT);
    ASSERT_NE(pte6, nullptr);
    EXPECT_EQ(*pte6 & pte::ADDR_4K, 0x6000u);
    EXPECT_TRUE(*pte6 & pte::PAT_4K);
    EXPECT_FALSE(*pte6 & pte::PAT_LARGE);
    EXPECT_EQ(pt.walk(0x6000).cache, CacheType::UC); // non-WB combination reported as UC
}

TEST_F(PagingTest, RemapOverwrites4KAndLargeOverTables) {
    ASSERT_TRUE(pt.map(0, 0x800000, PAGE_2M, RW_NX, false, false).ok());
    ASSERT_TRUE(pt.map(0x3000, 0x7000, PAGE_4K, RX, false, false).ok());
    auto w = pt.walk(0x3000);
    EXPECT_EQ(w.pa, 0x7000u);
    EXPECT_TRUE(w.exec);
    EXPECT_FALSE(w.write);
    EXPECT_EQ(count_leaves(pt).leaves, 512u);
    // A 2M-capable remap over an existing page table still gives the new translation everywhere.
    ASSERT_TRUE(pt.map(0, 0x400000, PAGE_2M, RO_NX, true, false).ok());
    for (u64 va = 0; va < PAGE_2M; va += PAGE_4K) {
        auto n = pt.walk(va);
        ASSERT_TRUE(n.present);
        EXPECT_EQ(n.pa, 0x400000 + va);
        EXPECT_FALSE(n.write);
        EXPECT_FALSE(n.exec);
    }
}

TEST_F(PagingTest, UnmapGuardPageInside2M) {
    ASSERT_TRUE(pt.map(0, 0, 4 * MiB, RW_NX, true, true).ok());
    ASSERT_TRUE(pt.unmap(0x300000, PAGE_4K).ok());
    auto g = pt.walk(0x300000);
    EXPECT_FALSE(g.present);
    EXPECT_EQ(g.level, LEVEL_PT);
    auto lo = pt.walk(0x2FF000);
    auto hi = pt.walk(0x301000);
    ASSERT_TRUE(lo.present && hi.present);
    EXPECT_EQ(lo.pa, 0x2FF000u);
    EXPECT_EQ(hi.pa, 0x301000u);
    EXPECT_TRUE(lo.write && hi.write);
    EXPECT_EQ(pt.walk(0).page_size, PAGE_2M);
    Counts c = count_leaves(pt);
    EXPECT_EQ(c.n4k, 511u);
    EXPECT_EQ(c.bytes, 4 * MiB - PAGE_4K);

    // Whole large page away, and unmapping nothing is fine.
    ASSERT_TRUE(pt.unmap(0, PAGE_2M).ok());
    auto z = pt.walk(0x1000);
    EXPECT_FALSE(z.present);
    EXPECT_EQ(z.level, LEVEL_PD);
    EXPECT_TRUE(pt.unmap(0x40000000, PAGE_2M).ok());
    EXPECT_TRUE(pt.unmap(0x123000, 0).ok());
    EXPECT_FALSE(pt.unmap(0x123001, PAGE_4K).ok());
}

TEST_F(PagingTest, RejectsBadArguments) {
    EXPECT_FALSE(pt.map(0x0000800000000000ull, 0, PAGE_4K, RW_NX, true, true).ok());
    EXPECT_FALSE(pt.map(0xFFFF7FFFFFFFF000ull, 0, PAGE_4K, RW_NX, true, true).ok());
    // Runs off the end of the lower half.
    EXPECT_FALSE(pt.map(0x00007FFFFFFFF000ull, 0, 2 * PAGE_4K, RW_NX, true, true).ok());
    EXPECT_TRUE(pt.map(0x00007FFFFFFFF000ull, 0, PAGE_4K, RW_NX, true, true).ok());
    EXPECT_TRUE(pt.map(0xFFFFFFFFFFFFF000ull, 0, PAGE_4K, RW_NX, true, true).ok());      // the very top
    EXPECT_FALSE(pt.map(0xFFFFFFFFFFFFF000ull, 0, 2 * PAGE_4K, RW_NX, true, true).ok()); // wraps
    EXPECT_FALSE(pt.map(0x1001, 0x1000, PAGE_4K, RW_NX, true, true).ok());
    EXPECT_FALSE(pt.map(0x1000, 0x1001, PAGE_4K, RW_NX, true, true).ok());
    EXPECT_FALSE(pt.map(0x1000, 0x1000, 0x800, RW_NX, true, true).ok());
    EXPECT_FALSE(pt.map(0x1000, pte::PHYS_LIMIT, PAGE_4K, RW_NX, true, true).ok());
    EXPECT_FALSE(pt.map(0x1000, pte::PHYS_LIMIT - PAGE_4K, 2 * PAGE_4K, RW_NX, true, true).ok());
    EXPECT_FALSE(pt.unmap(0x0000800000000000ull, PAGE_4K).ok());
    EXPECT_FALSE(pt.walk(0x0000800000000000ull).present);
    EXPECT_EQ(pt.walk(0x0000800000000000ull).level, 0);
    EXPECT_TRUE(pt.map(0x1000, 0x1000, 0, RW_NX, true, true).ok()); // empty: no-op
    EXPECT_EQ(count_leaves(pt).leaves, 2u);
    EXPECT_EQ(pt.walk(0xFFFFFFFFFFFFF123ull).pa, 0x123u);
}

TEST(PagingOom, OutOfMemoryIsReported) {
    FakeMem none{0};
    PageTables p0{none};
    Status s0 = p0.init();
    EXPECT_FALSE(s0.ok());
    EXPECT_EQ(p0.root_pa(), 0u);

    FakeMem mem{2}; // PML4 + PDPT only
    PageTables pt{mem};
    ASSERT_TRUE(pt.init().ok());
    Status s = pt.map(0, 0, PAGE_4K, RW_NX, true, true);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.what, nullptr);
    EXPECT_FALSE(pt.walk(0).present);                           // consistent: PDPTE present, PDE never linked
    EXPECT_TRUE(pt.map(0, 0, PAGE_1G, RW_NX, true, true).ok()); // needs no new table
    // Splitting needs a page: fails cleanly, leaving the 1G mapping as it was.
    Status s2 = pt.map(0x1000, 0x5000, PAGE_4K, RW_NX, true, true);
    EXPECT_FALSE(s2.ok());
    EXPECT_EQ(pt.walk(0x1000).pa, 0x1000u);
    EXPECT_EQ(pt.walk(0x1000).page_size, PAGE_1G);
    Status s3 = pt.unmap(0x1000, PAGE_4K);
    EXPECT_FALSE(s3.ok());
    EXPECT_TRUE(pt.walk(0x1000).present);
}

TEST_F(PagingTest, WalkUnmapped) {
    auto w = pt.walk(0x1234000);
    EXPECT_FALSE(w.present);
    EXPECT_EQ(w.level, LEVEL_PML4);
    EXPECT_EQ(w.entry, 0u);
    ASSERT_TRUE(pt.map(0, 0, PAGE_2M, RW_NX, true, true).ok());
    EXPECT_EQ(pt.walk(1 * GiB).level, LEVEL_PDPT);
    EXPECT_EQ(pt.walk(PAGE_2M).level, LEVEL_PD);
    EXPECT_EQ(pt.walk(512 * GiB).level, LEVEL_PML4);
}

TEST_F(PagingTest, WxCheckFindsRwxPages) {
    ASSERT_TRUE(pt.map(0, 0, 1 * GiB, RW_NX, true, true).ok());
    ASSERT_TRUE(pt.map(0x100000, 0x100000, 2 * PAGE_4K, RX, true, true).ok());
    WxReport clean = check_wx(pt);
    EXPECT_EQ(clean.violations, 0u);
    EXPECT_EQ(clean.first_violation_va, 0u);
    EXPECT_EQ(clean.bytes_mapped, 1 * GiB);
    EXPECT_TRUE(clean.clean());

    ASSERT_TRUE(pt.map(0x20000000, 0x20000000, PAGE_2M, RWX, true, true).ok());
    ASSERT_TRUE(pt.map(0x5000, 0x5000, PAGE_4K, RWX, true, true).ok());
    WxReport r = check_wx(pt);
    EXPECT_EQ(r.violations, 2u);
    EXPECT_EQ(r.first_violation_va, 0x5000u);
    EXPECT_FALSE(r.clean());
    EXPECT_EQ(r.bytes_mapped, 1 * GiB);

    WxReport raw = check_wx_raw(pt.root_pa(), mem);
    EXPECT_EQ(raw.violations, r.violations);
    EXPECT_EQ(raw.first_violation_va, r.first_violation_va);
    EXPECT_EQ(raw.leaves, r.leaves);
}

TEST_F(PagingTest, WxRawUsesEffectiveRights) {
    ASSERT_TRUE(pt.map(0, 0, PAGE_4K, RWX, false, false).ok());
    ASSERT_EQ(check_wx_raw(pt.root_pa(), mem).violations, 1u);
    // Clearing R/W in the PDE makes the leaf effectively read-only (SDM §4.6): no violation, and walk agrees.
    u64* pde = mem.entry_ptr(pt.root_pa(), 0, LEVEL_PD);
    ASSERT_NE(pde, nullptr);
    *pde &= ~pte::RW;
    EXPECT_EQ(check_wx_raw(pt.root_pa(), mem).violations, 0u);
    EXPECT_FALSE(pt.walk(0).write);
    *pde |= pte::RW | pte::XD; // XD at an upper level
    EXPECT_EQ(check_wx_raw(pt.root_pa(), mem).violations, 0u);
    EXPECT_FALSE(pt.walk(0).exec);
}

TEST_F(PagingTest, WxRawReportsBadEntries) {
    ASSERT_TRUE(pt.map(0, 0, PAGE_4K, RW_NX, false, false).ok());
    auto* pml4 = static_cast<u64*>(mem.phys_to_virt(pt.root_pa()));
    pml4[5] = 0x7000000000ull | pte::P | pte::RW; // table outside the fake's memory
    pml4[6] = FakeMem::BASE | pte::P | pte::PS;   // PS is reserved in a PML4E
    WxReport r = check_wx_raw(pt.root_pa(), mem);
    EXPECT_EQ(r.bad_entries, 2u);
    EXPECT_EQ(r.leaves, 1u);
    EXPECT_FALSE(r.clean());
    EXPECT_FALSE(pt.walk(6 * 512 * GiB).present);
    EXPECT_FALSE(pt.walk(5 * 512 * GiB).present);
    EXPECT_EQ(check_wx_raw(0, mem).bad_entries, 1u);
}
