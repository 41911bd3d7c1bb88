// evmm as the Multiboot2 boot loader of guest0: find and check the kernel's Multiboot2 header, plan where its
// image goes, write a Multiboot2 information structure for it, and give it the entry state the specification
// requires. What is not Multiboot2-specific (the load plan, loading it into guest memory, the information inputs
// and where the information goes) is shared with the Multiboot1 loader in kernel_image.h. Pure logic: guest memory
// is reached only through the injected GuestMem (guest_mem.h).
//
// Use (stage 4, vmm/guest/guest.cpp; guest0 is identity-mapped, gpa == hpa). The loader writes guest0's entry state
// into `entry`, the evmm_gcpu_state_t guest0's BSP vCPU first runs with:
//   mb2_kernel_find_header(img, size, hdr);              // §3.1: header, tags, what the kernel demands
//   mb2_kernel_plan(img, size, hdr, plan);               // ELF32/ELF64 PT_LOADs or the a.out-kludge address tag
//   kernel_load(img, size, plan, mem, map, forbidden, n);       // inside usable RAM, clear of modules & co.
//   boot_info_inputs_from_desc(desc, in); mb2_info_inputs_apply_kernel(hdr, plan, in); in.rsdp = ...;
//   mb2_guest_info_size(in, size); choose_info_gpa(map, size, avoid, n, gpa);
//   mb2_build_guest_info(in, mem, gpa, cap, written);   // §3.6
//   mb2_guest_entry_state(entry, plan.entry, gpa);       // §3.3
//
// Section numbers are those of the Multiboot2 Specification version 2.0: §3.1 "OS image format" (3.1.1 layout,
// 3.1.2 magic fields, 3.1.3 general tag structure, 3.1.4 information request, 3.1.5 address tag, 3.1.6 entry
// address tag, 3.1.7/3.1.8 EFI i386/amd64 entry address tags, 3.1.9 flags (console) tag, 3.1.10 framebuffer tag,
// 3.1.11 module alignment tag, 3.1.12 EFI boot services tag, 3.1.13 relocatable tag), §3.3 "I386 machine state",
// §3.6 "Boot information format". ELF: System V gABI ch. 4/5 (see lib/formats/elf.h).
//
// Every routine reads nothing outside [image, image + size), checks every size and address it relies on, and on
// malformed input returns a Status naming the field (Status::where) with the offending values.
#pragma once

#include "evmm/base.h"
#include "evmm/gcpu_state.h"
#include "evmm/status.h"
#include "lib/formats/multiboot2.h"
#include "vmm/guest/boot/guest_mem.h"
#include "vmm/guest/boot/kernel_image.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Constants (the specification's own: lib/formats/multiboot2.h)

// The 32-bit physical address space the kernel starts in (§3.3: protected mode, paging off).
inline constexpr u64 MB2_ADDRESS_LIMIT = KERNEL_ADDRESS_LIMIT;

// ---------------------------------------------------------------------------------------------------------------
// The kernel's Multiboot2 header

inline constexpr u32 MB2_INFO_TYPE_BITS = 64; // information requests recorded for tag types 0..63

struct Mb2KernelHeader {
    u32 offset = 0;        // file offset of the header (a multiple of 8, < 32768)
    u32 header_length = 0; // §3.1.2, fixed part and tags

    // §3.1.4: bit t set = the kernel asked for information tag type t (Mb2TagType). `required_types`: asked in a
    // non-optional request. A required request for a type evmm does not provide is an error in find_header.
    u64 requested_types = 0;
    u64 required_types = 0;

    bool has_address = false; // §3.1.5 (a.out kludge): takes precedence over the ELF headers, like GRUB
    u32 header_addr = 0, load_addr = 0, load_end_addr = 0, bss_end_addr = 0;

    bool has_entry = false; // §3.1.6: physical entry point, overrides e_entry
    u32 entry_addr = 0;

    bool has_console_flags = false; // §3.1.9
    u32 console_flags = 0;

    bool has_framebuffer = false; // §3.1.10: a preferred mode; evmm sets no mode and ignores it
    u32 fb_width = 0, fb_height = 0, fb_depth = 0;

