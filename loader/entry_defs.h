/* Constants shared by loader/entry.S (assembler: plain #defines only) and the C++ loader. */
#pragma once

#include "lib/formats/multiboot_defs.h"

/* CPUID and control bits used before C++ runs (Intel SDM Vol. 2A CPUID; Vol. 3A §2.5, §4.5). */
#define CPUID_EXT_MAX 0x80000000
#define CPUID_EXT_FEATURES 0x80000001
#define CPUID_EXT_EDX_NX (1 << 20)
#define CPUID_EXT_EDX_LM (1 << 29)
#define MSR_IA32_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)
#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define PTE_P (1 << 0)
#define PTE_RW (1 << 1)
#define PTE_PS (1 << 7)

/* The loader's own GDT: flat 64-bit code and data (SDM Vol. 3A §3.4.5). */
#define GDT_CODE64 0x00AF9A000000FFFF
#define GDT_DATA 0x00CF92000000FFFF
#define LOADER_CS 0x08
#define LOADER_DS 0x10

#define LOADER_IDENTITY_GIB 4 /* the loader runs on an identity map of the first 4 GiB */
#define LOADER_PT_PAGES (2 + LOADER_IDENTITY_GIB)
#define LOADER_STACK_SIZE 0x8000
#define COM1_PORT 0x3F8
