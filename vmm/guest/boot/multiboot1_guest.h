// evmm as the Multiboot (version 1) boot loader of guest0: find and check the kernel's Multiboot header, plan
// where its image goes, write a Multiboot information structure for it, and give it the entry state the
// specification requires. Pure logic: guest memory is reached only through the injected GuestMem. Everything that
// is not Multiboot1-specific is the Multiboot2 loader's (multiboot2_guest.h), reused as is:
//   - the load plan is an Mb2KernelPlan (segments by guest-physical address, physical entry point);
//   - loading is mb2_kernel_load (usable RAM of guest0's map, named forbidden ranges, bss zeroed, nothing
//     written unless every segment passes);
//   - the information inputs are an Mb2GuestInfoInputs (filled by mb2_info_inputs_from_desc; rsdp and load base
//     are ignored: Multiboot1 has no field for them);
//   - the information area is chosen with mb2_choose_info_gpa.
//
// Typical use (the VMM, guest0 identity-mapped so gpa == hpa):
//   mb1_find_header(img, size, hdr);                         // §3.1: header, flags, address fields
//   mb1_plan(img, size, hdr, plan);                          // ELF32/ELF64 PT_LOADs, or the a.out kludge (bit 16)
//   mb2_kernel_load(img, size, plan, mem, map, forbidden, n);
//   mb2_info_inputs_from_desc(desc, in); mb1_info_inputs_apply_kernel(hdr, in);
//   mb1_info_size(in, size); mb2_choose_info_gpa(map, size, avoid, n, gpa);
//   mb1_build_info(in, mem, gpa, cap, written);              // §3.3
//   mb1_entry_state(desc.guest0_gcpu, plan.entry, gpa);      // §3.2
//
// Section numbers are those of the Multiboot Specification version 0.6.96: §3.1 "OS image format" (3.1.1 header
// layout, 3.1.2 magic fields, 3.1.3 address fields, 3.1.4 graphics fields), §3.2 "Machine state", §3.3 "Boot
// information format".
//
// Every routine reads nothing outside [image, image + size), checks every size and address it relies on, and on
// malformed input returns a Status naming the field (Status::where) with the offending values.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm/gcpu_state.h"
#include "evmm_desc.h"
#include "vmm/guest/boot/multiboot2_guest.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Spec constants

inline constexpr u32 MB1_HEADER_MAGIC_VALUE = MB1_HEADER_MAGIC;     // §3.1.2 `magic`
inline constexpr u32 MB1_BOOTLOADER_MAGIC_VALUE = MB1_BOOT_MAGIC; // §3.2: EAX at entry
inline constexpr u64 MB1_HEADER_SEARCH_LIMIT = 8192;          // §3.1.1: header entirely within the first 8192 bytes
inline constexpr u64 MB1_HEADER_ALIGN = 4;                    // §3.1.1: longword (32-bit) aligned
inline constexpr u64 MB1_HEADER_MIN_SIZE = 12;                // magic, flags, checksum
inline constexpr u64 MB1_HEADER_ADDR_SIZE = 32;               // ... and the five address fields (flags bit 16)
inline constexpr u64 MB1_HEADER_VIDEO_SIZE = 48;              // ... and the four graphics fields (flags bit 2)

// §3.1.2 header flags. Bits 0-15 are requirements: one evmm does not understand makes the kernel unloadable.
inline constexpr u32 MB1_FLAG_PAGE_ALIGN_MODULES = MB1_HEADER_FLAG_PAGE_ALIGN; // modules on 4 KiB boundaries
inline constexpr u32 MB1_FLAG_MEMORY_INFO = MB1_HEADER_FLAG_MEMORY_INFO;       // mem_* (and mmap_* if available) must be provided
inline constexpr u32 MB1_FLAG_VIDEO_MODE = MB1_HEADER_FLAG_VIDEO_MODE;        // video mode table wanted (see Mb1Header)
inline constexpr u32 MB1_FLAG_ADDRESS_FIELDS = MB1_HEADER_FLAG_ADDRESS_FIELDS;   // header address fields valid (a.out kludge)
inline constexpr u32 MB1_FLAGS_REQUIRED_MASK = 0x0000FFFF;
inline constexpr u32 MB1_FLAGS_UNDERSTOOD = MB1_FLAG_PAGE_ALIGN_MODULES | MB1_FLAG_MEMORY_INFO | MB1_FLAG_VIDEO_MODE;

