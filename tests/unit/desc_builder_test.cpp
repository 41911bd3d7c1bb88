// Unit tests for loader/desc_builder: the runtime-region plan and evmm_desc_t construction.
#include "loader/desc_builder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "loader/entry_defs.h"

using namespace evmm;

namespace {

constexpr u32 U = EVMM_MEM_USABLE;
constexpr u32 R = EVMM_MEM_RESERVED;
constexpr u32 A = EVMM_MEM_ACPI_RECLAIMABLE;

std::string what(const Status& s) { return s.what ? s.what : "<ok>"; }

void check_layout(u64 vmm_span, u64 symtab_size, u32 cpus) {
    SCOPED_TRACE("vmm_span=" + std::to_string(vmm_span) + " symtab=" + std::to_string(symtab_size) +
                 " cpus=" + std::to_string(cpus));
    RuntimeLayout L{};
    ASSERT_TRUE(runtime_layout_plan(vmm_span, symtab_size, cpus, L).ok());
    // 2 MiB aligned and sized, and the smallest such size.
    EXPECT_NE(L.size, 0u);
    EXPECT_EQ(L.size % RUNTIME_ALIGN, 0u);
    const u64 min_heap = HEAP_BASE_SIZE + u64{cpus} * HEAP_PER_CPU_SIZE;
    EXPECT_GE(L.heap_size, min_heap);
    EXPECT_LT(L.heap_size, min_heap + RUNTIME_ALIGN);
    // Documented order: VMM image | symbol table | evmm_desc_t | stacks | heap, no overlap, all page aligned.
    EXPECT_EQ(L.vmm_offset, 0u);
    EXPECT_GE(L.vmm_size, vmm_span);
    EXPECT_EQ(L.vmm_size % PAGE_SIZE, 0u);
    EXPECT_GE(L.symtab_offset, L.vmm_offset + L.vmm_size);
    EXPECT_EQ(L.symtab_size, symtab_size);
    EXPECT_GE(L.desc_offset, L.symtab_offset + L.symtab_size);
    EXPECT_GE(L.stacks_offset, L.desc_offset + sizeof(evmm_desc_t));
    EXPECT_EQ(L.stacks_size, u64{cpus} * EVMM_STACK_BLOCK_SIZE);
    EXPECT_GE(L.heap_offset, L.stacks_offset + L.stacks_size);
    EXPECT_EQ(L.heap_offset + L.heap_size, L.size); // the heap takes the rest
    for (u64 off : {L.symtab_offset, L.desc_offset, L.stacks_offset, L.heap_offset})
        EXPECT_EQ(off % PAGE_SIZE, 0u) << off;
    EXPECT_EQ(L.heap_offset % PAGE_SIZE, 0u);
    // Nothing wasted between the parts beyond page rounding.
    EXPECT_LT(L.heap_offset, align_up(vmm_span, PAGE_SIZE) + align_up(symtab_size, PAGE_SIZE) +
                                 align_up(sizeof(evmm_desc_t), PAGE_SIZE) + L.stacks_size + PAGE_SIZE);
}

} // namespace

TEST(RuntimeLayout, PlansAlignedOrderedParts) {
    check_layout(0x12345, 0x3456, 1);
    check_layout(PAGE_SIZE, 0, 1);
    check_layout(1, 1, 2);
    check_layout(0x200000, 0x1000, 4);
    check_layout(3 * MiB + 17, 0x20001, 8);
    check_layout(0x80000, 0x4000, EVMM_MAX_CPUS);
    check_layout(RUNTIME_REGION_LIMIT, 0, 1);
}

