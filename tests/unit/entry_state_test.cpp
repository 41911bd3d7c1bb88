// Unit tests for vmm/guest/boot/entry_state: the Multiboot entry state and the state after INIT.
#include "vmm/guest/boot/entry_state.h"

#include <gtest/gtest.h>

#include <cstring>

#include "evmm_tee.h"
#include "lib/formats/multiboot_defs.h"

using namespace evmm;

namespace {

// VMX access-rights bits (Intel SDM Vol. 3C §25.4.1, Table 25-2).
constexpr u32 AR_TYPE_MASK = 0xF;
constexpr u32 AR_S = 1u << 4;
constexpr u32 AR_DPL_MASK = 3u << 5;
constexpr u32 AR_P = 1u << 7;
constexpr u32 AR_L = 1u << 13;
constexpr u32 AR_DB = 1u << 14;
constexpr u32 AR_G = 1u << 15;
constexpr u32 AR_UNUSABLE = 1u << 16;

} // namespace

TEST(GcpuMultiboot2Entry, Registers) {
    evmm_gcpu_state_t s;
    std::memset(&s, 0xA5, sizeof s);
    gcpu_multiboot2_entry_state(s);
    EXPECT_EQ(s.gp[EVMM_GP_RAX], 0x36d76289u);
    EXPECT_EQ(s.gp[EVMM_GP_RAX], u64{MB2_BOOT_MAGIC});
    for (u32 i = 1; i < EVMM_GP_COUNT; ++i) EXPECT_EQ(s.gp[i], 0u) << i; // EBX etc. left to the guest loader
    EXPECT_EQ(s.rip, 0u);
    EXPECT_TRUE(s.rflags & bit(1));   // reserved, always 1
    EXPECT_FALSE(s.rflags & bit(9));  // IF
    EXPECT_FALSE(s.rflags & bit(17)); // VM
    EXPECT_TRUE(s.cr0 & bit(0));      // PE
    EXPECT_FALSE(s.cr0 & bit(31));    // PG
    EXPECT_EQ(s.cr3, 0u);
    EXPECT_EQ(s.cr4, 0u);
    EXPECT_EQ(s.efer, 0u); // no long mode
}

TEST(GcpuMultiboot2Entry, FlatCodeAndDataSegments) {
    evmm_gcpu_state_t s;
    gcpu_multiboot2_entry_state(s);
    const evmm_segment_t& cs = s.seg[EVMM_SEG_CS];
    EXPECT_EQ(cs.base, 0u);
    EXPECT_EQ(cs.limit, 0xFFFFFFFFu);
    EXPECT_EQ(cs.attributes & AR_UNUSABLE, 0u);
    EXPECT_TRUE(cs.attributes & AR_P);
    EXPECT_TRUE(cs.attributes & AR_S);
    EXPECT_TRUE(cs.attributes & 0x8u);  // code
    EXPECT_TRUE(cs.attributes & AR_DB); // 32-bit
    EXPECT_FALSE(cs.attributes & AR_L);
    EXPECT_TRUE(cs.attributes & AR_G); // limit in pages, so 0xFFFFFFFF is consistent
    EXPECT_EQ(cs.attributes & AR_DPL_MASK, 0u);
    for (u32 i : {EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_FS, EVMM_SEG_GS, EVMM_SEG_SS}) {
        const evmm_segment_t& g = s.seg[i];
        EXPECT_EQ(g.base, 0u) << i;
        EXPECT_EQ(g.limit, 0xFFFFFFFFu) << i;
        EXPECT_EQ(g.attributes & AR_UNUSABLE, 0u) << i;
        EXPECT_TRUE(g.attributes & AR_P) << i;
        EXPECT_TRUE(g.attributes & AR_S) << i;
        EXPECT_FALSE(g.attributes & 0x8u) << i; // data
        EXPECT_TRUE(g.attributes & 0x2u) << i;  // writable
        EXPECT_TRUE(g.attributes & AR_DB) << i;
        EXPECT_TRUE(g.attributes & AR_G) << i;
        EXPECT_EQ(g.attributes & AR_DPL_MASK, 0u) << i;
        EXPECT_EQ(g.selector & 3u, 0u) << i; // RPL 0, like CS
    }
    EXPECT_EQ(cs.selector & 3u, 0u);
    EXPECT_NE(cs.selector, s.seg[EVMM_SEG_DS].selector);
}