// §3.3 information structure `flags` bits evmm sets.
inline constexpr u32 MB1_INFO_MEMORY = 1u << 0;      // mem_lower, mem_upper
inline constexpr u32 MB1_INFO_CMDLINE = 1u << 2;     // cmdline
inline constexpr u32 MB1_INFO_MODS = 1u << 3;        // mods_count, mods_addr
inline constexpr u32 MB1_INFO_MMAP = 1u << 6;        // mmap_length, mmap_addr
inline constexpr u32 MB1_INFO_LOADER_NAME = 1u << 9; // boot_loader_name

// §3.3 information structure layout (byte offsets). Fields evmm never provides (boot_device, syms, drives,
// config_table, apm_table, vbe_*) are zero with their flags bits clear.
inline constexpr u64 MB1_INFO_FLAGS_OFFSET = 0;
inline constexpr u64 MB1_INFO_MEM_LOWER_OFFSET = 4;
inline constexpr u64 MB1_INFO_MEM_UPPER_OFFSET = 8;
inline constexpr u64 MB1_INFO_BOOT_DEVICE_OFFSET = 12;
inline constexpr u64 MB1_INFO_CMDLINE_OFFSET = 16;
inline constexpr u64 MB1_INFO_MODS_COUNT_OFFSET = 20;
inline constexpr u64 MB1_INFO_MODS_ADDR_OFFSET = 24;
inline constexpr u64 MB1_INFO_MMAP_LENGTH_OFFSET = 44;
inline constexpr u64 MB1_INFO_MMAP_ADDR_OFFSET = 48;
inline constexpr u64 MB1_INFO_BOOT_LOADER_NAME_OFFSET = 64;
inline constexpr u64 MB1_INFO_STRUCT_SIZE = 88; // through vbe_interface_len (0.6.96)

// §3.3 module structure: u32 mod_start, mod_end (exclusive, as GRUB), string, reserved (0).
inline constexpr u64 MB1_MODULE_ENTRY_SIZE = 16;
// §3.3 memory map entry: u32 size (20: the bytes after it), u64 base_addr, u64 length, u32 type. mmap_addr points
// at the first entry's `size`; the next entry starts at entry + size + 4.
inline constexpr u64 MB1_MMAP_ENTRY_SIZE = 24;
inline constexpr u32 MB1_MMAP_ENTRY_SIZE_FIELD = 20;

// ---------------------------------------------------------------------------------------------------------------
// The kernel's Multiboot header

struct Mb1Header {
    u32 offset = 0;        // file offset of the header (a multiple of 4, header inside the first 8192 bytes)
    u32 header_length = 0; // bytes of the header evmm relies on: 12, or 32 with flags bit 16
    u32 flags = 0;         // §3.1.2, as found

    bool modules_page_aligned = false; // bit 0
    bool memory_info = false;          // bit 1: always satisfied (evmm always passes mem_* and the memory map)

    // Bit 2: the kernel wants video mode information. evmm sets no video mode and provides no VBE/framebuffer
    // information (info flags bits 11/12 stay clear); the kernel keeps whatever console the platform left (the
    // graphics fields only state a preference, §3.1.4). Accepted, recorded, otherwise ignored. The graphics
    // fields are recorded when they lie inside the image and the search area.
    bool video_mode_requested = false;
    bool has_video_fields = false;
    u32 mode_type = 0, width = 0, height = 0, depth = 0;

    // Bit 16 (a.out kludge, §3.1.3): where to load the image; takes precedence over ELF headers, like GRUB.
    bool has_address = false;
    u32 header_addr = 0, load_addr = 0, load_end_addr = 0, bss_end_addr = 0, entry_addr = 0;
};

