// evmm as the boot loader of a Linux guest0 (bzImage, the Linux/x86 boot protocol, 64-bit entry when the kernel
// offers it, else the 32-bit one): check the kernel's setup header, plan where the protected-mode kernel, the zero
// page (struct boot_params), the command line, the initrd and (64-bit entry) the boot page tables and GDT go, copy
// them into guest memory, fill the zero page, and give the vCPU the state the boot protocol requires. Pure logic:
// guest memory is reached only through the injected GuestMem (vmm/guest/boot/multiboot2_guest.h).
//
// Typical use (the VMM, guest0 identity-mapped so gpa == hpa):
//   linux_is_bzimage(img, size);                                  // "HdrS" at 0x202, boot_flag 0xAA55 at 0x1FE
//   linux_inspect(img, size, li);                                 // setup header fields, protocol >= 2.06
//   linux_plan(li, guest_map, avoid, n, initrd_size, cmdline_len, plan);   // avoid: modules, image, hypervisor
//   linux_load(img, size, li, plan, mem, initrd, initrd_size, cmdline, cmdline_len, e820, e820_count, rsdp, pa);
//   if (plan.entry64 != 0) linux_entry_state_64(desc.guest0_gcpu, plan.entry64, plan.zero_page, plan.boot_tables);
//   else linux_entry_state_32(desc.guest0_gcpu, plan.code32_start, plan.zero_page);
//
// References are to the kernel's Documentation/arch/x86/boot.rst ("The Linux/x86 Boot Protocol": "The Real-Mode
// Kernel Header", "Details of Header Fields", "The Kernel Command Line", "32-bit Boot Protocol", "64-bit Boot
// Protocol") and Documentation/arch/x86/zero-page.rst (the layout of struct boot_params). Every offset below is
// the one those documents give; the layouts are static_asserted.
//
// Every routine reads nothing outside [image, image + size), checks every size and address it relies on, and on
// malformed input returns a Status naming the field (Status::where) with the offending values.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm/gcpu_state.h"
#include "evmm_desc.h"
#include "lib/formats/memmap.h"
#include "vmm/guest/boot/multiboot2_guest.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Spec constants (boot.rst)

inline constexpr u32 LINUX_HDRS_MAGIC = 0x53726448;      // `header`: "HdrS"
inline constexpr u16 LINUX_BOOT_FLAG_MAGIC = 0xAA55;     // `boot_flag`
inline constexpr u64 LINUX_SECTOR_SIZE = 512;            // setup_sects counts 512-byte sectors
inline constexpr u32 LINUX_SETUP_SECTS_DEFAULT = 4;      // setup_sects == 0 means 4
inline constexpr u64 LINUX_SYSSIZE_UNIT = 16;            // syssize counts 16-byte paragraphs
inline constexpr u16 LINUX_MIN_PROTOCOL = 0x0206;        // evmm needs cmdline_size (2.06) and the 32-bit entry
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

// The boot page tables and GDT of the 64-bit entry (evmm's layout of the area LinuxPlan::boot_tables): a PML4, one
// PDPT and four page directories of 2 MiB pages identity-map [0, 4 GiB) (boot.rst: "the range with
// setup_header.init_size from start address of loaded kernel and zero page and command line buffer get ident
// mapping"; linux_plan keeps all of those below 4 GiB), then a GDT with __BOOT_CS (64-bit code, execute/read) and
// __BOOT_DS (read/write), both flat.
inline constexpr u64 LINUX_IDENT_MAP_LIMIT = 4 * GiB;               // identity-mapped: [0, 4 GiB)
inline constexpr u32 LINUX_BOOT_PD_COUNT = 4;                       // one page directory (1 GiB) per GiB
inline constexpr u64 LINUX_BOOT_PML4_OFFSET = 0;                    // CR3
inline constexpr u64 LINUX_BOOT_PDPT_OFFSET = 1 * PAGE_SIZE;        // PML4[0]
inline constexpr u64 LINUX_BOOT_PD_OFFSET = 2 * PAGE_SIZE;          // PDPT[i] -> + i * 4 KiB, i < 4
inline constexpr u64 LINUX_BOOT_GDT_OFFSET = LINUX_BOOT_PD_OFFSET + LINUX_BOOT_PD_COUNT * PAGE_SIZE; // GDTR.base
inline constexpr u32 LINUX_BOOT_GDT_ENTRIES = LINUX_BOOT_DS / 8 + 1; // null, unused 0x08, __BOOT_CS, __BOOT_DS
inline constexpr u64 LINUX_BOOT_TABLES_SIZE = LINUX_BOOT_GDT_OFFSET + PAGE_SIZE; // 7 pages, 4 KiB aligned
static_assert(LINUX_BOOT_PD_COUNT * GiB == LINUX_IDENT_MAP_LIMIT);
static_assert(LINUX_BOOT_TABLES_SIZE == 7 * PAGE_SIZE);

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

