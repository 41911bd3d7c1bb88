// Unit tests for arch/x86_64/vtd (register fields, root/context entries, the second-level paging Format) and
// vmm/iommu/dma_domain (a domain's identity map with holes).
#include "arch/x86_64/vtd.h"

#include <gtest/gtest.h>

#include "fake_page_alloc.h"
#include "status_expect.h"
#include "vmm/iommu/dma_domain.h"

namespace evmm {
namespace {

using Mem = test::FakeTableMem<VtdSlpte, 0x40000000>;

TEST(VtdRegs, CapabilityFields) {
    // As QEMU's intel-iommu,aw-bits=48: ND 2, SAGAW 39+48 bits, MGAW 48.
    const VtdCap cap{0x02 | (u64{0x6} << 8) | (u64{47} << 16)};
    EXPECT_EQ(cap.nd(), 2u);
    EXPECT_EQ(cap.domains(), 256u);
    EXPECT_EQ(cap.sagaw(), 0x6u);
    EXPECT_TRUE(cap.sagaw_4level());
    EXPECT_EQ(cap.mgaw(), 48u);
    const VtdCap aw39{u64{0x2} << 8};
    EXPECT_FALSE(aw39.sagaw_4level());
    const VtdCap fr{(u64{0x22} << 24) | (u64{3} << 40) | bit(34) | bit(7) | bit(4)};
    EXPECT_EQ(fr.fro(), 0x220u);
    EXPECT_EQ(fr.nfr(), 4u);
    EXPECT_TRUE(fr.sllps_2m());
    EXPECT_FALSE(fr.sllps_1g());
    EXPECT_TRUE(fr.cm());
    EXPECT_TRUE(fr.rwbf());
    const VtdEcap ecap{(u64{0xF} << 8) | bit(1) | bit(0)};
    EXPECT_EQ(ecap.iro(), 0xF0u);
    EXPECT_TRUE(ecap.qi());
    EXPECT_TRUE(ecap.c());
    EXPECT_FALSE(ecap.ir());
}

TEST(VtdRegs, GcmdOneShotMaskAndFaultRecord) {
    const u32 gsts = vtdgcmd::TE | vtdgcmd::SRTP | vtdgcmd::WBF;
    EXPECT_EQ(gsts & vtdgcmd::ONE_SHOT_MASK, vtdgcmd::TE);
    // Write fault by 00:03.0 to page 0x1f4e7000, reason 5.
    const VtdFault f = vtd_decode_fault(0x1f4e7000, vtdfault::FRCD_HI_F | (u64{5} << 32) | 0x18);
    EXPECT_EQ(f.source_id, 0x18);
    EXPECT_EQ(f.reason, 5);
    EXPECT_FALSE(f.read);
    EXPECT_EQ(f.address, 0x1f4e7000u);
    EXPECT_TRUE(vtd_decode_fault(0, vtdfault::FRCD_HI_T).read);
    EXPECT_STREQ(vtd_fault_reason_name(6), "read not allowed (not mapped)");
    EXPECT_STREQ(vtd_fault_reason_name(0x77), "unknown fault reason");
}

TEST(VtdEntries, RootAndContext) {
    const VtdRootEntry r = VtdRootEntry::make(0x12345000);
    EXPECT_EQ(r.lo, 0x12345001u);
    EXPECT_EQ(r.hi, 0u);
    const VtdContextEntry c = VtdContextEntry::make(0xabcde000, 1);
    EXPECT_EQ(c.lo & VtdContextEntry::P, 1u);
    EXPECT_EQ(c.lo & (3u << 2), 0u); // TT 00: untranslated requests through the second-level tables
    EXPECT_EQ(c.lo & VtdContextEntry::SLPTPTR_MASK, 0xabcde000u);
    EXPECT_EQ(c.hi & 7, VtdContextEntry::AW_4LEVEL);
    EXPECT_EQ((c.hi & VtdContextEntry::DID_MASK) >> VtdContextEntry::DID_SHIFT, 1u);
}

TEST(VtdSlTables, MapWalkRightsAndLargePages) {
    Mem mem(64);
    VtdSlTables t(mem);
    ASSERT_OK(t.init());
    ASSERT_OK(t.map(0, 0, PAGE_1G, DmaPerms{true, true}, true, true));
    ASSERT_OK(t.map(PAGE_1G, PAGE_1G, PAGE_2M, DmaPerms{true, false}, true, false));
    ASSERT_OK(t.map(PAGE_1G + PAGE_2M, 0x5000, PAGE_4K, DmaPerms{false, true}, true, false));
    auto w = t.walk_entry(0x123456);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PDPT);
    EXPECT_EQ(w.pa, 0x123456u);
    EXPECT_TRUE(w.rights.read && w.rights.write);
    EXPECT_EQ(w.entry, slpte::RW | slpte::PS);
    w = t.walk_entry(PAGE_1G + 0x10);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PD);
    EXPECT_TRUE(w.rights.read);
    EXPECT_FALSE(w.rights.write);
    w = t.walk_entry(PAGE_1G + PAGE_2M + 8);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.level, LEVEL_PT);
    EXPECT_EQ(w.pa, 0x5008u);
    EXPECT_EQ(w.entry & slpte::PS, 0u);
    // Non-leaf entries are R|W with nothing else (bit 7 reserved in a PML4E, bits 11 and 62 reserved).
    const u64* pml4 = static_cast<const u64*>(mem.phys_to_virt(t.root_pa()));
    EXPECT_EQ(pml4[0] & ~slpte::ADDR_FIELD, slpte::RW);
    EXPECT_ERR(t.map(0, 0, PAGE_4K, DmaPerms{false, false}, true, true), "no access rights", "vtd.sl.map");
    EXPECT_ERR(t.map(VTD_DMA_ADDR_LIMIT - PAGE_4K, 0, 2 * PAGE_4K, DmaPerms{true, true}, true, true), "48-bit",
               "vtd.sl.map");
    // Unmapping a page inside the 1 GiB leaf splits it; the rest stays mapped with the same rights.
    ASSERT_OK(t.unmap(0x200000, PAGE_4K));
    EXPECT_FALSE(t.walk_entry(0x200000).present);
    w = t.walk_entry(0x201000);
    ASSERT_TRUE(w.present);
    EXPECT_TRUE(w.rights.write);
}

