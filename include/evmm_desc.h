// evmm_desc_t: the one contract between the loader and the VMM.
//
// The loader (loader/) builds exactly one of these inside the hypervisor's runtime region and passes its address
// to vmm_main(cpu_id, desc) on every CPU. Everything the VMM knows about the machine and about guest0 comes from
// here; the VMM never parses Multiboot2 itself. docs/evmm_desc.md documents every field.
//
// Layout rules: plain C layout, fixed-size arrays, no pointers (only 64-bit physical addresses), so the loader and
// the VMM (two separately linked images) agree byte for byte. Every offset is pinned by static_assert below; a
// change to this file bumps EVMM_DESC_VERSION.
#pragma once

#include <stddef.h>
#include <stdint.h>

#define EVMM_DESC_MAGIC 0x637365444d4d5645ull /* "EVMMDesc" little-endian */
#define EVMM_DESC_VERSION 11u /* 11: the PM1 status ports; 10: options.fallback; 9: the screen console; 8: the TEE */

#define EVMM_MAX_CPUS 64u
#define EVMM_MAX_MMAP 128u
#define EVMM_MAX_BOOT_MODULES 16u
#define EVMM_ROLE_MAX 16u
/* A boot module's arguments, NUL included: Linux's COMMAND_LINE_SIZE (x86), so up to 2047 characters, the
   cmdline_size of every x86 kernel since 2.6.25 (its setup header is still the real limit for a Linux guest0). */
#define EVMM_BOOT_MODULE_CMDLINE_MAX 2048u
#define EVMM_CMDLINE_MAX 256u

// Per-CPU stack block inside the runtime region (see docs/evmm_desc.md):
//   guard | main stack | guard | #DF IST | guard | NMI IST | guard | #MC IST
// Guard pages are left unmapped by the VMM's page tables, so an overflow faults (and lands on an IST stack).
#define EVMM_GUARD_SIZE 0x1000u
#define EVMM_STACK_SIZE 0x8000u
#define EVMM_IST_STACK_SIZE 0x1000u
#define EVMM_IST_COUNT 3u
#define EVMM_STACK_BLOCK_SIZE \
    (EVMM_GUARD_SIZE + EVMM_STACK_SIZE + EVMM_IST_COUNT * (EVMM_GUARD_SIZE + EVMM_IST_STACK_SIZE))

// Memory types, with E820/Multiboot2 numbering.
#define EVMM_MEM_USABLE 1u
#define EVMM_MEM_RESERVED 2u
#define EVMM_MEM_ACPI_RECLAIMABLE 3u
#define EVMM_MEM_ACPI_NVS 4u
#define EVMM_MEM_BAD 5u

// Where the final stop of the hypervisor goes (options.testexit).
#define EVMM_TESTEXIT_NONE 0u
#define EVMM_TESTEXIT_QEMU 1u  /* isa-debug-exit, port 0xf4 */
#define EVMM_TESTEXIT_BOCHS 2u /* "Shutdown" to port 0x8900 */

// Deliberate faults for testing the exception/panic path (options.crashtest, `crashtest=` on the command line).
/* What evmm does when the CPU cannot run it (no VT-x or SVM, or a needed feature missing): `fallback=`. */
#define EVMM_FALLBACK_STOP 0u        /* stop with the reason (the default) */
#define EVMM_FALLBACK_BOOT_GUEST0 1u /* boot guest0 natively, without evmm (no isolation), after saying why */

#define EVMM_CRASHTEST_NONE 0u
#define EVMM_CRASHTEST_UD 1u       /* ud2: invalid opcode */
#define EVMM_CRASHTEST_PF 2u       /* read of an unmapped address: page fault */
#define EVMM_CRASHTEST_STACK 3u    /* unbounded recursion into the guard page: #PF, then #DF on its IST stack */
#define EVMM_CRASHTEST_PANIC 4u    /* a software panic */
#define EVMM_CRASHTEST_VMENTRY 5u  /* a broken guest state at the first VM entry: the VM-entry checker explains it */
#define EVMM_CRASHTEST_AP_PANIC 6u /* cpu1 panics in stage 5: every CPU stops, each saying where it was */
#define EVMM_CRASHTEST_MSR 7u      /* not a crash: faulting RDMSR/WRMSR caught by the exception table, boot goes on */

