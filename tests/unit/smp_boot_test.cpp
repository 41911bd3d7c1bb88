// Unit tests for loader/smp_boot: the trampoline page's placement, its data block, the INIT/Start-up ICR values,
// the delays, and the descriptor after the APs.
#include "loader/smp_boot.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace evmm;

namespace {

constexpr u32 U = EVMM_MEM_USABLE;
constexpr u32 R = EVMM_MEM_RESERVED;

std::string what(const Status& s) { return s.what ? s.what : "<ok>"; }

template <u32 N>
struct TestMap {
    evmm_mmap_entry_t storage[N]{};
    MemoryMap map{storage, N};
};

// SeaBIOS-like low memory: usable up to the EBDA, then reserved up to 1 MiB, RAM above.
void bios_low_memory(MemoryMap& m) {
    ASSERT_TRUE(m.add(0, 0x9FC00, U).ok());
    ASSERT_TRUE(m.add(0x9FC00, 0x400, R).ok());
    ASSERT_TRUE(m.add(0xF0000, 0x10000, R).ok());
    ASSERT_TRUE(m.add(0x100000, 0x1FF00000, U).ok());
    ASSERT_TRUE(m.normalize().ok());
}

} // namespace

// --- placement ---------------------------------------------------------------------------------------------------

TEST(TrampolineBase, ValidPages) {
    EXPECT_TRUE(trampoline_base_valid(0x1000));
    EXPECT_TRUE(trampoline_base_valid(0x9E000));
    EXPECT_TRUE(trampoline_base_valid(0x9F000));
    EXPECT_TRUE(trampoline_base_valid(0xC0000)); // vector 0xC0: allowed again
    EXPECT_TRUE(trampoline_base_valid(0xFF000)); // the last page below 1 MiB
}

TEST(TrampolineBase, InvalidPages) {
    EXPECT_FALSE(trampoline_base_valid(0));        // page 0: IVT / BDA
    EXPECT_FALSE(trampoline_base_valid(0x9E800));  // not page aligned
    EXPECT_FALSE(trampoline_base_valid(0x100000)); // not below 1 MiB
    EXPECT_FALSE(trampoline_base_valid(0x40000000));
    for (u64 v = 0xA0; v <= 0xBF; ++v) EXPECT_FALSE(trampoline_base_valid(v << 12)) << std::hex << v; // reserved
    EXPECT_FALSE(trampoline_base_valid(~u64{0} & ~u64{0xFFF}));                                       // no wrap-around
}

TEST(TrampolineBase, SipiVectorIsThePageNumber) {
    EXPECT_EQ(sipi_vector(0x9E000), 0x9Eu);
    EXPECT_EQ(sipi_vector(0x1000), 0x01u);
    EXPECT_EQ(sipi_vector(0xFF000), 0xFFu);
}

TEST(TrampolinePlace, HighestFreePageBelowTheEbda) {
    TestMap<16> t;
    bios_low_memory(t.map);
    u64 base = 1;
    ASSERT_TRUE(trampoline_place(t.map, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0x9E000u); // 0x9F000 would overlap the EBDA at 0x9FC00
}

TEST(TrampolinePlace, AvoidsModulesAndBootInformation) {
    // UEFI GRUB: modules at 0x2000, the Multiboot2 information at 0x4000; here also something high.
    TestMap<16> t;
    ASSERT_TRUE(t.map.add(0, 0xA0000, U).ok());
    ASSERT_TRUE(t.map.add(0x100000, 0x1000000, U).ok());
    ASSERT_TRUE(t.map.normalize().ok());
    const MemoryMap::Range avoid[] = {{0x2000, 0x1800}, {0x4000, 0x388}, {0x90000, 0x10000}, {0x200000, 0x40000}};
    u64 base = 0;
    ASSERT_TRUE(trampoline_place(t.map, avoid, 4, base).ok());
    EXPECT_EQ(base, 0x8F000u);
    for (const auto& a : avoid) EXPECT_FALSE(ranges_overlap(base, TRAMPOLINE_SIZE, a.base, a.length));
}

TEST(TrampolinePlace, LowPagesOnlyWhenTheRestIsTaken) {
    // Only pages 0-5 usable, 3-5 taken: page 2 (page 0 is never used).
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0, 0x6000, U).ok());
    ASSERT_TRUE(t.map.add(0x100000, 0x100000, U).ok());
    ASSERT_TRUE(t.map.normalize().ok());
    const MemoryMap::Range avoid[] = {{0x3000, 0x3000}};
    u64 base = 0;
    ASSERT_TRUE(trampoline_place(t.map, avoid, 1, base).ok());
    EXPECT_EQ(base, 0x2000u);
    const MemoryMap::Range all[] = {{0x1000, 0x5000}};
    EXPECT_FALSE(trampoline_place(t.map, all, 1, base).ok()); // page 0 would be free: still refused
    EXPECT_EQ(base, 0u);
}

