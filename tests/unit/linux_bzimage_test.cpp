// Unit tests for vmm/guest/boot/linux_bzimage: evmm as guest0's Linux boot loader (bzImage, 64-bit and 32-bit
// boot protocol). A fake bzImage (boot sector + setup header with chosen fields + patterned protected-mode payload)
// is built in memory; the zero page written for the guest is read back at the offsets boot.rst/zero-page.rst give,
// the boot page tables of the 64-bit entry are walked, and both entry states go through the VM-entry checks
// (vmm/vmentry_check). Runs under ASan/UBSan: a read past an image fails.
#include "vmm/guest/boot/linux_bzimage.h"

#include <gtest/gtest.h>

#include "arch/x86_64/cr.h"
#include "arch/x86_64/ept.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/vmx_controls.h"
#include "tests/unit/status_expect.h"
#include "vmm/vmx/vmentry_check.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace evmm {
namespace {

using test::str;

// ---------------------------------------------------------------------------------------------------------------
// Builders

u8 get8(const u8* b, size_t at) { return b[at]; }
u16 get16(const u8* b, size_t at) {
    u16 v;
    std::memcpy(&v, b + at, 2);
    return v;
}
u32 get32(const u8* b, size_t at) {
    u32 v;
    std::memcpy(&v, b + at, 4);
    return v;
}
u64 get64(const u8* b, size_t at) {
    u64 v;
    std::memcpy(&v, b + at, 8);
    return v;
}

constexpr u64 PREF = 16 * MiB;
constexpr u32 ALIGN_2M = 2 * MiB;
constexpr u32 KERNEL_BYTES = 0x3000; // protected-mode kernel, a multiple of 16
constexpr u32 INIT_SIZE = 4 * MiB;

// A bzImage: setup_sects 4 (+ boot sector), setup header at 0x1F1, payload byte i = (i * 7 + 3) & 0xFF.
struct Bz {
    u8 setup_sects = 4;
    u16 version = 0x020F; // 2.15
    u8 loadflags = LINUX_LOADED_HIGH;
    u8 jump_disp = 0x6A; // header ends at 0x26C, like kernels of protocol 2.15
    u32 syssize = KERNEL_BYTES / 16;
    u32 initrd_addr_max = 0x7FFFFFFF;
    u32 kernel_alignment = ALIGN_2M;
    u8 relocatable = 1;
    u16 xloadflags = LINUX_XLF_KERNEL_64 | LINUX_XLF_CAN_BE_LOADED_ABOVE_4G;
    u32 cmdline_size = 2047;
    u64 pref_address = PREF;
    u32 init_size = INIT_SIZE;
    u32 payload = KERNEL_BYTES; // bytes actually in the file after the setup sectors
    bool hdrs = true;
    u16 boot_flag = LINUX_BOOT_FLAG_MAGIC;