// Log levels (options.log_level).
#define EVMM_LOG_ERROR 0u
#define EVMM_LOG_WARN 1u
#define EVMM_LOG_INFO 2u
#define EVMM_LOG_DEBUG 3u

// Where the log goes (options.console, `console=` on the command line): a bit mask.
#define EVMM_CONSOLE_SERIAL 1u /* the UART of options.serial_port */
#define EVMM_CONSOLE_SCREEN 2u /* the screen of evmm_desc_t.screen, until guest0 starts */
#define EVMM_CONSOLE_BOTH (EVMM_CONSOLE_SERIAL | EVMM_CONSOLE_SCREEN)

// What kind of screen the loader found (evmm_screen_t.type).
#define EVMM_SCREEN_NONE 0u     /* no screen (or console=serial, or one evmm cannot draw on) */
#define EVMM_SCREEN_EGA_TEXT 1u /* EGA/VGA text mode: 2 bytes per cell (character, attribute) */
#define EVMM_SCREEN_RGB 2u      /* a linear framebuffer with direct RGB color, 16, 24 or 32 bits per pixel */

// How tsc_khz was found.
#define EVMM_TSC_SOURCE_CPUID15 1u
#define EVMM_TSC_SOURCE_CPUID16 2u
#define EVMM_TSC_SOURCE_PIT 3u

typedef struct evmm_mmap_entry {
    uint64_t base;
    uint64_t length;
    uint32_t type; /* EVMM_MEM_* */
    uint32_t reserved;
} evmm_mmap_entry_t;

// An image as loaded (load_*: where GRUB put the file) and as run (runtime_*: where it executes).
typedef struct evmm_file_info {
    uint64_t load_addr;
    uint64_t load_size;
    uint64_t runtime_addr;
    uint64_t runtime_size;
    uint64_t entry; /* runtime address of the entry point (0: none) */
} evmm_file_info_t;

typedef struct evmm_boot_module {
    uint64_t start;
    uint64_t size;
    char role[EVMM_ROLE_MAX];                   /* first word of the GRUB module command line */
    char cmdline[EVMM_BOOT_MODULE_CMDLINE_MAX]; /* the rest of it */
} evmm_boot_module_t;

typedef struct evmm_options {
    uint8_t log_level;    /* EVMM_LOG_* */
    uint8_t vtdtest;      /* 1: the VT-d DMA test in stage 2 (`vtdtest=1`, QEMU -device intel-iommu -device edu) */
    uint8_t forceexits;   /* 1: turn on the VT-x exits evmm handles but never needs (`forceexits=1`, tests) */
    uint8_t console;      /* EVMM_CONSOLE_* mask (version 9; `console=`, default both) */
    uint16_t serial_port; /* I/O base of the log UART; 0 = no serial log */
    uint8_t testexit;     /* EVMM_TESTEXIT_* */
    uint8_t crashtest;    /* EVMM_CRASHTEST_*: a deliberate fault after stage 1, to test the panic path */
    uint8_t fallback;     /* EVMM_FALLBACK_* (version 10): when the CPU cannot run evmm (`fallback=stop|boot-guest0`) */
    uint8_t reserved[7];
} evmm_options_t;

/* How guest0 enters ACPI sleep states (from the FADT and the DSDT's \_S5): evmm watches PM1a_CNT/PM1b_CNT. */
typedef struct evmm_acpi_power {
    uint16_t pm1a_cnt;    /* I/O port of PM1a_CNT; 0: none usable (hardware-reduced, memory-mapped, no FADT) */
    uint16_t pm1b_cnt;    /* I/O port of PM1b_CNT; 0: none */
    uint8_t s5_valid;     /* 1: s5_slp_typ_a/b come from \_S5 */
    uint8_t s5_slp_typ_a; /* SLP_TYP value of S5 (soft off) for PM1a_CNT */
    uint8_t s5_slp_typ_b; /* ... for PM1b_CNT */
    uint8_t reserved;
} evmm_acpi_power_t;

/* Version 9: the screen the log also goes to until guest0 starts (docs/debugging.md#screen-console): from the
   Multiboot2 framebuffer tag (§3.6.12), or VGA text mode at 0xB8000 on a BIOS boot without one. Below 4 GiB (the
   loader's and the VMM's identity maps); type EVMM_SCREEN_NONE when there is none evmm can use. */