TEST(RuntimeLayout, ExactValuesForOneCpu) {
    RuntimeLayout L{};
    ASSERT_TRUE(runtime_layout_plan(0x10001, 0x1800, 1, L).ok());
    EXPECT_EQ(L.vmm_size, 0x11000u);
    EXPECT_EQ(L.symtab_offset, 0x11000u);
    EXPECT_EQ(L.desc_offset, 0x13000u);
    EXPECT_EQ(L.stacks_offset, 0x13000u + align_up(sizeof(evmm_desc_t), PAGE_SIZE));
    EXPECT_EQ(L.heap_offset, L.stacks_offset + EVMM_STACK_BLOCK_SIZE);
    EXPECT_EQ(L.size, 4 * MiB); // < 2 MiB of parts + 2.25 MiB of heap rounds up to 4 MiB
}

TEST(RuntimeLayout, NoSymtabTakesNoSpace) {
    RuntimeLayout L{};
    ASSERT_TRUE(runtime_layout_plan(0x5000, 0, 1, L).ok());
    EXPECT_EQ(L.symtab_size, 0u);
    EXPECT_EQ(L.desc_offset, 0x5000u);
}

TEST(RuntimeLayout, HeapGrowsWithCpus) {
    RuntimeLayout one{}, many{};
    ASSERT_TRUE(runtime_layout_plan(0x100000, 0x1000, 1, one).ok());
    ASSERT_TRUE(runtime_layout_plan(0x100000, 0x1000, 32, many).ok());
    EXPECT_GE(many.heap_size, HEAP_BASE_SIZE + 32 * HEAP_PER_CPU_SIZE);
    EXPECT_GT(many.size, one.size);
}

TEST(RuntimeLayout, UnpackAreaIsTheHeapsStart) {
    RuntimeLayout L{};
    ASSERT_TRUE(runtime_layout_plan(0x3d000, 0x6000, 1, L, 194880).ok());
    EXPECT_EQ(L.unpack_offset, L.heap_offset);
    EXPECT_EQ(L.unpack_size, align_up(194880, PAGE_SIZE));
    EXPECT_LE(L.unpack_offset + L.unpack_size, L.size);
    RuntimeLayout none{};
    ASSERT_TRUE(runtime_layout_plan(0x3d000, 0x6000, 1, none).ok());
    EXPECT_EQ(none.unpack_size, 0u);
    EXPECT_EQ(none.size, L.size); // a VMM file of ~190 KiB fits the heap every region has
}

TEST(RuntimeLayout, HeapHoldsALargeUnpackArea) {
    // An unpack area larger than the minimum heap: the heap (and the region) grow to hold it.
    RuntimeLayout L{};
    const u64 big = HEAP_BASE_SIZE + HEAP_PER_CPU_SIZE + 5 * MiB + 1;
    ASSERT_TRUE(runtime_layout_plan(0x3d000, 0x6000, 1, L, big).ok());
    EXPECT_GE(L.heap_size, align_up(big, PAGE_SIZE));
    EXPECT_LE(L.unpack_offset + L.unpack_size, L.size);
    EXPECT_EQ(L.size % RUNTIME_ALIGN, 0u);
    EXPECT_EQ(what(runtime_layout_plan(0x3d000, 0, 1, L, RUNTIME_REGION_LIMIT + 1)), "bad unpack size");
}

TEST(RuntimeLayout, RejectsBadInputs) {
    RuntimeLayout L{};
    Status s = runtime_layout_plan(0x10000, 0, 0, L);
    EXPECT_EQ(what(s), "bad CPU count");
    EXPECT_EQ(L.size, 0u);
    s = runtime_layout_plan(0x10000, 0, EVMM_MAX_CPUS + 1, L);
    EXPECT_EQ(what(s), "bad CPU count");
    EXPECT_EQ(s.value, EVMM_MAX_CPUS + 1);
    s = runtime_layout_plan(0, 0, 1, L);
    EXPECT_EQ(what(s), "bad VMM image size");
    EXPECT_EQ(L.size, 0u);
    s = runtime_layout_plan(RUNTIME_REGION_LIMIT + 1, 0, 1, L);
    EXPECT_EQ(what(s), "bad VMM image size");
    s = runtime_layout_plan(0x10000, RUNTIME_REGION_LIMIT + 1, 1, L);
    EXPECT_EQ(what(s), "bad symbol table size");
    s = runtime_layout_plan(0x10000, UINT64_MAX, 1, L); // must not wrap into a "valid" small layout
    EXPECT_FALSE(s.ok());
}

