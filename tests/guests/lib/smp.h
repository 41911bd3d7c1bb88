// Guest test kit, multiprocessor part (optional: only guests that link evmm_guest_smp get it; the `smp` guest
// does). docs/guest-test-kit.md, "SMP".
//
// What an OS does to bring up its application processors (APs), as small pieces a test guest can use and check:
//   - time:      the TSC, calibrated against PIT channel 2 (bounded waits in microseconds everywhere);
//   - the local APIC: xAPIC MMIO at IA32_APIC_BASE's address (the MSR is only read) or x2APIC MSRs when the APIC is
//                in x2APIC mode; IPIs through the ICR;
//   - ACPI:      the MADT (lib/formats/acpi.cpp) found through the RSDP of the Multiboot2 information (tags 14/15) or,
//                without one, the legacy BIOS search;
//   - AP start:  INIT, 10 ms, SIPI, 200 us, SIPI (Intel SDM Vol. 3A §9.4.4.1) to one AP at a time, through a
//                real-mode trampoline (lib/ap_trampoline.S) copied to a usable page below 1 MiB. The AP goes real
//                -> protected -> long mode on the BSP's page tables (CR3), gets its own stack, GDT and TSS (IST
//                stacks), loads the kit's IDT and calls the guest's function on its own stack.
// Interrupts stay disabled on every CPU. Only the BSP should print (the kit's output is not locked); APs record
// results in memory the BSP reads. The probes (guest_probe_run) are BSP-only. An unexpected exception on an AP
// is reported by the kit's handler like one on the BSP (and closes the run).
#pragma once

// ---- the trampoline page, shared with lib/ap_trampoline.S (plain numbers for the assembler) -----------------------
#define SMP_TRAMP_ENTRY32 0x080 /* 32-bit protected-mode part */
#define SMP_TRAMP_ENTRY64 0x100 /* 64-bit part */
#define SMP_TRAMP_DATA 0x200    /* the data block (struct SmpTrampData), written by the BSP before each start */

#define SMP_TD_GDT 0x00      /* u64[4]: null, 0x08 32-bit code, 0x10 data, 0x18 64-bit code */
#define SMP_TD_GDTR 0x22     /* u16 limit, u32 base (lgdtl's 6-byte operand; base 4-byte aligned) */
#define SMP_TD_FAR32 0x28    /* m16:32 far pointer to the 32-bit part: u32 offset, u16 selector */
#define SMP_TD_FAR64 0x30    /* m16:32 far pointer to the 64-bit part */
#define SMP_TD_EFER_SET 0x38 /* u32: bits ORed into IA32_EFER (LME, and NXE when the BSP has it) */
#define SMP_TD_CR0 0x3C      /* u32: the BSP's CR0 (PG, PE; caches as the BSP has them) */
#define SMP_TD_CR3 0x40      /* u64: the BSP's CR3 (the kit's identity map, below 4 GiB) */
#define SMP_TD_CR4 0x48      /* u64: the BSP's CR4, loaded in 64-bit mode */
#define SMP_TD_TARGET 0x50   /* u64: smp_ap_entry (C) */
#define SMP_TD_STACK 0x58    /* u64: this AP's stack top */
#define SMP_TD_SLOT 0x60     /* u32: this AP's slot (smp_ap_entry's argument) */
#define SMP_TD_STATE 0x64    /* u32: SMP_TS_* */
#define SMP_TD_PROGRESS 0x68 /* u32: SMP_PROGRESS_*: how far the last AP got (diagnosis of a hung start) */
#define SMP_TD_SIZE 0x70

/* SMP_TD_STATE: the BSP arms one start at a time; the AP claims it with lock cmpxchg (an AP that finds nothing
   armed, e.g. one that woke up after its start timed out, halts), takes stack/slot/target and says RUNNING, after
   which the BSP may rewrite the block. */
#define SMP_TS_IDLE 0
#define SMP_TS_ARMED 1
#define SMP_TS_CLAIMED 2
#define SMP_TS_RUNNING 3

/* SMP_TD_PROGRESS: written by the AP at each stage. */
#define SMP_PROGRESS_NONE 0
#define SMP_PROGRESS_REAL 1      /* executing the trampoline in real mode */
#define SMP_PROGRESS_PROTECTED 2 /* 32-bit protected mode */
#define SMP_PROGRESS_LONG 3      /* 64-bit mode, on the trampoline page */
#define SMP_PROGRESS_C 4         /* in smp_ap_entry (C), on its own stack */
#define SMP_PROGRESS_READY 5     /* own GDT/TSS/IDT loaded: about to call the guest's function */

#define SMP_TRAMP_GDT_CODE32 0x08
#define SMP_TRAMP_GDT_DATA 0x10
#define SMP_TRAMP_GDT_CODE64 0x18

#ifndef __ASSEMBLER__

#include "guest.h"
#include "lib/formats/acpi.h"

