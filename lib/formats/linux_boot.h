// The Linux/x86 boot protocol: the setup header of a bzImage and the zero page (struct boot_params) a boot loader
// fills, as typed constants and layouts. References are to the kernel's Documentation/arch/x86/boot.rst ("The
// Linux/x86 Boot Protocol": "The Real-Mode Kernel Header", "Details of Header Fields", "The Kernel Command Line",
// "32-bit Boot Protocol", "64-bit Boot Protocol") and Documentation/arch/x86/zero-page.rst (the layout of struct
// boot_params). Every offset below is the one those documents give; the layouts are static_asserted.
#pragma once

#include "evmm/base.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Constants (boot.rst "The Real-Mode Kernel Header", "Details of Header Fields", "32-bit Boot Protocol",
// "64-bit Boot Protocol"; zero-page.rst)

inline constexpr u32 LINUX_HDRS_MAGIC = 0x53726448;      // `header`: "HdrS"
inline constexpr u16 LINUX_BOOT_FLAG_MAGIC = 0xAA55;     // `boot_flag`
inline constexpr u64 LINUX_SECTOR_SIZE = 512;            // setup_sects counts 512-byte sectors
inline constexpr u32 LINUX_SETUP_SECTS_DEFAULT = 4;      // setup_sects == 0 means 4
inline constexpr u64 LINUX_SYSSIZE_UNIT = 16;            // syssize counts 16-byte paragraphs
inline constexpr u16 LINUX_PROTOCOL_2_06 = 0x0206;       // cmdline_size
inline constexpr u16 LINUX_PROTOCOL_2_10 = 0x020A;       // pref_address, init_size, min_alignment
inline constexpr u16 LINUX_PROTOCOL_2_12 = 0x020C;       // xloadflags
inline constexpr u16 LINUX_PROTOCOL_2_14 = 0x020E;       // acpi_rsdp_addr (zero page 0x070)
inline constexpr u64 LINUX_DEFAULT_LOAD_ADDR = 0x100000; // where a bzImage's protected-mode kernel goes (< 2.10)
inline constexpr u32 LINUX_DEFAULT_INITRD_ADDR_MAX = 0x37FFFFFF; // boot.rst: initrd_addr_max before 2.03
inline constexpr u64 LINUX_ZERO_PAGE_SIZE = 4096;                // struct boot_params
inline constexpr u32 LINUX_E820_MAX_ENTRIES_ZEROPAGE = 128;      // e820_table[] in the zero page
inline constexpr u8 LINUX_TYPE_OF_LOADER_UNDEFINED = 0xFF;       // type_of_loader: "undefined" (no assigned ID)
inline constexpr u64 LINUX_KERNEL_64_ENTRY_OFFSET = 0x200;       // XLF_KERNEL_64: 64-bit entry at kernel + 0x200
inline constexpr u16 LINUX_BOOT_CS = 0x10;                       // 32/64-bit boot protocol: __BOOT_CS
inline constexpr u16 LINUX_BOOT_DS = 0x18;                       // 32/64-bit boot protocol: __BOOT_DS

// loadflags (0x211).
inline constexpr u8 LINUX_LOADED_HIGH = 1u << 0; // protected-mode code loaded at 0x100000 (bzImage)
inline constexpr u8 LINUX_KASLR_FLAG = 1u << 1;  // set by the kernel
inline constexpr u8 LINUX_QUIET_FLAG = 1u << 5;
inline constexpr u8 LINUX_KEEP_SEGMENTS = 1u << 6; // obsolete
inline constexpr u8 LINUX_CAN_USE_HEAP = 1u << 7;  // heap_end_ptr valid (real-mode entry only)

// xloadflags (0x236, protocol 2.12).
inline constexpr u16 LINUX_XLF_KERNEL_64 = 1u << 0;              // 64-bit entry at +0x200
inline constexpr u16 LINUX_XLF_CAN_BE_LOADED_ABOVE_4G = 1u << 1; // kernel/boot_params/cmdline/initrd may be > 4G
inline constexpr u16 LINUX_XLF_EFI_HANDOVER_32 = 1u << 2;
inline constexpr u16 LINUX_XLF_EFI_HANDOVER_64 = 1u << 3;
inline constexpr u16 LINUX_XLF_EFI_KEXEC = 1u << 4;

// ---------------------------------------------------------------------------------------------------------------
// Layouts (zero-page.rst; the setup header is at 0x1F1 both in the image and in the zero page)

