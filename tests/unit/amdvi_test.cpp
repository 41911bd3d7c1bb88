// Unit tests for arch/x86_64/amdvi (registers, device table entries, commands, event decoding, the I/O page-table
// Format) and vmm/iommu/dma_domain over AMD-Vi tables.
#include "arch/x86_64/amdvi.h"

#include <gtest/gtest.h>

#include "fake_page_alloc.h"
#include "status_expect.h"
#include "vmm/iommu/dma_domain.h"

namespace evmm {
namespace {

using Mem = test::FakePageAlloc;
constexpr u64 MEM_BASE = 0x40000000;

TEST(AmdViRegs, EfrAndBases) {
    // QEMU 7.2's amd-iommu: prefetch, PPR, GT, IA, GA, HE, HATS 10b (6 levels), GATS 10b.
    const AmdViEfr efr{0x29d3};
    EXPECT_TRUE(efr.pref_sup());
    EXPECT_TRUE(efr.ia_sup());
    EXPECT_FALSE(efr.pc_sup());
    EXPECT_EQ(efr.hats(), 2u);
    EXPECT_EQ(efr.host_levels(), 6u);
    EXPECT_EQ(AmdViEfr{0}.host_levels(), 4u);
    EXPECT_EQ(AmdViEfr{u64{3} << 10}.host_levels(), 0u); // reserved
    EXPECT_TRUE(AmdViEfr{bit(9)}.pc_sup());
    EXPECT_EQ(amdvi_ring_base(0x1fa7c000, amdvibase::LEN_MIN), 0x0800'0000'1fa7'c000ull);
    EXPECT_EQ(amdvi_dev_table_base(0x1fa7a000, 2), 0x1fa7a001u);
}

TEST(AmdViDeviceTable, SizeFromTheHighestId) {
    EXPECT_EQ(amdvi_dev_table_pages(0x18), 1u);
    EXPECT_EQ(amdvi_dev_table_pages(0xff), 2u);  // 256 entries of 32 bytes: 8 KiB
    EXPECT_EQ(amdvi_dev_table_pages(0x100), 4u); // 9 KiB, rounded up to a power of two
    EXPECT_EQ(amdvi_dev_table_pages(0xffff), 512u);
    const AmdViDte d = AmdViDte::make(0xabcde000, 1);
    EXPECT_EQ(d.q[0] & AmdViDte::V, AmdViDte::V);
    EXPECT_EQ(d.q[0] & AmdViDte::TV, AmdViDte::TV);
    EXPECT_EQ((d.q[0] & AmdViDte::MODE_MASK) >> AmdViDte::MODE_SHIFT, 4u);
    EXPECT_EQ(d.q[0] & AmdViDte::ROOT_MASK, 0xabcde000u);
    EXPECT_EQ(d.q[0] & (AmdViDte::IR | AmdViDte::IW), AmdViDte::IR | AmdViDte::IW);
    EXPECT_EQ(d.q[1] & AmdViDte::DOMAIN_ID_MASK, 1u);
    EXPECT_EQ(d.q[2], 0u); // IV = 0: interrupts pass through unremapped
    EXPECT_EQ(d.q[3], 0u);
}

TEST(AmdViCommands, Layout) {
    const AmdViCommand cw = amdvi_cmd_completion_wait(0x1fa7e000, 0x1234);
    EXPECT_EQ(cw.lo >> amdvicmd::OPCODE_SHIFT, 1u);
    EXPECT_EQ(cw.lo & amdvicmd::CW_STORE, amdvicmd::CW_STORE);
    EXPECT_EQ(cw.lo & amdvicmd::CW_ADDR_MASK, 0x1fa7e000u);
    EXPECT_EQ(cw.hi, 0x1234u);
    const AmdViCommand dte = amdvi_cmd_invalidate_devtab_entry(0x0318);
    EXPECT_EQ(dte.lo, 0x2000'0000'0000'0318ull);
    EXPECT_EQ(dte.hi, 0u);
    const AmdViCommand pages = amdvi_cmd_invalidate_domain(7);
    EXPECT_EQ(pages.lo >> amdvicmd::OPCODE_SHIFT, 3u);
    EXPECT_EQ((pages.lo >> amdvicmd::DOMAIN_ID_SHIFT) & 0xFFFF, 7u);
    EXPECT_EQ(pages.lo & 0xFFFFF, 0u); // PASID 0
    EXPECT_EQ(pages.hi & (amdvicmd::PAGES_S | amdvicmd::PAGES_PDE), amdvicmd::PAGES_S | amdvicmd::PAGES_PDE);
    EXPECT_EQ(pages.hi & ~u64{0xFFF}, amdvicmd::PAGES_ALL_ADDRESS);
    EXPECT_EQ(amdvi_cmd_invalidate_all().lo, 0x8000'0000'0000'0000ull);
    EXPECT_EQ(amdvi_cmd_invalidate_all().hi, 0u);
}

TEST(AmdViEvents, Decode) {
    // IO_PAGE_FAULT: 00:03.0, domain 1, a write to a not-present page at 0x1fa7f000.
    const AmdViEventEntry w{(u64{2} << 60) | amdvievt::FLAG_RW | (u64{1} << 32) | 0x18, 0x1fa7f000};
    const AmdViEvent e = amdvi_decode_event(w);
    EXPECT_EQ(e.code, u8(AmdViEventCode::IoPageFault));
    EXPECT_EQ(e.device_id, 0x18);
    EXPECT_EQ(e.domain_id, 1);
    EXPECT_TRUE(e.write);
    EXPECT_FALSE(e.present);
    EXPECT_FALSE(e.permission);
    EXPECT_EQ(e.address, 0x1fa7f000u);
    const AmdViEvent r = amdvi_decode_event(AmdViEventEntry{(u64{2} << 60) | amdvievt::FLAG_PR | amdvievt::FLAG_PE, 0});
    EXPECT_FALSE(r.write);
    EXPECT_TRUE(r.present);
    EXPECT_TRUE(r.permission);
    EXPECT_STREQ(amdvi_event_name(2), "IO_PAGE_FAULT");
    EXPECT_STREQ(amdvi_event_name(1), "ILLEGAL_DEV_TABLE_ENTRY");
    EXPECT_STREQ(amdvi_event_name(5), "ILLEGAL_COMMAND_ERROR");
    EXPECT_STREQ(amdvi_event_name(0x0f), "unknown event");
}

TEST(AmdViIoTables, MapWalkRightsAndLargePages) {
    Mem mem(64, MEM_BASE);
    AmdViIoTables t(mem);
    ASSERT_OK(t.init());
    ASSERT_OK(t.map(0, 0, PAGE_1G, DmaPerms{true, true}, true, true));
    ASSERT_OK(t.map(PAGE_1G, PAGE_1G, PAGE_2M, DmaPerms{true, false}, true, false));
    ASSERT_OK(t.map(PAGE_1G + PAGE_2M, 0x5000, PAGE_4K, DmaPerms{false, true}, true, false));
    auto w = t.walk_entry(0x123456);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PDPT);
    EXPECT_EQ(w.pa, 0x123456u);
    EXPECT_EQ(w.entry & amdvipte::NEXT_LEVEL_MASK, 0u); // NextLevel 0: a 1 GiB page
    EXPECT_TRUE(w.rights.read && w.rights.write);
    w = t.walk_entry(PAGE_1G + 0x10);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PD);
    EXPECT_TRUE(w.rights.read);
    EXPECT_FALSE(w.rights.write);
    w = t.walk_entry(PAGE_1G + PAGE_2M + 8);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PT);
    EXPECT_EQ(w.pa, 0x5008u);
    EXPECT_FALSE(w.rights.read);
    EXPECT_TRUE(w.rights.write);
    // Each table entry names the level of the table it references (§2.2.3), and carries IR/IW.
    const u64* pml4 = static_cast<const u64*>(mem.phys_to_virt(t.root_pa()));
    const u64 e4 = pml4[0];
    EXPECT_EQ((e4 & amdvipte::NEXT_LEVEL_MASK) >> amdvipte::NEXT_LEVEL_SHIFT, 3u);
    EXPECT_EQ(e4 & (amdvipte::RW | amdvipte::PR), amdvipte::RW | amdvipte::PR);
    const u64* pdpt = static_cast<const u64*>(mem.phys_to_virt(e4 & amdvipte::ADDR_FIELD));
    EXPECT_EQ((pdpt[1] & amdvipte::NEXT_LEVEL_MASK) >> amdvipte::NEXT_LEVEL_SHIFT, 2u);
    const u64* pd = static_cast<const u64*>(mem.phys_to_virt(pdpt[1] & amdvipte::ADDR_FIELD));
    EXPECT_EQ((pd[1] & amdvipte::NEXT_LEVEL_MASK) >> amdvipte::NEXT_LEVEL_SHIFT, 1u);
    EXPECT_FALSE(t.walk_entry(PAGE_1G + PAGE_2M + PAGE_4K).present);
    EXPECT_ERR(t.map(0, 0, PAGE_4K, DmaPerms{false, false}, true, true), "no access rights", "amdvi.io.map");
    EXPECT_ERR(t.map(DMA_ADDR_LIMIT_4LEVEL - PAGE_4K, 0, 2 * PAGE_4K, DmaPerms{true, true}, true, true), "48 bits",
               "amdvi.io.map");
    // Unmapping a page inside the 1 GiB page splits it into 2 MiB pages and a table; the rest keeps its rights.
    ASSERT_OK(t.unmap(0x200000, PAGE_4K));
    EXPECT_FALSE(t.walk_entry(0x200000).present);
    w = t.walk_entry(0x201000);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PT);
    EXPECT_TRUE(w.rights.write);
    w = t.walk_entry(0x400000);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PD);
}

