// The Multiboot2 specification 2.0: the OS image header's constants (§3.1 "OS image format", §3.3 "I386 machine
// state"; the magic numbers are defined once, in multiboot_defs.h), the boot information's tag and memory types
// (§3.6 "Boot information format"), and a defensive parser of that information, the structure GRUB hands the
// loader in EBX.
//
// mb2_parse() reads nothing outside [info, info + min(avail, total_size)), validates every size it relies on,
// and returns an evmm::Status naming the offending tag on malformed input. It copies what the loader needs into
// a fixed-capacity Mb2Info (no heap); strings and RSDP copies are pointers into the information itself, so the
// information must stay in place while Mb2Info is used.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "lib/formats/multiboot_defs.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// The OS image header (§3.1) and the machine state (§3.3)

// §3.1.1/§3.1.2: the header's fixed part (magic, architecture, header_length, checksum) and where it may be.
inline constexpr u32 MB2_HEADER_MAGIC_VALUE = MB2_HEADER_MAGIC; // §3.1.2 `magic`
inline constexpr u32 MB2_ARCHITECTURE_I386 = MB2_ARCH_I386;     // §3.1.2 `architecture`: 32-bit protected mode of i386
inline constexpr u64 MB2_HEADER_SEARCH_LIMIT = 32768;           // §3.1.1: header entirely within the first 32768 bytes
inline constexpr u64 MB2_HEADER_ALIGN = 8;                      // §3.1.1: header 64-bit aligned
inline constexpr u64 MB2_HEADER_FIXED_SIZE = 16;                // §3.1.1: four u32 fields, tags from offset 16
inline constexpr u64 MB2_HEADER_TAG_ALIGN = 8;                  // §3.1.3: every tag starts 8-byte aligned
inline constexpr u16 MB2_HEADER_TAG_FLAG_OPTIONAL = 1;          // §3.1.3: flags bit 0 `optional`
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

// ---------------------------------------------------------------------------------------------------------------
// The boot information (§3.6)

// Tag types, Multiboot2 spec section 3.6 (3.6.2 .. 3.6.18 and the end tag of 3.6.1).
enum class Mb2TagType : u32 {
    End = 0,
    Cmdline = 1,
    BootLoaderName = 2,
    Module = 3,
    BasicMeminfo = 4,
    BootDevice = 5,
    Mmap = 6,
    Vbe = 7,
    Framebuffer = 8,
    ElfSections = 9,
    Apm = 10,
    Efi32SystemTable = 11,
    Efi64SystemTable = 12,
    Smbios = 13,
    AcpiOldRsdp = 14,
    AcpiNewRsdp = 15,
    Network = 16,
    EfiMmap = 17,
    EfiBootServicesNotTerminated = 18,
    Efi32ImageHandle = 19,
    Efi64ImageHandle = 20,
    LoadBaseAddr = 21,
};

// Memory map entry types, Multiboot2 spec section 3.6.8; every other value means reserved.
enum class Mb2MemoryType : u32 {
    Available = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    Nvs = 4,    // "reserved memory which needs to be preserved on hibernation"
    BadRam = 5, // "memory which is occupied by defective RAM modules"
};

// A NUL-terminated string inside the information. str == nullptr when absent; len excludes the NUL.
struct Mb2String {
    const char* str = nullptr;
    size_t len = 0;
};

struct Mb2Module {
    u32 mod_start = 0; // physical, inclusive
    u32 mod_end = 0;   // physical, exclusive (GRUB: start + file size)
    Mb2String cmdline; // the GRUB `module2 FILE ARGS` ARGS (GRUB drops FILE)
};

// §3.6.12 framebuffer_type.
enum class Mb2FramebufferType : u8 {
    Indexed = 0,   // a palette follows (framebuffer_palette_num_colors, then 3-byte entries)
    DirectRgb = 1, // the six u8 color fields follow
    EgaText = 2,   // no color information; width and height are in characters
};

// Tag 8 (§3.6.12 "Framebuffer info"), as GRUB 2 writes it: the common part is 32 bytes (GRUB's
// multiboot_tag_framebuffer_common ends in a u16 reserved), the color information starts at offset 32.
struct Mb2Framebuffer {
    u64 addr = 0;
    u32 pitch = 0;             // bytes per line
    u32 width = 0, height = 0; // pixels; EGA text: characters
    u8 bpp = 0;
    u8 type = 0; // Mb2FramebufferType, or a later revision's value (kept, not understood)
    // DirectRgb only: each channel's bit position and size within a pixel.
    u8 red_pos = 0, red_size = 0, green_pos = 0, green_size = 0, blue_pos = 0, blue_size = 0;
    u16 palette_colors = 0; // Indexed only (the palette itself is not kept)
};

