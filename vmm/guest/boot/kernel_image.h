// What guest0's Multiboot (multiboot1_guest.h) and Multiboot2 (multiboot2_guest.h) boot loaders share: the load
// plan of a kernel image (segments by guest-physical address, a physical entry point), planning it from ELF
// program headers or from a.out-kludge address fields, loading it into guest memory clear of named forbidden
// ranges, the inputs of a boot information structure and where that structure goes. Pure logic: guest memory is
// reached only through the injected GuestMem (guest_mem.h).
//
// Both specifications start the kernel in 32-bit protected mode with paging off (Multiboot 0.6.96 §3.2 "Machine
// state", Multiboot2 2.0 §3.3 "I386 machine state"): everything loaded, the entry point and the boot information
// lie below 4 GiB. ELF: System V gABI ch. 4/5 (see lib/formats/elf.h).
//
// Every routine reads nothing outside [image, image + size), checks every size and address it relies on, and on
// malformed input returns a Status naming the field (Status::where) with the offending values.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "lib/formats/memmap.h"
#include "vmm/guest/boot/guest_mem.h"

namespace evmm {

// The 32-bit physical address space a Multiboot kernel starts in (protected mode, paging off).
inline constexpr u64 KERNEL_ADDRESS_LIMIT = 4 * GiB;

// ---------------------------------------------------------------------------------------------------------------
// Load plan

inline constexpr u32 KERNEL_MAX_SEGMENTS = 16;

enum class KernelImageFormat : u8 { Elf32, Elf64, AoutKludge };

struct KernelSegment {
    u64 gpa;         // guest-physical load address (ELF: p_paddr)
    u64 file_offset; // first byte in the image
    u64 filesz;      // bytes copied from the image
    u64 memsz;       // bytes occupied in memory (memsz - filesz zeroed)
};

struct KernelPlan {
    KernelImageFormat format = KernelImageFormat::Elf32;
    u32 segment_count = 0;
    KernelSegment segments[KERNEL_MAX_SEGMENTS] = {};
    u32 entry = 0;               // physical entry point
    bool entry_from_tag = false; // from the header (Multiboot2 entry address tag, Multiboot1 entry_addr), not e_entry
    u64 span_base = 0;           // lowest loaded address
    u64 span_end = 0;            // end (exclusive) of the highest segment
};

// ---------------------------------------------------------------------------------------------------------------
// Planning (the loaders' *_plan build on these)

// ELF32 (EM_386) or ELF64 (EM_X86_64), little-endian, EV_CURRENT, ET_EXEC or ET_DYN: one segment per PT_LOAD with
// p_memsz != 0, placed at p_paddr (ending at or below 4 GiB, not overlapping one another); format Elf32/Elf64.
// Unless entry_given (the header supplies the entry, set by the caller), entry = e_entry translated from the
// PT_LOAD containing it by p_vaddr to its p_paddr (as GRUB does), below 4 GiB. Errors name the ELF field.
Status kernel_plan_elf(const u8* image, size_t size, bool entry_given, KernelPlan& out);

// The a.out kludge (Multiboot §3.1.3 address fields, Multiboot2 §3.1.5 address tag): header_addr is where the
// header's first byte lands; loading starts at file offset header_offset - (header_addr - load_addr) (or at 0 when
// load_from_file_start), load_end_addr 0 means the rest of the file, bss_end_addr 0 no bss.
struct AoutFields {
    u64 header_offset = 0; // file offset of the header
    u32 header_addr = 0, load_addr = 0, load_end_addr = 0, bss_end_addr = 0;
    bool load_from_file_start = false; // Multiboot2 load_addr 0xFFFFFFFF: "load from the file's beginning"
};
// How a specification names those fields, for Status::where (and the "nothing to load" message).
struct AoutFieldNames {
    const char* fields;        // the fields as a whole, e.g. "address tag"
    const char* header_addr;   // e.g. "address tag header_addr"
    const char* load_addr;     // ...
    const char* load_end_addr; // ...
    const char* bss_end_addr;  // ...
    const char* nothing_to_load;
};
// One segment from the fields (format AoutKludge; the entry is the caller's). Errors: load_addr above header_addr,
// header_addr - load_addr past the header's file offset, load_end_addr below load_addr or past the image,
// bss_end_addr below load_end_addr, nothing to load, the segment not ending below 4 GiB.
Status kernel_plan_aout(size_t size, const AoutFields& f, const AoutFieldNames& names, KernelPlan& out);

// Completes a plan whose segments and entry are set: span_base/span_end from the segments. Error (Status::where =
// entry_where, value = the entry): the entry lies inside no segment.
Status kernel_plan_finish(KernelPlan& plan, const char* entry_where);

// ---------------------------------------------------------------------------------------------------------------
// Loading

// A range guest0's kernel must not be loaded over, with a name for the error message (e.g. "module 1 (initrd)",
// "guest0 kernel image"). name must outlive the returned Status.
struct NamedRange {
    u64 base;
    u64 length;
    const char* name;
};

// Details of a load failure, for a one-line message.
struct KernelLoadDiag {
    u32 segment = 0;               // index into plan.segments
    u32 range = UINT32_MAX;        // index into forbidden[] (UINT32_MAX: not a forbidden-range failure)
    u64 seg_base = 0, seg_end = 0; // [seg_base, seg_end)
    char message[192] = {};        // "segment 1 at 0x200000-0x300000 overlaps initrd at 0x2ff000-0x310000"
};

// Copies the planned segments into guest memory: filesz bytes from the image, the rest of memsz zeroed. Before
// writing anything, every segment is checked: inside EVMM_MEM_USABLE entries of guest_map (guest0's map, which
// lacks the hypervisor) and overlapping no other entry type, clear of forbidden[0..forbidden_count), its file
// bytes inside the image, mappable through mem, and not overlapping the image bytes themselves. Errors carry the
// forbidden range's name in Status::where and the segment's [base, end) in value/value2; `diag` (optional) gets
// the segment index and a formatted message. Forbidden ranges: every module (guest0's own file included: it is the
// copy source) and anything else guest0's kernel must not cover. The information area is placed afterwards
// (choose_info_gpa), clear of the loaded kernel.
Status kernel_load(const u8* image, size_t size, const KernelPlan& plan, GuestMem& mem, const MemoryMap& guest_map,
                   const NamedRange* forbidden, u32 forbidden_count, KernelLoadDiag* diag = nullptr);

// ---------------------------------------------------------------------------------------------------------------
// Boot information

// What goes into the boot information, whichever specification lays it out.
struct BootInfoInputs {
    const char* cmdline = nullptr; // guest0's arguments (cmdline_len bytes, or up to a NUL); may be null
    size_t cmdline_len = 0;
    const char* loader_name = "evmm"; // boot loader name (NUL-terminated)

