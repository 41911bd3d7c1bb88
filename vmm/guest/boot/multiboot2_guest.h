// evmm as the Multiboot2 boot loader of guest0: find and check the kernel's Multiboot2 header, plan where its
// image goes, copy it into guest memory, write a Multiboot2 information structure for it, and give it the entry
// state the specification requires. Pure logic: guest memory is reached only through the injected GuestMem.
//
// Typical use (the VMM, guest0 identity-mapped so gpa == hpa):
//   mb2_kernel_find_header(img, size, hdr);              // §3.1: header, tags, what the kernel demands
//   mb2_kernel_plan(img, size, hdr, plan);               // ELF32/ELF64 PT_LOADs or the a.out-kludge address tag
//   mb2_kernel_load(img, size, plan, mem, map, forbidden, n);   // inside usable RAM, clear of modules & co.
//   mb2_info_inputs_from_desc(desc, in); mb2_info_inputs_apply_kernel(hdr, plan, in); in.rsdp = ...;
//   mb2_guest_info_size(in, size); mb2_choose_info_gpa(map, size, avoid, n, gpa);
//   mb2_build_guest_info(in, mem, gpa, cap, written);   // §3.6
//   mb2_guest_entry_state(desc.guest0_gcpu, plan.entry, gpa);   // §3.3
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
#include "evmm/status.h"
#include "evmm/gcpu_state.h"
#include "evmm_desc.h"
#include "lib/formats/memmap.h"
#include "lib/formats/elf.h"
#include "lib/formats/multiboot2.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Spec constants and structures

// §3.1.1/§3.1.2: the header's fixed part (magic, architecture, header_length, checksum) and where it may be.
inline constexpr u32 MB2_HEADER_MAGIC_VALUE = MB2_HEADER_MAGIC;     // §3.1.2 `magic`
inline constexpr u32 MB2_ARCHITECTURE_I386 = MB2_ARCH_I386;               // §3.1.2 `architecture`: 32-bit protected mode of i386
inline constexpr u64 MB2_HEADER_SEARCH_LIMIT = 32768;         // §3.1.1: header entirely within the first 32768 bytes
inline constexpr u64 MB2_HEADER_ALIGN = 8;                    // §3.1.1: header 64-bit aligned
inline constexpr u64 MB2_HEADER_FIXED_SIZE = 16;              // §3.1.1: four u32 fields, tags from offset 16
inline constexpr u64 MB2_HEADER_TAG_ALIGN = 8;                // §3.1.3: every tag starts 8-byte aligned
inline constexpr u16 MB2_HEADER_TAG_FLAG_OPTIONAL = 1;        // §3.1.3: flags bit 0 `optional`
inline constexpr u32 MB2_BOOTLOADER_MAGIC_VALUE = MB2_BOOT_MAGIC; // §3.3: EAX at entry

// §3.1.3 .. §3.1.13: header tag types (u16 `type` of the tag header).
enum class Mb2HeaderTagType : u16 {
    End = 0,
    InformationRequest = 1, // §3.1.4
    Address = 2,            // §3.1.5
    EntryAddress = 3,       // §3.1.6
    ConsoleFlags = 4,       // §3.1.9
    Framebuffer = 5,        // §3.1.10
    ModuleAlign = 6,        // §3.1.11
    EfiBootServices = 7,    // §3.1.12
    EntryAddressEfi32 = 8,  // §3.1.7
    EntryAddressEfi64 = 9,  // §3.1.8
    Relocatable = 10,       // §3.1.13
};

// §3.1.9 console_flags bits.
inline constexpr u32 MB2_CONSOLE_FLAG_REQUIRED = 1u << 0; // a console must exist and be described in the info
inline constexpr u32 MB2_CONSOLE_FLAG_EGA_TEXT = 1u << 1; // the kernel supports EGA text mode

// §3.1.5 address tag: load_addr == 0xFFFFFFFF means "load the file from its beginning".
inline constexpr u32 MB2_LOAD_ADDR_FROM_FILE_START = 0xFFFFFFFF;

