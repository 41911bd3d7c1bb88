// The Multiboot Specification version 0.6.96 ("Multiboot1"): the OS image header and the boot information
// structure, as typed constants and layouts. Section numbers: §3.1 "OS image format" (3.1.1 header layout, 3.1.2
// magic fields, 3.1.3 address fields, 3.1.4 graphics fields), §3.2 "Machine state", §3.3 "Boot information format".
// The magic numbers and header flags are defined once, in multiboot_defs.h (shared with assembler).
#pragma once

#include "evmm/base.h"
#include "lib/formats/multiboot_defs.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// OS image header (§3.1)

inline constexpr u32 MB1_HEADER_MAGIC_VALUE = MB1_HEADER_MAGIC;   // §3.1.2 `magic`
inline constexpr u32 MB1_BOOTLOADER_MAGIC_VALUE = MB1_BOOT_MAGIC; // §3.2: EAX at entry
inline constexpr u64 MB1_HEADER_SEARCH_LIMIT = 8192; // §3.1.1: header entirely within the first 8192 bytes
inline constexpr u64 MB1_HEADER_ALIGN = 4;           // §3.1.1: longword (32-bit) aligned

// §3.1.2 header flags. Bits 0-15 are requirements: one a boot loader does not understand makes the kernel
// unloadable; bits 16-31 are optional features.
inline constexpr u32 MB1_FLAG_PAGE_ALIGN_MODULES = MB1_HEADER_FLAG_PAGE_ALIGN; // modules on 4 KiB boundaries
inline constexpr u32 MB1_FLAG_MEMORY_INFO = MB1_HEADER_FLAG_MEMORY_INFO;       // mem_* (and mmap_* if available) wanted
inline constexpr u32 MB1_FLAG_VIDEO_MODE = MB1_HEADER_FLAG_VIDEO_MODE;         // video mode table wanted
inline constexpr u32 MB1_FLAG_ADDRESS_FIELDS = MB1_HEADER_FLAG_ADDRESS_FIELDS; // address fields valid (a.out kludge)
inline constexpr u32 MB1_FLAGS_REQUIRED_MASK = 0x0000FFFF;

// §3.1.1 header layout (struct multiboot_header of the specification's multiboot.h): magic, flags, checksum;
// the address fields (valid with flags bit 16); the graphics fields (valid with flags bit 2).
struct Mb1ImageHeader {
    u32 magic;         // §3.1.2
    u32 flags;         // §3.1.2
    u32 checksum;      // §3.1.2: magic + flags + checksum == 0 (mod 2^32)
    u32 header_addr;   // §3.1.3
    u32 load_addr;     // §3.1.3
    u32 load_end_addr; // §3.1.3
    u32 bss_end_addr;  // §3.1.3
    u32 entry_addr;    // §3.1.3
    u32 mode_type;     // §3.1.4
    u32 width;         // §3.1.4
    u32 height;        // §3.1.4
    u32 depth;         // §3.1.4
};
static_assert(offsetof(Mb1ImageHeader, magic) == 0);
static_assert(offsetof(Mb1ImageHeader, flags) == 4);
static_assert(offsetof(Mb1ImageHeader, checksum) == 8);
static_assert(offsetof(Mb1ImageHeader, header_addr) == 12);
static_assert(offsetof(Mb1ImageHeader, load_addr) == 16);
static_assert(offsetof(Mb1ImageHeader, load_end_addr) == 20);
static_assert(offsetof(Mb1ImageHeader, bss_end_addr) == 24);
static_assert(offsetof(Mb1ImageHeader, entry_addr) == 28);
static_assert(offsetof(Mb1ImageHeader, mode_type) == 32);
static_assert(offsetof(Mb1ImageHeader, width) == 36);
static_assert(offsetof(Mb1ImageHeader, height) == 40);
static_assert(offsetof(Mb1ImageHeader, depth) == 44);

inline constexpr u64 MB1_HEADER_MIN_SIZE = offsetof(Mb1ImageHeader, header_addr); // magic, flags, checksum: 12
inline constexpr u64 MB1_HEADER_ADDR_SIZE = offsetof(Mb1ImageHeader, mode_type);  // ... and the address fields: 32
inline constexpr u64 MB1_HEADER_VIDEO_SIZE = sizeof(Mb1ImageHeader);              // ... and the graphics fields: 48
static_assert(MB1_HEADER_MIN_SIZE == 12 && MB1_HEADER_ADDR_SIZE == 32 && MB1_HEADER_VIDEO_SIZE == 48);

// ---------------------------------------------------------------------------------------------------------------
// Boot information (§3.3)

// §3.3 `flags` bits of the information structure: which fields are valid.
inline constexpr u32 MB1_INFO_MEMORY = 1u << 0;      // mem_lower, mem_upper
inline constexpr u32 MB1_INFO_BOOTDEV = 1u << 1;     // boot_device
inline constexpr u32 MB1_INFO_CMDLINE = 1u << 2;     // cmdline
inline constexpr u32 MB1_INFO_MODS = 1u << 3;        // mods_count, mods_addr
inline constexpr u32 MB1_INFO_MMAP = 1u << 6;        // mmap_length, mmap_addr
inline constexpr u32 MB1_INFO_LOADER_NAME = 1u << 9; // boot_loader_name