namespace {

// A typical machine: low RAM, the legacy hole, RAM up to 2 GiB, ACPI tables, an MMIO hole, RAM above 4 GiB.
// Given out of order so the builder's sorting shows.
struct Machine {
    evmm_mmap_entry_t storage[EVMM_MAX_MMAP]{};
    MemoryMap map{storage, EVMM_MAX_MMAP};
    RuntimeLayout layout{};
    std::vector<u32> apic_ids{4, 0, 2, 6};
    std::vector<LoaderBootModule> modules;
    DescInputs in{};
    static constexpr u64 kRuntimeBase = 0x40000000; // 1 GiB, inside [1 MiB, 2 GiB) usable

    Machine() {
        EXPECT_TRUE(map.add(0x100000000, 0x40000000, U).ok());
        EXPECT_TRUE(map.add(0x100000, 0x7FF00000, U).ok());
        EXPECT_TRUE(map.add(0, 0x9F000, U).ok());
        EXPECT_TRUE(map.add(0x9F000, 0x61000, R).ok());
        EXPECT_TRUE(map.add(0x80000000, 0x100000, A).ok());
        EXPECT_TRUE(map.add(0xFEC00000, 0x1000, R).ok());
        EXPECT_TRUE(runtime_layout_plan(0x30123, 0x2000, 4, layout).ok());
        modules = {
            {0x2000000, 0x1000, "initrd", "some args"},
            {0x3000000, 0x200000, "guest0", "console=ttyS0 quiet"},
            {0x4000000, 0x10, "data", ""},
        };
        in.options = evmm_options_t{.log_level = EVMM_LOG_DEBUG,
                                    .vtdtest = 0,
                                    .forceexits = 0,
                                    .console = EVMM_CONSOLE_BOTH,
                                    .serial_port = 0x3F8,
                                    .testexit = EVMM_TESTEXIT_QEMU,
                                    .crashtest = EVMM_CRASHTEST_NONE,
                                    .fallback = EVMM_FALLBACK_STOP,
                                    .reserved = {}};
        in.cmdline = "log=debug serial=0x3f8";
        in.num_cpus = static_cast<u32>(apic_ids.size());
        in.apic_ids = apic_ids.data();
        in.tsc_khz = 2'400'000;
        in.tsc_source = EVMM_TSC_SOURCE_CPUID15;
        in.memory = &map;
        in.runtime_base = kRuntimeBase;
        in.layout = &layout;
        in.vmm_file = evmm_file_info_t{0x1800000, 0x31000, 0xDEAD, 0xBEEF, 0xF00D};
        in.loader_file = evmm_file_info_t{0x100000, 0x80000, 0x100000, 0x80000, 0x100040};
        in.vmm_entry_offset = 0x1230;
        in.acpi_rsdp = 0xF5A10;
        in.mb2_info = 0x10000;
        in.efi_system_table = 0;
        set_modules();
    }
    void set_modules() {
        in.boot_modules = modules.data();
        in.boot_module_count = static_cast<u32>(modules.size());
    }
};

std::unique_ptr<evmm_desc_t> new_desc() {
    auto d = std::make_unique<evmm_desc_t>();
    std::memset(d.get(), 0xA5, sizeof *d); // the builder must fill everything
    return d;
}

struct E {
    u64 base, length;
    u32 type;
};

void expect_mmap(const evmm_desc_t& d, std::initializer_list<E> want) {
    ASSERT_EQ(d.guest0_mmap_count, want.size());
    u32 i = 0;
    for (const E& w : want) {
        EXPECT_EQ(d.guest0_mmap[i].base, w.base) << "entry " << i;
        EXPECT_EQ(d.guest0_mmap[i].length, w.length) << "entry " << i;
        EXPECT_EQ(d.guest0_mmap[i].type, w.type) << "entry " << i;
        ++i;
    }
}

} // namespace

