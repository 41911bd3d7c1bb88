/*
 * Starting the application processors (APs): the pure parts. Shared with loader/trampoline.S (the #defines
 * below are plain numbers so the assembler can use them; the C++ part is hidden from it).
 *
 * The BSP starts the APs one after the other with INIT-SIPI-SIPI (Intel SDM Vol. 3A §9.4.4.1, "Typical BSP
 * Initialization Sequence"). A Start-up IPI makes an AP execute in real mode at vector << 12, so the AP's first
 * code is a trampoline copied into one 4 KiB page below 1 MiB:
 *
 *   +0x000  16-bit real mode:     DS = CS, EBX = CS << 4 (the trampoline's base), LGDT, CR0.PE, far jump
 *   +0x080  32-bit protected mode: CR4.PAE, CR3 = the loader's page tables, EFER.LME (+ NXE), CR0 = the BSP's
 *                                  CR0 (PG, PE, caches on), far jump to the 64-bit code segment
 *   +0x100  64-bit mode:           the BSP's CR4, reads its cpu id / stack / target, claims the attempt
 *                                  (lock cmpxchg WAITING -> STARTED), switches to its stack, calls ap_main(cpu_id)
 *   +0x200  the data block (TrampolineData), written by the BSP before each SIPI
 *
 * Position independence: the code uses only offsets from the trampoline's base (DS-relative in real mode,
 * EBX-relative later); the two far pointers and the GDT base in the data block are absolute and are written by
 * the BSP (trampoline_data_init).
 */
#pragma once

/* Layout of the trampoline page (offsets from its base). */
#define TRAMP_ENTRY16_OFF 0x000
#define TRAMP_ENTRY32_OFF 0x080
#define TRAMP_ENTRY64_OFF 0x100
#define TRAMP_DATA_OFF 0x200 /* the code image (copied from the loader) ends here */

/* The data block, offsets from TRAMP_DATA_OFF (checked against struct TrampolineData below). */
#define TRAMP_D_GDT 0x00       /* u64[4]: null, 64-bit code, data, 32-bit code */
#define TRAMP_D_GDTR 0x26      /* u16 limit, u32 base (LGDT's 6-byte operand; the base lands 4-byte aligned) */
#define TRAMP_D_FAR32 0x2C     /* m16:32 far pointer to the 32-bit entry: u32 offset, u16 selector */
#define TRAMP_D_FAR64 0x34     /* m16:32 far pointer to the 64-bit entry */
#define TRAMP_D_EFER_SET 0x3C  /* u32: bits ORed into IA32_EFER (LME, NXE when the BSP has it) */
#define TRAMP_D_CR0 0x40       /* u64: the BSP's CR0 */
#define TRAMP_D_CR3 0x48       /* u64: the loader's PML4 (below 4 GiB) */
#define TRAMP_D_CR4 0x50       /* u64: the BSP's CR4 (written in 64-bit mode) */
#define TRAMP_D_TARGET 0x58    /* u64: ap_main */
#define TRAMP_D_STACK_TOP 0x60 /* u64: this AP's VMM main stack top */
#define TRAMP_D_CPU_ID 0x68    /* u32: this AP's evmm cpu id (ap_main's argument) */
#define TRAMP_D_APIC_ID 0x6C   /* u32: this AP's APIC ID (for debugging only) */
#define TRAMP_D_STATE 0x70     /* u32: TRAMP_STATE_* */
#define TRAMP_DATA_SIZE 0x78

/* The attempt's state: the BSP sets WAITING before the SIPIs; the AP moves it WAITING -> STARTED with a locked
 * compare-exchange once it is in 64-bit mode and has read its data; the BSP moves it WAITING -> ABANDONED when it
 * gives up. Whoever changes it first wins: an AP that answers too late finds ABANDONED and halts. */
#define TRAMP_STATE_WAITING 0
#define TRAMP_STATE_STARTED 1
#define TRAMP_STATE_ABANDONED 2

/* The trampoline's GDT (same layout as the loader's, plus a 32-bit code segment; SDM Vol. 3A §3.4.5). */
#define TRAMP_SEL_CODE64 0x08
#define TRAMP_SEL_DATA 0x10
#define TRAMP_SEL_CODE32 0x18
#define TRAMP_GDT_ENTRIES 4