namespace guest {

inline constexpr u32 SMP_MAX_CPUS = EVMM_MAX_CPUS; // BSP included; slot 0 is the BSP's
inline constexpr u64 SMP_AP_STACK_SIZE = 16 * 1024;
inline constexpr u64 SMP_TRAMPOLINE_LIMIT = 0x9F000; // the page chosen ends at or below this (EBDA, VGA above)

// ---- time (TSC calibrated against PIT channel 2) ----------------------------------------------------------------

// Measures the TSC against 10 ms of PIT channel 2 (port 0x61 gate/OUT2, ports 0x42/0x43; port 0x61 is restored).
// False when OUT2 never rose (no PIT) or the result is implausible: tsc_khz() then assumes 1 GHz. Call on the
// BSP before anything below that waits; the result is shared by all CPUs.
bool tsc_calibrate();
bool tsc_calibrated();
u64 tsc_khz();
u64 tsc_to_us(u64 ticks);
u64 tsc_deadline_us(u64 us); // rdtsc() value us microseconds from now
inline bool tsc_past(u64 deadline) { return static_cast<evmm::i64>(rdtsc() - deadline) >= 0; }
void delay_us(u64 us);

// ---- local APIC ---------------------------------------------------------------------------------------------------

inline constexpr u32 APIC_REG_ID = 0x20, APIC_REG_VERSION = 0x30, APIC_REG_SVR = 0xF0, APIC_REG_ESR = 0x280,
                     APIC_REG_ICR_LO = 0x300, APIC_REG_ICR_HI = 0x310;
inline constexpr u32 APIC_ICR_INIT = 0x00000500, APIC_ICR_STARTUP = 0x00000600, APIC_ICR_LEVEL_ASSERT = 0x00004000,
                     APIC_ICR_BUSY = 0x00001000;
inline constexpr u64 APIC_BASE_BSP = evmm::bit(8), APIC_BASE_EXTD = evmm::bit(10), APIC_BASE_EN = evmm::bit(11);

u64 apic_base_msr(); // IA32_APIC_BASE of this CPU (only apic_enable_x2apic writes it)
// Switches this CPU's local APIC from xAPIC to x2APIC mode (IA32_APIC_BASE.EXTD, SDM Vol. 3A §11.12.1) when
// CPUID.1:ECX[21] says it can; true when it is in x2APIC mode afterwards. The smp guest's `x2apic=1` option.
bool apic_enable_x2apic();
bool apic_x2apic();     // this CPU's APIC is in x2APIC mode (IA32_APIC_BASE.EXTD)
u64 apic_mmio_base();   // the xAPIC page (IA32_APIC_BASE bits 12+)
u32 apic_read(u32 reg); // reg: the xAPIC offset (x2APIC: MSR 0x800 + reg / 16)
void apic_write(u32 reg, u32 val);
u32 apic_id();               // the local APIC ID register (xAPIC: bits 31:24; x2APIC: the 32-bit ID)
u32 cpuid_initial_apic_id(); // CPUID.1:EBX[31:24]
u32 cpuid_x2apic_id();       // CPUID.0BH:EDX when leaf 0xB exists, else the initial APIC ID
// Sends an IPI: ICR high = destination (physical mode), ICR low = icr_lo; in xAPIC mode waits (bounded, 10 ms)
// for the delivery status to clear before and after. False when it stayed busy.
bool apic_send_ipi(u32 dest_apic_id, u32 icr_lo);

// ---- ACPI: which CPUs exist ---------------------------------------------------------------------------------------

struct SmpTopology {
    evmm::MadtCpus madt; // enabled Processor Local (x2)APIC entries, MADT order
    u64 rsdp_pa = 0;
    bool rsdp_from_mb2 = false; // tag 14/15 of the Multiboot2 information; false: found by the BIOS search
    u64 madt_pa = 0;
};
// The MADT through the Multiboot2 RSDP (mb2()->rsdp()) or, without one, the legacy BIOS search.
evmm::Status smp_find_cpus(SmpTopology& out);
// The FADT's power-management ports and \_S5 (lib/formats/acpi.h), found the same way.
evmm::Status acpi_find_power(evmm::AcpiPowerInfo& out);

// ---- AP start -----------------------------------------------------------------------------------------------------

// The highest 4 KiB page ending at or below SMP_TRAMPOLINE_LIMIT (and above page 0) that a USABLE Multiboot2
// memory map entry covers and that overlaps neither the Multiboot2 information, its modules nor this image;
// 0 when there is none (or no memory map).
u64 smp_choose_trampoline();

// Prepares AP starts: copies the trampoline to `page` (from smp_choose_trampoline()) and records what the APs
// take over from the calling CPU (the BSP): CR0, CR3, CR4, EFER.NXE, the IDT. Maps the local APIC page uncached
// (PCD|PWT on its 2 MiB entry in the kit's page tables). Software-enables the BSP's APIC (SVR bit 8) if it is not.
void smp_prepare(u64 page);
u64 smp_trampoline_page();

using SmpApFn = void (*)(u32 slot, void* arg);

struct SmpStartResult {
    bool started = false; // the AP reached smp_ap_entry and is about to call fn
    bool ipi_ok = true;   // every ICR write was accepted (xAPIC delivery status cleared)
    u32 progress = 0;     // SMP_PROGRESS_* the trampoline page showed at the end
    u64 us = 0;           // from the INIT to the AP's check-in (or to the timeout)
};

// Starts the AP with APIC ID apic_id in slot `slot` (1 .. SMP_MAX_CPUS-1, one slot per AP): INIT, 10 ms, SIPI,
// 200 us, SIPI, then waits up to timeout_us for it to check in. The AP then runs fn(slot, arg) on its own stack;
// when fn returns it halts (cli; hlt) for good. On a timeout the AP is sent INIT again (parked in wait-for-SIPI).
// Returns r.started.
// icr_extra: more ICR bits for the INIT and the two SIPIs (e.g. a destination shorthand, bits 19:18).
bool smp_start_ap(u32 apic_id, u32 slot, SmpApFn fn, void* arg, u64 timeout_us, SmpStartResult& r, u32 icr_extra = 0);

// How many APs checked in so far, and whether slot `slot` did.
u32 smp_started_count();
bool smp_slot_started(u32 slot);

// The name of an SMP_PROGRESS_* value ("nothing", "real mode", ...).
const char* smp_progress_name(u32 progress);

} // namespace guest

#endif // __ASSEMBLER__