struct Mb2Info {
    u32 total_size = 0;

    Mb2String cmdline;     // tag 1 (GRUB drops the image path: only the arguments)
    Mb2String loader_name; // tag 2

    bool has_meminfo = false; // tag 4
    u32 mem_lower_kib = 0;
    u32 mem_upper_kib = 0;

    // Tag 6. The raw entries (mmap_raw, mmap_entry_size apart, mmap_raw_count of them) and a translated copy with
    // zero-length entries dropped and types mapped to EVMM_MEM_* (unknown types -> EVMM_MEM_RESERVED).
    bool has_mmap = false;
    u32 mmap_entry_size = 0;
    u32 mmap_entry_version = 0;
    const u8* mmap_raw = nullptr;
    u32 mmap_raw_count = 0;
    u32 mmap_count = 0;
    evmm_mmap_entry_t mmap[EVMM_MAX_MMAP] = {};

    u32 module_count = 0; // tag 3, in the order GRUB listed them
    Mb2Module modules[EVMM_MAX_BOOT_MODULES] = {};

    // Tags 14 and 15: the RSDP copies inside the information (length = the tag's payload).
    const u8* acpi_old_rsdp = nullptr;
    u32 acpi_old_rsdp_len = 0;
    const u8* acpi_new_rsdp = nullptr;
    u32 acpi_new_rsdp_len = 0;

    bool has_efi32_system_table = false; // tag 11
    u32 efi32_system_table = 0;
    bool has_efi64_system_table = false; // tag 12
    u64 efi64_system_table = 0;
    bool has_efi_mmap = false;             // tag 17 (contents not parsed)
    bool efi_boot_services_active = false; // tag 18 present: ExitBootServices() was not called

    bool has_framebuffer = false; // tag 8
    Mb2Framebuffer framebuffer;

    bool has_load_base = false; // tag 21: where GRUB put a relocatable image
    u32 load_base = 0;

    // The RSDP to use: the ACPI 2.0+ copy (tag 15) when present, else the ACPI 1.0 copy (tag 14), else nullptr.
    const u8* rsdp() const { return acpi_new_rsdp != nullptr ? acpi_new_rsdp : acpi_old_rsdp; }
    u32 rsdp_len() const { return acpi_new_rsdp != nullptr ? acpi_new_rsdp_len : acpi_old_rsdp_len; }
};

// Parses the boot information at `info`; `avail` = how many bytes the caller knows are readable there (on the
// machine: as many as the identity map allows; in tests: the buffer size). On error `out` is partially filled
// and must not be used. Errors name the tag in Status::where and put the tag's byte offset (or index) in value.
Status mb2_parse(const u8* info, size_t avail, Mb2Info& out);

// The screen evmm's log may use (docs/debugging.md#screen-console), from the information: the framebuffer tag when
// there is one (§3.6.12: direct RGB or EGA text), else, booted by BIOS (no EFI system table tag, §3.6.13/§3.6.14),
// VGA text mode: 80x25 cells at 0xB8000. Success with out.type EVMM_SCREEN_NONE: no screen (UEFI without a
// framebuffer tag). An error says why a framebuffer that is there cannot be used: indexed color, a type this
// parser does not know, or memory past `limit` (what the identity maps reach: 4 GiB). out.cursor_row is 0. The geometry
// itself (bpp, pitch, sizes) is checked by the screen (lib/screen_surface.h).
Status mb2_screen(const Mb2Info& info, u64 limit, evmm_screen_t& out);

// mb2_split_module_cmdline's errors (Status::what), one object each so that a caller can tell them apart.
inline constexpr char MB2_ERR_NO_ROLE[] = "module has no role";
inline constexpr char MB2_ERR_ROLE_TOO_LONG[] = "module role is too long";
inline constexpr char MB2_ERR_ARGS_TOO_LONG[] = "module arguments are too long";

// Splits a module command line (len bytes, or up to the first NUL) into its role (the first word) and the rest
// with leading whitespace removed; both outputs are NUL-terminated. Whitespace: space, tab, CR, LF.
// Errors: no role (MB2_ERR_NO_ROLE); role longer than role_cap - 1 (MB2_ERR_ROLE_TOO_LONG, value = its length,
// value2 = role_cap - 1); rest longer than args_cap - 1 (MB2_ERR_ARGS_TOO_LONG, value = its length, value2 =
// args_cap - 1). Nothing is cut: on an error both outputs are empty strings.
Status mb2_split_module_cmdline(const char* cmdline, size_t len, char* role, size_t role_cap, char* args,
                                size_t args_cap);

} // namespace evmm