TEST(DescBuild, HeaderCpusAndMemoryTop) {
    Machine m;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->magic, EVMM_DESC_MAGIC);
    EXPECT_EQ(d->version, EVMM_DESC_VERSION);
    EXPECT_EQ(d->size, sizeof(evmm_desc_t));
    EXPECT_EQ(d->num_cpus, 4u);
    EXPECT_EQ(d->bsp_apic_id, 4u); // apic_ids[0] is the BSP
    EXPECT_EQ(d->apic_ids[0], 4u);
    EXPECT_EQ(d->apic_ids[1], 0u);
    EXPECT_EQ(d->apic_ids[2], 2u);
    EXPECT_EQ(d->apic_ids[3], 6u);
    for (u32 i = 4; i < EVMM_MAX_CPUS; ++i) EXPECT_EQ(d->apic_ids[i], 0u) << i;
    EXPECT_EQ(d->top_of_memory, 0x140000000u);
    EXPECT_EQ(d->tsc_khz, 2'400'000u);
    EXPECT_EQ(d->tsc_source, EVMM_TSC_SOURCE_CPUID15);
    EXPECT_EQ(d->acpi_rsdp, 0xF5A10u);
    EXPECT_EQ(d->mb2_info, 0x10000u);
    EXPECT_EQ(d->efi_system_table, 0u);
    EXPECT_EQ(d->reserved0, 0u);
    EXPECT_EQ(d->reserved1, 0u);
}

TEST(DescBuild, RuntimeRegionAndFilesFromLayout) {
    Machine m;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    const RuntimeLayout& L = m.layout;
    const u64 base = Machine::kRuntimeBase;
    EXPECT_EQ(d->runtime_base, base);
    EXPECT_EQ(d->runtime_size, L.size);
    EXPECT_EQ(d->stacks_base, base + L.stacks_offset);
    EXPECT_EQ(d->stacks_size, 4u * EVMM_STACK_BLOCK_SIZE);
    EXPECT_EQ(d->heap_base, base + L.heap_offset);
    EXPECT_EQ(d->heap_size, L.heap_size);
    EXPECT_EQ(d->symtab_addr, base + L.symtab_offset);
    EXPECT_EQ(d->symtab_size, 0x2000u);

    EXPECT_EQ(d->vmm_file.load_addr, 0x1800000u); // kept from the input
    EXPECT_EQ(d->vmm_file.load_size, 0x31000u);
    EXPECT_EQ(d->vmm_file.runtime_addr, base + L.vmm_offset); // computed, input ignored
    EXPECT_EQ(d->vmm_file.runtime_size, L.vmm_size);
    EXPECT_EQ(d->vmm_file.entry, base + L.vmm_offset + 0x1230);
    EXPECT_EQ(std::memcmp(&d->loader_file, &m.in.loader_file, sizeof d->loader_file), 0);
}

TEST(DescBuild, NoSymtabMeansZeroAddress) {
    Machine m;
    ASSERT_TRUE(runtime_layout_plan(0x30123, 0, 4, m.layout).ok());
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->symtab_addr, 0u);
    EXPECT_EQ(d->symtab_size, 0u);
}

TEST(DescBuild, OptionsAndCmdlineCopied) {
    Machine m;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->options.log_level, EVMM_LOG_DEBUG);
    EXPECT_EQ(d->options.serial_port, 0x3F8u);
    EXPECT_EQ(d->options.testexit, EVMM_TESTEXIT_QEMU);
    EXPECT_EQ(d->options.crashtest, EVMM_CRASHTEST_NONE);
    EXPECT_STREQ(d->cmdline, "log=debug serial=0x3f8");
    for (size_t i = std::strlen(d->cmdline); i < EVMM_CMDLINE_MAX; ++i) EXPECT_EQ(d->cmdline[i], '\0') << i;
}