#ifndef __ASSEMBLER__

#include "arch/x86_64/lapic.h"
#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "lib/formats/memmap.h"

namespace evmm {

inline constexpr u64 TRAMPOLINE_SIZE = PAGE_SIZE;
inline constexpr u64 TRAMPOLINE_LIMIT = 1 * MiB; // a SIPI vector addresses 4 KiB pages below 1 MiB
// Page 0: the real-mode IVT and the BIOS data area; never the trampoline.
inline constexpr u64 TRAMPOLINE_MIN = PAGE_SIZE;
// Start-up vectors 0xA0-0xBF are reserved (MultiProcessor Specification 1.4, Appendix B.4.2).
inline constexpr u64 SIPI_RESERVED_BASE = 0xA0000;
inline constexpr u64 SIPI_RESERVED_END = 0xC0000;

// Flat descriptors (SDM Vol. 3A §3.4.5, Figure 3-8): base 0, limit 0xFFFFF pages, present, DPL 0.
inline constexpr u64 TRAMP_GDT_CODE64 = 0x00AF9A000000FFFF; // execute/read, L = 1
inline constexpr u64 TRAMP_GDT_DATA = 0x00CF92000000FFFF;   // read/write, D/B = 1, G = 1
inline constexpr u64 TRAMP_GDT_CODE32 = 0x00CF9A000000FFFF; // execute/read, D = 1, G = 1

// The data block at trampoline_base + TRAMP_DATA_OFF. Written by the BSP (plain stores, then the release store
// of `state`); read by the AP; `state` is the only field the AP writes.
struct TrampolineData {
    u64 gdt[TRAMP_GDT_ENTRIES];
    u16 gdtr_pad[3];
    u16 gdtr_limit;
    u32 gdtr_base;
    u32 far32_offset;
    u16 far32_selector;
    u16 pad0;
    u32 far64_offset;
    u16 far64_selector;
    u16 pad1;
    u32 efer_set;
    u64 cr0;
    u64 cr3;
    u64 cr4;
    u64 target;
    u64 stack_top;
    u32 cpu_id;
    u32 apic_id;
    u32 state;
    u32 reserved;
};
static_assert(offsetof(TrampolineData, gdt) == TRAMP_D_GDT);
static_assert(offsetof(TrampolineData, gdtr_limit) == TRAMP_D_GDTR);
static_assert(offsetof(TrampolineData, gdtr_base) == TRAMP_D_GDTR + 2);
static_assert(offsetof(TrampolineData, far32_offset) == TRAMP_D_FAR32);
static_assert(offsetof(TrampolineData, far32_selector) == TRAMP_D_FAR32 + 4);
static_assert(offsetof(TrampolineData, far64_offset) == TRAMP_D_FAR64);
static_assert(offsetof(TrampolineData, far64_selector) == TRAMP_D_FAR64 + 4);
static_assert(offsetof(TrampolineData, efer_set) == TRAMP_D_EFER_SET);
static_assert(offsetof(TrampolineData, cr0) == TRAMP_D_CR0);
static_assert(offsetof(TrampolineData, cr3) == TRAMP_D_CR3);
static_assert(offsetof(TrampolineData, cr4) == TRAMP_D_CR4);
static_assert(offsetof(TrampolineData, target) == TRAMP_D_TARGET);
static_assert(offsetof(TrampolineData, stack_top) == TRAMP_D_STACK_TOP);
static_assert(offsetof(TrampolineData, cpu_id) == TRAMP_D_CPU_ID);
static_assert(offsetof(TrampolineData, apic_id) == TRAMP_D_APIC_ID);
static_assert(offsetof(TrampolineData, state) == TRAMP_D_STATE);
static_assert(offsetof(TrampolineData, state) % 4 == 0); // lock cmpxchg on it
static_assert(sizeof(TrampolineData) == TRAMP_DATA_SIZE);
static_assert(TRAMP_DATA_OFF + TRAMP_DATA_SIZE <= TRAMPOLINE_SIZE);
static_assert(TRAMP_GDT_CODE64 != 0 && TRAMP_SEL_CODE64 / 8 < TRAMP_GDT_ENTRIES &&
              TRAMP_SEL_CODE32 / 8 < TRAMP_GDT_ENTRIES);

// What the BSP hands every AP: its own control registers, the page tables, the 64-bit target.
struct TrampolineSetup {
    u64 base;   // the trampoline page
    u64 cr0;    // the BSP's CR0 (PG and PE are forced on)
    u64 cr3;    // the loader's PML4: must lie below 4 GiB (loaded in 32-bit mode)
    u64 cr4;    // the BSP's CR4 (PAE is forced on)
    u64 efer;   // the BSP's IA32_EFER: LME is set on the AP, NXE copied
    u64 target; // ap_main: inside the loader's identity map (below 4 GiB)
};

// True when `base` can hold the trampoline: page aligned, not page 0, the page ends at or below 1 MiB, and its
// SIPI vector (base >> 12) is not one of the reserved 0xA0-0xBF.
bool trampoline_base_valid(u64 base);

// The Start-up IPI vector for a trampoline at `base` (valid base).
constexpr u8 sipi_vector(u64 base) { return static_cast<u8>(base >> 12); }

// Places the trampoline page: the highest usable, page-aligned 4 KiB page below 1 MiB that overlaps none of
// avoid[0..avoid_count) (the loader, the boot information, the modules), page 0, and the reserved SIPI vectors.
// Errors: too many avoid ranges, no such page.
Status trampoline_place(const MemoryMap& map, const MemoryMap::Range* avoid, u32 avoid_count, u64& out_base);

// Fills the whole data block from `s` (zeroing it first); per-AP fields are left 0 (trampoline_data_set_ap).
// Errors: base not valid, CR3 not page aligned or at/above 4 GiB, target 0 or at/above 4 GiB.
Status trampoline_data_init(const TrampolineSetup& s, TrampolineData& out);

// The per-AP fields; `state` is left to the caller (an atomic store after these).
void trampoline_data_set_ap(TrampolineData& d, u32 cpu_id, u32 apic_id, u64 stack_top);

// Top of CPU `cpu_id`'s VMM main stack (evmm_desc.h stack block; same as vmm/host/percpu.h stack_main_top).
constexpr u64 ap_stack_top(u64 stacks_base, u32 cpu_id) {
    return stacks_base + u64{cpu_id} * EVMM_STACK_BLOCK_SIZE + EVMM_GUARD_SIZE + EVMM_STACK_SIZE;
}

// --- Interrupt Command Register values (SDM Vol. 3A §11.6.1, Figure 11-12; x2APIC: §11.12.9) -------------------

// Can `apic_id` be named as a physical destination? xAPIC: 8 bits, 0xFF is the broadcast; x2APIC: 32 bits,
// 0xFFFFFFFF is the broadcast.
bool icr_destination_ok(ApicMode mode, u32 apic_id);

// INIT, level assert, edge, physical destination, no shorthand. The 64-bit value: x2APIC, the ICR MSR as is;
// xAPIC, ICR high (bits 63:32) and ICR low (bits 31:0).
u64 icr_init(ApicMode mode, u32 apic_id);
// Start-up with `vector`, level assert, edge, physical destination, no shorthand.
u64 icr_startup(ApicMode mode, u32 apic_id, u8 vector);

// TSC ticks for `us` microseconds at `tsc_khz`; tsc_khz 0 (unknown) counts as TSC_KHZ_UNKNOWN_ASSUMED, so a delay
// is never shorter than asked on any real CPU.
inline constexpr u64 TSC_KHZ_UNKNOWN_ASSUMED = 10'000'000; // 10 GHz
u64 tsc_ticks_for_us(u64 tsc_khz, u64 us);

// --- The descriptor after the APs ---------------------------------------------------------------------------

// num_cpus = n; apic_ids[0..n) = started[0..n) (in cpu id order), the rest 0. The runtime region (stacks, heap)
// keeps the size planned for the MADT count. Errors: n 0 or above EVMM_MAX_CPUS, started[0] not the BSP.
Status smp_desc_finalize(evmm_desc_t& d, const u32* started, u32 n);

// "a, b, c" into buf (always NUL-terminated when cap > 0); cut with "..." when it does not fit.
size_t format_apic_ids(char* buf, size_t cap, const u32* ids, u32 n);

} // namespace evmm

#endif /* __ASSEMBLER__ */
