// The secure world's contract (docs/tee.md): how evmm boots a TEE image (GRUB boot module role `tee`), what the TEE
// finds in its first page, and the SMC VMCALL both worlds use. Plain C layout, shared by evmm, the test TEE
// (tests/guests) and guest0's clients (the kit, the Linux driver in tools/). Compatible with eVMM's Trusty module:
// the startup structure is eVMM's trusty_startup_info_t, the SMC number is its TRUSTY_VMCALL_SMC.
#pragma once

#include <stddef.h>
#include <stdint.h>

/* VMCALL from CPL 0 of either world, RAX = this: a world switch. RDI, RSI, RDX and RCX go to the other world (its
   same registers); everything else of each world (the other GPRs, RIP, RSP, RFLAGS, control registers, XSAVE
   state, debug registers, syscall MSRs, SPEC_CTRL) stays its own. RAX reads this number again in the world that
   resumes. From CPL 3, or with another RAX, the ordinary VMCALL rules (docs/vmcall.md) apply. */
#define EVMM_TEE_VMCALL_SMC 0x74727500u /* eVMM's TRUSTY_VMCALL_SMC ("tru" 0x747275 << 8) */

/* What guest0 reads back in RAX (and RDI) instead of the TEE's answer when there is no TEE to answer: */
#define EVMM_TEE_SMC_ERR_NO_TEE 0xFFFFFFFFFFFFFFEDull /* -19 (ENODEV): evmm runs without a `tee` module */
#define EVMM_TEE_SMC_ERR_DEAD 0xFFFFFFFFFFFFFFFBull   /* -5 (EIO): the TEE died (fault, triple fault, bad VMCALL) */

/* The TEE's memory (carved by evmm from RAM, 2 MiB aligned, a 1 MiB barrier below and above that no guest has):
     base + 0                      the info page: evmm_tee_seed_t at offset 0, evmm_tee_startup_info_t at
                                   EVMM_TEE_STARTUP_OFFSET, the initial GDT at EVMM_TEE_GDT_OFFSET
     base + EVMM_TEE_PT_OFFSET     the initial page tables (EVMM_TEE_PT_SIZE): identity, 2 MiB pages, [0, 4 GiB) and
                                   the TEE's range
     base + EVMM_TEE_IMAGE_OFFSET  the image: an ELF64 static PIE (ET_DYN, R_X86_64_RELATIVE only) loaded here
     ...                           free (the TEE's heap)
     base + size - n * EVMM_TEE_STACK_SIZE   the stack top of CPU n (RSP at entry, 16-byte aligned)
   Each CPU's TEE vCPU starts at the image's entry in 64-bit mode (CS 0x08, SS/DS/ES 0x10 of the initial GDT,
   CR0.PE|PG, CR4.PAE, EFER.LME|LMA|NXE, CR3 = the page tables, RFLAGS 0x2: interrupts off) with
   RDI = the startup structure's address, RSI = the CPU's number (0 = BSP), RSP = its stack top. The TEE starts
   before guest0 on every CPU; its first SMC on a CPU hands that CPU to guest0 (the BSP: guest0's boot). */
#define EVMM_TEE_MIN_SIZE 0x1000000ull   /* 16 MiB */
#define EVMM_TEE_ALIGN 0x200000ull       /* 2 MiB */
#define EVMM_TEE_BARRIER 0x100000ull     /* 1 MiB on each side */
#define EVMM_TEE_STARTUP_OFFSET 0x100u   /* in the info page */
#define EVMM_TEE_GDT_OFFSET 0x800u       /* in the info page: null, 64-bit code (0x08), data (0x10) */
#define EVMM_TEE_PT_OFFSET 0x1000ull     /* the initial page tables */
#define EVMM_TEE_PT_SIZE 0xF000ull       /* up to 15 pages */
#define EVMM_TEE_IMAGE_OFFSET 0x10000ull /* the image's lowest PT_LOAD lands here */
#define EVMM_TEE_STACK_SIZE 0x4000ull    /* per CPU, at the top */

/* At offset 0 of the info page: a device seed the TEE may derive keys from (evmm fills it from RDRAND/RDSEED where
   the CPU has them, else from the TSC; a real platform would take it from its firmware). */
#define EVMM_TEE_SEED_SIZE 32u
typedef struct evmm_tee_seed {
    uint32_t size_of_this_struct; /* sizeof(evmm_tee_seed_t) */
    uint32_t version;             /* 1 */
    uint8_t seed[EVMM_TEE_SEED_SIZE];
} evmm_tee_seed_t;

/* eVMM's trusty_startup_info_t, byte for byte. */
typedef struct evmm_tee_startup_info {
    uint32_t size_of_this_struct;  /* sizeof(evmm_tee_startup_info_t): both sides check it */
    uint32_t mem_size;             /* the TEE's memory in bytes (barriers excluded) */
    uint64_t calibrate_tsc_per_ms; /* TSC ticks per millisecond */
    uint64_t trusty_mem_base;      /* physical (= guest-physical) base of the TEE's memory */
    uint32_t sipi_ap_wkup_addr;    /* 0: every CPU's TEE vCPU starts at the entry (RSI = its number) */
    uint8_t padding[4];
} evmm_tee_startup_info_t;

#ifdef __cplusplus
static_assert(sizeof(evmm_tee_seed_t) == 40);
static_assert(sizeof(evmm_tee_startup_info_t) == 32);
static_assert(offsetof(evmm_tee_startup_info_t, mem_size) == 4);
static_assert(offsetof(evmm_tee_startup_info_t, calibrate_tsc_per_ms) == 8);
static_assert(offsetof(evmm_tee_startup_info_t, trusty_mem_base) == 16);
static_assert(offsetof(evmm_tee_startup_info_t, sipi_ap_wkup_addr) == 24);
static_assert(EVMM_TEE_STARTUP_OFFSET >= sizeof(evmm_tee_seed_t));
static_assert(EVMM_TEE_GDT_OFFSET >= EVMM_TEE_STARTUP_OFFSET + sizeof(evmm_tee_startup_info_t));
static_assert(EVMM_TEE_PT_OFFSET + EVMM_TEE_PT_SIZE <= EVMM_TEE_IMAGE_OFFSET);
#endif

/* The test TEE's services (tests/guests/tee.cpp), selected by RDI of guest0's SMC; the answer comes back in RDI
   (status: 0 or a negative errno) and RSI/RDX/RCX (results). */
#define EVMM_TEE_SVC_ECHO 1u    /* RSI, RDX, RCX come back unchanged */
#define EVMM_TEE_SVC_ADD 2u     /* RSI = RSI + RDX */
#define EVMM_TEE_SVC_COUNTER 3u /* RSI = a counter kept in TEE memory, incremented by each call */
#define EVMM_TEE_SVC_MAC                                                                                           \
    4u                           /* RSI = guest-physical buffer, RDX = length (<= 4096): RSI = a 64-bit MAC of the \
                                    bytes under a key that exists only in TEE memory */
#define EVMM_TEE_SVC_CRASH 5u    /* test only: the TEE raises an exception it has no handler for */
#define EVMM_TEE_SVC_SELFTEST 6u /* RSI = checks passed, RDX = checks failed of the TEE's view of its own memory */
