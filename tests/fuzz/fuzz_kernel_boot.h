// What fuzz_multiboot1_guest and fuzz_multiboot2_guest share: a plan accepted by the loader's *_plan is loaded by
// kernel_load into guest0's memory of the unit tests, clear of guest0's own image and a module; then the boot
// information inputs (the modules, the memory map, a command line) the information builders take.
#pragma once

#include "fuzz_common.h"
#include "vmm/guest/boot/kernel_image.h"

namespace evmm::fuzz {

inline constexpr u64 IMAGE_GPA = 48 * MiB;  // where guest0's file (the fuzz input) lies, as GRUB's module
inline constexpr u64 MODULE_GPA = 40 * MiB; // a second module (an initrd)

// Checks a plan, then loads it. The input is the copy source: forbidden, like every module.
inline bool check_and_load(const u8* data, size_t size, const KernelPlan& plan) {
    FUZZ_CHECK(plan.segment_count >= 1 && plan.segment_count <= KERNEL_MAX_SEGMENTS);
    bool entry_inside = false;
    for (u32 i = 0; i < plan.segment_count; ++i) {
        const KernelSegment& s = plan.segments[i];
        FUZZ_CHECK(s.filesz <= s.memsz &&
                   (s.filesz == 0 || (s.file_offset <= size && s.filesz <= size - s.file_offset)));
        FUZZ_CHECK(s.gpa + s.memsz <= KERNEL_ADDRESS_LIMIT);
        FUZZ_CHECK(s.gpa >= plan.span_base && s.gpa + s.memsz <= plan.span_end);
        if (plan.entry >= s.gpa && plan.entry - s.gpa < s.memsz) entry_inside = true;
    }
    FUZZ_CHECK(entry_inside);
    static GuestMap gm;
    static BufGuestMem mem;
    const NamedRange forbidden[] = {{IMAGE_GPA, size, "guest0 kernel image"}, {MODULE_GPA, 4 * KiB, "initrd"}};
    KernelLoadDiag diag;
    return kernel_load(data, size, plan, mem, gm.map, forbidden, 2, &diag).ok();
}

// Boot information inputs: guest0's map, guest0's own module (skipped) and an initrd, a command line.
struct InfoInputs {
    GuestMap gm;
    evmm_boot_module_t modules[2] = {};
    BootInfoInputs in;
    InfoInputs() {
        modules[0] = {IMAGE_GPA, 4 * KiB, "guest0", "kernel-args 42"};
        modules[1] = {MODULE_GPA, 4 * KiB, "initrd", "initrd-args"};
        in.cmdline = "kernel-args 42";
        in.cmdline_len = 14;
        in.mmap = gm.map.entries();
        in.mmap_count = gm.map.count();
        in.modules = modules;
        in.module_count = 2;
        in.skip_module = 0;
    }
};

// Where the information goes: clear of the kernel's span and the modules (as guest0_boot places it).
inline bool info_gpa(const KernelPlan& plan, const MemoryMap& map, u64 size, u64& gpa) {
    const MemoryMap::Range avoid[] = {
        {plan.span_base, plan.span_end - plan.span_base}, {IMAGE_GPA, 4 * KiB}, {MODULE_GPA, 4 * KiB}};
    return choose_info_gpa(map, size, avoid, 3, gpa).ok();
}

} // namespace evmm::fuzz