    std::vector<u8> build() const {
        const size_t setup = (size_t{setup_sects == 0 ? 4u : setup_sects} + 1) * 512;
        std::vector<u8> b(setup + payload, 0);
        auto p16 = [&](size_t at, u16 v) { std::memcpy(b.data() + at, &v, 2); };
        auto p32 = [&](size_t at, u32 v) { std::memcpy(b.data() + at, &v, 4); };
        auto p64 = [&](size_t at, u64 v) { std::memcpy(b.data() + at, &v, 8); };
        b[0x1F1] = setup_sects;
        p32(0x1F4, syssize);
        p16(0x1FA, 0xFFFF); // vid_mode "normal"
        p16(0x1FE, boot_flag);
        b[0x200] = 0xEB;
        b[0x201] = jump_disp;
        if (hdrs) p32(0x202, LINUX_HDRS_MAGIC);
        p16(0x206, version);
        b[0x210] = 0;
        b[0x211] = static_cast<u8>(loadflags | LINUX_CAN_USE_HEAP);
        p32(0x214, 0x100000); // code32_start default
        p16(0x224, 0xDE00);   // heap_end_ptr left by a real-mode loader
        p32(0x22C, initrd_addr_max);
        p32(0x230, kernel_alignment);
        b[0x234] = relocatable;
        b[0x235] = 21;
        p16(0x236, xloadflags);
        p32(0x238, cmdline_size);
        p64(0x258, pref_address);
        p32(0x260, init_size);
        p32(0x268, 0x12345); // kernel_info_offset: inside the header (ends 0x26C)
        b[0x270] = 0x5A;     // past the header end: must not reach the zero page
        for (u32 i = 0; i < payload; ++i) b[setup + i] = static_cast<u8>(i * 7 + 3);
        return b;
    }
};

Status inspect(const std::vector<u8>& img, LinuxImage& li) { return linux_inspect(img.data(), img.size(), li); }

// Guest memory: a buffer covering [0, size).
class BufMem final : public GuestMem {
public:
    explicit BufMem(u64 size = 64 * MiB) : buf(size, 0xCC) {}
    u8* map(u64 gpa, u64 len) override {
        if (gpa > buf.size() || len > buf.size() - gpa) return nullptr;
        return buf.data() + gpa;
    }
    std::vector<u8> buf;
};

// guest0's memory map: low RAM, the legacy hole, RAM from 1 MiB to 64 MiB (another layout when given).
struct GuestMap {
    evmm_mmap_entry_t storage[16];
    MemoryMap map{storage, 16};
    GuestMap() {
        EXPECT_TRUE(map.add(0, 0x9F000, EVMM_MEM_USABLE).ok());
        EXPECT_TRUE(map.add(0xF0000, 0x10000, EVMM_MEM_RESERVED).ok());
        EXPECT_TRUE(map.add(1 * MiB, 63 * MiB, EVMM_MEM_USABLE).ok());
    }
};

bool overlap(u64 a, u64 al, u64 b, u64 bl) { return ranges_overlap(a, al, b, bl); }

// ---------------------------------------------------------------------------------------------------------------
// Layout

TEST(LinuxLayout, OffsetsAreTheSpecs) {
    EXPECT_EQ(sizeof(LinuxBootParams), 4096u);
    EXPECT_EQ(offsetof(LinuxBootParams, e820_table) + 128 * 20, 0xCD0u);
    EXPECT_EQ(LINUX_HDR_OFFSET, 0x1F1u);
}

// ---------------------------------------------------------------------------------------------------------------
// is_bzimage / inspect

TEST(LinuxInspect, IsBzImage) {
    const auto img = Bz{}.build();
    EXPECT_TRUE(linux_is_bzimage(img.data(), img.size()));
    EXPECT_FALSE(linux_is_bzimage(img.data(), 0x205));
    EXPECT_FALSE(linux_is_bzimage(nullptr, 0));
    Bz no_hdrs;
    no_hdrs.hdrs = false;
    const auto a = no_hdrs.build();
    EXPECT_FALSE(linux_is_bzimage(a.data(), a.size()));
    Bz bad_flag;
    bad_flag.boot_flag = 0x1234;
    const auto b = bad_flag.build();
    EXPECT_FALSE(linux_is_bzimage(b.data(), b.size()));
}

TEST(LinuxInspect, ReadsTheHeader) {
    const auto img = Bz{}.build();
    LinuxImage li;
    ASSERT_OK(inspect(img, li));
    EXPECT_EQ(li.version, 0x020F);
    EXPECT_EQ(li.setup_sects, 4u);
    EXPECT_EQ(li.setup_size, 5u * 512);
    EXPECT_EQ(li.kernel_offset, 5u * 512);
    EXPECT_EQ(li.kernel_size, KERNEL_BYTES);
    EXPECT_EQ(li.header_end, 0x26Cu);
    EXPECT_TRUE(li.relocatable);
    EXPECT_EQ(li.kernel_alignment, ALIGN_2M);
    EXPECT_EQ(li.pref_address, PREF);
    EXPECT_EQ(li.init_size, INIT_SIZE);
    EXPECT_EQ(li.cmdline_size, 2047u);
    EXPECT_EQ(li.initrd_addr_max, 0x7FFFFFFFu);
    EXPECT_TRUE(li.has_64bit_entry);
    EXPECT_EQ(li.xloadflags, LINUX_XLF_KERNEL_64 | LINUX_XLF_CAN_BE_LOADED_ABOVE_4G);
}

TEST(LinuxInspect, SetupSectsZeroMeansFour) {
    Bz bz;
    bz.setup_sects = 0;
    const auto img = bz.build();
    LinuxImage li;
    ASSERT_OK(inspect(img, li));
    EXPECT_EQ(li.setup_sects, 4u);
    EXPECT_EQ(li.kernel_offset, 2560u);
}

TEST(LinuxInspect, HeaderEndClampedToBootParams) {
    Bz bz;
    bz.jump_disp = 0xFF; // 0x301: past 0x290
    const auto img = bz.build();
    LinuxImage li;
    ASSERT_OK(inspect(img, li));
    EXPECT_EQ(li.header_end, 0x290u);
}

TEST(LinuxInspect, OlderProtocolDefaults) {
    Bz bz;
    bz.version = 0x0206; // no pref_address/init_size/xloadflags
    const auto img = bz.build();
    LinuxImage li;
    ASSERT_OK(inspect(img, li));
    EXPECT_EQ(li.pref_address, 0x100000u);
    EXPECT_EQ(li.init_size, u64{KERNEL_BYTES} * 4);
    EXPECT_EQ(li.xloadflags, 0);
    EXPECT_FALSE(li.has_64bit_entry);
}

TEST(LinuxInspect, Errors) {
    LinuxImage li;
    {
        Bz bz;
        bz.hdrs = false;
        EXPECT_ERR(inspect(bz.build(), li), "HdrS", "header");
    }
    {
        Bz bz;
        bz.boot_flag = 0;
        EXPECT_ERR(inspect(bz.build(), li), "0xAA55", "boot_flag");
    }
    {
        Bz bz;
        bz.version = 0x0204;
        const Status s = inspect(bz.build(), li);
        EXPECT_ERR(s, "0x0206", "setup header version");
        EXPECT_EQ(s.value, 0x0204u);
        EXPECT_EQ(s.value2, 0x0206u);
    }
    {
        Bz bz;
        bz.loadflags = 0;
        EXPECT_ERR(inspect(bz.build(), li), "LOADED_HIGH", "loadflags");
    }
    {
        Bz bz;
        bz.payload = KERNEL_BYTES - 16; // syssize says more than the file holds
        EXPECT_ERR(inspect(bz.build(), li), "truncated", "syssize");
    }
    {
        Bz bz;
        bz.syssize = 0;
        EXPECT_ERR(inspect(bz.build(), li), "syssize is 0", "syssize");
    }
    {
        const auto img = Bz{}.build();
        EXPECT_ERR(linux_inspect(img.data(), 2000, li), "setup sectors", "setup_sects"); // cut inside setup
        EXPECT_ERR(linux_inspect(img.data(), 0x100, li), "too short", "setup header");
        EXPECT_ERR(linux_inspect(nullptr, 0, li), "too short", "setup header");
    }
    {
        Bz bz;
        bz.kernel_alignment = 0x300000;
        EXPECT_ERR(inspect(bz.build(), li), "power of two", "kernel_alignment");
    }
    {
        Bz bz;
        bz.pref_address = PREF + 0x1000;
        EXPECT_ERR(inspect(bz.build(), li), "aligned", "pref_address");
    }
    {
        Bz bz;
        bz.init_size = KERNEL_BYTES - 16;
        EXPECT_ERR(inspect(bz.build(), li), "smaller", "init_size");
    }
    EXPECT_EQ(li.version, 0); // a failed inspect leaves nothing behind
}

TEST(LinuxInspect, NonRelocatableNeedsNoPowerOfTwoAlignment) {
    Bz bz;
    bz.relocatable = 0;
    bz.kernel_alignment = 0;
    LinuxImage li;
    ASSERT_OK(inspect(bz.build(), li));
    EXPECT_FALSE(li.relocatable);
}

// ---------------------------------------------------------------------------------------------------------------
// Plan

LinuxImage inspected(const Bz& bz) {
    LinuxImage li;
    const auto img = bz.build();
    EXPECT_OK(inspect(img, li));
    return li;
}

void expect_disjoint(const LinuxPlan& p, const MemoryMap::Range* avoid, u32 n) {
    const MemoryMap::Range areas[] = {{p.kernel_addr, p.kernel_reserve},
                                      {p.zero_page, 4096},
                                      {p.cmdline_addr, p.cmdline_reserve},
                                      {p.initrd_addr, align_up(p.initrd_size, PAGE_SIZE)},
                                      {p.boot_tables, p.boot_tables != 0 ? LINUX_BOOT_TABLES_SIZE : 0}};
    constexpr u32 N = sizeof areas / sizeof areas[0];
    for (u32 i = 0; i < N; ++i) {
        if (areas[i].length != 0) {
            EXPECT_GE(areas[i].base, 1 * MiB) << i;
            EXPECT_LE(areas[i].base + areas[i].length, 4 * GiB) << i;
        }
        for (u32 j = i + 1; j < N; ++j)
            EXPECT_FALSE(overlap(areas[i].base, areas[i].length, areas[j].base, areas[j].length)) << i << " " << j;
        for (u32 a = 0; a < n; ++a)
            EXPECT_FALSE(overlap(areas[i].base, areas[i].length, avoid[a].base, avoid[a].length)) << i << " " << a;
    }
    EXPECT_TRUE(is_aligned(p.zero_page, PAGE_SIZE));
    EXPECT_TRUE(is_aligned(p.cmdline_addr, PAGE_SIZE));
    EXPECT_TRUE(is_aligned(p.initrd_addr, PAGE_SIZE));
    EXPECT_TRUE(is_aligned(p.boot_tables, PAGE_SIZE));
    EXPECT_EQ(p.boot_tables != 0, p.entry64 != 0);
}

TEST(LinuxPlan, PrefAddressWhenFree) {
    GuestMap g;
    const LinuxImage li = inspected(Bz{});
    const MemoryMap::Range avoid[] = {{2 * MiB, 1 * MiB}}; // guest0's bzImage module, say
    LinuxPlan p;
    ASSERT_OK(linux_plan(li, g.map, avoid, 1, 0, 10, p));
    EXPECT_EQ(p.kernel_addr, PREF);
    EXPECT_FALSE(p.relocated);
    EXPECT_EQ(p.kernel_reserve, INIT_SIZE);
    EXPECT_EQ(p.code32_start, PREF);
    EXPECT_EQ(p.entry64, PREF + 0x200);
    EXPECT_EQ(p.initrd_addr, 0u);
    EXPECT_EQ(p.initrd_size, 0u);
    EXPECT_EQ(p.zero_page, 1 * MiB); // lowest free page at or above 1 MiB
    EXPECT_EQ(p.cmdline_addr, 1 * MiB + 4096);
    EXPECT_EQ(p.cmdline_len, 10u);
    EXPECT_EQ(p.boot_tables, 1 * MiB + 2 * 4096); // 64-bit entry: right after the command line
    expect_disjoint(p, avoid, 1);
}

TEST(LinuxPlan, BootTablesOnlyForThe64BitEntry) {
    GuestMap g;
    Bz bz;
    bz.xloadflags = LINUX_XLF_CAN_BE_LOADED_ABOVE_4G; // no XLF_KERNEL_64
    LinuxPlan p;
    ASSERT_OK(linux_plan(inspected(bz), g.map, nullptr, 0, 0x1000, 10, p));
    EXPECT_EQ(p.entry64, 0u);
    EXPECT_EQ(p.boot_tables, 0u);
    EXPECT_EQ(p.code32_start, PREF);
    bz.version = 0x020B; // 2.11: xloadflags not read even when the bytes say XLF_KERNEL_64
    bz.xloadflags = LINUX_XLF_KERNEL_64;
    ASSERT_OK(linux_plan(inspected(bz), g.map, nullptr, 0, 0x1000, 10, p));
    EXPECT_EQ(p.entry64, 0u);
    EXPECT_EQ(p.boot_tables, 0u);
}

TEST(LinuxPlan, BootTablesAvoidEverything) {
    // Holes of 6 pages between the ranges to avoid: the 7 pages of tables go past them, clear of everything.
    GuestMap g;
    const LinuxImage li = inspected(Bz{});
    const MemoryMap::Range avoid[] = {{1 * MiB + 0x2000, 0x1000}, {1 * MiB + 0x9000, 0x1000}};
    LinuxPlan p;
    ASSERT_OK(linux_plan(li, g.map, avoid, 2, 3 * MiB, 100, p));
    EXPECT_EQ(p.zero_page, 1 * MiB);
    EXPECT_EQ(p.cmdline_addr, 1 * MiB + 0x1000);
    EXPECT_EQ(p.boot_tables, 1 * MiB + 0xA000);
    EXPECT_EQ(LINUX_BOOT_TABLES_SIZE, 0x7000u);
    expect_disjoint(p, avoid, 2);

    // Low RAM full: the tables go to the next usable entry, never inside the kernel's init_size range.
    evmm_mmap_entry_t st[8];
    MemoryMap m(st, 8);
    ASSERT_OK(m.add(1 * MiB, 0x8000, EVMM_MEM_USABLE));
    ASSERT_OK(m.add(PREF, INIT_SIZE + 0x6000, EVMM_MEM_USABLE));
    ASSERT_OK(m.add(PREF + INIT_SIZE + 0x6000, 0x1000, EVMM_MEM_RESERVED));
    ASSERT_OK(m.add(PREF + INIT_SIZE + 0x7000, 0x7000, EVMM_MEM_USABLE));
    ASSERT_OK(linux_plan(li, m, nullptr, 0, 0, 0, p));
    EXPECT_EQ(p.kernel_addr, PREF);
    EXPECT_EQ(p.boot_tables, PREF + INIT_SIZE + 0x7000);
    expect_disjoint(p, nullptr, 0);

    // No room for 7 pages anywhere: an error that says so.
    evmm_mmap_entry_t st2[8];
    MemoryMap small(st2, 8);
    ASSERT_OK(small.add(1 * MiB, 0x8000, EVMM_MEM_USABLE));
    ASSERT_OK(small.add(PREF, INIT_SIZE + 0x6000, EVMM_MEM_USABLE));
    EXPECT_ERR(linux_plan(li, small, nullptr, 0, 0, 0, p), "boot page tables", "memory map");
    EXPECT_EQ(p.boot_tables, 0u);
}

TEST(LinuxPlan, RelocatesWhenPrefIsTaken) {
    GuestMap g;
    const LinuxImage li = inspected(Bz{});
    const MemoryMap::Range avoid[] = {{PREF + 1 * MiB, 0x1000}, {1 * MiB, 0x2000}}; // a module inside the kernel area
    LinuxPlan p;
    ASSERT_OK(linux_plan(li, g.map, avoid, 2, 0, 0, p));
    EXPECT_TRUE(p.relocated);
    EXPECT_EQ(p.kernel_addr, PREF + 2 * MiB); // the next 2 MiB-aligned place past the module
    EXPECT_TRUE(is_aligned(p.kernel_addr, ALIGN_2M));
    EXPECT_EQ(p.entry64, p.kernel_addr + 0x200);
    EXPECT_EQ(p.zero_page, 1 * MiB + 0x2000);
    expect_disjoint(p, avoid, 2);
}

TEST(LinuxPlan, RelocatesWhenPrefIsNotRam) {
    evmm_mmap_entry_t st[8];
    MemoryMap m(st, 8);
    ASSERT_OK(m.add(1 * MiB, 15 * MiB, EVMM_MEM_USABLE));
    ASSERT_OK(m.add(16 * MiB, 4 * MiB, EVMM_MEM_RESERVED));
    ASSERT_OK(m.add(20 * MiB, 44 * MiB, EVMM_MEM_USABLE));
    const LinuxImage li = inspected(Bz{});
    LinuxPlan p;
    ASSERT_OK(linux_plan(li, m, nullptr, 0, 0, 0, p));
    EXPECT_EQ(p.kernel_addr, 20 * MiB);
    EXPECT_TRUE(p.relocated);
}

TEST(LinuxPlan, NeverRelocatesBelowPrefAddress) {
    // RAM below 16 MiB only: a relocatable kernel loaded below LOAD_PHYSICAL_ADDR would decompress over
    // [pref, pref + init_size) anyway.
    evmm_mmap_entry_t st[8];
    MemoryMap m(st, 8);
    ASSERT_OK(m.add(1 * MiB, 14 * MiB, EVMM_MEM_USABLE));
    const LinuxImage li = inspected(Bz{});
    LinuxPlan p;
    EXPECT_ERR(linux_plan(li, m, nullptr, 0, 0, 0, p), "no room for the kernel", "memory map");
}

TEST(LinuxPlan, RelocatesBelow16MiBWhenPrefIsLow) {
    // pref_address 2 MiB (CONFIG_PHYSICAL_START=0x200000), taken; RAM up to 12 MiB only.
    evmm_mmap_entry_t st[8];
    MemoryMap m(st, 8);
    ASSERT_OK(m.add(1 * MiB, 11 * MiB, EVMM_MEM_USABLE));
    Bz bz;
    bz.pref_address = 2 * MiB;
    const LinuxImage li = inspected(bz);
    const MemoryMap::Range avoid[] = {{3 * MiB, 0x1000}};
    LinuxPlan p;
    ASSERT_OK(linux_plan(li, m, avoid, 1, 0, 0, p));
    EXPECT_EQ(p.kernel_addr, 4 * MiB);
}

TEST(LinuxPlan, NonRelocatableThatDoesNotFit) {
    GuestMap g;
    Bz bz;
    bz.relocatable = 0;
    const LinuxImage li = inspected(bz);
    const MemoryMap::Range avoid[] = {{PREF + 1 * MiB, 0x1000}};
    LinuxPlan p;
    EXPECT_ERR(linux_plan(li, g.map, avoid, 1, 0, 0, p), "not relocatable", "pref_address");
    EXPECT_EQ(p.kernel_addr, 0u);
    ASSERT_OK(linux_plan(li, g.map, nullptr, 0, 0, 0, p)); // fits when nothing is in the way
    EXPECT_EQ(p.kernel_addr, PREF);
}

TEST(LinuxPlan, InitrdHighestBelowInitrdAddrMaxAvoidingModules) {
    GuestMap g;
    const LinuxImage li = inspected(Bz{});
    const MemoryMap::Range avoid[] = {{60 * MiB, 4 * MiB}}; // modules at the top of RAM
    LinuxPlan p;
    ASSERT_OK(linux_plan(li, g.map, avoid, 1, 5 * MiB + 1, 0, p));
    EXPECT_EQ(p.initrd_size, 5 * MiB + 1);
    EXPECT_EQ(p.initrd_addr + align_up(p.initrd_size, PAGE_SIZE), 60 * MiB); // right below the modules
    expect_disjoint(p, avoid, 1);

    Bz low;
    low.initrd_addr_max = 32 * MiB - 1; // the initrd's last byte at or below 32 MiB - 1
    const LinuxImage li2 = inspected(low);
    ASSERT_OK(linux_plan(li2, g.map, avoid, 1, 2 * MiB, 0, p));
    EXPECT_EQ(p.initrd_addr, 30 * MiB);
    EXPECT_LE(p.initrd_addr + p.initrd_size, u64{low.initrd_addr_max} + 1);
    expect_disjoint(p, avoid, 1);
}

TEST(LinuxPlan, InitrdTooLarge) {
    GuestMap g;
    const LinuxImage li = inspected(Bz{});
    LinuxPlan p;
    EXPECT_ERR(linux_plan(li, g.map, nullptr, 0, 60 * MiB, 0, p), "initrd too large", "");
    Bz low;
    low.initrd_addr_max = 8 * MiB - 1;
    EXPECT_ERR(linux_plan(inspected(low), g.map, nullptr, 0, 8 * MiB, 0, p), "initrd too large", "initrd_addr_max");
}

TEST(LinuxPlan, CmdlineTooLong) {
    GuestMap g;
    const LinuxImage li = inspected(Bz{});
    LinuxPlan p;
    EXPECT_ERR(linux_plan(li, g.map, nullptr, 0, 0, 2048, p), "command line too long", "cmdline_size");
    ASSERT_OK(linux_plan(li, g.map, nullptr, 0, 0, 2047, p));
    EXPECT_EQ(p.cmdline_reserve, 4096u);
}

TEST(LinuxPlan, ZeroPageAndCmdlineAvoidEverything) {
    GuestMap g;
    Bz bz;
    bz.cmdline_size = 0x7FFFFFFF;
    const LinuxImage li = inspected(bz);
    const MemoryMap::Range avoid[] = {{1 * MiB, 0x1800}, {1 * MiB + 0x3000, 0x1000}};
    LinuxPlan p;
    ASSERT_OK(linux_plan(li, g.map, avoid, 2, 4096, 5000, p));
    EXPECT_EQ(p.zero_page, 1 * MiB + 0x2000);
    EXPECT_EQ(p.cmdline_addr, 1 * MiB + 0x4000); // 2 pages (5001 bytes), past the second range
    EXPECT_EQ(p.cmdline_reserve, 0x2000u);
    expect_disjoint(p, avoid, 2);
}

TEST(LinuxPlan, BadInputs) {
    GuestMap g;
    const LinuxImage li = inspected(Bz{});
    LinuxPlan p;
    EXPECT_ERR(linux_plan(LinuxImage{}, g.map, nullptr, 0, 0, 0, p), "not inspected", "");
    EXPECT_ERR(linux_plan(li, g.map, nullptr, 1, 0, 0, p), "missing", "");
    const MemoryMap::Range wrap[] = {{~u64{0} - 5, 10}};
    EXPECT_ERR(linux_plan(li, g.map, wrap, 1, 0, 0, p), "wraps", "");
    static MemoryMap::Range many[LINUX_PLAN_MAX_AVOID + 1] = {};
    EXPECT_ERR(linux_plan(li, g.map, many, LINUX_PLAN_MAX_AVOID + 1, 0, 0, p), "too many", "");
}

// ---------------------------------------------------------------------------------------------------------------
// Load

struct Loaded {
    std::vector<u8> img = Bz{}.build();
    LinuxImage li;
    LinuxPlan plan;
    BufMem mem;
    GuestMap g;
    std::vector<u8> initrd;
    std::string cmdline = "console=ttyS0 root=/dev/ram0";
    evmm_mmap_entry_t e820[3] = {
        {0, 0x9F000, EVMM_MEM_USABLE, 0},
        {0xF0000, 0x10000, EVMM_MEM_RESERVED, 0},
        {1 * MiB, 63 * MiB, EVMM_MEM_USABLE, 0},
    };
    u8 rsdp[36] = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};