// The 32-bit physical address space the kernel starts in (§3.3: protected mode, paging off).
inline constexpr u64 MB2_ADDRESS_LIMIT = 4 * GiB;


// ---------------------------------------------------------------------------------------------------------------
// Guest memory access (hardware injected)

// Write access to guest-physical memory. On the machine guest0 is identity-mapped (gpa == hpa); tests use a
// buffer. map() returns a pointer through which [gpa, gpa + len) can be read and written contiguously, or nullptr
// when that range is not accessible. Never faults.
class GuestMem {
public:
    virtual u8* map(u64 gpa, u64 len) = 0;

protected:
    ~GuestMem() = default;
};

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
// Load plan

inline constexpr u32 MB2_MAX_SEGMENTS = 16;

enum class Mb2ImageFormat : u8 { Elf32, Elf64, AoutKludge };

struct Mb2Segment {
    u64 gpa;         // guest-physical load address (ELF: p_paddr)
    u64 file_offset; // first byte in the image
    u64 filesz;      // bytes copied from the image
    u64 memsz;       // bytes occupied in memory (memsz - filesz zeroed)
};

struct Mb2KernelPlan {
    Mb2ImageFormat format = Mb2ImageFormat::Elf32;
    u32 segment_count = 0;
    Mb2Segment segments[MB2_MAX_SEGMENTS] = {};
    u32 entry = 0;               // physical entry point
    bool entry_from_tag = false; // from the §3.1.6 entry address tag rather than e_entry
    u64 span_base = 0;           // lowest loaded address
    u64 span_end = 0;            // end (exclusive) of the highest segment
};

// Plans where the kernel goes. With an address tag (§3.1.5): one segment derived from header_addr/load_addr/
// load_end_addr/bss_end_addr and the header's file offset; an entry address tag is then mandatory. Otherwise the
// image must be ELF (ELF32 with EM_386 or ELF64 with EM_X86_64, little-endian, ET_EXEC or ET_DYN): one segment
// per PT_LOAD with p_memsz != 0, placed at p_paddr; entry = e_entry translated from the PT_LOAD containing it by
// p_vaddr to its p_paddr (as GRUB does), unless an entry address tag gives it. Every segment must end at or
// below 4 GiB, segments must not overlap, and the entry must be < 4 GiB and inside a segment.
Status mb2_kernel_plan(const u8* image, size_t size, const Mb2KernelHeader& hdr, Mb2KernelPlan& out);

// ---------------------------------------------------------------------------------------------------------------
// Loading

// A range guest0's kernel must not be loaded over, with a name for the error message (e.g. "module 1 (initrd)",
// "guest0 kernel image"). name must outlive the returned Status.
struct Mb2NamedRange {
    u64 base;
    u64 length;
    const char* name;
};

// Details of a load failure, for a one-line message.
struct Mb2LoadDiag {
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
// (mb2_choose_info_gpa), clear of the loaded kernel.
Status mb2_kernel_load(const u8* image, size_t size, const Mb2KernelPlan& plan, GuestMem& mem,
                       const MemoryMap& guest_map, const Mb2NamedRange* forbidden, u32 forbidden_count,
                       Mb2LoadDiag* diag = nullptr);

// ---------------------------------------------------------------------------------------------------------------
// Boot information for the guest (§3.6)

struct Mb2GuestInfoInputs {
    const char* cmdline = nullptr; // tag 1: guest0's arguments (cmdline_len bytes, or up to a NUL); may be null
    size_t cmdline_len = 0;
    const char* loader_name = "evmm"; // tag 2 (NUL-terminated)

    const evmm_mmap_entry_t* mmap = nullptr; // tag 6 and tag 4 (computed from it): guest0's memory map
    u32 mmap_count = 0;

    // Tag 3, one per module except modules[skip_module] (guest0's own): command line "ROLE ARGS" (or "ROLE"),
    // the GRUB module line minus the file name.
    const evmm_module_t* modules = nullptr;
    u32 module_count = 0;
    u32 skip_module = UINT32_MAX;
    bool require_page_aligned_modules = false; // §3.1.11 asked for: a module not 4 KiB aligned is an error