// struct setup_header: boot.rst "The Real-Mode Kernel Header". Offsets are zero-page/file offsets minus 0x1F1.
struct [[gnu::packed]] LinuxSetupHeader {
    u8 setup_sects;            // 0x1F1
    u16 root_flags;            // 0x1F2
    u32 syssize;               // 0x1F4
    u16 ram_size;              // 0x1F8
    u16 vid_mode;              // 0x1FA
    u16 root_dev;              // 0x1FC
    u16 boot_flag;             // 0x1FE
    u16 jump;                  // 0x200
    u32 header;                // 0x202
    u16 version;               // 0x206
    u32 realmode_swtch;        // 0x208
    u16 start_sys_seg;         // 0x20C
    u16 kernel_version;        // 0x20E
    u8 type_of_loader;         // 0x210
    u8 loadflags;              // 0x211
    u16 setup_move_size;       // 0x212
    u32 code32_start;          // 0x214
    u32 ramdisk_image;         // 0x218
    u32 ramdisk_size;          // 0x21C
    u32 bootsect_kludge;       // 0x220
    u16 heap_end_ptr;          // 0x224
    u8 ext_loader_ver;         // 0x226
    u8 ext_loader_type;        // 0x227
    u32 cmd_line_ptr;          // 0x228
    u32 initrd_addr_max;       // 0x22C
    u32 kernel_alignment;      // 0x230
    u8 relocatable_kernel;     // 0x234
    u8 min_alignment;          // 0x235
    u16 xloadflags;            // 0x236
    u32 cmdline_size;          // 0x238
    u32 hardware_subarch;      // 0x23C
    u64 hardware_subarch_data; // 0x240
    u32 payload_offset;        // 0x248
    u32 payload_length;        // 0x24C
    u64 setup_data;            // 0x250
    u64 pref_address;          // 0x258
    u32 init_size;             // 0x260
    u32 handover_offset;       // 0x264
    u32 kernel_info_offset;    // 0x268
};

// struct boot_params ("zero page"), the fields evmm writes or reserves; the rest is padding kept zero.
struct [[gnu::packed]] LinuxBootParams {
    u8 screen_info[0x40];       // 0x000
    u8 apm_bios_info[0x14];     // 0x040
    u8 _pad2[4];                // 0x054
    u64 tboot_addr;             // 0x058
    u8 ist_info[0x10];          // 0x060
    u64 acpi_rsdp_addr;         // 0x070 (protocol 2.14)
    u8 _pad3[8];                // 0x078
    u8 hd0_info[0x10];          // 0x080
    u8 hd1_info[0x10];          // 0x090
    u8 sys_desc_table[0x10];    // 0x0A0
    u8 olpc_ofw_header[0x10];   // 0x0B0
    u32 ext_ramdisk_image;      // 0x0C0
    u32 ext_ramdisk_size;       // 0x0C4
    u32 ext_cmd_line_ptr;       // 0x0C8
    u8 _pad4[0x13C - 0xCC];     // 0x0CC
    u32 cc_blob_address;        // 0x13C
    u8 edid_info[0x80];         // 0x140
    u8 efi_info[0x20];          // 0x1C0
    u32 alt_mem_k;              // 0x1E0
    u32 scratch;                // 0x1E4
    u8 e820_entries;            // 0x1E8
    u8 eddbuf_entries;          // 0x1E9
    u8 edd_mbr_sig_buf_entries; // 0x1EA
    u8 kbd_status;              // 0x1EB
    u8 secure_boot;             // 0x1EC
    u8 _pad5[2];                // 0x1ED
    u8 sentinel;                // 0x1EF: must stay 0 (a non-zero sentinel tells the kernel to scrub fields)
    u8 _pad6[1];                // 0x1F0
    LinuxSetupHeader hdr;       // 0x1F1
    u8 _pad7[0x290 - 0x1F1 - sizeof(LinuxSetupHeader)];
    u32 edd_mbr_sig_buffer[16];                          // 0x290
    u8 e820_table[LINUX_E820_MAX_ENTRIES_ZEROPAGE * 20]; // 0x2D0: struct boot_e820_entry[128]
    u8 _pad8[0xD00 - 0xCD0];                             // 0xCD0
    u8 eddbuf[0xEEC - 0xD00];                            // 0xD00
    u8 _pad9[LINUX_ZERO_PAGE_SIZE - 0xEEC];
};