TEST(TrampolinePlace, SkipsReservedSipiVectors) {
    // Usable RAM claimed at 0xA0000-0xC0000 (no legacy hole): the page must still not use vectors A0-BF.
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0, 0xC1000, U).ok());
    ASSERT_TRUE(t.map.normalize().ok());
    u64 base = 0;
    ASSERT_TRUE(trampoline_place(t.map, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0xC0000u);
    const MemoryMap::Range avoid[] = {{0xC0000, 0x1000}};
    ASSERT_TRUE(trampoline_place(t.map, avoid, 1, base).ok());
    EXPECT_EQ(base, 0x9F000u);
}

TEST(TrampolinePlace, NothingBelowOneMiB) {
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0, 0x100000, R).ok());
    ASSERT_TRUE(t.map.add(0x100000, 0x1000000, U).ok());
    ASSERT_TRUE(t.map.normalize().ok());
    u64 base = 7;
    EXPECT_FALSE(trampoline_place(t.map, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0u);
}

TEST(TrampolinePlace, TooManyAvoidRanges) {
    TestMap<8> t;
    bios_low_memory(t.map);
    std::vector<MemoryMap::Range> avoid(200, MemoryMap::Range{0x200000, 0x1000});
    u64 base = 0;
    const Status s = trampoline_place(t.map, avoid.data(), static_cast<u32>(avoid.size()), base);
    EXPECT_EQ(what(s), "too many ranges to avoid");
    EXPECT_EQ(base, 0u);
    // What stage1 passes at most (its avoid list without the low-memory entry) fits.
    ASSERT_TRUE(trampoline_place(t.map, avoid.data(), EVMM_MAX_BOOT_MODULES + 2, base).ok());
}

// --- the data block -----------------------------------------------------------------------------------------------

namespace {

TrampolineSetup typical_setup() {
    TrampolineSetup s{};
    s.base = 0x9E000;
    s.cr0 = 0x80000011;                           // PG | ET | PE
    s.cr3 = 0x20B000;                             // the loader's PML4
    s.cr4 = 0x20 | 0x200 | bit(12);               // PAE | OSFXSR | LA57 (LA57 must not be copied)
    s.efer = bit(8) | bit(10) | bit(11) | bit(0); // LME | LMA | NXE | SCE
    s.target = 0x201200;                          // ap_main
    return s;
}

} // namespace

TEST(TrampolineData, GdtAndFarPointersAreAbsolute) {
    TrampolineData d;
    std::memset(&d, 0xA5, sizeof d);
    ASSERT_TRUE(trampoline_data_init(typical_setup(), d).ok());
    EXPECT_EQ(d.gdt[0], 0u);
    EXPECT_EQ(d.gdt[TRAMP_SEL_CODE64 / 8], TRAMP_GDT_CODE64);
    EXPECT_EQ(d.gdt[TRAMP_SEL_DATA / 8], TRAMP_GDT_DATA);
    EXPECT_EQ(d.gdt[TRAMP_SEL_CODE32 / 8], TRAMP_GDT_CODE32);
    EXPECT_EQ(d.gdtr_limit, 4 * 8 - 1);
    EXPECT_EQ(d.gdtr_base, 0x9E000u + TRAMP_DATA_OFF + TRAMP_D_GDT);
    EXPECT_EQ(d.far32_offset, 0x9E000u + TRAMP_ENTRY32_OFF);
    EXPECT_EQ(d.far32_selector, TRAMP_SEL_CODE32);
    EXPECT_EQ(d.far64_offset, 0x9E000u + TRAMP_ENTRY64_OFF);
    EXPECT_EQ(d.far64_selector, TRAMP_SEL_CODE64);
    EXPECT_EQ(d.pad0, 0u);
    EXPECT_EQ(d.pad1, 0u);
    for (u16 p : d.gdtr_pad) EXPECT_EQ(p, 0u);
}