typedef struct evmm_screen {
    uint64_t addr;   /* physical address of the text buffer or the framebuffer */
    uint32_t pitch;  /* bytes from one row (of cells or pixels) to the next */
    uint32_t width;  /* text: columns; RGB: pixels */
    uint32_t height; /* text: rows; RGB: pixels */
    uint8_t bpp;     /* bits per pixel (text: 16, a cell) */
    uint8_t type;    /* EVMM_SCREEN_* */
    uint8_t red_pos, red_size, green_pos, green_size, blue_pos, blue_size; /* RGB: each channel's bit field */
    uint32_t cursor_row; /* the row the VMM's log continues on, below the loader's last line (may be text_rows) */
    /* What the screen shows, as the loader's console keeps it (lib/screen.h): text_rows lines of text_cols
       characters, row-major, in the loader's memory. The VMM copies it in stage 1 and continues from there. */
    uint64_t text_addr;
    uint16_t text_cols;
    uint16_t text_rows;
    uint32_t reserved;
} evmm_screen_t;

typedef struct evmm_desc {
    uint64_t magic;   /* EVMM_DESC_MAGIC */
    uint32_t version; /* EVMM_DESC_VERSION */
    uint32_t size;    /* sizeof(evmm_desc_t) */

    uint32_t num_cpus; /* CPUs the loader started (BSP included); each calls vmm_main(cpu_id, desc) */
    uint32_t bsp_apic_id;
    uint32_t apic_ids[EVMM_MAX_CPUS]; /* index = evmm cpu id; [0] is the BSP, then the started APs in MADT order */

    uint64_t top_of_memory; /* end of the highest memory-map range that is neither reserved nor bad RAM */
    uint64_t tsc_khz;
    uint32_t tsc_source; /* EVMM_TSC_SOURCE_* */
    uint32_t reserved0;

    evmm_file_info_t vmm_file;
    evmm_file_info_t loader_file;

    /* The runtime region: [runtime_base, runtime_base + runtime_size), 2 MiB aligned, hidden from guest0. */
    uint64_t runtime_base;
    uint64_t runtime_size;
    uint64_t stacks_base; /* EVMM_STACK_BLOCK_SIZE per CPU; block n = cpu id n (sized for the MADT count >= num_cpus) */
    uint64_t stacks_size;
    uint64_t heap_base;
    uint64_t heap_size;
    uint64_t symtab_addr; /* evmm symbol table (see docs/evmm_desc.md), 0 if none */
    uint64_t symtab_size;

    uint64_t acpi_rsdp; /* physical address of an RSDP (GRUB's copy inside mb2_info when GRUB gave one), 0 if none */
    uint64_t mb2_info;  /* physical address of GRUB's Multiboot2 information (not preserved for guest0) */
    uint64_t efi_system_table; /* 0 when booted by BIOS */

    evmm_options_t options;
    char cmdline[EVMM_CMDLINE_MAX]; /* evmm's own command line */

    uint32_t boot_module_count;
    uint32_t guest0_boot_module; /* index into boot_modules[], or UINT32_MAX if there is no guest0 */
    evmm_boot_module_t boot_modules[EVMM_MAX_BOOT_MODULES]; /* GRUB's modules (module2 lines) */

    uint32_t guest0_mmap_count;
    uint32_t reserved1;
    evmm_mmap_entry_t guest0_mmap[EVMM_MAX_MMAP]; /* sorted, merged, runtime region and trampoline page removed */

    uint64_t loader_entry_tsc; /* TSC at the loader's first instruction (Bochs: 1 tick per instruction) */
    uint64_t trampoline_base;  /* the APs' real-mode start page (4 KiB, below 1 MiB; hidden from guest0), 0 if none */
    evmm_acpi_power_t acpi_power; /* version 4 */

    /* Version 8: the secure world (docs/tee.md, include/evmm_tee.h), all 0 (tee_boot_module UINT32_MAX) without a
       TEE. The loader carved [tee_base, tee_base + tee_size) from RAM, loaded the `tee` module's image at
       tee_base + EVMM_TEE_IMAGE_OFFSET and wrote the info page and the initial page tables; the range and a
       tee_barrier-byte barrier on each side are out of guest0_mmap. */
    uint64_t tee_base;        /* 2 MiB aligned, below 4 GiB */
    uint64_t tee_size;        /* bytes, a multiple of 2 MiB, >= EVMM_TEE_MIN_SIZE */
    uint64_t tee_entry;       /* runtime address of the image's entry point */
    uint64_t tee_barrier;     /* EVMM_TEE_BARRIER: no guest has [base - barrier, base) or [end, end + barrier) */
    uint32_t tee_boot_module; /* index into boot_modules[] of the image, or UINT32_MAX */
    /* Version 11: the I/O ports of the PM1a/PM1b status registers (the FADT's PM1x_EVT_BLK; ACPI 6.5 §4.8.3.1), 0:
       none usable. evmm answers a sleep request (S1-S4) as a machine that woke at once: WAK_STS reads as set. */
    uint16_t acpi_pm1a_sts;
    uint16_t acpi_pm1b_sts;
    evmm_screen_t screen; /* version 9: the screen console's screen (type EVMM_SCREEN_NONE: none) */
} evmm_desc_t;