TEST(DescBuild, NullCmdlineIsEmpty) {
    Machine m;
    m.in.cmdline = nullptr;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_STREQ(d->cmdline, "");
}

TEST(DescBuild, LongCmdlineIsTruncatedAndTerminated) {
    Machine m;
    std::string longline(EVMM_CMDLINE_MAX + 50, 'c');
    m.in.cmdline = longline.c_str();
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(std::string(d->cmdline), std::string(EVMM_CMDLINE_MAX - 1, 'c'));
}

TEST(DescBuild, ModulesCopiedAndGuest0Found) {
    Machine m;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->boot_module_count, 3u);
    EXPECT_EQ(d->guest0_boot_module, 1u);
    EXPECT_EQ(d->boot_modules[0].start, 0x2000000u);
    EXPECT_EQ(d->boot_modules[0].size, 0x1000u);
    EXPECT_STREQ(d->boot_modules[0].role, "initrd");
    EXPECT_STREQ(d->boot_modules[0].cmdline, "some args");
    EXPECT_EQ(d->boot_modules[1].start, 0x3000000u);
    EXPECT_EQ(d->boot_modules[1].size, 0x200000u);
    EXPECT_STREQ(d->boot_modules[1].role, "guest0");
    EXPECT_STREQ(d->boot_modules[1].cmdline, "console=ttyS0 quiet");
    EXPECT_STREQ(d->boot_modules[2].role, "data");
    EXPECT_STREQ(d->boot_modules[2].cmdline, "");
    for (u32 i = 3; i < EVMM_MAX_BOOT_MODULES; ++i) {
        EXPECT_EQ(d->boot_modules[i].start, 0u) << i;
        EXPECT_EQ(d->boot_modules[i].role[0], '\0') << i;
    }
}

TEST(DescBuild, NoGuest0) {
    Machine m;
    m.modules = {{0x2000000, 0x1000, "guest00", ""}, {0x3000000, 0x1000, "guest", ""}};
    m.set_modules();
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->guest0_boot_module, UINT32_MAX);

    m.modules.clear();
    m.in.boot_modules = nullptr;
    m.in.boot_module_count = 0;
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->boot_module_count, 0u);
    EXPECT_EQ(d->guest0_boot_module, UINT32_MAX);
}

TEST(DescBuild, TwoGuest0ModulesIsAnError) {
    Machine m;
    m.modules.push_back({0x5000000, 0x1000, "guest0", "again"});
    m.set_modules();
    auto d = new_desc();
    Status s = desc_build(m.in, *d);
    EXPECT_EQ(what(s), "two guest0 modules");
    EXPECT_EQ(s.value, 1u);
    EXPECT_EQ(s.value2, 3u);
}

TEST(DescBuild, ModuleArgsLimit) {
    Machine m;
    std::string fits(EVMM_BOOT_MODULE_CMDLINE_MAX - 1, 'a');
    m.modules[2].args = fits.c_str();
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(std::string(d->boot_modules[2].cmdline), fits);

    std::string too_long(EVMM_BOOT_MODULE_CMDLINE_MAX, 'a');
    m.modules[2].args = too_long.c_str();
    Status s = desc_build(m.in, *d);
    EXPECT_EQ(what(s), "module command line too long");
    EXPECT_EQ(s.value, 2u);

    std::string way_too_long(4 * EVMM_BOOT_MODULE_CMDLINE_MAX, 'b');
    m.modules[2].args = way_too_long.c_str();
    EXPECT_EQ(what(desc_build(m.in, *d)), "module command line too long");
}

