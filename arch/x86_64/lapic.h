// The local APIC, as much as evmm needs: the loader starts the APs, the VMM sends the stop NMI. Its mode and base
// sending an IPI through the Interrupt Command Register (Intel SDM Vol. 3A, Chapter 11 "Advanced Programmable
// Interrupt Controller (APIC)").
//
// The constants are architectural (used by the pure ICR builders in loader/smp_boot.cpp and by the host tests);
// lapic_detect/lapic_send touch the hardware (arch/x86_64/lapic.cpp, linked into the loader and the VMM).
//
// The loader never writes IA32_APIC_BASE: the mode the firmware left is the mode used (and Bochs ignores writes
// to it while the APIC is globally disabled). Nor the Spurious-Interrupt Vector Register: a software-disabled
// local APIC can still issue IPIs (SDM Vol. 3A §11.4.7.2).
#pragma once

#include "evmm/base.h"

namespace evmm {

// IA32_APIC_BASE, MSR 0x1B (SDM Vol. 3A §11.4.4 "Local APIC Status and Location", Figure 11-5; x2APIC mode:
// §11.12.1, Table 11-5).
inline constexpr u64 APIC_BASE_BSP = bit(8);                      // this processor is the BSP
inline constexpr u64 APIC_BASE_X2APIC_ENABLE = bit(10);           // EXTD: x2APIC mode
inline constexpr u64 APIC_BASE_GLOBAL_ENABLE = bit(11);           // EN: xAPIC global enable
inline constexpr u64 APIC_BASE_ADDR_MASK = 0x000F'FFFF'FFFF'F000; // bits 51:12 (MAXPHYADDR-1:12)
inline constexpr u64 APIC_DEFAULT_BASE = 0xFEE0'0000;

// xAPIC registers: offsets in the 4 KiB MMIO page (SDM Vol. 3A §11.4.1, Table 11-1).
// In x2APIC mode register `off` is MSR 0x800 + off / 16 (§11.12.1.2, Table 11-6).
enum class XApicReg : u32 {
    TPR = 0x080,                 // Task Priority Register (§11.8.3.1): bits 7:4 the priority class blocked
    EOI = 0x0B0,                 // End Of Interrupt (§11.8.5): write 0
    LDR = 0x0D0,                 // Logical Destination Register (SDM Vol. 3A §11.6.2.2)
    DFR = 0x0E0,                 // Destination Format Register
    SVR = 0x0F0,                 // Spurious-Interrupt Vector Register (§11.9): vector 7:0, APIC software enable 8
    ICR_LOW = 0x300,             // Interrupt Command Register, bits 31:0 (writing it sends the IPI)
    ICR_HIGH = 0x310,            // Interrupt Command Register, bits 63:32 (destination in 31:24)
    LVT_TIMER = 0x320,           // LVT Timer Register (§11.5.1, Figure 11-8)
    LVT_LINT0 = 0x350,           // LVT LINT0 Register (the 8259's INTR in virtual-wire mode: ExtINT)
    TIMER_INITIAL_COUNT = 0x380, // §11.5.4: writing it starts the count (0 stops the timer)
    TIMER_CURRENT_COUNT = 0x390,
    TIMER_DIVIDE_CONFIG = 0x3E0, // §11.5.4, Figure 11-10
};
inline constexpr u32 X2APIC_MSR_BASE = 0x800;

// LVT entries (§11.5.1, Figure 11-8), the SVR (§11.9, Figure 11-23), the timer's divide configuration (Figure 11-10).
inline constexpr u32 LVT_VECTOR_MASK = 0xFF;
inline constexpr u32 LVT_MASKED = bit(16);
inline constexpr u32 LVT_TIMER_MODE_MASK = 3u << 17; // 00 one-shot, 01 periodic, 10 TSC-deadline
inline constexpr u32 SVR_VECTOR_MASK = 0xFF;
inline constexpr u32 SVR_APIC_ENABLE = bit(8);
inline constexpr u32 TIMER_DIVIDE_BY_16 = 0x3; // bits 3, 1:0 = 0, 11b
inline constexpr u32 TPR_CLASS_SHIFT = 4;

// x2APIC registers: MSRs (SDM Vol. 3A §11.12.1.2, Table 11-6).
inline constexpr u32 MSR_X2APIC_ICR = 0x830; // the whole 64-bit ICR; one WRMSR sends the IPI

// Interrupt Command Register (SDM Vol. 3A §11.6.1, Figure 11-12).
inline constexpr u64 ICR_VECTOR_MASK = 0xFF;                                   // bits 7:0
inline constexpr unsigned ICR_DELIVERY_MODE_SHIFT = 8;                         // bits 10:8
inline constexpr u64 ICR_DELIVERY_NMI = u64{4} << ICR_DELIVERY_MODE_SHIFT;     // 100b: NMI
inline constexpr u64 ICR_DELIVERY_INIT = u64{5} << ICR_DELIVERY_MODE_SHIFT;    // 101b: INIT
inline constexpr u64 ICR_DELIVERY_STARTUP = u64{6} << ICR_DELIVERY_MODE_SHIFT; // 110b: Start Up
inline constexpr u64 ICR_DEST_MODE_LOGICAL = bit(11);                          // 0 = physical (what we use)
inline constexpr u64 ICR_DELIVERY_STATUS = bit(12); // xAPIC only: 1 = send pending (read only)
inline constexpr u64 ICR_LEVEL_ASSERT = bit(14);    // 1 = assert (INIT de-assert is the only 0 use)
inline constexpr u64 ICR_TRIGGER_LEVEL = bit(15);   // 0 = edge (what we use)
inline constexpr unsigned ICR_SHORTHAND_SHIFT = 18; // bits 19:18: 00 = no shorthand
inline constexpr u64 ICR_SHORTHAND_MASK = u64{3} << ICR_SHORTHAND_SHIFT;
inline constexpr u64 ICR_SHORTHAND_ALL_BUT_SELF = u64{3} << ICR_SHORTHAND_SHIFT; // 11b: all excluding self
inline constexpr unsigned ICR_XAPIC_DEST_SHIFT = 56;                             // xAPIC: bits 63:56 (ICR high 31:24)
inline constexpr unsigned ICR_X2APIC_DEST_SHIFT = 32;                            // x2APIC: bits 63:32 (SDM §11.12.9)
inline constexpr u32 XAPIC_BROADCAST_ID = 0xFF;
inline constexpr u32 X2APIC_BROADCAST_ID = 0xFFFFFFFF;

enum class ApicMode : u8 { Disabled, XApic, X2Apic };

struct Lapic {
    ApicMode mode;
    u64 mmio_base; // xAPIC: the register page (identity mapped by the loader); 0 otherwise
};

// Reads IA32_APIC_BASE (no writes). Disabled when EN is clear (then no IPI can be sent).
Lapic lapic_detect();

// Sends `icr` (see icr_init/icr_startup): xAPIC, ICR high then ICR low, then waits (at most `timeout_ticks` TSC
// ticks) for the delivery status to clear; x2APIC, one WRMSR (no delivery status there). Returns false if the
// delivery status was still "send pending" at the timeout.
bool lapic_send(const Lapic& l, u64 icr, u64 timeout_ticks);

// One 32-bit register (not the ICR): MMIO in xAPIC mode, RDMSR/WRMSR in x2APIC mode; reads 0 and ignores writes
// when the APIC is disabled.
u32 lapic_read(const Lapic& l, XApicReg r);
void lapic_write(const Lapic& l, XApicReg r, u32 v);

} // namespace evmm
