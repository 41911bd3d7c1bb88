// Building evmm_desc_t (include/evmm_desc.h) from what the loader found. Pure logic: stage1 gathers the inputs
// from the hardware and the Multiboot2 information; this file plans the runtime region and fills the descriptor.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "lib/formats/memmap.h"

namespace evmm {

inline constexpr u64 RUNTIME_ALIGN = 2 * MiB;        // the runtime region is 2 MiB aligned and sized
inline constexpr u64 HEAP_BASE_SIZE = 2 * MiB;       // heap: page tables, VMX structures, ...
inline constexpr u64 HEAP_PER_CPU_SIZE = 256 * KiB;  // ... plus this much per CPU (VMCS, VMXON region, bitmaps)
inline constexpr u64 RUNTIME_REGION_LIMIT = 4 * GiB; // the loader's identity map; the region lies below it

// Offsets of the parts of the runtime region, from its base:
//   VMM image | symbol table | evmm_desc_t | per-CPU stack blocks | heap (takes the rest of the 2 MiB rounding)
// The loader unpacks the VMM's ELF file (lib/formats/vmm_pack.h) into the start of the heap, the unpack area, and
// loads the image from there: the heap is the one part of the region nothing uses before the VMM initialises it
// (vmm/host/heap.cpp zeroes its bitmaps and every page it hands out), and it is hidden from guest0 like the rest.
struct RuntimeLayout {
    u64 size;
    u64 vmm_offset, vmm_size;
    u64 symtab_offset, symtab_size;
    u64 desc_offset;
    u64 stacks_offset, stacks_size;
    u64 heap_offset, heap_size;
    u64 unpack_offset, unpack_size; // inside the heap; unpack_size 0: none asked for
};

// vmm_span: the VMM image's PT_LOAD span; unpack_size: bytes of the unpack area (the unpacked ELF file; 0: none),
// which the heap is made large enough to hold. Errors: a CPU count of 0 or above EVMM_MAX_CPUS, a span of 0, a
// size past RUNTIME_REGION_LIMIT.
Status runtime_layout_plan(u64 vmm_span, u64 symtab_size, u32 num_cpus, RuntimeLayout& out, u64 unpack_size = 0);

// One boot module (a GRUB module2 line) as the loader understood it.
struct LoaderBootModule {
    u64 start, size;
    const char* role; // NUL-terminated
    const char* args; // NUL-terminated
};

struct DescInputs {
    evmm_options_t options;
    const char* cmdline; // evmm's own, NUL-terminated (may be empty)
    u32 num_cpus;
    const u32* apic_ids; // num_cpus entries, BSP first
    u64 tsc_khz;
    u32 tsc_source;
    const MemoryMap* memory; // normalized firmware map
    u64 runtime_base;        // where the region was placed
    const RuntimeLayout* layout;
    evmm_file_info_t vmm_file; // runtime_addr/size filled by the builder from the layout
    evmm_file_info_t loader_file;
    u64 vmm_entry_offset; // e_entry of the VMM (linked at 0)
    u64 acpi_rsdp, mb2_info, efi_system_table;
    const LoaderBootModule* boot_modules;
    u32 boot_module_count;
    u64 loader_entry_tsc;
    u64 trampoline_base; // the AP trampoline page (0: none); recorded in the descriptor and hidden from guest0
    // More ranges the hypervisor keeps for itself: cut out of guest0's memory map like the runtime region.
    const MemoryMap::Range* hidden; // hidden_count entries (may be nullptr when hidden_count is 0)
    u32 hidden_count;
    evmm_acpi_power_t acpi_power;     // copied as it is (zero: guest0's ACPI sleep requests are not watched)
    u16 acpi_pm1a_sts, acpi_pm1b_sts; // the PM1 status ports (0: none), copied
    // The secure world (loader/tee_image.h), tee_size 0: none. [tee_base - EVMM_TEE_BARRIER, tee_base + tee_size +
    // EVMM_TEE_BARRIER) is cut out of guest0's map like the runtime region.
    u64 tee_base, tee_size, tee_entry;
    u32 tee_boot_module; // index of its module (ignored without a TEE)
    // The screen console's screen (lib/console.h): copied as it is; type EVMM_SCREEN_NONE is recorded all zero.
    evmm_screen_t screen;
};

// Fills `d` completely (zeroing it first). guest0_mmap = the memory map with the runtime region, the trampoline
// page ([trampoline_base, +4 KiB) when not 0), the hidden ranges and the TEE with its barriers removed.
// Errors: bad inputs (no CPUs, too many CPUs or modules, a trampoline page not page aligned), two guest0 modules,
// the map does not fit.
Status desc_build(const DescInputs& in, evmm_desc_t& d);

} // namespace evmm