// Version 6: boot-module command lines of up to 2047 characters (Linux's COMMAND_LINE_SIZE with the NUL). The
// descriptor grew to 37128 bytes, 10 pages of the runtime region, and the plan leaves room for all of it; version 9's
// screen makes it 37216 bytes, version 10's 16-byte options 37224, still 10 pages (version 11 reuses 4 reserved bytes).
TEST(DescBuild, LongestModuleArgsAndTheDescriptorsSize) {
    EXPECT_EQ(EVMM_DESC_VERSION, 11u);
    EXPECT_EQ(EVMM_BOOT_MODULE_CMDLINE_MAX, 2048u);
    EXPECT_EQ(sizeof(evmm_boot_module_t), 2080u);
    EXPECT_EQ(sizeof(evmm_desc_t), 37224u);
    RuntimeLayout L{};
    ASSERT_TRUE(runtime_layout_plan(0x30000, 0x6000, 1, L).ok());
    EXPECT_EQ(L.stacks_offset - L.desc_offset, 10 * PAGE_SIZE);
    EXPECT_GE(L.stacks_offset - L.desc_offset, sizeof(evmm_desc_t));

    Machine m;
    std::string longest;
    for (u32 i = 0; i < EVMM_BOOT_MODULE_CMDLINE_MAX - 1; ++i) longest += static_cast<char>('a' + i % 26);
    m.modules[0].args = longest.c_str();
    m.modules[2].args = longest.c_str();
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->size, 37224u);
    EXPECT_EQ(std::string(d->boot_modules[0].cmdline), longest);
    EXPECT_EQ(std::string(d->boot_modules[2].cmdline), longest);
    EXPECT_EQ(d->boot_modules[2].cmdline[EVMM_BOOT_MODULE_CMDLINE_MAX - 1], '\0');
}

TEST(DescBuild, LongRoleIsTruncatedNotMatched) {
    Machine m;
    std::string role = "guest0" + std::string(EVMM_ROLE_MAX + 4, 'x');
    m.modules[1].role = role.c_str();
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(std::string(d->boot_modules[1].role), role.substr(0, EVMM_ROLE_MAX - 1));
    EXPECT_EQ(d->guest0_boot_module, UINT32_MAX);
}

TEST(DescBuild, RejectsBadCounts) {
    Machine m;
    auto d = new_desc();
    m.in.num_cpus = 0;
    EXPECT_EQ(what(desc_build(m.in, *d)), "bad CPU count");
    std::vector<u32> ids(EVMM_MAX_CPUS + 1, 0);
    m.in.apic_ids = ids.data();
    m.in.num_cpus = EVMM_MAX_CPUS + 1;
    EXPECT_EQ(what(desc_build(m.in, *d)), "bad CPU count");
    m.in.num_cpus = EVMM_MAX_CPUS;
    EXPECT_TRUE(desc_build(m.in, *d).ok());

    Machine m2;
    std::vector<LoaderBootModule> many(EVMM_MAX_BOOT_MODULES + 1, LoaderBootModule{0x1000, 0x1000, "x", ""});
    m2.in.boot_modules = many.data();
    m2.in.boot_module_count = EVMM_MAX_BOOT_MODULES + 1;
    EXPECT_EQ(what(desc_build(m2.in, *d)), "too many modules");
    m2.in.boot_module_count = EVMM_MAX_BOOT_MODULES;
    EXPECT_TRUE(desc_build(m2.in, *d).ok());
}

TEST(DescBuild, RejectsMissingLayoutOrMap) {
    Machine m;
    auto d = new_desc();
    m.in.layout = nullptr;
    EXPECT_FALSE(desc_build(m.in, *d).ok());
    Machine m2;
    m2.in.memory = nullptr;
    EXPECT_FALSE(desc_build(m2.in, *d).ok());
}