// struct boot_e820_entry: packed {u64 addr, u64 size, u32 type}; the types are the EVMM_MEM_* (= E820) numbers.
struct [[gnu::packed]] LinuxE820Entry {
    u64 addr;
    u64 size;
    u32 type;
};

static_assert(sizeof(LinuxE820Entry) == 20);
static_assert(sizeof(LinuxBootParams) == LINUX_ZERO_PAGE_SIZE);
static_assert(offsetof(LinuxBootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(LinuxBootParams, ext_ramdisk_image) == 0x0C0);
static_assert(offsetof(LinuxBootParams, ext_ramdisk_size) == 0x0C4);
static_assert(offsetof(LinuxBootParams, ext_cmd_line_ptr) == 0x0C8);
static_assert(offsetof(LinuxBootParams, cc_blob_address) == 0x13C);
static_assert(offsetof(LinuxBootParams, efi_info) == 0x1C0);
static_assert(offsetof(LinuxBootParams, e820_entries) == 0x1E8);
static_assert(offsetof(LinuxBootParams, sentinel) == 0x1EF);
static_assert(offsetof(LinuxBootParams, hdr) == 0x1F1);
static_assert(offsetof(LinuxBootParams, edd_mbr_sig_buffer) == 0x290);
static_assert(offsetof(LinuxBootParams, e820_table) == 0x2D0);
static_assert(offsetof(LinuxBootParams, eddbuf) == 0xD00);

// Zero-page (= file) offsets of the setup header fields.
inline constexpr u64 LINUX_HDR_OFFSET = offsetof(LinuxBootParams, hdr); // 0x1F1
#define EVMM_LINUX_HDR_OFF(f) (LINUX_HDR_OFFSET + offsetof(LinuxSetupHeader, f))
static_assert(EVMM_LINUX_HDR_OFF(setup_sects) == 0x1F1);
static_assert(EVMM_LINUX_HDR_OFF(syssize) == 0x1F4);
static_assert(EVMM_LINUX_HDR_OFF(vid_mode) == 0x1FA);
static_assert(EVMM_LINUX_HDR_OFF(boot_flag) == 0x1FE);
static_assert(EVMM_LINUX_HDR_OFF(jump) == 0x200);
static_assert(EVMM_LINUX_HDR_OFF(header) == 0x202);
static_assert(EVMM_LINUX_HDR_OFF(version) == 0x206);
static_assert(EVMM_LINUX_HDR_OFF(type_of_loader) == 0x210);
static_assert(EVMM_LINUX_HDR_OFF(loadflags) == 0x211);
static_assert(EVMM_LINUX_HDR_OFF(code32_start) == 0x214);
static_assert(EVMM_LINUX_HDR_OFF(ramdisk_image) == 0x218);
static_assert(EVMM_LINUX_HDR_OFF(ramdisk_size) == 0x21C);
static_assert(EVMM_LINUX_HDR_OFF(heap_end_ptr) == 0x224);
static_assert(EVMM_LINUX_HDR_OFF(cmd_line_ptr) == 0x228);
static_assert(EVMM_LINUX_HDR_OFF(initrd_addr_max) == 0x22C);
static_assert(EVMM_LINUX_HDR_OFF(kernel_alignment) == 0x230);
static_assert(EVMM_LINUX_HDR_OFF(relocatable_kernel) == 0x234);
static_assert(EVMM_LINUX_HDR_OFF(min_alignment) == 0x235);
static_assert(EVMM_LINUX_HDR_OFF(xloadflags) == 0x236);
static_assert(EVMM_LINUX_HDR_OFF(cmdline_size) == 0x238);
static_assert(EVMM_LINUX_HDR_OFF(hardware_subarch) == 0x23C);
static_assert(EVMM_LINUX_HDR_OFF(setup_data) == 0x250);
static_assert(EVMM_LINUX_HDR_OFF(pref_address) == 0x258);
static_assert(EVMM_LINUX_HDR_OFF(init_size) == 0x260);
static_assert(EVMM_LINUX_HDR_OFF(handover_offset) == 0x264);
static_assert(EVMM_LINUX_HDR_OFF(kernel_info_offset) == 0x268);
inline constexpr u64 LINUX_HDR_END_LIMIT = offsetof(LinuxBootParams, _pad7) + sizeof(LinuxBootParams::_pad7); // 0x290
static_assert(LINUX_HDR_END_LIMIT == 0x290);

} // namespace evmm