TEST(TrampolineData, ControlRegistersFromTheBsp) {
    TrampolineData d;
    ASSERT_TRUE(trampoline_data_init(typical_setup(), d).ok());
    EXPECT_EQ(d.cr0, 0x80000011u);
    EXPECT_EQ(d.cr3, 0x20B000u);
    EXPECT_EQ(d.cr4, 0x220u);                // LA57 dropped
    EXPECT_EQ(d.efer_set, bit(8) | bit(11)); // LME + NXE only (LMA is the CPU's, SCE not needed)
    EXPECT_EQ(d.target, 0x201200u);
}

TEST(TrampolineData, ForcesLongModeBitsAndKeepsNxOffWithoutNx) {
    TrampolineSetup s = typical_setup();
    s.cr0 = 0x60000010; // caches off, PG/PE clear: forced on
    s.cr4 = 0;
    s.efer = 0; // a CPU without NX: no NXE on the APs either
    TrampolineData d;
    ASSERT_TRUE(trampoline_data_init(s, d).ok());
    EXPECT_EQ(d.cr0, 0xE0000011u);
    EXPECT_EQ(d.cr4, 0x20u);
    EXPECT_EQ(d.efer_set, bit(8));
}

TEST(TrampolineData, PerApFieldsAndState) {
    TrampolineData d;
    ASSERT_TRUE(trampoline_data_init(typical_setup(), d).ok());
    EXPECT_EQ(d.state, static_cast<u32>(TRAMP_STATE_WAITING));
    EXPECT_EQ(d.cpu_id, 0u);
    EXPECT_EQ(d.stack_top, 0u);
    trampoline_data_set_ap(d, 3, 6, 0x1FA6E000);
    EXPECT_EQ(d.cpu_id, 3u);
    EXPECT_EQ(d.apic_id, 6u);
    EXPECT_EQ(d.stack_top, 0x1FA6E000u);
    EXPECT_EQ(d.gdtr_base, 0x9E000u + TRAMP_DATA_OFF); // the rest untouched
}

TEST(TrampolineData, Rejects) {
    TrampolineData d;
    TrampolineSetup s = typical_setup();
    s.base = 0xA0000;
    EXPECT_EQ(what(trampoline_data_init(s, d)), "bad trampoline page");
    s = typical_setup();
    s.cr3 = 0x100000000;
    EXPECT_FALSE(trampoline_data_init(s, d).ok());
    s.cr3 = 0x20B800;
    EXPECT_FALSE(trampoline_data_init(s, d).ok());
    s.cr3 = 0;
    EXPECT_FALSE(trampoline_data_init(s, d).ok());
    s = typical_setup();
    s.target = 0;
    EXPECT_FALSE(trampoline_data_init(s, d).ok());
    s.target = 0x100000000;
    EXPECT_FALSE(trampoline_data_init(s, d).ok());
}

TEST(TrampolineData, LayoutMatchesTheAssemblerOffsets) {
    // The 6-byte LGDT operand and the m16:32 far pointers must be contiguous.
    EXPECT_EQ(offsetof(TrampolineData, gdtr_base) - offsetof(TrampolineData, gdtr_limit), 2u);
    EXPECT_EQ(offsetof(TrampolineData, far32_selector) - offsetof(TrampolineData, far32_offset), 4u);
    EXPECT_EQ(offsetof(TrampolineData, far64_selector) - offsetof(TrampolineData, far64_offset), 4u);
    EXPECT_LT(TRAMP_ENTRY16_OFF, TRAMP_ENTRY32_OFF);
    EXPECT_LT(TRAMP_ENTRY32_OFF, TRAMP_ENTRY64_OFF);
    EXPECT_LT(TRAMP_ENTRY64_OFF, TRAMP_DATA_OFF);
    EXPECT_LE(TRAMP_DATA_OFF + sizeof(TrampolineData), TRAMPOLINE_SIZE);
}

TEST(ApStackTop, MatchesTheStackBlockLayout) {
    EXPECT_EQ(ap_stack_top(0x1FA38000, 0), 0x1FA38000u + 0x9000);
    EXPECT_EQ(ap_stack_top(0x1FA38000, 1), 0x1FA38000u + EVMM_STACK_BLOCK_SIZE + 0x9000);
    EXPECT_EQ(ap_stack_top(0x1FA38000, 3), 0x1FA6E000u); // the QEMU smp 4 boot's cpu3
    EXPECT_EQ(ap_stack_top(0, EVMM_MAX_CPUS - 1) % 16, 0u);
}

