// Per-CPU data of the VMM, reached through the GS base (IA32_GS_BASE) so every CPU finds its own.
#pragma once

#include "arch/x86_64/gdt.h"
#include "evmm/base.h"
#include "evmm_desc.h"

namespace evmm {

struct PerCpu {
    PerCpu* self; // first: %gs:0 gives the PerCpu pointer
    u32 cpu_id;
    u32 apic_id;
    u64 stack_block; // start of this CPU's stack block (EVMM_STACK_BLOCK_SIZE bytes, see evmm_desc.h)
    Gdt gdt;
    Tss64 tss;
};
static_assert(offsetof(PerCpu, self) == 0);

// Stack block layout (evmm_desc.h): guard | main stack | guard | #DF IST | guard | NMI IST | guard | #MC IST.
constexpr u64 stack_main_top(u64 block) { return block + EVMM_GUARD_SIZE + EVMM_STACK_SIZE; }
constexpr u64 stack_ist_top(u64 block, unsigned ist /*1-based*/) {
    return stack_main_top(block) + ist * (EVMM_GUARD_SIZE + EVMM_IST_STACK_SIZE);
}
constexpr u64 stack_guard(u64 block, unsigned index /*0 = below main stack*/) {
    return index == 0 ? block : stack_ist_top(block, index) - EVMM_IST_STACK_SIZE - EVMM_GUARD_SIZE;
}
static_assert(stack_ist_top(0, EVMM_IST_COUNT) == EVMM_STACK_BLOCK_SIZE);

// Installs `pc` as this CPU's per-CPU data (writes IA32_GS_BASE).
void percpu_install(PerCpu& pc);
PerCpu& this_cpu();
PerCpu& percpu_of(u32 cpu_id);

} // namespace evmm
