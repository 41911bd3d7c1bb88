// evmm as the boot loader of a Linux guest0 (bzImage, the Linux/x86 boot protocol, 64-bit entry when the kernel
// offers it, else the 32-bit one): check the kernel's setup header, plan where the protected-mode kernel, the zero
// page (struct boot_params), the command line, the initrd and (64-bit entry) the boot page tables and GDT go, copy
// them into guest memory, fill the zero page, and give the vCPU the state the boot protocol requires. Pure logic:
// guest memory is reached only through the injected GuestMem (vmm/guest/boot/guest_mem.h).
//
// Use (stage 4, vmm/guest/guest.cpp; guest0 is identity-mapped, gpa == hpa). The loader writes guest0's entry state
// into `entry`, the evmm_gcpu_state_t guest0's BSP vCPU first runs with:
//   linux_is_bzimage(img, size);                                  // "HdrS" at 0x202, boot_flag 0xAA55 at 0x1FE
//   linux_inspect(img, size, li);                                 // setup header fields, protocol >= 2.06
//   linux_plan(li, guest_map, avoid, n, initrd_size, cmdline_len, plan);   // avoid: modules, image, hypervisor
//   linux_load(img, size, li, plan, mem, initrd, initrd_size, cmdline, cmdline_len, e820, e820_count, rsdp, pa);
//   if (plan.entry64 != 0) linux_entry_state_64(entry, plan.entry64, plan.zero_page, plan.boot_tables);
//   else linux_entry_state_32(entry, plan.code32_start, plan.zero_page);
//
// References are to the kernel's Documentation/arch/x86/boot.rst ("The Linux/x86 Boot Protocol") and
// Documentation/arch/x86/zero-page.rst; the setup header and zero page layouts and the protocol's constants are in
// lib/formats/linux_boot.h.
//
// Every routine reads nothing outside [image, image + size), checks every size and address it relies on, and on
// malformed input returns a Status naming the field (Status::where) with the offending values.
#pragma once

#include "evmm/base.h"
#include "evmm/gcpu_state.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "lib/formats/linux_boot.h"
#include "lib/formats/memmap.h"
#include "vmm/guest/boot/guest_mem.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// evmm's choices

inline constexpr u16 LINUX_MIN_PROTOCOL = LINUX_PROTOCOL_2_06; // evmm needs cmdline_size (2.06) and the 32-bit entry

// The boot page tables and GDT of the 64-bit entry (evmm's layout of the area LinuxPlan::boot_tables): a PML4, one
// PDPT and four page directories of 2 MiB pages identity-map [0, 4 GiB) (boot.rst: "the range with
// setup_header.init_size from start address of loaded kernel and zero page and command line buffer get ident
// mapping"; linux_plan keeps all of those below 4 GiB), then a GDT with __BOOT_CS (64-bit code, execute/read) and
// __BOOT_DS (read/write), both flat.
inline constexpr u64 LINUX_IDENT_MAP_LIMIT = 4 * GiB;        // identity-mapped: [0, 4 GiB)
inline constexpr u32 LINUX_BOOT_PD_COUNT = 4;                // one page directory (1 GiB) per GiB
inline constexpr u64 LINUX_BOOT_PML4_OFFSET = 0;             // CR3
inline constexpr u64 LINUX_BOOT_PDPT_OFFSET = 1 * PAGE_SIZE; // PML4[0]
inline constexpr u64 LINUX_BOOT_PD_OFFSET = 2 * PAGE_SIZE;   // PDPT[i] -> + i * 4 KiB, i < 4
inline constexpr u64 LINUX_BOOT_GDT_OFFSET = LINUX_BOOT_PD_OFFSET + LINUX_BOOT_PD_COUNT * PAGE_SIZE; // GDTR.base
inline constexpr u32 LINUX_BOOT_GDT_ENTRIES = LINUX_BOOT_DS / 8 + 1; // null, unused 0x08, __BOOT_CS, __BOOT_DS
inline constexpr u64 LINUX_BOOT_TABLES_SIZE = LINUX_BOOT_GDT_OFFSET + PAGE_SIZE; // 7 pages, 4 KiB aligned
static_assert(LINUX_BOOT_PD_COUNT * GiB == LINUX_IDENT_MAP_LIMIT);
static_assert(LINUX_BOOT_TABLES_SIZE == 7 * PAGE_SIZE);

// Placement policy of linux_plan.
inline constexpr u64 LINUX_PLACE_MIN = 1 * MiB;            // nothing is placed below 1 MiB
inline constexpr u64 LINUX_RELOC_PREFERRED_MIN = 16 * MiB; // a relocated kernel goes at or above this first
inline constexpr u64 LINUX_ADDRESS_LIMIT = 4 * GiB;        // the 32-bit entry: everything below 4 GiB
inline constexpr u32 LINUX_PLAN_MAX_AVOID = 64;            // ranges linux_plan accepts in avoid[]

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