TEST(AmdViDmaDomain, IdentityWithHoles) {
    Mem mem(128, MEM_BASE);
    AmdViIoTables t(mem);
    ASSERT_OK(t.init());
    // The runtime region, the AP start page, the IOMMU's 16 KiB of registers.
    const MemoryMap::Range holes[] = {{0x1fa00000, 0x400000}, {0x9f000, 0x1000}, {0xfed80000, 0x4000}};
    DmaDomainStats st{};
    ASSERT_OK(dma_domain_build_identity(t, 4 * GiB, holes, 3, true, true, st));
    for (const auto& h : holes) {
        EXPECT_FALSE(t.walk_entry(h.base).present) << std::hex << h.base;
        EXPECT_FALSE(t.walk_entry(h.base + h.length - 1).present) << std::hex << h.base;
        auto below = t.walk_entry(h.base - 1);
        ASSERT_TRUE(below.present) << std::hex << h.base;
        EXPECT_EQ(below.pa, h.base - 1);
        auto above = t.walk_entry(h.base + h.length);
        ASSERT_TRUE(above.present) << std::hex << h.base;
        EXPECT_EQ(above.pa, h.base + h.length);
    }
    EXPECT_FALSE(t.walk_entry(4 * GiB).present);
    EXPECT_EQ(st.pages_1g, 2u);
    EXPECT_EQ(st.table_pages, t.table_pages());
    u64 bytes = 0;
    PageTable<AmdViPte>::visit(t.root_pa(), mem, [&](const PageTable<AmdViPte>::LeafInfo& l) {
        EXPECT_EQ(l.addr, l.frame);
        EXPECT_TRUE(l.rights.read && l.rights.write);
        bytes += level_span(l.level);
    });
    EXPECT_EQ(bytes, 4 * GiB - 0x400000 - 0x1000 - 0x4000);
}

} // namespace
} // namespace evmm
