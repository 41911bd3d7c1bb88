// The Interrupt Descriptor Table (Intel SDM Vol. 3A §7.10, "Interrupt Descriptor Table"; 64-bit gate layout in
// §7.14.1, Figure 7-8).
#pragma once

#include "evmm/base.h"

namespace evmm {

struct [[gnu::packed]] IdtGate {
    u16 offset_low;
    u16 selector;
    u8 ist;       // bits 2:0: Interrupt Stack Table index (0 = none)
    u8 type_attr; // P | DPL | 0 | type
    u16 offset_mid;
    u32 offset_high;
    u32 reserved;
};
static_assert(sizeof(IdtGate) == 16);

struct [[gnu::packed]] DescriptorTableRegister {
    u16 limit;
    u64 base;
};
static_assert(sizeof(DescriptorTableRegister) == 10);

inline constexpr u8 IDT_TYPE_INTERRUPT_GATE = 0xE; // 64-bit interrupt gate: IF cleared on entry
inline constexpr u8 IDT_PRESENT = 0x80;

constexpr IdtGate make_interrupt_gate(u64 handler, u16 selector, u8 ist) {
    return IdtGate{static_cast<u16>(handler),
                   selector,
                   static_cast<u8>(ist & 7),
                   static_cast<u8>(IDT_PRESENT | IDT_TYPE_INTERRUPT_GATE),
                   static_cast<u16>(handler >> 16),
                   static_cast<u32>(handler >> 32),
                   0};
}

// Fill all 256 gates with the entry stubs (evmm_isr_stubs + vector * EVMM_ISR_STUB_SIZE); `ist_for(vector)` picks an
// IST slot (0 = current stack).
void idt_fill(IdtGate (&idt)[256], u16 code_selector, u8 (*ist_for)(unsigned vector));

inline void lidt(const DescriptorTableRegister& r) { asm volatile("lidt %0" : : "m"(r)); }

} // namespace evmm
