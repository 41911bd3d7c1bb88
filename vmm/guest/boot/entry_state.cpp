#include "vmm/guest/boot/entry_state.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/rflags.h"
#include "evmm_tee.h"
#include "lib/formats/multiboot2.h"

namespace evmm {
namespace {

// VMX access-rights format (Intel SDM Vol. 3C §25.4.1, Table 25-2): type, S, DPL, P, AVL, L, D/B, G; unusable.
constexpr u32 AR_TYPE_CODE_ER_ACCESSED = 0xB;
constexpr u32 AR_TYPE_DATA_RW_ACCESSED = 0x3;
constexpr u32 AR_TYPE_TSS_BUSY_32 = 0xB;
constexpr u32 AR_TYPE_LDT = 0x2;
constexpr u32 AR_S = 1u << 4;
constexpr u32 AR_P = 1u << 7;
constexpr u32 AR_DB = 1u << 14;
constexpr u32 AR_G = 1u << 15;
constexpr u32 AR_UNUSABLE = 1u << 16;
constexpr u32 FLAT_LIMIT = 0xFFFFFFFF;
constexpr u64 CR0_PE_BIT = bit(0);
constexpr u64 CR0_ET_BIT = bit(4);
constexpr u16 FLAT_CS = 0x08;
constexpr u16 FLAT_DS = 0x10;

} // namespace

void gcpu_multiboot2_entry_state(evmm_gcpu_state_t& s) {
    s = evmm_gcpu_state_t{};
    s.gp[EVMM_GP_RAX] = MB2_BOOT_MAGIC;
    s.rflags = RFLAGS_FIXED1;
    s.cr0 = CR0_PE_BIT | CR0_ET_BIT;
    const evmm_segment_t code{0, FLAT_LIMIT, AR_TYPE_CODE_ER_ACCESSED | AR_S | AR_P | AR_DB | AR_G, FLAT_CS, {}};
    const evmm_segment_t data{0, FLAT_LIMIT, AR_TYPE_DATA_RW_ACCESSED | AR_S | AR_P | AR_DB | AR_G, FLAT_DS, {}};
    s.seg[EVMM_SEG_CS] = code;
    s.seg[EVMM_SEG_DS] = data;
    s.seg[EVMM_SEG_ES] = data;
    s.seg[EVMM_SEG_FS] = data;
    s.seg[EVMM_SEG_GS] = data;
    s.seg[EVMM_SEG_SS] = data;
    // SDM Vol. 3C §27.3.1.2: TR must be usable (a busy TSS) for VM entry; LDTR may be unusable.
    s.seg[EVMM_SEG_TR] = evmm_segment_t{0, 0xFF, AR_TYPE_TSS_BUSY_32 | AR_P, 0, {}};
    s.seg[EVMM_SEG_LDTR] = evmm_segment_t{0, 0, AR_TYPE_LDT | AR_UNUSABLE, 0, {}};
    s.gdtr = evmm_table_reg_t{0, 0xFFFF, 0};
    s.idtr = evmm_table_reg_t{0, 0xFFFF, 0};
}

void gcpu_init_state(evmm_gcpu_state_t& s, u32 edx) {
    constexpr u64 CR0_AFTER_INIT = 0x60000010; // CD | NW | ET
    constexpr u64 RIP_AFTER_INIT = 0xFFF0;
    constexpr u16 CS_AFTER_INIT = 0xF000;
    constexpr u64 CS_BASE_AFTER_INIT = 0xFFFF0000;
    constexpr u32 REAL_MODE_LIMIT = 0xFFFF;
    // TR after INIT: a busy 32-bit TSS, what processors (and KVM, Bochs) load; a 16-bit one would make the
    // guest's later switch to IA-32e mode fail (#GP: long mode with a 286 TSS in TR). SDM Vol. 3C §27.3.1.2
    // allows both for a guest outside IA-32e mode.
    constexpr u32 AR_TYPE_TSS_BUSY_32 = 0xB;
    s = evmm_gcpu_state_t{};
    s.gp[EVMM_GP_RDX] = edx;
    s.rip = RIP_AFTER_INIT;
    s.rflags = RFLAGS_FIXED1;
    s.cr0 = CR0_AFTER_INIT;
    const evmm_segment_t data{0, REAL_MODE_LIMIT, AR_TYPE_DATA_RW_ACCESSED | AR_S | AR_P, 0, {}};
    s.seg[EVMM_SEG_CS] =
        evmm_segment_t{CS_BASE_AFTER_INIT, REAL_MODE_LIMIT, AR_TYPE_CODE_ER_ACCESSED | AR_S | AR_P, CS_AFTER_INIT, {}};
    s.seg[EVMM_SEG_DS] = data;
    s.seg[EVMM_SEG_ES] = data;
    s.seg[EVMM_SEG_FS] = data;
    s.seg[EVMM_SEG_GS] = data;
    s.seg[EVMM_SEG_SS] = data;
    s.seg[EVMM_SEG_TR] = evmm_segment_t{0, REAL_MODE_LIMIT, AR_TYPE_TSS_BUSY_32 | AR_P, 0, {}};
    s.seg[EVMM_SEG_LDTR] = evmm_segment_t{0, REAL_MODE_LIMIT, AR_TYPE_LDT | AR_P, 0, {}};
    s.gdtr = evmm_table_reg_t{0, REAL_MODE_LIMIT, 0};
    s.idtr = evmm_table_reg_t{0, REAL_MODE_LIMIT, 0};
}

void gcpu_tee_entry_state(evmm_gcpu_state_t& s, u64 entry, u64 tee_base, u64 tee_size, u32 cpu) {
    gcpu_multiboot2_entry_state(s); // flat segments, TR (busy TSS) and LDTR, RFLAGS 0x2, zeroed registers
    constexpr u16 CS = 0x08, DS = 0x10;
    constexpr u32 AR_L = 1u << 13, AR_DB = 1u << 14; // SDM Vol. 3C §25.4.1, Table 25-2
    evmm_segment_t& cs = s.seg[EVMM_SEG_CS];
    cs.selector = CS;
    cs.attributes = (cs.attributes & ~AR_DB) | AR_L;
    const u32 data_segs[] = {EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_SS, EVMM_SEG_FS, EVMM_SEG_GS};
    for (u32 i : data_segs) s.seg[i].selector = DS;
    s.cr0 |= CR0_PG;
    s.cr3 = tee_base + EVMM_TEE_PT_OFFSET;
    s.cr4 = CR4_PAE;
    s.efer = EFER_LME | EFER_LMA | EFER_NXE;
    s.gdtr = evmm_table_reg_t{tee_base + EVMM_TEE_GDT_OFFSET, 3 * sizeof(u64) - 1, 0};
    s.gp[EVMM_GP_RAX] = 0;
    s.gp[EVMM_GP_RDI] = tee_base + EVMM_TEE_STARTUP_OFFSET;
    s.gp[EVMM_GP_RSI] = cpu;
    s.gp[EVMM_GP_RSP] = tee_base + tee_size - u64{cpu} * EVMM_TEE_STACK_SIZE;
    s.rip = entry;
}

} // namespace evmm