TEST(DmaDomain, IdentityWithHoles) {
    Mem mem(128);
    VtdSlTables t(mem);
    ASSERT_OK(t.init());
    // The runtime region (2 MiB aligned, 4 MiB), the AP start page, a register page of a remapping unit.
    const MemoryMap::Range holes[] = {{0x1f400000, 0x400000}, {0x9f000, 0x1000}, {0xfed90000, 0x1000}};
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
    EXPECT_EQ(st.pages_1g, 2u); // [1 GiB, 2 GiB) and [2 GiB, 3 GiB) have no hole
    EXPECT_GT(st.pages_2m, 0u);
    EXPECT_GT(st.pages_4k, 0u);
    EXPECT_EQ(st.table_pages, t.table_pages());
    // Every leaf is read/write and maps its own address.
    u64 bytes = 0;
    PageTable<VtdSlpte>::visit(t.root_pa(), mem, [&](const PageTable<VtdSlpte>::LeafInfo& l) {
        EXPECT_EQ(l.addr, l.frame);
        EXPECT_TRUE(l.rights.read && l.rights.write);
        bytes += level_span(l.level);
    });
    EXPECT_EQ(bytes, 4 * GiB - 0x400000 - 2 * 0x1000);
}

TEST(DmaDomain, SmallPagesOnlyAndErrors) {
    Mem mem(64);
    VtdSlTables t(mem);
    DmaDomainStats st{};
    EXPECT_ERR(dma_domain_build_identity(t, 4 * GiB, nullptr, 0, true, true, st), "not initialized", "dma_domain");
    ASSERT_OK(t.init());
    EXPECT_ERR(dma_domain_build_identity(t, 0x1001, nullptr, 0, true, true, st), "limit", "dma_domain");
    const MemoryMap::Range wrap[] = {{~u64{0} - 0x10, 0x100}};
    EXPECT_ERR(dma_domain_build_identity(t, 4 * MiB, wrap, 1, false, false, st), "wraps", "dma_domain");
    const MemoryMap::Range unaligned[] = {{0x10800, 0x10}}; // widened to the page 0x10000
    ASSERT_OK(dma_domain_build_identity(t, 4 * MiB, unaligned, 1, false, false, st));
    EXPECT_EQ(st.pages_4k, 1024u - 1);
    EXPECT_EQ(st.pages_2m + st.pages_1g, 0u);
    EXPECT_FALSE(t.walk_entry(0x10000).present);
    EXPECT_TRUE(t.walk_entry(0x11000).present);
}

// The domain's holes: the guest's, then the APs' start page when there is one; too many is an error, not a cut.
TEST(DmaDomainHoles, GuestHolesThenTheApStartPage) {
    const MemoryMap::Range guest[2] = {{0x1FA00000, 0x400000}, {0xFED90000, 0x1000}};
    MemoryMap::Range out[3] = {};
    u32 n = 0;
    ASSERT_TRUE(dma_domain_holes(guest, 2, 0x9E000, out, 3, n).ok());
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(out[0].base, 0x1FA00000u);
    EXPECT_EQ(out[1].base, 0xFED90000u);
    EXPECT_EQ(out[2].base, 0x9E000u);
    EXPECT_EQ(out[2].length, PAGE_SIZE);
    ASSERT_TRUE(dma_domain_holes(guest, 2, 0, out, 3, n).ok()); // no trampoline: the guest's alone
    EXPECT_EQ(n, 2u);
    EXPECT_FALSE(dma_domain_holes(guest, 2, 0x9E000, out, 2, n).ok()); // no room for the start page
}

} // namespace
} // namespace evmm