    explicit Loaded(const Bz& bz = Bz{}, u64 initrd_size = 0x2345) : img(bz.build()), initrd(initrd_size) {
        for (size_t i = 0; i < initrd.size(); ++i) initrd[i] = static_cast<u8>(i ^ 0x5A);
        EXPECT_OK(inspect(img, li));
        EXPECT_OK(linux_plan(li, g.map, nullptr, 0, initrd.size(), cmdline.size(), plan));
    }
    Status load(const u8* rs = nullptr, u64 rs_pa = 0) {
        return linux_load(img.data(), img.size(), li, plan, mem, initrd.empty() ? nullptr : initrd.data(),
                          initrd.size(), cmdline.data(), cmdline.size(), e820, 3, rs, rs_pa);
    }
    const u8* zp() { return mem.buf.data() + plan.zero_page; }
};

TEST(LinuxLoad, CopiesKernelInitrdCmdline) {
    Loaded t;
    ASSERT_OK(t.load());
    EXPECT_EQ(std::memcmp(t.mem.buf.data() + t.plan.kernel_addr, t.img.data() + t.li.kernel_offset, KERNEL_BYTES), 0);
    EXPECT_EQ(t.mem.buf[t.plan.kernel_addr + KERNEL_BYTES], 0xCC); // nothing past the kernel bytes
    EXPECT_EQ(std::memcmp(t.mem.buf.data() + t.plan.initrd_addr, t.initrd.data(), t.initrd.size()), 0);
    EXPECT_STREQ(reinterpret_cast<const char*>(t.mem.buf.data() + t.plan.cmdline_addr), t.cmdline.c_str());
}