    const evmm_mmap_entry_t* mmap = nullptr; // guest0's memory map (and the basic memory information from it)
    u32 mmap_count = 0;

    // One module entry per module except modules[skip_module] (guest0's own): command line "ROLE ARGS" (or
    // "ROLE"), the GRUB module line minus the file name.
    const evmm_boot_module_t* modules = nullptr;
    u32 module_count = 0;
    u32 skip_module = UINT32_MAX;
    bool require_page_aligned_modules = false; // the kernel asked for it: a module not 4 KiB aligned is an error

    // Multiboot2 only (Multiboot1 has no field for them and ignores them): tags 14/15, a copy of the RSDP
    // (rsdp_len readable bytes, "RSD PTR " signature; nullptr: no ACPI tags), and tag 21, the load base.
    const u8* rsdp = nullptr;
    u32 rsdp_len = 0;
    bool provide_load_base = false;
    u32 load_base = 0;
};

// Fills cmdline, mmap and modules from the descriptor (guest0's module arguments, guest0_mmap, the other
// modules); the rest keeps its defaults.
void boot_info_inputs_from_desc(const evmm_desc_t& d, BootInfoInputs& in);

// Chooses where the information goes: the lowest 4 KiB-aligned address at or above 1 MiB with [out, out + size)
// inside usable RAM of guest_map, below 4 GiB, overlapping no other entry type and none of avoid[0..n). Pass the
// kernel's whole span [plan.span_base, plan.span_end) (gaps between segments included, as GRUB reserves them) and
// every module. Lowest-first, like GRUB, keeps it where a kernel's early page tables reach.
Status choose_info_gpa(const MemoryMap& guest_map, u64 size, const MemoryMap::Range* avoid, u32 n, u64& out);

// Helpers of the information builders.
namespace boot_info {
u64 entry_end(const evmm_mmap_entry_t& e); // base + length, saturating
// Usable entries covering [from, ...) contiguously: the end of that coverage (== from: none).
u64 usable_run_end(const evmm_mmap_entry_t* m, u32 n, u64 from);
size_t role_len(const evmm_boot_module_t& m);
size_t args_len(const evmm_boot_module_t& m);
// The area a boot information structure of `size` bytes goes to at gpa: it fits in `cap`, lies below 4 GiB
// (EBX and the structure's pointers are 32-bit) and is mappable; errors are reported under `where`.
Status map_info_area(GuestMem& mem, u64 gpa, u64 size, u64 cap, const char* where, u8*& out);
// EVMM_MEM_* -> the memory map entry type of both Multiboot specifications (Multiboot 0.6.96 §3.3, Multiboot2 §3.6.8:
// the same numbers, the E820 ones).
u32 multiboot_memory_type(u32 evmm_type);
} // namespace boot_info

} // namespace evmm
