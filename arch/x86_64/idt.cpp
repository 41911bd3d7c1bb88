#include "arch/x86_64/idt.h"

#include "arch/x86_64/exception.h"

namespace evmm {

void idt_fill(IdtGate (&idt)[256], u16 code_selector, u8 (*ist_for)(unsigned vector)) {
    // Vectors without a stub get a not-present gate: delivering one raises #NP (SDM Vol. 3A §7.12.1), which has one.
    for (unsigned v = 0; v < IDT_VECTORS; ++v)
        idt[v] = v < evmm_isr_stub_count
                     ? make_interrupt_gate(reinterpret_cast<u64>(evmm_isr_stubs) + v * EVMM_ISR_STUB_SIZE,
                                           code_selector, ist_for ? ist_for(v) : 0)
                     : IdtGate{};
}

} // namespace evmm