TEST(LinuxLoad, BootParamsAtSpecOffsets) {
    Loaded t;
    ASSERT_OK(t.load(t.rsdp, 0xF5A10));
    const u8* zp = t.zp();
    // Loader fields.
    EXPECT_EQ(get8(zp, 0x210), 0xFF);                 // type_of_loader
    EXPECT_EQ(get32(zp, 0x214), t.plan.kernel_addr);  // code32_start
    EXPECT_EQ(get32(zp, 0x218), t.plan.initrd_addr);  // ramdisk_image
    EXPECT_EQ(get32(zp, 0x21C), t.initrd.size());     // ramdisk_size
    EXPECT_EQ(get32(zp, 0x228), t.plan.cmdline_addr); // cmd_line_ptr
    EXPECT_EQ(get32(zp, 0x0C0), 0u);                  // ext_ramdisk_image
    EXPECT_EQ(get32(zp, 0x0C4), 0u);                  // ext_ramdisk_size
    EXPECT_EQ(get32(zp, 0x0C8), 0u);                  // ext_cmd_line_ptr
    EXPECT_EQ(get64(zp, 0x070), 0xF5A10u);            // acpi_rsdp_addr (2.15 >= 2.14)
    EXPECT_EQ(get8(zp, 0x211), LINUX_LOADED_HIGH);    // loadflags: CAN_USE_HEAP cleared
    EXPECT_EQ(get16(zp, 0x224), 0u);                  // heap_end_ptr
    // e820.
    EXPECT_EQ(get8(zp, 0x1E8), 3u); // e820_entries
    for (u32 i = 0; i < 3; ++i) {
        EXPECT_EQ(get64(zp, 0x2D0 + 20 * i), t.e820[i].base) << i;
        EXPECT_EQ(get64(zp, 0x2D0 + 20 * i + 8), t.e820[i].length) << i;
        EXPECT_EQ(get32(zp, 0x2D0 + 20 * i + 16), t.e820[i].type) << i;
    }
    EXPECT_EQ(get32(zp, 0x2D0 + 20 * 3 + 16), 0u);
    // The setup header, copied from the image.
    EXPECT_EQ(get8(zp, 0x1F1), 4u);                 // setup_sects
    EXPECT_EQ(get32(zp, 0x1F4), KERNEL_BYTES / 16); // syssize
    EXPECT_EQ(get16(zp, 0x1FA), 0xFFFFu);           // vid_mode as the image has it
    EXPECT_EQ(get16(zp, 0x1FE), 0xAA55u);           // boot_flag kept
    EXPECT_EQ(get32(zp, 0x202), LINUX_HDRS_MAGIC);
    EXPECT_EQ(get16(zp, 0x206), 0x020Fu);
    EXPECT_EQ(get32(zp, 0x230), ALIGN_2M);  // kernel_alignment
    EXPECT_EQ(get32(zp, 0x238), 2047u);     // cmdline_size
    EXPECT_EQ(get64(zp, 0x258), PREF);      // pref_address
    EXPECT_EQ(get32(zp, 0x260), INIT_SIZE); // init_size
    EXPECT_EQ(get32(zp, 0x268), 0x12345u);  // kernel_info_offset (last field before 0x26C)
    EXPECT_EQ(get8(zp, 0x270), 0u);         // past the header end: not copied
    // Everything else zero.
    EXPECT_EQ(get8(zp, 0x1EF), 0u); // sentinel
    EXPECT_EQ(get32(zp, 0x000), 0u);
    for (size_t i = 0x2D0 + 60; i < 4096; ++i) ASSERT_EQ(zp[i], 0u) << i;
}