// Placement policy of linux_plan.
inline constexpr u64 LINUX_PLACE_MIN = 1 * MiB;            // nothing is placed below 1 MiB
inline constexpr u64 LINUX_RELOC_PREFERRED_MIN = 16 * MiB; // a relocated kernel goes at or above this first
inline constexpr u64 LINUX_ADDRESS_LIMIT = 4 * GiB;        // the 32-bit entry: everything below 4 GiB
inline constexpr u32 LINUX_PLAN_MAX_AVOID = 64;            // ranges linux_plan accepts in avoid[]

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

// ---------------------------------------------------------------------------------------------------------------
// The image

// What linux_inspect found in the setup header (fields absent before their protocol version get the documented
// defaults).
struct LinuxImage {
    u16 version = 0;       // protocol, e.g. 0x020F for 2.15
    u32 setup_sects = 0;   // after the 0 -> 4 rule
    u64 setup_size = 0;    // (setup_sects + 1) * 512: file offset of the protected-mode kernel
    u64 kernel_offset = 0; // == setup_size
    u64 kernel_size = 0;   // syssize * 16 bytes copied to the kernel address
    u64 header_end = 0;    // 0x202 + image[0x201], at most 0x290: end of the setup header to copy
    u8 loadflags = 0;
    u16 xloadflags = 0;                         // 0 before 2.12
    bool relocatable = false;                   // relocatable_kernel
    u32 kernel_alignment = 0;                   // a power of two when relocatable
    u64 pref_address = LINUX_DEFAULT_LOAD_ADDR; // 2.10+; 0x100000 before
    u64 init_size = 0;            // 2.10+: linear memory the kernel needs from its load address; before: estimate
    u32 cmdline_size = 0;         // longest command line, without the terminating NUL
    u32 initrd_addr_max = 0;      // highest address the initrd may occupy (last byte)
    bool has_64bit_entry = false; // XLF_KERNEL_64
};

// Whether image looks like a bzImage: boot_flag 0xAA55 at 0x1FE and "HdrS" at 0x202 (nothing else checked).
bool linux_is_bzimage(const u8* image, size_t size);

// Reads and checks the setup header. Errors name the field: no "HdrS" / boot_flag; protocol older than 2.06
// ("setup header version 0x0204 < 0x0206" with value = version); LOADED_HIGH clear (zImage); image shorter than
// the setup sectors or the protected-mode kernel syssize announces; syssize 0; a relocatable kernel whose
// kernel_alignment is not a power of two; init_size smaller than the kernel.
Status linux_inspect(const u8* image, size_t size, LinuxImage& out);

// ---------------------------------------------------------------------------------------------------------------
// Plan

struct LinuxPlan {
    u64 kernel_addr = 0;    // protected-mode kernel load address (= code32_start)
    u64 kernel_reserve = 0; // [kernel_addr, + kernel_reserve) kept for the kernel: max(init_size, kernel_size)
    bool relocated = false; // kernel_addr != pref_address
    u64 zero_page = 0;      // struct boot_params, 4 KiB, 4 KiB aligned
    u64 cmdline_addr = 0;   // command line (cmdline_len bytes + NUL), 4 KiB aligned
    u64 cmdline_reserve = 0;
    u64 cmdline_len = 0;
    u64 initrd_addr = 0; // 0 with initrd_size 0
    u64 initrd_size = 0;
    u32 code32_start = 0; // 32-bit entry (kernel_addr)
    u64 entry64 = 0;      // 64-bit entry (kernel_addr + 0x200) when XLF_KERNEL_64, else 0
    u64 boot_tables = 0;  // with entry64: page tables + GDT, LINUX_BOOT_TABLES_SIZE, 4 KiB aligned; else 0
};

// Plans guest0's memory: every area lies inside one EVMM_MEM_USABLE entry of guest_map (guest0's map, without
// the hypervisor), overlaps no other entry type, none of avoid[0..n) (the modules, guest0's own bzImage and initrd
// included since they are copy sources, and anything else guest0 must not cover) and no other planned area.
//  - Kernel: [pref_address, + reserve) when that fits below 4 GiB; otherwise, when relocatable, the lowest
//    kernel_alignment-aligned place at or above max(pref_address, 16 MiB), then at or above pref_address (never
//    below: the decompressor of a relocatable kernel loaded below LOAD_PHYSICAL_ADDR = pref_address moves itself
//    up to pref_address); otherwise an error.
//  - initrd (initrd_size 0: none): the highest 4 KiB-aligned place ending at or below
//    min(initrd_addr_max + 1, 4 GiB), at or above 1 MiB; "initrd too large" when it cannot fit.
//  - Zero page and command line: the lowest 4 KiB-aligned places at or above 1 MiB, below 4 GiB.
//  - Boot page tables and GDT (XLF_KERNEL_64 only: the 64-bit entry is used): LINUX_BOOT_TABLES_SIZE at the lowest
//    4 KiB-aligned place at or above 1 MiB, below 4 GiB, after the zero page and the command line.
// Errors: cmdline_len > cmdline_size ("command line too long"), n > LINUX_PLAN_MAX_AVOID, no room.
Status linux_plan(const LinuxImage& li, const MemoryMap& guest_map, const MemoryMap::Range* avoid, u32 n,
                  u64 initrd_size, size_t cmdline_len, LinuxPlan& out);