// Finds the Multiboot header in the first 8192 bytes of `image`: 4-byte aligned, magic 0x1BADB002,
// magic + flags + checksum == 0 (mod 2^32), the whole header (12 bytes, 32 with flags bit 16) inside the image
// and inside the first 8192 bytes. A candidate with a bad checksum is passed over (like GRUB) and reported only
// when no valid header follows. Errors: no header ("header magic"); bad checksum ("header checksum", value =
// offset, value2 = checksum); a required flag (bits 0-15) other than 0-2 ("header flags", value = the unknown
// bits, value2 = offset); address fields (bit 16) running past the image or the search area.
Status mb1_find_header(const u8* image, size_t size, Mb1Header& out);

// Plans where the kernel goes (an Mb2KernelPlan, to be loaded with mb2_kernel_load):
//  - flags bit 16: one segment from header_addr/load_addr/load_end_addr/bss_end_addr and the header's file
//    offset (load_addr <= header_addr; load_end_addr 0: the rest of the file; bss_end_addr 0: no bss);
//    entry = entry_addr; format AoutKludge.
//  - otherwise ELF32 (EM_386) or ELF64 (EM_X86_64), little-endian, ET_EXEC or ET_DYN, planned by mb2_kernel_plan:
//    one segment per PT_LOAD with p_memsz != 0 at p_paddr; entry = e_entry translated from the PT_LOAD containing
//    it by p_vaddr to its p_paddr. §3.1 speaks of 32-bit executables only; ELF64 is accepted as GRUB's `multiboot`
//    command accepts it (multiboot_elfxx.c): a 64-bit kernel with a 32-bit entry, started in the §3.2 state like
//    any other (so a higher-half e_entry is fine when it translates to a physical entry below 4 GiB).
// Every segment ends at or below 4 GiB, segments do not overlap, the entry lies inside a segment and below 4 GiB.
// ELF errors name the ELF field (e.g. "ELF e_machine", "ELF p_paddr", "ELF e_entry"), whatever the class.
Status mb1_plan(const u8* image, size_t size, const Mb1Header& hdr, Mb2KernelPlan& out);

// ---------------------------------------------------------------------------------------------------------------
// Boot information for the guest (§3.3)

// Sets what the kernel's header implies: page-aligned modules (flags bit 0).
void mb1_info_inputs_apply_kernel(const Mb1Header& hdr, Mb2GuestInfoInputs& in);

// Size in bytes of what mb1_build_info writes (a multiple of 8). Errors: as the builder's input errors.
Status mb1_info_size(const Mb2GuestInfoInputs& in, u64& out_size);

// Writes the information structure at gpa (4-byte aligned) and everything it points to right after it, inside
// [gpa, gpa + out_size): the 88-byte structure, the module array, the memory map, then the strings (cmdline,
// boot loader name, module strings; NUL-terminated). flags = memory (bit 0: mem_lower = KiB of usable RAM from 0,
// at most 640; mem_upper = KiB of usable RAM from 1 MiB up to the first hole), cmdline (bit 2: guest0's module
// arguments, "" when none), mods (bit 3: one entry per module except in.skip_module, string "ROLE ARGS" or
// "ROLE"; set even when there are none, with mods_count 0), mmap (bit 6: every non-empty entry of guest0's map,
// size field 20, types 1 available / 2 reserved / 3 ACPI / 4 NVS / 5 bad), boot loader name (bit 9, when
// in.loader_name is not null). All addresses are 32-bit.
// Errors: gpa misaligned, the area would not end below 4 GiB, size > cap (value = size, value2 = cap), gpa not
// mappable, empty memory map, a module not below 4 GiB, a module not page aligned when required.
Status mb1_build_info(const Mb2GuestInfoInputs& in, GuestMem& mem, u64 gpa, u64 cap, u64& out_size);

// The §3.2 machine state (gcpu_multiboot2_entry_state: 32-bit protected mode, paging off, flat 4 GiB segments,
// IF clear), with EAX = 0x2BADB002, EIP = entry and EBX = info_gpa.
void mb1_entry_state(evmm_gcpu_state_t& s, u32 entry, u32 info_gpa);

} // namespace evmm