TEST(LinuxLoad, NoInitrdNoRsdpOldProtocol) {
    Bz bz;
    bz.version = 0x020C; // 2.12: no acpi_rsdp_addr
    Loaded t(bz, 0);
    ASSERT_OK(t.load(t.rsdp, 0xF5A10));
    EXPECT_EQ(get32(t.zp(), 0x218), 0u);
    EXPECT_EQ(get32(t.zp(), 0x21C), 0u);
    EXPECT_EQ(get64(t.zp(), 0x070), 0u);
    Loaded u;
    ASSERT_OK(u.load());
    EXPECT_EQ(get64(u.zp(), 0x070), 0u); // no RSDP given
}

TEST(LinuxLoad, EmptyCmdline) {
    Loaded t;
    t.cmdline.clear();
    ASSERT_OK(linux_plan(t.li, t.g.map, nullptr, 0, t.initrd.size(), 0, t.plan));
    ASSERT_OK(linux_load(t.img.data(), t.img.size(), t.li, t.plan, t.mem, t.initrd.data(), t.initrd.size(), nullptr, 0,
                         t.e820, 3, nullptr, 0));
    EXPECT_EQ(t.mem.buf[t.plan.cmdline_addr], 0u);
    EXPECT_EQ(get32(t.zp(), 0x228), t.plan.cmdline_addr);
}

// The longest line evmm's descriptor holds (EVMM_BOOT_MODULE_CMDLINE_MAX - 1 = 2047 characters) is the longest a
// kernel with the usual cmdline_size 2047 takes: copied whole, NUL after it, cmd_line_ptr at it.
TEST(LinuxLoad, LongestCmdlineArrivesWhole) {
    Loaded t;
    t.cmdline.clear();
    for (u32 i = 0; i < EVMM_BOOT_MODULE_CMDLINE_MAX - 1; ++i) t.cmdline += static_cast<char>('a' + i % 26);
    ASSERT_EQ(t.cmdline.size(), t.li.cmdline_size);
    ASSERT_OK(linux_plan(t.li, t.g.map, nullptr, 0, t.initrd.size(), t.cmdline.size(), t.plan));
    ASSERT_OK(t.load());
    EXPECT_STREQ(reinterpret_cast<const char*>(t.mem.buf.data() + t.plan.cmdline_addr), t.cmdline.c_str());
    EXPECT_EQ(get32(t.zp(), 0x228), t.plan.cmdline_addr);
    EXPECT_EQ(get32(t.zp(), 0x238), 2047u); // cmdline_size, as the kernel says
    // One more character is more than this kernel takes: refused, never cut.
    LinuxPlan p;
    EXPECT_ERR(linux_plan(t.li, t.g.map, nullptr, 0, 0, t.cmdline.size() + 1, p), "command line too long",
               "cmdline_size");
    // A kernel whose header says less (an old 255) refuses a line that evmm itself would pass.
    Bz small;
    small.cmdline_size = 255;
    const LinuxImage li255 = inspected(small);
    EXPECT_ERR(linux_plan(li255, t.g.map, nullptr, 0, 0, 256, p), "command line too long", "cmdline_size");
    EXPECT_OK(linux_plan(li255, t.g.map, nullptr, 0, 0, 255, p));
}

TEST(LinuxLoad, HighAreasUseExtFields) {
    // A hand-made plan with the initrd above 4 GiB: the upper halves go to ext_ramdisk_image/ext_cmd_line_ptr.
    class HighMem final : public GuestMem {
    public:
        std::vector<u8> low = std::vector<u8>(32 * MiB, 0);
        std::vector<u8> high = std::vector<u8>(1 * MiB, 0);
        u8* map(u64 gpa, u64 len) override {
            if (gpa >= 0x100000000 && gpa - 0x100000000 + len <= high.size()) return high.data() + (gpa - 0x100000000);
            if (gpa < low.size() && len <= low.size() - gpa) return low.data() + gpa;
            return nullptr;
        }
    } mem;
    Loaded t;
    t.plan.initrd_addr = 0x100000000 + 0x1000;
    ASSERT_OK(linux_load(t.img.data(), t.img.size(), t.li, t.plan, mem, t.initrd.data(), t.initrd.size(),
                         t.cmdline.data(), t.cmdline.size(), t.e820, 3, nullptr, 0));
    const u8* zp = mem.low.data() + t.plan.zero_page;
    EXPECT_EQ(get32(zp, 0x218), 0x1000u);
    EXPECT_EQ(get32(zp, 0x0C0), 1u);
    EXPECT_EQ(std::memcmp(mem.high.data() + 0x1000, t.initrd.data(), t.initrd.size()), 0);
}

