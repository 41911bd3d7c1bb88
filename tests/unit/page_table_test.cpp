// Unit tests of the page-table engine itself (arch/x86_64/page_table.h) over both entry formats: geometry, the
// formats' leaf/attribute round trips, split pieces, walks through an injected reader (tables not owned) and the
// leaf visitor's counts.
#include "arch/x86_64/page_table.h"

#include <gtest/gtest.h>

#include "arch/x86_64/ept.h"
#include "arch/x86_64/paging.h"
#include "tests/unit/fake_page_alloc.h"

#include <map>

using namespace evmm;

namespace {

using Host = PageTable<Ia32ePte>;
using Ept = PageTable<EptEntry>;

TEST(PageTableGeometry, LevelsAndIndexes) {
    EXPECT_EQ(level_shift(LEVEL_PT), 12u);
    EXPECT_EQ(level_shift(LEVEL_PML4), 39u);
    EXPECT_EQ(level_shift(LEVEL_PML5), 48u);
    EXPECT_EQ(level_span(LEVEL_PDPT), PAGE_1G);
    const u64 a = (u64{3} << 48) | (u64{511} << 39) | (u64{2} << 30) | (u64{7} << 21) | (u64{0x1FF} << 12) | 0x123;
    EXPECT_EQ(table_index(a, LEVEL_PML5), 3u);
    EXPECT_EQ(table_index(a, LEVEL_PML4), 511u);
    EXPECT_EQ(table_index(a, LEVEL_PDPT), 2u);
    EXPECT_EQ(table_index(a, LEVEL_PD), 7u);
    EXPECT_EQ(table_index(a, LEVEL_PT), 0x1FFu);
}

TEST(PageTableFormat, LeafTests) {
    EXPECT_TRUE(Host::is_leaf(pte::P, LEVEL_PT));
    EXPECT_TRUE(Host::is_leaf(pte::P | pte::PAT_4K, LEVEL_PT)); // bit 7 of a PTE is PAT, not PS
    EXPECT_TRUE(Host::is_leaf(pte::P | pte::PS, LEVEL_PD));
    EXPECT_TRUE(Host::is_leaf(pte::P | pte::PS, LEVEL_PDPT));
    EXPECT_FALSE(Host::is_leaf(pte::P | pte::PS, LEVEL_PML4));
    EXPECT_TRUE(Host::large_reserved(pte::P | pte::PS, LEVEL_PML4));
    EXPECT_FALSE(Host::large_reserved(pte::P | pte::PS, LEVEL_PDPT));
    EXPECT_TRUE(Ept::is_leaf(epte::R | epte::LARGE, LEVEL_PD));
    EXPECT_FALSE(Ept::is_leaf(epte::R, LEVEL_PD));
    EXPECT_TRUE(Ept::large_reserved(epte::R | epte::LARGE, LEVEL_PML4));
    EXPECT_FALSE(EptEntry::present(epte::LARGE | epte::MEMTYPE_MASK)); // bits 2:0 = 000b: not present
    EXPECT_EQ(Host::frame(0x8000'0000'4020'0000ull | pte::P | pte::PS | pte::PAT_LARGE, LEVEL_PD), 0x4020'0000u);
}

TEST(PageTableFormat, Ia32eAttrsRoundTripAndPatMoves) {
    const u64 large = 0x4000'0000ull | pte::P | pte::RW | pte::PS | pte::PCD | pte::PAT_LARGE | pte::XD;
    const u64 a = Ia32ePte::attrs(large, LEVEL_PDPT);
    EXPECT_EQ(a & pte::PAT_LARGE, 0u);
    EXPECT_EQ(a, pte::P | pte::RW | pte::PCD | pte::PAT_4K | pte::XD); // PS gone, PAT normalized to bit 7 (Table 4-20)
    EXPECT_EQ(Ia32ePte::leaf(0x4000'0000ull, a, LEVEL_PDPT), large);
    // The pieces of a 1 GiB leaf are 2 MiB leaves (PS, PAT at bit 12); of a 2 MiB leaf 4 KiB ones (PAT at bit 7).
    const u64 piece = Host::split_piece(large, LEVEL_PDPT, 3);
    EXPECT_EQ(piece, large + 3 * PAGE_2M);
    const u64 pte4k = Host::split_piece(piece, LEVEL_PD, 5);
    EXPECT_EQ(pte4k & pte::ADDR_4K, 0x4000'0000ull + 3 * PAGE_2M + 5 * PAGE_4K);
    EXPECT_EQ(pte4k & ~pte::ADDR_4K, pte::P | pte::RW | pte::PCD | pte::PAT_4K | pte::XD);
    EXPECT_EQ(Ia32ePte::table(0x5000), 0x5000u | pte::P | pte::RW);
}

TEST(PageTableFormat, EptAttrsRoundTrip) {
    const u64 large = 0x8000'0000ull | epte::R | epte::X | epte::LARGE | (u64{6} << epte::MEMTYPE_SHIFT);
    EXPECT_EQ(EptEntry::leaf(0x8000'0000ull, EptEntry::attrs(large, LEVEL_PDPT), LEVEL_PDPT), large);
    const u64 pte4k = Ept::split_piece(Ept::split_piece(large, LEVEL_PDPT, 1), LEVEL_PD, 2);
    EXPECT_EQ(pte4k, 0x8000'0000ull + PAGE_2M + 2 * PAGE_4K + (large & ~pte::ADDR_4K & ~epte::LARGE));
    EXPECT_EQ(EptEntry::table(0x5000), 0x5000u | epte::RWX);
    const EptPerms r = EptEntry::narrow(EptEntry::ALL_RIGHTS, epte::R | epte::X);
    EXPECT_TRUE(r.read);
    EXPECT_FALSE(r.write);
    EXPECT_TRUE(r.exec);
}

// Tables not owned by the engine: entries in a map keyed by their physical address.
struct SparseTables {
    std::map<u64, u64> entries;
    u64 readable_below = ~u64{0};
    void put(u64 table, unsigned i, u64 e) { entries[table + i * sizeof(u64)] = e; }
    bool read(u64 table, unsigned i, u64& e) const {
        if (table >= readable_below) return false;
        auto it = entries.find(table + i * sizeof(u64));
        e = it == entries.end() ? 0 : it->second;
        return true;
    }
};

TEST(PageTableWalk, ThroughInjectedReader) {
    SparseTables t;
    const u64 addr = (u64{1} << 48) | (u64{2} << 21) | (u64{1} << 12) | 0xABC; // PML5[1] PML4[0] PDPT[0] PD[2] PT[1]
    t.put(0x1000, 1, 0x2000 | pte::P | pte::RW);
    t.put(0x2000, 0, 0x3000 | pte::P | pte::RW);
    t.put(0x3000, 0, 0x4000 | pte::P); // read-only from here down
    t.put(0x4000, 2, 0x5000 | pte::P | pte::RW);
    t.put(0x5000, 1, 0x9000 | pte::P | pte::RW | pte::XD);
    auto rd = [&t](u64 table, unsigned i, u64& e) { return t.read(table, i, e); };
    Host::Walk w = Host::walk_tables(0x1000, LEVEL_PML5, addr, rd);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PT);
    EXPECT_EQ(w.pa, 0x9ABCu);
    EXPECT_EQ(w.size, PAGE_4K);
    EXPECT_FALSE(w.rights.write);
    EXPECT_FALSE(w.rights.exec);
    // A 2 MiB leaf at the PD.
    t.put(0x4000, 2, 0x20'0000 | pte::P | pte::RW | pte::PS);
    w = Host::walk_tables(0x1000, LEVEL_PML5, addr, rd);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PD);
    EXPECT_EQ(w.pa, 0x20'0000u + (addr & (PAGE_2M - 1)));
    // Not present: the level and the entry where the walk stopped.
    t.put(0x3000, 0, 0);
    w = Host::walk_tables(0x1000, LEVEL_PML5, addr, rd);
    EXPECT_FALSE(w.present);
    EXPECT_TRUE(w.readable);
    EXPECT_EQ(w.level, LEVEL_PDPT);
    EXPECT_EQ(w.table, 0x3000u);
    // PS in a PML4E is reserved.
    t.put(0x2000, 0, 0x3000 | pte::P | pte::PS);
    w = Host::walk_tables(0x1000, LEVEL_PML5, addr, rd);
    EXPECT_FALSE(w.present);
    EXPECT_TRUE(w.reserved);
    EXPECT_EQ(w.level, LEVEL_PML4);
    // An unreadable table.
    t.readable_below = 0x2000;
    w = Host::walk_tables(0x1000, LEVEL_PML5, addr, rd);
    EXPECT_FALSE(w.readable);
    EXPECT_EQ(w.table, 0x2000u);
    EXPECT_EQ(w.level, LEVEL_PML4);
}

TEST(PageTableVisit, CountsTablesAndBadEntries) {
    test::FakeTableMem<EptEntry, 0x300000> mem{16};
    EptTables ept{mem};
    ASSERT_TRUE(ept.init().ok());
    ASSERT_TRUE(ept.map(0, 0, 2 * PAGE_2M + PAGE_4K, EptPerms{true, true, false}, MemType::WB, true, false).ok());
    u64 leaves = 0;
    const Ept::VisitCounts c = Ept::visit(ept.root_pa(), mem, [&](const Ept::LeafInfo& l) {
        ++leaves;
        EXPECT_TRUE(l.rights.read && l.rights.write && !l.rights.exec);
    });
    EXPECT_EQ(leaves, 3u); // two 2 MiB leaves and one 4 KiB leaf
    EXPECT_EQ(c.tables, ept.table_pages());
    EXPECT_EQ(c.bad, 0u);
    *mem.entry_ptr(ept.root_pa(), PAGE_1G * 512, LEVEL_PML4) = epte::R | epte::LARGE; // reserved in a PML4E
    EXPECT_EQ(Ept::visit(ept.root_pa(), mem, [](const Ept::LeafInfo&) {}).bad, 1u);
}

} // namespace