    bool modules_page_aligned = false; // §3.1.11: modules must be page aligned

    bool efi_boot_services = false; // §3.1.12 present as an optional tag (a required one is an error)
    bool has_efi_entry = false;     // §3.1.7/§3.1.8 present as optional tags (ignored; required ones are errors)

    // §3.1.13. evmm does not relocate: the image is loaded at its link address (the tag says that is allowed as
    // well); the information then carries the load base (tag 21) as the specification asks.
    bool relocatable = false;
    u32 reloc_min_addr = 0, reloc_max_addr = 0, reloc_align = 0, reloc_preference = 0;
};

// Finds the Multiboot2 header in the first 32768 bytes of `image` (8-byte aligned, magic 0xE85250D6, checksum
// right, architecture i386, header_length inside the image and the search area) and parses its tags.
// Errors (Status::where names the field/tag): no header; a candidate with a bad checksum or another architecture
// (reported when no valid header follows); a header only at a 4-byte-aligned offset; header_length too small or
// past the end; malformed tags (size < 8, past header_length, too short for its type, duplicates, no end tag);
// a required information request for a type evmm does not provide; a required EFI boot services tag or EFI entry
// tag; a required console (console flags bit 0 in a non-optional tag: evmm describes no console); an unknown
// non-optional tag.
Status mb2_kernel_find_header(const u8* image, size_t size, Mb2KernelHeader& out);

// Whether mb2_build_guest_info can produce information tag `type` (cmdline, boot loader name, modules, basic
// meminfo, memory map, ACPI old/new RSDP, load base address). Other types are never provided.
bool mb2_info_type_provided(u32 type);

// ---------------------------------------------------------------------------------------------------------------
// Load plan (kernel_image.h: loaded with kernel_load)

// Plans where the kernel goes. With an address tag (§3.1.5): one segment derived from header_addr/load_addr/
// load_end_addr/bss_end_addr and the header's file offset; an entry address tag is then mandatory. Otherwise the
// image must be ELF (ELF32 with EM_386 or ELF64 with EM_X86_64, little-endian, ET_EXEC or ET_DYN): one segment
// per PT_LOAD with p_memsz != 0, placed at p_paddr; entry = e_entry translated from the PT_LOAD containing it by
// p_vaddr to its p_paddr (as GRUB does), unless an entry address tag gives it. Every segment must end at or
// below 4 GiB, segments must not overlap, and the entry must be < 4 GiB and inside a segment.
Status mb2_kernel_plan(const u8* image, size_t size, const Mb2KernelHeader& hdr, KernelPlan& out);

// ---------------------------------------------------------------------------------------------------------------
// Boot information for the guest (§3.6)

// Sets what the kernel's header implies: page-aligned modules (§3.1.11) and the load base (§3.1.13).
void mb2_info_inputs_apply_kernel(const Mb2KernelHeader& hdr, const KernelPlan& plan, BootInfoInputs& in);

// Size in bytes of the information mb2_build_guest_info would write (a multiple of 8). Errors: as the builder's
// input errors (module above 4 GiB, misaligned module when required, bad RSDP, too large).
Status mb2_guest_info_size(const BootInfoInputs& in, u64& out_size);

// Writes the information at gpa (8-byte aligned, below 4 GiB): total_size/reserved, then tags cmdline, boot
// loader name, basic meminfo, memory map (entry_size 24, version 0), modules, ACPI old/new RSDP, load base, end;
// every tag 8-byte aligned and padded with zeros. Errors: gpa misaligned or the structure would cross 4 GiB, size
// > cap (value = size, value2 = cap), gpa not mappable, bad inputs. out_size = bytes written.
Status mb2_build_guest_info(const BootInfoInputs& in, GuestMem& mem, u64 gpa, u64 cap, u64& out_size);

// The §3.3 i386 machine state (gcpu_multiboot2_entry_state: 32-bit protected mode, paging off, flat segments,
// EAX = 0x36d76289), with EIP = entry and EBX = info_gpa.
void mb2_guest_entry_state(evmm_gcpu_state_t& s, u32 entry, u32 info_gpa);

} // namespace evmm