// ---------------------------------------------------------------------------------------------------------------
// Load

// Copies the protected-mode kernel (image[kernel_offset, + kernel_size)) to plan.kernel_addr, the initrd to
// plan.initrd_addr, the command line (cmdline_len bytes, NUL appended; cmdline may be null when cmdline_len is 0)
// to plan.cmdline_addr, and builds the zero page at plan.zero_page: all zero, then the setup header copied from
// the image ([0x1F1, header_end)), then type_of_loader = 0xFF, code32_start, ramdisk_image/ramdisk_size
// (+ ext_ramdisk_* for the upper halves), cmd_line_ptr (+ ext_cmd_line_ptr), e820_entries/e820_table from
// e820[0..e820_count) (at most 128), and acpi_rsdp_addr = rsdp_pa when rsdp (a readable copy of the RSDP,
// checked for "RSD PTR ") is given and the protocol is >= 2.14. Loadflags are kept as the image has them
// (KEEP_SEGMENTS and CAN_USE_HEAP cleared: no real-mode setup runs). With plan.entry64 it also writes the boot
// page tables and the GDT at plan.boot_tables (layout: LINUX_BOOT_*_OFFSET): PML4[0] -> PDPT, PDPT[0..3] -> the
// four page directories, whose 2048 entries map [0, 4 GiB) identity with 2 MiB pages (P, R/W, A, D, PS; upper
// levels P, R/W, A; everything else zero), and GDT entries 2 (__BOOT_CS) and 3 (__BOOT_DS) matching the segments
// of linux_entry_state_64 (entries 0 and 1 null). Every area is checked (mappable, not overlapping the image or
// initrd it is copied from, plan consistent with li and the sizes) before a byte is written. Errors: e820_count >
// 128, bad RSDP, inconsistent plan, unmappable area.
Status linux_load(const u8* image, size_t size, const LinuxImage& li, const LinuxPlan& plan, GuestMem& mem,
                  const u8* initrd, u64 initrd_size, const char* cmdline, size_t cmdline_len,
                  const evmm_mmap_entry_t* e820, u32 e820_count, const u8* rsdp, u64 rsdp_pa);

// ---------------------------------------------------------------------------------------------------------------
// Entry state

// boot.rst "32-bit Boot Protocol": protected mode, paging off, flat 4 GiB segments with base 0 (CS = __BOOT_CS
// 0x10 execute/read, DS = ES = SS = __BOOT_DS 0x18 read/write; FS/GS the same), interrupts off (RFLAGS = 2),
// ESI = boot_params, EBP = EDI = EBX = 0, EIP = code32_start. The segment caches come from the VMCS, so no GDT is
// needed (GDTR is left empty; the kernel loads its own GDT before reloading a segment register).
void linux_entry_state_32(evmm_gcpu_state_t& s, u32 code32_start, u32 boot_params);

// boot.rst "64-bit Boot Protocol": 64-bit mode with paging (CR0 = PE | ET | PG, CR4 = PAE, EFER = LME | LMA, CR3 =
// boot_tables + LINUX_BOOT_PML4_OFFSET: the identity map linux_load wrote), GDTR = the GDT at boot_tables +
// LINUX_BOOT_GDT_OFFSET (LINUX_BOOT_GDT_ENTRIES descriptors), CS = __BOOT_CS 0x10 (64-bit code: L = 1, D = 0,
// execute/read), DS = ES = SS = FS = GS = __BOOT_DS 0x18 (read/write), all flat with base 0; TR a busy TSS (type
// 11, the 64-bit busy TSS in IA-32e mode), LDTR unusable; interrupts off (RFLAGS = 2), RSI = boot_params, RBP =
// RDI = RBX = 0, RIP = entry64 (kernel + 0x200). Passes the VM-entry checks of IA-32e mode (vmm/vmentry_check).
void linux_entry_state_64(evmm_gcpu_state_t& s, u64 entry64, u64 boot_params, u64 boot_tables);

} // namespace evmm
