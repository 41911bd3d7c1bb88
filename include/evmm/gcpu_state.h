// A guest CPU's architectural state in the VMCS guest-state layout: what a guest loader hands to a vCPU as its first
// state (Multiboot entry, Linux entry, the state after INIT). Plain C layout, shared by the guest loaders (pure,
// host-tested) and the VT-x backend that writes it into a VMCS (vmm/vmx/vmcs_setup).
#pragma once

#include <stddef.h>
#include <stdint.h>

// A segment register in the VMCS guest-state layout (Intel SDM Vol. 3C, 25.4.1; access rights per Table 25-2).
typedef struct evmm_segment {
    uint64_t base;
    uint32_t limit;
    uint32_t attributes; /* VMX access-rights format; bit 16 = unusable */
    uint16_t selector;
    uint16_t reserved[3];
} evmm_segment_t;

typedef struct evmm_table_reg {
    uint64_t base;
    uint32_t limit;
    uint32_t reserved;
} evmm_table_reg_t;

// Index order of evmm_gcpu_state_t.gp[].
#define EVMM_GP_RAX 0u
#define EVMM_GP_RCX 1u
#define EVMM_GP_RDX 2u
#define EVMM_GP_RBX 3u
#define EVMM_GP_RSP 4u
#define EVMM_GP_RBP 5u
#define EVMM_GP_RSI 6u
#define EVMM_GP_RDI 7u
#define EVMM_GP_COUNT 16u

#define EVMM_SEG_ES 0u
#define EVMM_SEG_CS 1u
#define EVMM_SEG_SS 2u
#define EVMM_SEG_DS 3u
#define EVMM_SEG_FS 4u
#define EVMM_SEG_GS 5u
#define EVMM_SEG_LDTR 6u
#define EVMM_SEG_TR 7u
#define EVMM_SEG_COUNT 8u

// A guest CPU's state at its first instruction.
typedef struct evmm_gcpu_state {
    uint64_t gp[EVMM_GP_COUNT];
    uint64_t rip;
    uint64_t rflags;
    uint64_t cr0;
    uint64_t cr3;
    uint64_t cr4;
    uint64_t efer;
    evmm_segment_t seg[EVMM_SEG_COUNT];
    evmm_table_reg_t gdtr;
    evmm_table_reg_t idtr;
} evmm_gcpu_state_t;

#ifdef __cplusplus
static_assert(sizeof(evmm_segment_t) == 24);
static_assert(sizeof(evmm_table_reg_t) == 16);
static_assert(sizeof(evmm_gcpu_state_t) == 16 * 8 + 6 * 8 + 8 * 24 + 2 * 16);
#endif