// §3.3 information structure (struct multiboot_info), every field u32 except the VBE interface's u16s.
struct Mb1BootInfo {
    u32 flags;
    u32 mem_lower; // KiB from 0
    u32 mem_upper; // KiB from 1 MiB
    u32 boot_device;
    u32 cmdline;
    u32 mods_count;
    u32 mods_addr;
    u32 syms[4]; // a.out symbol table (bit 4) or ELF section header table (bit 5)
    u32 mmap_length;
    u32 mmap_addr;
    u32 drives_length;
    u32 drives_addr;
    u32 config_table;
    u32 boot_loader_name;
    u32 apm_table;
    u32 vbe_control_info;
    u32 vbe_mode_info;
    u16 vbe_mode;
    u16 vbe_interface_seg;
    u16 vbe_interface_off;
    u16 vbe_interface_len;
};
static_assert(offsetof(Mb1BootInfo, flags) == 0);
static_assert(offsetof(Mb1BootInfo, mem_lower) == 4);
static_assert(offsetof(Mb1BootInfo, mem_upper) == 8);
static_assert(offsetof(Mb1BootInfo, boot_device) == 12);
static_assert(offsetof(Mb1BootInfo, cmdline) == 16);
static_assert(offsetof(Mb1BootInfo, mods_count) == 20);
static_assert(offsetof(Mb1BootInfo, mods_addr) == 24);
static_assert(offsetof(Mb1BootInfo, mmap_length) == 44);
static_assert(offsetof(Mb1BootInfo, mmap_addr) == 48);
static_assert(offsetof(Mb1BootInfo, boot_loader_name) == 64);
static_assert(offsetof(Mb1BootInfo, vbe_interface_len) == 86);
static_assert(sizeof(Mb1BootInfo) == 88);

inline constexpr u64 MB1_INFO_FLAGS_OFFSET = offsetof(Mb1BootInfo, flags);
inline constexpr u64 MB1_INFO_MEM_LOWER_OFFSET = offsetof(Mb1BootInfo, mem_lower);
inline constexpr u64 MB1_INFO_MEM_UPPER_OFFSET = offsetof(Mb1BootInfo, mem_upper);
inline constexpr u64 MB1_INFO_BOOT_DEVICE_OFFSET = offsetof(Mb1BootInfo, boot_device);
inline constexpr u64 MB1_INFO_CMDLINE_OFFSET = offsetof(Mb1BootInfo, cmdline);
inline constexpr u64 MB1_INFO_MODS_COUNT_OFFSET = offsetof(Mb1BootInfo, mods_count);
inline constexpr u64 MB1_INFO_MODS_ADDR_OFFSET = offsetof(Mb1BootInfo, mods_addr);
inline constexpr u64 MB1_INFO_MMAP_LENGTH_OFFSET = offsetof(Mb1BootInfo, mmap_length);
inline constexpr u64 MB1_INFO_MMAP_ADDR_OFFSET = offsetof(Mb1BootInfo, mmap_addr);
inline constexpr u64 MB1_INFO_BOOT_LOADER_NAME_OFFSET = offsetof(Mb1BootInfo, boot_loader_name);
inline constexpr u64 MB1_INFO_STRUCT_SIZE = sizeof(Mb1BootInfo); // 88: through vbe_interface_len (0.6.96)

// §3.3 module structure (struct multiboot_mod_list): mod_start, mod_end (exclusive, as GRUB), string, reserved (0).
struct Mb1ModuleEntry {
    u32 mod_start;
    u32 mod_end;
    u32 string;
    u32 reserved;
};
static_assert(offsetof(Mb1ModuleEntry, mod_end) == 4 && offsetof(Mb1ModuleEntry, string) == 8);
inline constexpr u64 MB1_MODULE_ENTRY_SIZE = sizeof(Mb1ModuleEntry);
static_assert(MB1_MODULE_ENTRY_SIZE == 16);

// §3.3 memory map entry (struct multiboot_mmap_entry, packed): `size` counts the bytes after it (20); mmap_addr
// points at the first entry's `size`, the next entry starts at entry + size + 4.
struct [[gnu::packed]] Mb1MmapEntry {
    u32 size;
    u64 base_addr;
    u64 length;
    u32 type; // Mb1MemoryType
};
static_assert(offsetof(Mb1MmapEntry, base_addr) == 4);
static_assert(offsetof(Mb1MmapEntry, length) == 12);
static_assert(offsetof(Mb1MmapEntry, type) == 20);
inline constexpr u64 MB1_MMAP_ENTRY_SIZE = sizeof(Mb1MmapEntry);
inline constexpr u32 MB1_MMAP_ENTRY_SIZE_FIELD = MB1_MMAP_ENTRY_SIZE - sizeof(u32);
static_assert(MB1_MMAP_ENTRY_SIZE == 24 && MB1_MMAP_ENTRY_SIZE_FIELD == 20);

// §3.3 memory map `type`: 1 available RAM, 3 usable ACPI information, 4 reserved memory to preserve on
// hibernation, 5 defective RAM; every other value means reserved.
enum class Mb1MemoryType : u32 {
    Available = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    Nvs = 4,
    BadRam = 5,
};

} // namespace evmm