TEST(LinuxLoad, Errors) {
    {
        Loaded t;
        u8 bad[36] = {'R', 'S', 'D', ' ', 'X'};
        EXPECT_ERR(t.load(bad, 0xF0000), "RSD PTR", "acpi_rsdp_addr");
    }
    {
        Loaded t;
        std::vector<evmm_mmap_entry_t> big(129, evmm_mmap_entry_t{1 * MiB, 4096, EVMM_MEM_USABLE, 0});
        EXPECT_ERR(linux_load(t.img.data(), t.img.size(), t.li, t.plan, t.mem, t.initrd.data(), t.initrd.size(),
                              t.cmdline.data(), t.cmdline.size(), big.data(), 129, nullptr, 0),
                   "more entries", "e820_table");
        // 128 is fine.
        EXPECT_OK(linux_load(t.img.data(), t.img.size(), t.li, t.plan, t.mem, t.initrd.data(), t.initrd.size(),
                             t.cmdline.data(), t.cmdline.size(), big.data(), 128, nullptr, 0));
        EXPECT_EQ(get8(t.zp(), 0x1E8), 128u);
    }
    {
        Loaded t;
        t.mem.buf.resize(8 * MiB); // the kernel at 16 MiB is not accessible
        EXPECT_ERR(t.load(), "not accessible", "guest0 kernel");
        EXPECT_EQ(t.mem.buf[t.plan.zero_page], 0xCC); // nothing written
    }
    {
        Loaded t;
        EXPECT_ERR(linux_load(t.img.data(), t.img.size(), t.li, t.plan, t.mem, t.initrd.data(), t.initrd.size() - 1,
                              t.cmdline.data(), t.cmdline.size(), t.e820, 3, nullptr, 0),
                   "initrd does not match", "plan");
        EXPECT_ERR(linux_load(t.img.data(), t.img.size(), t.li, t.plan, t.mem, t.initrd.data(), t.initrd.size(),
                              t.cmdline.data(), t.cmdline.size() + 1, t.e820, 3, nullptr, 0),
                   "command line does not match", "plan");
        LinuxPlan bad = t.plan;
        bad.zero_page = bad.kernel_addr;
        EXPECT_ERR(linux_load(t.img.data(), t.img.size(), t.li, bad, t.mem, t.initrd.data(), t.initrd.size(),
                              t.cmdline.data(), t.cmdline.size(), t.e820, 3, nullptr, 0),
                   "overlap", "plan");
    }
    {
        // Guest memory aliasing the image (the copy source): refused.
        Loaded t;
        class Alias final : public GuestMem {
        public:
            explicit Alias(std::vector<u8>& img, BufMem& m) : img_(img), m_(m) {}
            u8* map(u64 gpa, u64 len) override {
                if (gpa == 16 * MiB) return img_.data();
                return m_.map(gpa, len);
            }
            std::vector<u8>& img_;
            BufMem& m_;
        } alias(t.img, t.mem);
        EXPECT_ERR(linux_load(t.img.data(), t.img.size(), t.li, t.plan, alias, t.initrd.data(), t.initrd.size(),
                              t.cmdline.data(), t.cmdline.size(), t.e820, 3, nullptr, 0),
                   "copied from", "guest0 kernel");
    }
}

// The 64-bit entry's boot page tables, walked as the processor does (4-level paging, SDM Vol. 3A §4.5) in guest
// memory: the physical address `va` maps to (NOT_MAPPED when a level is not present), and the leaf's size.
constexpr u64 NOT_MAPPED = ~u64{0};
u64 walk(const std::vector<u8>& m, u64 cr3, u64 va, u64& leaf_size) {
    u64 table = cr3 & pte::ADDR_4K;
    for (int level = LEVEL_PML4; level >= LEVEL_PT; --level) {
        const u64 index = (va >> level_shift(level)) & (ENTRIES_PER_TABLE - 1);
        if (table + (index + 1) * 8 > m.size()) return NOT_MAPPED;
        const u64 e = get64(m.data(), table + index * 8);
        if (!(e & pte::P)) return NOT_MAPPED;
        if (level == LEVEL_PT || (level < LEVEL_PML4 && (e & pte::PS))) {
            leaf_size = level_span(level);
            return (e & pte::ADDR_4K & ~(leaf_size - 1)) | (va & (leaf_size - 1));
        }
        table = e & pte::ADDR_4K;
    }
    return NOT_MAPPED;
}

TEST(LinuxLoad, BootPageTablesMapFourGiBIdentity) {
    Loaded t;
    ASSERT_NE(t.plan.boot_tables, 0u);
    ASSERT_OK(t.load());
    const u8* bt = t.mem.buf.data() + t.plan.boot_tables;
    const u64 table = pte::P | pte::RW | pte::A;
    const u64 leaf = table | pte::D | pte::PS;
    // PML4[0] -> PDPT, PDPT[0..3] -> the four page directories, nothing else.
    EXPECT_EQ(get64(bt, 0), (t.plan.boot_tables + 0x1000) | table);
    for (u32 i = 1; i < 512; ++i) ASSERT_EQ(get64(bt, 8 * i), 0u) << "PML4 " << i;
    for (u32 i = 0; i < 512; ++i)
        ASSERT_EQ(get64(bt, 0x1000 + 8 * i), i < 4 ? (t.plan.boot_tables + 0x2000 + 0x1000 * i) | table : 0) << i;
    // 2048 PDEs: 2 MiB pages, identity.
    for (u64 n = 0; n < 2048; ++n) ASSERT_EQ(get64(bt, 0x2000 + 8 * n), (n << 21) | leaf) << "PDE " << n;

    // What boot.rst wants mapped: the kernel's init_size range, the zero page and the command line (and the
    // tables themselves, the initrd, the local APIC), all identity; nothing from 4 GiB.
    const u64 cr3 = t.plan.boot_tables;
    for (u64 va = t.plan.kernel_addr; va < t.plan.kernel_addr + t.plan.kernel_reserve; va += 2 * MiB) {
        u64 size = 0;
        ASSERT_EQ(walk(t.mem.buf, cr3, va, size), va);
    }
    const u64 vas[] = {0,
                       t.plan.entry64,
                       t.plan.kernel_addr + t.plan.kernel_reserve - 1,
                       t.plan.zero_page + 0x1F1,
                       t.plan.cmdline_addr + t.cmdline.size(),
                       t.plan.initrd_addr,
                       t.plan.boot_tables + LINUX_BOOT_GDT_OFFSET,
                       0xFEE00300,
                       4 * GiB - 1};
    for (u64 va : vas) {
        u64 size = 0;
        EXPECT_EQ(walk(t.mem.buf, cr3, va, size), va) << std::hex << va;
        EXPECT_EQ(size, 2 * MiB) << std::hex << va;
    }
    u64 size = 0;
    EXPECT_EQ(walk(t.mem.buf, cr3, 4 * GiB, size), NOT_MAPPED);

    // GDT: null, unused 0x08, __BOOT_CS 64-bit flat execute/read, __BOOT_DS flat read/write; the rest zero.
    const u8* gdt = bt + LINUX_BOOT_GDT_OFFSET;
    EXPECT_EQ(get64(gdt, 0x00), 0u);
    EXPECT_EQ(get64(gdt, 0x08), 0u);
    EXPECT_EQ(get64(gdt, 0x10), 0x00AF9B000000FFFFull); // G, L (not D), P, S, type 0xB
    EXPECT_EQ(get64(gdt, 0x18), 0x00CF93000000FFFFull); // G, D/B, P, S, type 0x3
    for (size_t i = 0x20; i < 4096; ++i) ASSERT_EQ(gdt[i], 0u) << i;
}

TEST(LinuxLoad, ThirtyTwoBitKernelGetsNoBootTables) {
    Bz bz;
    bz.xloadflags = 0;
    Loaded t(bz);
    ASSERT_EQ(t.plan.boot_tables, 0u);
    ASSERT_OK(t.load());
    // Zero page at 1 MiB, command line after it: the pages after those stay untouched.
    EXPECT_EQ(t.plan.cmdline_addr, 1 * MiB + 0x1000);
    for (u64 a = 1 * MiB + 0x2000; a < 1 * MiB + 0x2000 + LINUX_BOOT_TABLES_SIZE; ++a) ASSERT_EQ(t.mem.buf[a], 0xCC);
}