TEST(DescBuild, Guest0MapHasRuntimeRegionRemoved) {
    Machine m;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    const u64 rb = Machine::kRuntimeBase, re = rb + m.layout.size;
    // Sorted; the [1 MiB, 2 GiB) usable range is split in two around the runtime region.
    expect_mmap(*d, {
                        {0, 0x9F000, U},
                        {0x9F000, 0x61000, R},
                        {0x100000, rb - 0x100000, U},
                        {re, 0x80000000 - re, U},
                        {0x80000000, 0x100000, A},
                        {0xFEC00000, 0x1000, R},
                        {0x100000000, 0x40000000, U},
                    });
    for (u32 i = 0; i < d->guest0_mmap_count; ++i) {
        const evmm_mmap_entry_t& e = d->guest0_mmap[i];
        EXPECT_FALSE(ranges_overlap(e.base, e.length, rb, m.layout.size)) << "entry " << i;
        if (i > 0) {
            EXPECT_GE(e.base, d->guest0_mmap[i - 1].base + d->guest0_mmap[i - 1].length) << i;
        }
    }
    for (u32 i = d->guest0_mmap_count; i < EVMM_MAX_MMAP; ++i) EXPECT_EQ(d->guest0_mmap[i].length, 0u) << i;
}

TEST(DescBuild, RuntimeRegionAtStartOfRange) {
    Machine m;
    m.in.runtime_base = 0x100000000; // the start of the high RAM range: no split, just trimmed
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    const u64 re = 0x100000000 + m.layout.size;
    ASSERT_EQ(d->guest0_mmap_count, 6u);
    EXPECT_EQ(d->guest0_mmap[5].base, re);
    EXPECT_EQ(d->guest0_mmap[5].length, 0x140000000 - re);
    EXPECT_EQ(d->top_of_memory, 0x140000000u); // the firmware map's top, runtime region included
}

TEST(DescBuild, MapThatCannotBeSplitIsAnError) {
    // A full map whose runtime region sits inside one usable range: removing it needs one more entry.
    evmm_mmap_entry_t storage[EVMM_MAX_MMAP]{};
    MemoryMap map{storage, EVMM_MAX_MMAP};
    for (u32 i = 0; i < EVMM_MAX_MMAP; ++i) ASSERT_TRUE(map.add(u64{i} * 0x10000000, 0x8000000, (i % 2) ? A : U).ok());
    Machine m;
    m.in.memory = &map;
    m.in.runtime_base = 0x400000; // inside entry 0 [0, 128 MiB)
    auto d = new_desc();
    EXPECT_FALSE(desc_build(m.in, *d).ok());
}

TEST(DescBuild, NoTrampolineByDefault) {
    Machine m;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->trampoline_base, 0u);
    EXPECT_EQ(d->guest0_mmap[0].base, 0u); // low memory untouched
    EXPECT_EQ(d->guest0_mmap[0].length, 0x9F000u);
}

TEST(DescBuild, AcpiPowerCopiedAsItIs) {
    Machine m;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->acpi_power.pm1a_cnt, 0u); // none given: power-off not watched
    m.in.acpi_power = evmm_acpi_power_t{0xB004, 0x1234, 1, 5, 6, 0};
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->acpi_power.pm1a_cnt, 0xB004u);
    EXPECT_EQ(d->acpi_power.pm1b_cnt, 0x1234u);
    EXPECT_EQ(d->acpi_power.s5_valid, 1u);
    EXPECT_EQ(d->acpi_power.s5_slp_typ_a, 5u);
    EXPECT_EQ(d->acpi_power.s5_slp_typ_b, 6u);
    EXPECT_EQ(d->acpi_pm1a_sts, 0u);
    m.in.acpi_pm1a_sts = 0xB000;
    m.in.acpi_pm1b_sts = 0x1200;
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->acpi_pm1a_sts, 0xB000u);
    EXPECT_EQ(d->acpi_pm1b_sts, 0x1200u);
    EXPECT_EQ(d->version, EVMM_DESC_VERSION);
}

