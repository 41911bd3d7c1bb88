// fallback=boot-guest0's plan (vmm/guest/native_boot.h): descriptors from the entry states evmm's guest loaders
// build, the registers, and the far-return frames.
#include "vmm/guest/native_boot.h"

#include <gtest/gtest.h>

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "vmm/guest/boot/entry_state.h"
#include "vmm/guest/boot/linux_bzimage.h"
#include "vmm/guest/boot/multiboot2_guest.h"

using namespace evmm;

namespace {

// The descriptors every x86 reference lists for flat 4 GiB segments (SDM Vol. 3A §3.4.5).
constexpr u64 FLAT_CODE32 = 0x00CF9B000000FFFFull; // base 0, limit 0xFFFFF pages, G, D, P, code exec/read accessed
constexpr u64 FLAT_DATA32 = 0x00CF93000000FFFFull; // same, data read/write accessed
constexpr u64 FLAT_CODE64 = 0x00AF9B000000FFFFull; // L instead of D

struct Plan {
    u64 gdt[NATIVE_GDT_ENTRIES];
    u64 own[NATIVE_FRAME_WORDS] = {};
    u64 below_stack = 0;
    NativeBoot nb{};
    Status st = Status::success();
    explicit Plan(const evmm_gcpu_state_t& s, u64 own_addr = 0x1fa40000, u64 gdt_addr = 0x1fa41000) {
        const u64 rsp = s.gp[EVMM_GP_RSP];
        st = native_boot_plan(s, gdt, gdt_addr, NativeFrameSpace{own, own_addr},
                              NativeFrameSpace{rsp != 0 ? &below_stack : nullptr, rsp - 8}, nb);
    }
};

TEST(NativeBoot, DescriptorsOfFlatSegments) {
    evmm_gcpu_state_t s;
    gcpu_multiboot2_entry_state(s);
    EXPECT_EQ(gdt_descriptor_of(s.seg[EVMM_SEG_CS]), FLAT_CODE32);
    EXPECT_EQ(gdt_descriptor_of(s.seg[EVMM_SEG_DS]), FLAT_DATA32);
    evmm_segment_t odd{0x12345678, 0xABCDE, 0x93, 0x10, {}}; // byte granular: base and limit split as in Figure 3-8
    EXPECT_EQ(gdt_descriptor_of(odd), 0x120A93345678BCDEull);
}

TEST(NativeBoot, Multiboot2EntryIs32BitWithItsSelectors) {
    evmm_gcpu_state_t s;
    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    Plan p(s);
    ASSERT_TRUE(p.st.ok()) << p.st.what;
    EXPECT_EQ(p.nb.long_mode, 0u);
    EXPECT_EQ(p.gdt[s.seg[EVMM_SEG_CS].selector >> 3], FLAT_CODE32);
    EXPECT_EQ(p.gdt[s.seg[EVMM_SEG_DS].selector >> 3], FLAT_DATA32);
    EXPECT_EQ(p.gdt[NATIVE_COMPAT_CS_INDEX], FLAT_CODE32); // the switch out of IA-32e mode runs on a 32-bit one
    EXPECT_EQ(p.nb.compat_cs, NATIVE_COMPAT_CS);
    EXPECT_EQ(p.nb.gp[EVMM_GP_RAX], 0x36D76289u); // the Multiboot2 magic
    EXPECT_EQ(p.nb.gp[EVMM_GP_RBX], 0x100000u);
    EXPECT_EQ(p.nb.cr0 & (CR0_PE | CR0_PG), CR0_PE);
    EXPECT_EQ(p.nb.efer, 0u);
    EXPECT_EQ(p.nb.gdtr.base, 0x1fa41000u);
    EXPECT_EQ(p.nb.gdtr.limit, NATIVE_GDT_ENTRIES * 8 - 1);
    // No stack in the state (Multiboot leaves ESP undefined): the 32-bit LRET frame (EIP, CS) in evmm's memory.
    EXPECT_EQ(p.nb.frame, 0x1fa40000u);
    EXPECT_EQ(p.own[0], 0x1000038u | (u64{s.seg[EVMM_SEG_CS].selector} << 32));
}

TEST(NativeBoot, StackOfTheStateGetsTheFrame) {
    evmm_gcpu_state_t s;
    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    s.gp[EVMM_GP_RSP] = 0x90000;
    Plan p(s);
    ASSERT_TRUE(p.st.ok()) << p.st.what;
    EXPECT_EQ(p.nb.frame, 0x90000u - 8); // after the LRET, ESP is the state's
    EXPECT_EQ(p.below_stack, 0x1000038u | (u64{s.seg[EVMM_SEG_CS].selector} << 32));
}

TEST(NativeBoot, Linux64BitEntryIsIretqWithTheBootSelectors) {
    evmm_gcpu_state_t s;
    linux_entry_state_64(s, 0x1200200, 0x105000, 0x80000);
    s.gp[EVMM_GP_RSP] = 0; // the 64-bit boot protocol gives no stack
    Plan p(s);
    ASSERT_TRUE(p.st.ok()) << p.st.what;
    EXPECT_EQ(p.nb.long_mode, 1u);
    EXPECT_EQ(p.gdt[LINUX_BOOT_CS >> 3], FLAT_CODE64);
    EXPECT_EQ(p.gdt[LINUX_BOOT_DS >> 3], FLAT_DATA32);
    EXPECT_EQ(p.nb.gp[EVMM_GP_RSI], 0x105000u); // boot_params
    EXPECT_EQ(p.nb.cr3, s.cr3);
    EXPECT_EQ(p.nb.efer, EFER_LME); // LMA is the processor's
    EXPECT_EQ(p.nb.frame, 0x1fa40000u);
    EXPECT_EQ(p.own[0], 0x1200200u);    // RIP
    EXPECT_EQ(p.own[1], LINUX_BOOT_CS); // CS
    EXPECT_EQ(p.own[2], s.rflags);      // RFLAGS
    EXPECT_EQ(p.own[4], LINUX_BOOT_DS); // SS
}

TEST(NativeBoot, RefusesWhatItCannotEnter) {
    evmm_gcpu_state_t s;
    gcpu_init_state(s, 0x806F1); // real mode (an AP after INIT)
    EXPECT_FALSE(Plan(s).st.ok());

    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    s.cr0 |= CR0_PG; // 32-bit paging
    EXPECT_FALSE(Plan(s).st.ok());

    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    s.seg[EVMM_SEG_DS].selector = 0x0C; // TI = 1: the LDT
    EXPECT_FALSE(Plan(s).st.ok());

    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    s.seg[EVMM_SEG_DS].selector = NATIVE_COMPAT_CS; // the plan's own code segment
    EXPECT_FALSE(Plan(s).st.ok());

    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    s.seg[EVMM_SEG_DS].selector = s.seg[EVMM_SEG_CS].selector; // one selector, two descriptors
    EXPECT_FALSE(Plan(s).st.ok());

    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    s.seg[EVMM_SEG_CS].selector = 0; // null CS
    EXPECT_FALSE(Plan(s).st.ok());

    mb2_guest_entry_state(s, 0x1000038, 0x100000);
    s.rip = 0x100000000ull; // a 32-bit entry above 4 GiB
    EXPECT_FALSE(Plan(s).st.ok());
}

} // namespace
