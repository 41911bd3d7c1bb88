// The local APIC's interrupt command register, enough to send IPIs (Intel SDM Vol. 3A chapter 11, "Advanced
// Programmable Interrupt Controller (APIC)": ICR layout in §11.6.1, Figure 11-12; x2APIC MSR access in §11.12).
#pragma once

#include "evmm/base.h"

namespace evmm {

// ICR bits (low dword).
inline constexpr u32 ICR_DELIVERY_FIXED = 0u << 8;
inline constexpr u32 ICR_DELIVERY_NMI = 4u << 8;
inline constexpr u32 ICR_DELIVERY_INIT = 5u << 8;
inline constexpr u32 ICR_DELIVERY_STARTUP = 6u << 8;
inline constexpr u32 ICR_DELIVERY_STATUS_PENDING = 1u << 12;  // xAPIC only
inline constexpr u32 ICR_LEVEL_ASSERT = 1u << 14;
inline constexpr u32 ICR_TRIGGER_LEVEL = 1u << 15;
inline constexpr u32 ICR_SHORTHAND_NONE = 0u << 18;
inline constexpr u32 ICR_SHORTHAND_ALL_BUT_SELF = 3u << 18;

inline constexpr u64 APIC_BASE_BSP = bit(8);         // IA32_APIC_BASE (SDM Vol. 3A §11.4.4)
inline constexpr u64 APIC_BASE_X2APIC_ENABLE = bit(10);
inline constexpr u64 APIC_BASE_GLOBAL_ENABLE = bit(11);
inline constexpr u64 APIC_BASE_ADDR_MASK = 0x000FFFFFFFFFF000ull;

// Sends an IPI: icr_low carries delivery mode, level, trigger and shorthand; dest is an APIC ID (ignored with a
// shorthand). Uses the x2APIC MSR interface when x2APIC mode is on, else the xAPIC MMIO page (identity mapped);
// waits (bounded) for an xAPIC's delivery status to clear. Returns false if the APIC never accepted it.
bool lapic_send_ipi(u32 dest, u32 icr_low);
// This CPU's APIC ID.
u32 lapic_id();

} // namespace evmm