TEST(GcpuMultiboot2Entry, TrUsableBusyTssLdtrUnusable) {
    evmm_gcpu_state_t s;
    gcpu_multiboot2_entry_state(s);
    const evmm_segment_t& tr = s.seg[EVMM_SEG_TR];
    EXPECT_EQ(tr.attributes & AR_UNUSABLE, 0u);    // VM entry needs a usable TR
    EXPECT_EQ(tr.attributes & AR_TYPE_MASK, 0xBu); // busy 32-bit TSS
    EXPECT_EQ(tr.attributes & AR_S, 0u);           // system segment
    EXPECT_TRUE(tr.attributes & AR_P);
    EXPECT_EQ(tr.attributes & AR_G, 0u);
    EXPECT_EQ(tr.limit & 0xFFF00000u, 0u); // G = 0: limit must fit 20 bits
    EXPECT_TRUE(s.seg[EVMM_SEG_LDTR].attributes & AR_UNUSABLE);
    EXPECT_EQ(s.gdtr.base, 0u);
    EXPECT_EQ(s.idtr.base, 0u);
}

// The INIT state a guest AP waits for its SIPI in (SDM Vol. 3A Table 10-1).
TEST(GcpuInitState, MatchesTheProcessorStateAfterInit) {
    evmm_gcpu_state_t s;
    gcpu_init_state(s, 0x906A5);
    EXPECT_EQ(s.cr0, 0x60000010u);
    EXPECT_EQ(s.rip, 0xFFF0u);
    EXPECT_EQ(s.rflags, 0x2u);
    EXPECT_EQ(s.gp[EVMM_GP_RDX], 0x906A5u);
    EXPECT_EQ(s.gp[EVMM_GP_RAX], 0u);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].selector, 0xF000u);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].base, 0xFFFF0000u);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].limit, 0xFFFFu);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].attributes & 0xF, 0xBu); // code, execute/read, accessed
    for (u32 i : {EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_SS, EVMM_SEG_FS, EVMM_SEG_GS}) {
        EXPECT_EQ(s.seg[i].selector, 0u);
        EXPECT_EQ(s.seg[i].base, 0u);
        EXPECT_EQ(s.seg[i].limit, 0xFFFFu);
        EXPECT_EQ(s.seg[i].attributes & 0x9F, 0x93u); // present, data, read/write, accessed
    }
    EXPECT_EQ(s.seg[EVMM_SEG_TR].attributes & 0x8F, 0x8Bu);   // present, 32-bit busy TSS (long mode needs it)
    EXPECT_EQ(s.seg[EVMM_SEG_LDTR].attributes & 0x8F, 0x82u); // present LDT
    EXPECT_EQ(s.gdtr.limit, 0xFFFFu);
    EXPECT_EQ(s.idtr.limit, 0xFFFFu);
    EXPECT_EQ(s.efer, 0u);
}

namespace {
TEST(GcpuTeeEntry, LongModeAtTheEntryWithTheContractRegisters) {
    evmm_gcpu_state_t s;
    gcpu_tee_entry_state(s, 0x40010123, 0x40000000, 16 * MiB, 2);
    EXPECT_EQ(s.rip, 0x40010123u);
    EXPECT_EQ(s.gp[EVMM_GP_RDI], 0x40000000u + EVMM_TEE_STARTUP_OFFSET);
    EXPECT_EQ(s.gp[EVMM_GP_RSI], 2u);
    EXPECT_EQ(s.gp[EVMM_GP_RSP], 0x40000000u + 16 * MiB - 2 * EVMM_TEE_STACK_SIZE);
    EXPECT_EQ(s.gp[EVMM_GP_RSP] % 16, 0u);
    EXPECT_EQ(s.cr3, 0x40000000u + EVMM_TEE_PT_OFFSET);
    EXPECT_EQ(s.gdtr.base, 0x40000000u + EVMM_TEE_GDT_OFFSET);
    EXPECT_EQ(s.gdtr.limit, 23u);
    EXPECT_EQ(s.efer, (1u << 8) | (1u << 10) | (1u << 11));
    EXPECT_EQ(s.cr4, 1u << 5);
    EXPECT_EQ(s.cr0 & 0x80000001u, 0x80000001u);
    EXPECT_EQ(s.rflags, 2u);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].selector, 0x08);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].attributes & (AR_L | AR_DB), AR_L);
    EXPECT_EQ(s.seg[EVMM_SEG_SS].selector, 0x10);
    EXPECT_EQ(s.seg[EVMM_SEG_DS].selector, 0x10);
}
} // namespace