TEST(LinuxLoad, BootTablesErrors) {
    Loaded t;
    auto load = [&](const LinuxPlan& p, const LinuxImage& li) {
        return linux_load(t.img.data(), t.img.size(), li, p, t.mem, t.initrd.data(), t.initrd.size(), t.cmdline.data(),
                          t.cmdline.size(), t.e820, 3, nullptr, 0);
    };
    LinuxPlan bad = t.plan;
    bad.boot_tables = 0; // 64-bit entry without tables
    EXPECT_ERR(load(bad, t.li), "64-bit entry", "plan");
    bad = t.plan;
    bad.entry64 = 0; // tables without the 64-bit entry
    EXPECT_ERR(load(bad, t.li), "64-bit entry", "plan");
    bad = t.plan;
    bad.entry64 = bad.kernel_addr; // not kernel + 0x200
    EXPECT_ERR(load(bad, t.li), "64-bit entry", "plan");
    bad = t.plan;
    bad.boot_tables += 0x800; // not 4 KiB aligned
    EXPECT_ERR(load(bad, t.li), "64-bit entry", "plan");
    bad = t.plan;
    bad.boot_tables = 4 * GiB - 0x1000; // not below 4 GiB
    EXPECT_ERR(load(bad, t.li), "64-bit entry", "plan");
    LinuxImage no64 = t.li;
    no64.has_64bit_entry = false; // the kernel has no 64-bit entry
    EXPECT_ERR(load(t.plan, no64), "64-bit entry", "plan");
    bad = t.plan;
    bad.boot_tables = bad.zero_page;
    EXPECT_ERR(load(bad, t.li), "overlap", "plan");
    bad = t.plan;
    bad.boot_tables = t.mem.buf.size(); // past the end of guest memory
    EXPECT_ERR(load(bad, t.li), "not accessible", "boot page tables");
    EXPECT_EQ(t.mem.buf[t.plan.kernel_addr], 0xCC); // nothing written
}

// ---------------------------------------------------------------------------------------------------------------
// Entry state

TEST(LinuxEntry, ThirtyTwoBitBootProtocol) {
    evmm_gcpu_state_t s;
    std::memset(&s, 0xAB, sizeof s);
    linux_entry_state_32(s, 0x1000000, 0x101000);
    EXPECT_EQ(s.rip, 0x1000000u);
    EXPECT_EQ(s.gp[EVMM_GP_RSI], 0x101000u);
    EXPECT_EQ(s.gp[EVMM_GP_RBP], 0u);
    EXPECT_EQ(s.gp[EVMM_GP_RDI], 0u);
    EXPECT_EQ(s.gp[EVMM_GP_RBX], 0u);
    EXPECT_EQ(s.gp[EVMM_GP_RAX], 0u);
    EXPECT_EQ(s.rflags, 2u);             // IF clear
    EXPECT_EQ(s.cr0 & 1, 1u);            // PE
    EXPECT_EQ(s.cr0 & (1ull << 31), 0u); // PG off
    EXPECT_EQ(s.cr4, 0u);
    EXPECT_EQ(s.efer, 0u);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].selector, 0x10);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].attributes & 0xF, 0xBu); // execute/read, accessed
    for (u32 i : {EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_SS, EVMM_SEG_FS, EVMM_SEG_GS}) {
        EXPECT_EQ(s.seg[i].selector, 0x18) << i;
        EXPECT_EQ(s.seg[i].attributes & 0xF, 0x3u) << i; // read/write, accessed
    }
    for (u32 i : {EVMM_SEG_CS, EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_SS}) {
        EXPECT_EQ(s.seg[i].base, 0u) << i;
        EXPECT_EQ(s.seg[i].limit, 0xFFFFFFFFu) << i;
        EXPECT_NE(s.seg[i].attributes & (1u << 14), 0u) << i; // 32-bit
        EXPECT_NE(s.seg[i].attributes & (1u << 15), 0u) << i; // 4 KiB granularity
    }
}

TEST(LinuxEntry, SixtyFourBitBootProtocol) {
    evmm_gcpu_state_t s;
    std::memset(&s, 0xAB, sizeof s);
    linux_entry_state_64(s, 0x1000200, 0x101000, 0x103000);
    EXPECT_EQ(s.rip, 0x1000200u);
    EXPECT_EQ(s.gp[EVMM_GP_RSI], 0x101000u);
    for (u32 r : {EVMM_GP_RAX, EVMM_GP_RBX, EVMM_GP_RBP, EVMM_GP_RDI}) EXPECT_EQ(s.gp[r], 0u) << r;
    EXPECT_EQ(s.rflags, 2u); // IF clear
    EXPECT_EQ(s.cr0, CR0_PE | CR0_ET | CR0_PG);
    EXPECT_EQ(s.cr3, 0x103000u); // the PML4
    EXPECT_EQ(s.cr4, CR4_PAE);
    EXPECT_EQ(s.efer, EFER_LME | EFER_LMA);
    EXPECT_EQ(s.gdtr.base, 0x103000u + LINUX_BOOT_GDT_OFFSET);
    EXPECT_EQ(s.gdtr.limit, 0x1Fu); // 4 descriptors: up to __BOOT_DS
    EXPECT_EQ(s.seg[EVMM_SEG_CS].selector, 0x10);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].attributes, 0xA09Bu); // execute/read accessed, S, P, L, G; D/B clear
    for (u32 i : {EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_SS, EVMM_SEG_FS, EVMM_SEG_GS}) {
        EXPECT_EQ(s.seg[i].selector, 0x18) << i;
        EXPECT_EQ(s.seg[i].attributes, 0xC093u) << i; // read/write accessed, S, P, D/B, G
    }
    for (u32 i : {EVMM_SEG_CS, EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_SS}) {
        EXPECT_EQ(s.seg[i].base, 0u) << i;
        EXPECT_EQ(s.seg[i].limit, 0xFFFFFFFFu) << i;
    }
    EXPECT_EQ(s.seg[EVMM_SEG_TR].attributes & 0xF, 11u); // busy (64-bit) TSS
    EXPECT_EQ(s.seg[EVMM_SEG_TR].attributes & VMX_AR_UNUSABLE, 0u);
    EXPECT_NE(s.seg[EVMM_SEG_LDTR].attributes & VMX_AR_UNUSABLE, 0u);
}

// ---------------------------------------------------------------------------------------------------------------
// VM-entry checks: the entry states, loaded into a VMCS as vmm/vmx/vmcs_setup.cpp does for guest0, pass every check
// vmm/vmentry_check models (SDM Vol. 3C §27.2, §27.3).

u64 ctl_cap(u32 must_be_1, u32 may_be_1) { return (u64{may_be_1} << 32) | must_be_1; }