    // Tags 14/15: a copy of the RSDP (rsdp_len readable bytes, "RSD PTR " signature). Tag 14 gets its first 20
    // bytes; tag 15 its 36 bytes when the revision is >= 2. nullptr: no ACPI tags.
    const u8* rsdp = nullptr;
    u32 rsdp_len = 0;

    bool provide_load_base = false; // tag 21 (§3.6: only for images with a relocatable header tag)
    u32 load_base = 0;
};

// Fills cmdline, mmap and modules from the descriptor (guest0's module arguments, guest0_mmap, the other
// modules); the rest keeps its defaults.
void mb2_info_inputs_from_desc(const evmm_desc_t& d, Mb2GuestInfoInputs& in);
// Sets what the kernel's header implies: page-aligned modules (§3.1.11) and the load base (§3.1.13).
void mb2_info_inputs_apply_kernel(const Mb2KernelHeader& hdr, const Mb2KernelPlan& plan, Mb2GuestInfoInputs& in);

// Size in bytes of the information mb2_build_guest_info would write (a multiple of 8). Errors: as the builder's
// input errors (module above 4 GiB, misaligned module when required, bad RSDP, too large).
Status mb2_guest_info_size(const Mb2GuestInfoInputs& in, u64& out_size);

// Writes the information at gpa (8-byte aligned, below 4 GiB): total_size/reserved, then tags cmdline, boot
// loader name, basic meminfo, memory map (entry_size 24, version 0), modules, ACPI old/new RSDP, load base, end;
// every tag 8-byte aligned and padded with zeros. Errors: gpa misaligned or the structure would cross 4 GiB, size
// > cap (value = size, value2 = cap), gpa not mappable, bad inputs. out_size = bytes written.
Status mb2_build_guest_info(const Mb2GuestInfoInputs& in, GuestMem& mem, u64 gpa, u64 cap, u64& out_size);

// Chooses where the information goes: the lowest 4 KiB-aligned address at or above 1 MiB with [out, out + size)
// inside usable RAM of guest_map, below 4 GiB, overlapping no other entry type and none of avoid[0..n). Pass the
// kernel's whole span [plan.span_base, plan.span_end) (gaps between segments included, as GRUB reserves them) and
// every module. Lowest-first, like GRUB, keeps it where a kernel's early page tables reach.
Status mb2_choose_info_gpa(const MemoryMap& guest_map, u64 size, const MemoryMap::Range* avoid, u32 n, u64& out);

// The §3.3 i386 machine state (gcpu_multiboot2_entry_state: 32-bit protected mode, paging off, flat segments,
// EAX = 0x36d76289), with EIP = entry and EBX = info_gpa.
void mb2_guest_entry_state(evmm_gcpu_state_t& s, u32 entry, u32 info_gpa);

// Helpers the Multiboot1 loader shares (vmm/guest/boot/multiboot1_guest.cpp).
namespace mbinfo {
u64 entry_end(const evmm_mmap_entry_t& e);  // base + length, saturating
// Usable entries covering [from, ...) contiguously: the end of that coverage (== from: none).
u64 usable_run_end(const evmm_mmap_entry_t* m, u32 n, u64 from);
u32 mb2_memory_type(u32 evmm_type);  // EVMM_MEM_* -> the Multiboot memory type numbers (Multiboot1 uses the same)
size_t role_len(const evmm_module_t& m);
size_t args_len(const evmm_module_t& m);
// The area a boot information structure of `size` bytes goes to at gpa: it fits in `cap`, lies below 4 GiB
// (EBX and the structure's pointers are 32-bit) and is mappable; errors are reported under `where`.
Status map_info_area(GuestMem& mem, u64 gpa, u64 size, u64 cap, const char* where, u8*& out);
} // namespace mbinfo

} // namespace evmm