#ifdef __cplusplus
static_assert(sizeof(evmm_mmap_entry_t) == 24);
static_assert(sizeof(evmm_file_info_t) == 40);
static_assert(sizeof(evmm_boot_module_t) == 16 + EVMM_ROLE_MAX + EVMM_BOOT_MODULE_CMDLINE_MAX);
static_assert(sizeof(evmm_options_t) == 16 && offsetof(evmm_options_t, fallback) == 8);
static_assert(offsetof(evmm_options_t, vtdtest) == 1 && offsetof(evmm_options_t, forceexits) == 2 &&
              offsetof(evmm_options_t, console) == 3 && offsetof(evmm_options_t, serial_port) == 4);
static_assert(sizeof(evmm_screen_t) == 48);
static_assert(offsetof(evmm_screen_t, bpp) == 20 && offsetof(evmm_screen_t, type) == 21 &&
              offsetof(evmm_screen_t, red_pos) == 22 && offsetof(evmm_screen_t, cursor_row) == 28 &&
              offsetof(evmm_screen_t, text_addr) == 32 && offsetof(evmm_screen_t, text_cols) == 40);
static_assert(offsetof(evmm_desc_t, num_cpus) == 16);
static_assert(offsetof(evmm_desc_t, top_of_memory) == 24 + 4 * EVMM_MAX_CPUS);
static_assert(offsetof(evmm_desc_t, vmm_file) == 48 + 4 * EVMM_MAX_CPUS);
static_assert(offsetof(evmm_desc_t, runtime_base) == 128 + 4 * EVMM_MAX_CPUS);
static_assert(offsetof(evmm_desc_t, acpi_rsdp) == 192 + 4 * EVMM_MAX_CPUS);
static_assert(offsetof(evmm_desc_t, options) == 216 + 4 * EVMM_MAX_CPUS);
static_assert(offsetof(evmm_desc_t, boot_module_count) == 232 + 4 * EVMM_MAX_CPUS + EVMM_CMDLINE_MAX);
static_assert(offsetof(evmm_desc_t, guest0_mmap) % 8 == 0);
static_assert(offsetof(evmm_desc_t, trampoline_base) == offsetof(evmm_desc_t, loader_entry_tsc) + 8);
static_assert(sizeof(evmm_acpi_power_t) == 8);
static_assert(offsetof(evmm_desc_t, acpi_power) == offsetof(evmm_desc_t, trampoline_base) + 8);
static_assert(offsetof(evmm_desc_t, tee_base) == offsetof(evmm_desc_t, acpi_power) + 8);
static_assert(offsetof(evmm_desc_t, screen) == offsetof(evmm_desc_t, tee_base) + 40);
static_assert(offsetof(evmm_desc_t, acpi_pm1a_sts) == 0x9134 && offsetof(evmm_desc_t, acpi_pm1b_sts) == 0x9136);
static_assert(sizeof(evmm_desc_t) == offsetof(evmm_desc_t, screen) + sizeof(evmm_screen_t));
static_assert(sizeof(evmm_desc_t) % 8 == 0);
static_assert(sizeof(evmm_boot_module_t) == 2080);
static_assert(offsetof(evmm_desc_t, guest0_mmap) == 0x84f8);
static_assert(offsetof(evmm_desc_t, screen) == 0x9138);
static_assert(sizeof(evmm_desc_t) == 0x9168); /* 37224 bytes: 10 pages of the runtime region (desc_builder) */
#endif