TEST(DescBuild, ScreenCopiedAsItIsAndNoneIsAllZero) {
    Machine m;
    auto d = new_desc();
    m.in.screen.addr = 0xB8000; // type none: nothing of it is recorded
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->screen.type, EVMM_SCREEN_NONE);
    EXPECT_EQ(d->screen.addr, 0u);
    EXPECT_EQ(d->screen.text_addr, 0u);
    EXPECT_EQ(d->options.console, EVMM_CONSOLE_BOTH);
    m.in.screen = evmm_screen_t{.addr = 0x80000000,
                                .pitch = 5120,
                                .width = 1280,
                                .height = 800,
                                .bpp = 32,
                                .type = EVMM_SCREEN_RGB,
                                .red_pos = 16,
                                .red_size = 8,
                                .green_pos = 8,
                                .green_size = 8,
                                .blue_pos = 0,
                                .blue_size = 8,
                                .cursor_row = 7,
                                .text_addr = 0x2a0000,
                                .text_cols = 160,
                                .text_rows = 50,
                                .reserved = 0};
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(std::memcmp(&d->screen, &m.in.screen, sizeof(evmm_screen_t)), 0);
}

TEST(DescBuild, TrampolinePageRecordedAndHiddenFromGuest0) {
    Machine m;
    m.in.trampoline_base = 0x9E000;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    EXPECT_EQ(d->trampoline_base, 0x9E000u);
    EXPECT_EQ(offsetof(evmm_desc_t, trampoline_base), offsetof(evmm_desc_t, loader_entry_tsc) + 8);
    const u64 rb = Machine::kRuntimeBase, re = rb + m.layout.size;
    // [0, 0x9F000) usable loses its last-but-one page: a hole, not a reserved entry.
    expect_mmap(*d, {
                        {0, 0x9E000, U},
                        {0x9F000, 0x61000, R},
                        {0x100000, rb - 0x100000, U},
                        {re, 0x80000000 - re, U},
                        {0x80000000, 0x100000, A},
                        {0xFEC00000, 0x1000, R},
                        {0x100000000, 0x40000000, U},
                    });
    for (u32 i = 0; i < d->guest0_mmap_count; ++i)
        EXPECT_FALSE(ranges_overlap(d->guest0_mmap[i].base, d->guest0_mmap[i].length, 0x9E000, PAGE_SIZE)) << i;
}

TEST(DescBuild, TrampolineInsideUsableRangeSplitsIt) {
    Machine m;
    m.in.trampoline_base = 0x8000;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    ASSERT_GE(d->guest0_mmap_count, 2u);
    EXPECT_EQ(d->guest0_mmap[0].base, 0u);
    EXPECT_EQ(d->guest0_mmap[0].length, 0x8000u);
    EXPECT_EQ(d->guest0_mmap[1].base, 0x9000u);
    EXPECT_EQ(d->guest0_mmap[1].length, 0x9F000u - 0x9000u);
    EXPECT_EQ(d->guest0_mmap[1].type, U);
}

TEST(DescBuild, ExtraHiddenRangesRemoved) {
    Machine m;
    const MemoryMap::Range hidden[] = {{0x10000, 0x2000}, {0x80000000, 0x100000}};
    m.in.hidden = hidden;
    m.in.hidden_count = 2;
    auto d = new_desc();
    ASSERT_TRUE(desc_build(m.in, *d).ok());
    for (u32 i = 0; i < d->guest0_mmap_count; ++i)
        for (const auto& h : hidden)
            EXPECT_FALSE(ranges_overlap(d->guest0_mmap[i].base, d->guest0_mmap[i].length, h.base, h.length)) << i;
    EXPECT_EQ(d->guest0_mmap[0].length, 0x10000u);
    EXPECT_EQ(d->guest0_mmap[1].base, 0x12000u);
}

TEST(DescBuild, BadTrampolineOrHiddenInputsRejected) {
    Machine m;
    m.in.trampoline_base = 0x9E800;
    auto d = new_desc();
    EXPECT_EQ(what(desc_build(m.in, *d)), "trampoline page not page aligned");
    m.in.trampoline_base = 0;
    m.in.hidden = nullptr;
    m.in.hidden_count = 1;
    EXPECT_EQ(what(desc_build(m.in, *d)), "missing hidden ranges");
}