// VMX capabilities of a Skylake-class processor (TRUE control MSRs).
constexpr u64 CR4_CET = bit(23);
const VmxCapMsrs SKYLAKE_CAPS{
    .pinbased = ctl_cap(0x16, 0xFF),
    .procbased = ctl_cap(0x04006172, 0xFFF9FFFE),
    .procbased2 = ctl_cap(0, 0x00F7FFFF),
    .exit = ctl_cap(0x00036DFB, 0x01FFFFFF),
    .entry = ctl_cap(0x000011FB, 0x0003FFFF),
    .misc = 0x300481E5,
    .cr0_fixed0 = CR0_PE | CR0_NE | CR0_PG,
    .cr0_fixed1 = 0xFFFFFFFF,
    .cr4_fixed0 = CR4_VMXE,
    .cr4_fixed1 = 0x003727FF | CR4_CET,
    .ept_vpid_cap = 0x00000F0106734141ull,
    .vmfunc = 0,
    .phys_addr_bits = 39,
};

// guest0's VMCS with the entry state `st`: evmm's controls (EPT, VPID, unrestricted guest, EFER/PAT switched),
// evmm's 64-bit host, and the guest-state area as gcpu_load_guest_state writes it (CR0/CR4 with the VMX fixed
// bits, PE/PG exempt under unrestricted guest; "IA-32e mode guest" = EFER.LMA).
VmcsSnapshot guest0_vmcs(const evmm_gcpu_state_t& st, const VmxCapMsrs& c) {
    using F = VmcsField;
    VmcsSnapshot v{};
    for (F f : VMCS_FIELDS) v.set(f, 0);
    auto adjusted = [](u32 want, u64 msr) {
        u32 out = 0;
        EXPECT_OK(vmx_adjust_controls(want, msr, "controls", out));
        return u64{out};
    };
    const u32 entry =
        VM_ENTRY_LOAD_IA32_EFER | VM_ENTRY_LOAD_IA32_PAT | ((st.efer & EFER_LMA) != 0 ? VM_ENTRY_IA32E_MODE_GUEST : 0);
    const std::pair<F, u64> fields[] = {
        {F::PIN_BASED_VM_EXEC_CONTROLS, adjusted(PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING, c.pinbased)},
        {F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS,
         adjusted(PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_ACTIVATE_SECONDARY, c.procbased)},
        {F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
         adjusted(PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST, c.procbased2)},
        {F::VM_EXIT_CONTROLS, adjusted(VM_EXIT_HOST_ADDRESS_SPACE_SIZE | VM_EXIT_SAVE_IA32_EFER |
                                           VM_EXIT_LOAD_IA32_EFER | VM_EXIT_SAVE_IA32_PAT | VM_EXIT_LOAD_IA32_PAT,
                                       c.exit)},
        {F::VM_ENTRY_CONTROLS, adjusted(entry, c.entry)},
        {F::VIRTUAL_PROCESSOR_ID, 1},
        {F::EPT_POINTER, ept_make_eptp(0x7000000, false)},
        {F::IO_BITMAP_A_ADDR, 0x7001000},
        {F::IO_BITMAP_B_ADDR, 0x7002000},
        {F::MSR_BITMAPS_ADDR, 0x7003000},
        {F::VMCS_LINK_POINTER, VMCS_LINK_POINTER_NONE},
        // Host: evmm in 64-bit mode, higher half.
        {F::HOST_CR0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG},
        {F::HOST_CR3, 0x7004000},
        {F::HOST_CR4, CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_VMXE},
        {F::HOST_CS_SELECTOR, 0x08},
        {F::HOST_SS_SELECTOR, 0x10},
        {F::HOST_DS_SELECTOR, 0x10},
        {F::HOST_ES_SELECTOR, 0x10},
        {F::HOST_TR_SELECTOR, 0x18},
        {F::HOST_TR_BASE, 0xFFFF800000002000ull},
        {F::HOST_GDTR_BASE, 0xFFFF800000003000ull},
        {F::HOST_IDTR_BASE, 0xFFFF800000004000ull},
        {F::HOST_RSP, 0xFFFF800000010000ull},
        {F::HOST_RIP, 0xFFFF800000200000ull},
        {F::HOST_IA32_PAT, 0x0007040600070406ull},
        {F::HOST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE},
        // Guest.
        {F::GUEST_CR0, vmx_fixed_bits_apply(st.cr0, c.cr0_fixed0 & ~(CR0_PE | CR0_PG), c.cr0_fixed1)},
        {F::GUEST_CR3, st.cr3},
        {F::GUEST_CR4, vmx_fixed_bits_apply(st.cr4, c.cr4_fixed0, c.cr4_fixed1)},
        {F::GUEST_DR7, 0x400},
        {F::GUEST_RSP, st.gp[EVMM_GP_RSP]},
        {F::GUEST_RIP, st.rip},
        {F::GUEST_RFLAGS, st.rflags},
        {F::GUEST_GDTR_BASE, st.gdtr.base},
        {F::GUEST_GDTR_LIMIT, st.gdtr.limit},
        {F::GUEST_IDTR_BASE, st.idtr.base},
        {F::GUEST_IDTR_LIMIT, st.idtr.limit},
        {F::GUEST_IA32_PAT, 0x0007040600070406ull},
        {F::GUEST_IA32_EFER, st.efer},
    };
    for (const auto& [f, val] : fields) v.set(f, val);
    // Segment fields: the SDM encodings step by 2 in evmm_gcpu_state_t's order (ES, CS, SS, DS, FS, GS, LDTR, TR).
    for (u32 i = 0; i < EVMM_SEG_COUNT; ++i) {
        auto field = [i](F first) { return static_cast<F>(static_cast<u32>(first) + 2 * i); };
        v.set(field(F::GUEST_ES_SELECTOR), st.seg[i].selector);
        v.set(field(F::GUEST_ES_BASE), st.seg[i].base);
        v.set(field(F::GUEST_ES_LIMIT), st.seg[i].limit);
        v.set(field(F::GUEST_ES_ACCESS_RIGHTS), st.seg[i].attributes);
    }
    return v;
}

std::string vmentry_violations(const evmm_gcpu_state_t& st, const VmxCapMsrs& c) {
    Violation out[32];
    const u32 n = vmentry_check(guest0_vmcs(st, c), c, out, 32);
    std::string text;
    for (u32 i = 0; i < n && i < 32; ++i) {
        char line[256];
        vmentry_format_violation(out[i], line, sizeof line);
        text += std::string("\n  ") + line;
    }
    return text;
}

TEST(LinuxEntry, EntryStatesPassTheVmEntryChecks) {
    evmm_gcpu_state_t s64;
    linux_entry_state_64(s64, 0x1200200, 0x105000, 0x107000);
    EXPECT_EQ(vmentry_violations(s64, SKYLAKE_CAPS), "");
    // IA-32e mode really was checked: the same state with CS.D set, or TR a 16-bit TSS, is refused.
    evmm_gcpu_state_t bad = s64;
    bad.seg[EVMM_SEG_CS].attributes |= VMX_AR_DB;
    EXPECT_NE(vmentry_violations(bad, SKYLAKE_CAPS).find("guest.cs_db"), std::string::npos);
    bad = s64;
    bad.seg[EVMM_SEG_TR].attributes = (bad.seg[EVMM_SEG_TR].attributes & ~0xFu) | 3;
    EXPECT_NE(vmentry_violations(bad, SKYLAKE_CAPS).find("guest.tr"), std::string::npos);
    bad = s64;
    bad.cr4 = 0; // IA-32e mode without PAE
    EXPECT_NE(vmentry_violations(bad, SKYLAKE_CAPS), "");

    evmm_gcpu_state_t s32;
    linux_entry_state_32(s32, 0x1200000, 0x105000);
    EXPECT_EQ(vmentry_violations(s32, SKYLAKE_CAPS), "");
}

} // namespace
} // namespace evmm
