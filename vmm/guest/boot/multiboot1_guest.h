// evmm as the Multiboot (version 1) boot loader of guest0: find and check the kernel's Multiboot header, plan
// where its image goes, write a Multiboot information structure for it, and give it the entry state the
// specification requires. Pure logic: guest memory is reached only through the injected GuestMem (guest_mem.h).
// What is not Multiboot1-specific is shared with the Multiboot2 loader (kernel_image.h):
//   - the load plan is a KernelPlan (segments by guest-physical address, physical entry point), planned with
//     kernel_plan_elf / kernel_plan_aout;
//   - loading is kernel_load (usable RAM of guest0's map, named forbidden ranges, bss zeroed, nothing written
//     unless every segment passes);
//   - the information inputs are a BootInfoInputs (filled by boot_info_inputs_from_desc; rsdp and load base are
//     ignored: Multiboot1 has no field for them);
//   - the information area is chosen with choose_info_gpa.
// The specification's structures and constants are in lib/formats/multiboot1.h.
//
// Use (stage 4, vmm/guest/guest.cpp; guest0 is identity-mapped, gpa == hpa). The loader writes guest0's entry state
// into `entry`, the evmm_gcpu_state_t guest0's BSP vCPU first runs with:
//   mb1_find_header(img, size, hdr);                         // §3.1: header, flags, address fields
//   mb1_plan(img, size, hdr, plan);                          // ELF32/ELF64 PT_LOADs, or the a.out kludge (bit 16)
//   kernel_load(img, size, plan, mem, map, forbidden, n);
//   boot_info_inputs_from_desc(desc, in); mb1_info_inputs_apply_kernel(hdr, in);
//   mb1_info_size(in, size); choose_info_gpa(map, size, avoid, n, gpa);
//   mb1_build_info(in, mem, gpa, cap, written);              // §3.3
//   mb1_entry_state(entry, plan.entry, gpa);                 // §3.2
//
// Section numbers are those of the Multiboot Specification version 0.6.96: §3.1 "OS image format" (3.1.1 header
// layout, 3.1.2 magic fields, 3.1.3 address fields, 3.1.4 graphics fields), §3.2 "Machine state", §3.3 "Boot
// information format".
//
// Every routine reads nothing outside [image, image + size), checks every size and address it relies on, and on
// malformed input returns a Status naming the field (Status::where) with the offending values.
#pragma once

#include "evmm/base.h"
#include "evmm/gcpu_state.h"
#include "evmm/status.h"
#include "lib/formats/multiboot1.h"
#include "vmm/guest/boot/guest_mem.h"
#include "vmm/guest/boot/kernel_image.h"

namespace evmm {

// §3.1.2 header flags evmm understands: bits 0-2 (modules page aligned, memory information, video mode). Any
// other required bit (0-15) makes the kernel unloadable.
inline constexpr u32 MB1_FLAGS_UNDERSTOOD = MB1_FLAG_PAGE_ALIGN_MODULES | MB1_FLAG_MEMORY_INFO | MB1_FLAG_VIDEO_MODE;

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

// Plans where the kernel goes (a KernelPlan, to be loaded with kernel_load):
//  - flags bit 16: one segment from header_addr/load_addr/load_end_addr/bss_end_addr and the header's file
//    offset (load_addr <= header_addr; load_end_addr 0: the rest of the file; bss_end_addr 0: no bss);
//    entry = entry_addr; format AoutKludge.
//  - otherwise ELF32 (EM_386) or ELF64 (EM_X86_64), little-endian, ET_EXEC or ET_DYN, planned by kernel_plan_elf:
//    one segment per PT_LOAD with p_memsz != 0 at p_paddr; entry = e_entry translated from the PT_LOAD containing
//    it by p_vaddr to its p_paddr. §3.1 speaks of 32-bit executables only; ELF64 is accepted as GRUB's `multiboot`
//    command accepts it (multiboot_elfxx.c): a 64-bit kernel with a 32-bit entry, started in the §3.2 state like
//    any other (so a higher-half e_entry is fine when it translates to a physical entry below 4 GiB).
// Every segment ends at or below 4 GiB, segments do not overlap, the entry lies inside a segment and below 4 GiB.
// ELF errors name the ELF field (e.g. "ELF e_machine", "ELF p_paddr", "ELF e_entry"), whatever the class.
Status mb1_plan(const u8* image, size_t size, const Mb1Header& hdr, KernelPlan& out);

// ---------------------------------------------------------------------------------------------------------------
// Boot information for the guest (§3.3)

// Sets what the kernel's header implies: page-aligned modules (flags bit 0).
void mb1_info_inputs_apply_kernel(const Mb1Header& hdr, BootInfoInputs& in);

// Size in bytes of what mb1_build_info writes (a multiple of 8). Errors: as the builder's input errors.
Status mb1_info_size(const BootInfoInputs& in, u64& out_size);

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
Status mb1_build_info(const BootInfoInputs& in, GuestMem& mem, u64 gpa, u64 cap, u64& out_size);

// The §3.2 machine state (gcpu_multiboot2_entry_state: 32-bit protected mode, paging off, flat 4 GiB segments,
// IF clear), with EAX = 0x2BADB002, EIP = entry and EBX = info_gpa.
void mb1_entry_state(evmm_gcpu_state_t& s, u32 entry, u32 info_gpa);

} // namespace evmm
