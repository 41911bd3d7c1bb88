/* Multiboot (0.6.96) and Multiboot2 (2.0) magic numbers and header tag values, as plain #defines: the one
 * definition for assembler (loader/entry.S, the guest kit's entry.S) and C++ (the typed constants of
 * lib/formats/multiboot1.h and lib/formats/multiboot2.h, which the guest loaders in vmm/guest/boot/ use). */
#pragma once

/* Multiboot2 spec §3.1.2 header magic and architecture, §3.3 EAX at entry. */
#define MB2_HEADER_MAGIC 0xE85250D6
#define MB2_ARCH_I386 0
#define MB2_BOOT_MAGIC 0x36D76289
/* §3.1.3/§3.1.4/§3.1.11 header tags used by evmm's and the test guests' headers. */
#define MB2_HEADER_TAG_END 0
#define MB2_HEADER_TAG_INFORMATION_REQUEST 1
#define MB2_HEADER_TAG_MODULE_ALIGN 6
#define MB2_HEADER_TAG_OPTIONAL 1
/* §3.6 boot information tag types that headers request. */
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_MODULE 3
#define MB2_TAG_MMAP 6
#define MB2_TAG_EFI64 12
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15

/* Multiboot 0.6.96 §3.1.2 header magic and flags, §3.2 EAX at entry. */
#define MB1_HEADER_MAGIC 0x1BADB002
#define MB1_BOOT_MAGIC 0x2BADB002
#define MB1_HEADER_FLAG_PAGE_ALIGN 0x1
#define MB1_HEADER_FLAG_MEMORY_INFO 0x2
#define MB1_HEADER_FLAG_VIDEO_MODE 0x4
#define MB1_HEADER_FLAG_ADDRESS_FIELDS 0x10000