// --- ICR values ---------------------------------------------------------------------------------------------------

TEST(Icr, InitXApic) {
    // SDM Vol. 3A §9.4.4.1 example: 000C4500H (INIT, level assert, all excluding self); ours names a destination.
    EXPECT_EQ(icr_init(ApicMode::XApic, 0), 0x0000000000004500u);
    EXPECT_EQ(icr_init(ApicMode::XApic, 3), 0x0300000000004500u);
    EXPECT_EQ(icr_init(ApicMode::XApic, 0xFE), 0xFE00000000004500u);
}

TEST(Icr, StartupXApic) {
    EXPECT_EQ(icr_startup(ApicMode::XApic, 1, 0x9E), 0x010000000000469Eu);
    EXPECT_EQ(icr_startup(ApicMode::XApic, 0x12, 0x08), 0x1200000000004608u);
    // ICR high as written to 0x310: destination in bits 31:24.
    EXPECT_EQ(static_cast<u32>(icr_startup(ApicMode::XApic, 0x12, 0x08) >> 32), 0x12000000u);
}

TEST(Icr, X2ApicDestinationIs32Bits) {
    EXPECT_EQ(icr_init(ApicMode::X2Apic, 0x1234), 0x0000123400004500u);
    EXPECT_EQ(icr_startup(ApicMode::X2Apic, 0x100, 0x9E), 0x000001000000469Eu);
    EXPECT_EQ(icr_startup(ApicMode::X2Apic, 0xFFFFFFFE, 0x01) >> 32, 0xFFFFFFFEu);
}

TEST(Icr, FieldsByName) {
    const u64 v = icr_startup(ApicMode::XApic, 5, 0x9E);
    EXPECT_EQ(v & ICR_VECTOR_MASK, 0x9Eu);
    EXPECT_EQ(v & (u64{7} << ICR_DELIVERY_MODE_SHIFT), ICR_DELIVERY_STARTUP);
    EXPECT_EQ(v & ICR_DEST_MODE_LOGICAL, 0u); // physical
    EXPECT_EQ(v & ICR_DELIVERY_STATUS, 0u);   // read-only bit never written
    EXPECT_NE(v & ICR_LEVEL_ASSERT, 0u);
    EXPECT_EQ(v & ICR_TRIGGER_LEVEL, 0u);  // edge
    EXPECT_EQ(v & ICR_SHORTHAND_MASK, 0u); // no shorthand
    const u64 i = icr_init(ApicMode::X2Apic, 5);
    EXPECT_EQ(i & (u64{7} << ICR_DELIVERY_MODE_SHIFT), ICR_DELIVERY_INIT);
    EXPECT_EQ(i & ICR_VECTOR_MASK, 0u);
}

TEST(Icr, DestinationAddressable) {
    EXPECT_TRUE(icr_destination_ok(ApicMode::XApic, 0));
    EXPECT_TRUE(icr_destination_ok(ApicMode::XApic, 0xFE));
    EXPECT_FALSE(icr_destination_ok(ApicMode::XApic, 0xFF));  // broadcast
    EXPECT_FALSE(icr_destination_ok(ApicMode::XApic, 0x100)); // needs x2APIC
    EXPECT_TRUE(icr_destination_ok(ApicMode::X2Apic, 0x100));
    EXPECT_TRUE(icr_destination_ok(ApicMode::X2Apic, 0xFF));
    EXPECT_FALSE(icr_destination_ok(ApicMode::X2Apic, 0xFFFFFFFF));
    EXPECT_FALSE(icr_destination_ok(ApicMode::Disabled, 1));
}

// --- delays -------------------------------------------------------------------------------------------------------

