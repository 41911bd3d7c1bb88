// Unit tests for loader/tee_image: the TEE image's checks, the size and placement of its memory (barriers), and
// what the loader writes there (image relocated, seed, startup structure, GDT, identity page tables).
#include "loader/tee_image.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "arch/x86_64/paging.h"

namespace evmm {
namespace {

constexpr u64 ENTRY = 0x1000, DYN = 0x1800, RELA = 0x1900, SLOT = 0x1a00, ADDEND = 0x1234;

// A static PIE: one RWX PT_LOAD (file 0..0x2000, memsz `memsz`), PT_DYNAMIC with one relocation of type `rtype`.
std::vector<u8> tee_elf(u16 type = ET_DYN, u32 rtype = R_X86_64_RELATIVE, u64 memsz = 0x3000) {
    std::vector<u8> f(0x2000, 0);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, 4);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = type;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = ENTRY;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    Elf64_Phdr ph[2]{};
    ph[0] = Elf64_Phdr{PT_LOAD, PF_R | PF_W | PF_X, 0, 0, 0, 0x2000, memsz, 0x1000};
    ph[1] = Elf64_Phdr{PT_DYNAMIC, PF_R | PF_W, DYN, DYN, DYN, 4 * sizeof(Elf64_Dyn), 4 * sizeof(Elf64_Dyn), 8};
    std::memcpy(f.data(), &eh, sizeof eh);
    std::memcpy(f.data() + sizeof eh, ph, sizeof ph);
    const Elf64_Dyn dyn[4] = {
        {DT_RELA, RELA}, {DT_RELASZ, sizeof(Elf64_Rela)}, {DT_RELAENT, sizeof(Elf64_Rela)}, {DT_NULL, 0}};
    std::memcpy(f.data() + DYN, dyn, sizeof dyn);
    const Elf64_Rela r{SLOT, rtype, static_cast<i64>(ADDEND)};
    std::memcpy(f.data() + RELA, &r, sizeof r);
    return f;
}

std::string what(const Status& s) { return s.what ? s.what : ""; }

TEST(TeeImage, PlanMinimumSize) {
    const auto f = tee_elf();
    TeePlan p{};
    ASSERT_TRUE(tee_plan(f.data(), f.size(), 4, p).ok());
    EXPECT_EQ(p.size, EVMM_TEE_MIN_SIZE);
    EXPECT_EQ(p.image_span, 0x3000u);
}

TEST(TeeImage, PlanGrowsForABigImage) {
    const auto f = tee_elf(ET_DYN, R_X86_64_RELATIVE, 20 * MiB);
    TeePlan p{};
    ASSERT_TRUE(tee_plan(f.data(), f.size(), 2, p).ok());
    // 64 KiB + 20 MiB + 2 stacks, rounded up to 2 MiB.
    EXPECT_EQ(p.size, 22 * MiB);
}

TEST(TeeImage, PlanRefusesNonPie) {
    const auto f = tee_elf(ET_EXEC);
    TeePlan p{};
    const Status s = tee_plan(f.data(), f.size(), 1, p);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(what(s), "not a static PIE (ELF type is not ET_DYN)");
    std::vector<u8> junk(64, 0);
    EXPECT_FALSE(tee_plan(junk.data(), junk.size(), 1, p).ok());
    EXPECT_FALSE(tee_plan(f.data(), f.size(), 0, p).ok());
}

TEST(TeeImage, PlaceKeepsBarriersInUsableRam) {
    evmm_mmap_entry_t st[8];
    MemoryMap m(st, 8);
    ASSERT_TRUE(m.add(0, 0x9F000, EVMM_MEM_USABLE).ok());
    ASSERT_TRUE(m.add(0x100000, 0x7FF00000, EVMM_MEM_USABLE).ok()); // up to 2 GiB
    ASSERT_TRUE(m.normalize().ok());
    const MemoryMap::Range avoid[] = {{0x7E000000, 0x2000000}}; // the runtime region at the top
    u64 base = 0;
    ASSERT_TRUE(tee_place(m, 16 * MiB, 4 * GiB, avoid, 1, base).ok());
    EXPECT_EQ(base % EVMM_TEE_ALIGN, 0u);
    EXPECT_LE(base + 16 * MiB + EVMM_TEE_BARRIER, 0x7E000000u);
    EXPECT_EQ(base + 16 * MiB + 2 * MiB, 0x7E000000u); // highest fit
    EXPECT_GE(base - EVMM_TEE_BARRIER, 0x100000u);
}

TEST(TeeImage, PlaceNoRoom) {
    evmm_mmap_entry_t st[4];
    MemoryMap m(st, 4);
    ASSERT_TRUE(m.add(0x100000, 17 * MiB, EVMM_MEM_USABLE).ok());
    ASSERT_TRUE(m.normalize().ok());
    u64 base = 1;
    const Status s = tee_place(m, 16 * MiB, 4 * GiB, nullptr, 0, base);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(what(s), "no room in RAM for the TEE and its barriers");
    EXPECT_EQ(s.value, 16 * MiB);
    EXPECT_FALSE(tee_place(m, 3 * MiB, 4 * GiB, nullptr, 0, base).ok()); // not a multiple of 2 MiB
}

TEST(TeeImage, LoadWritesImageInfoPageAndPageTables) {
    const auto f = tee_elf();
    TeePlan p{};
    ASSERT_TRUE(tee_plan(f.data(), f.size(), 2, p).ok());
    std::vector<u8> mem(p.size, 0xCC);
    const u64 base = 0x40000000;
    u8 seed[EVMM_TEE_SEED_SIZE];
    for (u32 i = 0; i < EVMM_TEE_SEED_SIZE; ++i) seed[i] = static_cast<u8>(i * 7);
    u64 entry = 0;
    ASSERT_TRUE(tee_load(f.data(), f.size(), p, mem.data(), base, 2000000, seed, entry).ok());
    EXPECT_EQ(entry, base + EVMM_TEE_IMAGE_OFFSET + ENTRY);
    u64 slot = 0;
    std::memcpy(&slot, mem.data() + EVMM_TEE_IMAGE_OFFSET + SLOT, 8);
    EXPECT_EQ(slot, base + EVMM_TEE_IMAGE_OFFSET + ADDEND);
    evmm_tee_seed_t sd{};
    std::memcpy(&sd, mem.data(), sizeof sd);
    EXPECT_EQ(sd.size_of_this_struct, sizeof(evmm_tee_seed_t));
    EXPECT_EQ(sd.version, 1u);
    EXPECT_EQ(std::memcmp(sd.seed, seed, sizeof seed), 0);
    evmm_tee_startup_info_t si{};
    std::memcpy(&si, mem.data() + EVMM_TEE_STARTUP_OFFSET, sizeof si);
    EXPECT_EQ(si.size_of_this_struct, sizeof(evmm_tee_startup_info_t));
    EXPECT_EQ(si.mem_size, p.size);
    EXPECT_EQ(si.calibrate_tsc_per_ms, 2000000u);
    EXPECT_EQ(si.trusty_mem_base, base);
    EXPECT_EQ(si.sipi_ap_wkup_addr, 0u);
    u64 gdt[3];
    std::memcpy(gdt, mem.data() + EVMM_TEE_GDT_OFFSET, sizeof gdt);
    EXPECT_EQ(gdt[0], 0u);
    EXPECT_EQ(gdt[1], TEE_GDT[1]);
    EXPECT_EQ(gdt[2], TEE_GDT[2]);
    // Walk the page tables (physical = base + offset into mem) for a few addresses: identity, 2 MiB leaves.
    auto entry_at = [&](u64 pa) {
        u64 e = 0;
        std::memcpy(&e, mem.data() + (pa - base), 8);
        return e;
    };
    for (u64 va : {u64{0}, u64{0xFEE00000}, base + 0x123456, u64{4 * GiB - 1}}) {
        const u64 pml4e = entry_at(base + EVMM_TEE_PT_OFFSET + 8 * ((va >> 39) & 511));
        ASSERT_TRUE(pml4e & pte::P);
        const u64 pdpte = entry_at((pml4e & pte::ADDR_4K) + 8 * ((va >> 30) & 511));
        ASSERT_TRUE(pdpte & pte::P);
        ASSERT_FALSE(pdpte & pte::PS);
        const u64 pde = entry_at((pdpte & pte::ADDR_4K) + 8 * ((va >> 21) & 511));
        ASSERT_TRUE((pde & (pte::P | pte::RW | pte::PS)) == (pte::P | pte::RW | pte::PS));
        EXPECT_EQ((pde & pte::ADDR_2M) + (va & (2 * MiB - 1)), va);
    }
    // The rest of the memory is zeroed (the heap and the stacks).
    EXPECT_EQ(mem[p.size - 1], 0);
    EXPECT_EQ(mem[EVMM_TEE_IMAGE_OFFSET + 0x2800], 0); // bss
}

TEST(TeeImage, LoadRefusesOtherRelocationsAndBadRanges) {
    const auto f = tee_elf(ET_DYN, 1 /* R_X86_64_64 */);
    TeePlan p{};
    ASSERT_TRUE(tee_plan(f.data(), f.size(), 1, p).ok());
    std::vector<u8> mem(p.size, 0);
    u8 seed[EVMM_TEE_SEED_SIZE] = {};
    u64 entry = 0;
    EXPECT_FALSE(tee_load(f.data(), f.size(), p, mem.data(), 0x40000000, 1, seed, entry).ok());
    const auto good = tee_elf();
    EXPECT_FALSE(tee_load(good.data(), good.size(), p, mem.data(), 0x40100000, 1, seed, entry).ok()); // not aligned
    EXPECT_FALSE(tee_load(good.data(), good.size(), p, mem.data(), 4 * GiB, 1, seed, entry).ok());    // above 4 GiB
}

} // namespace
} // namespace evmm
