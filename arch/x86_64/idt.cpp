#include "arch/x86_64/idt.h"

#include "arch/x86_64/exception.h"

namespace evmm {

void idt_fill(IdtGate (&idt)[256], u16 code_selector, u8 (*ist_for)(unsigned vector)) {
    for (unsigned v = 0; v < IDT_VECTORS; ++v)
        idt[v] = make_interrupt_gate(evmm_isr_stub_table[v], code_selector, ist_for ? ist_for(v) : 0);
}

} // namespace evmm