TEST(TscTicks, Conversion) {
    EXPECT_EQ(tsc_ticks_for_us(2'400'000, 10'000), 24'000'000u); // 10 ms at 2.4 GHz
    EXPECT_EQ(tsc_ticks_for_us(2'400'000, 200), 480'000u);
    EXPECT_EQ(tsc_ticks_for_us(1, 1), 1u); // rounded up, never 0 for a non-zero delay
    EXPECT_EQ(tsc_ticks_for_us(2'400'000, 0), 0u);
    EXPECT_EQ(tsc_ticks_for_us(0, 100'000), TSC_KHZ_UNKNOWN_ASSUMED * 100); // unknown: assume 10 GHz
    EXPECT_EQ(tsc_ticks_for_us(UINT64_MAX / 2, 1000), UINT64_MAX);          // saturates
}

// --- the descriptor after the APs ---------------------------------------------------------------------------------

TEST(SmpDescFinalize, CompactsStartedCpus) {
    auto d = std::make_unique<evmm_desc_t>();
    std::memset(d.get(), 0, sizeof *d);
    d->num_cpus = 4;
    d->bsp_apic_id = 0;
    const u32 madt[] = {0, 1, 2, 3};
    std::memcpy(d->apic_ids, madt, sizeof madt);
    d->stacks_size = 4 * EVMM_STACK_BLOCK_SIZE;
    const u32 started[] = {0, 1, 3}; // APIC ID 2 did not answer: APIC ID 3 became cpu 2
    ASSERT_TRUE(smp_desc_finalize(*d, started, 3).ok());
    EXPECT_EQ(d->num_cpus, 3u);
    EXPECT_EQ(d->apic_ids[0], 0u);
    EXPECT_EQ(d->apic_ids[1], 1u);
    EXPECT_EQ(d->apic_ids[2], 3u);
    for (u32 i = 3; i < EVMM_MAX_CPUS; ++i) EXPECT_EQ(d->apic_ids[i], 0u) << i;
    EXPECT_EQ(d->stacks_size, 4 * EVMM_STACK_BLOCK_SIZE); // the region keeps its MADT-sized plan
}

TEST(SmpDescFinalize, Rejects) {
    auto d = std::make_unique<evmm_desc_t>();
    std::memset(d.get(), 0, sizeof *d);
    d->num_cpus = 2;
    d->bsp_apic_id = 4;
    d->apic_ids[0] = 4;
    d->apic_ids[1] = 0;
    const u32 wrong_bsp[] = {0};
    EXPECT_EQ(what(smp_desc_finalize(*d, wrong_bsp, 1)), "CPU 0 is not the BSP");
    const u32 ok[] = {4};
    EXPECT_FALSE(smp_desc_finalize(*d, ok, 0).ok());
    std::vector<u32> many(EVMM_MAX_CPUS + 1, 4);
    EXPECT_FALSE(smp_desc_finalize(*d, many.data(), EVMM_MAX_CPUS + 1).ok());
    EXPECT_EQ(d->num_cpus, 2u); // unchanged on error
    EXPECT_EQ(d->apic_ids[1], 0u);
    ASSERT_TRUE(smp_desc_finalize(*d, ok, 1).ok()); // the BSP alone
    EXPECT_EQ(d->num_cpus, 1u);
}

TEST(FormatApicIds, List) {
    char buf[64];
    const u32 ids[] = {0, 1, 2, 3};
    EXPECT_EQ(format_apic_ids(buf, sizeof buf, ids, 4), 10u);
    EXPECT_STREQ(buf, "0, 1, 2, 3");
    EXPECT_EQ(format_apic_ids(buf, sizeof buf, ids, 1), 1u);
    EXPECT_STREQ(buf, "0");
    EXPECT_EQ(format_apic_ids(buf, sizeof buf, ids, 0), 0u);
    EXPECT_STREQ(buf, "");
}

TEST(FormatApicIds, CutWithEllipsis) {
    std::vector<u32> ids(64);
    for (u32 i = 0; i < 64; ++i) ids[i] = 100 + i;
    char buf[20];
    const size_t n = format_apic_ids(buf, sizeof buf, ids.data(), 64);
    EXPECT_STREQ(buf, "100, 101, 102...");
    EXPECT_EQ(n, std::strlen(buf));
    // Exactly fitting: no ellipsis.
    const u32 two[] = {100, 101};
    char exact[9];
    EXPECT_EQ(format_apic_ids(exact, sizeof exact, two, 2), 8u);
    EXPECT_STREQ(exact, "100, 101");
    char tiny[1];
    EXPECT_EQ(format_apic_ids(tiny, sizeof tiny, two, 2), 0u);
    EXPECT_STREQ(tiny, "");
    EXPECT_EQ(format_apic_ids(nullptr, 0, two, 2), 0u);
}
