// Time-stamp counter policy: guest0 reads the real TSC.
//
// evmm requests neither "RDTSC exiting" nor "use TSC offsetting" (SDM Vol. 3C §25.6.5, §26.3): RDTSC, RDTSCP and
// RDMSR IA32_TSC run natively and return the host's TSC (an implicit offset of 0, no multiplier). guest0 is the only
// guest and owns the platform, so this is exact and costs no exits. IA32_TSC_AUX is a pass-through MSR (RDTSCP and
// RDPID see the guest's value); RDTSCP itself stays available through the "enable RDTSCP" secondary control, which
// the VMCS setup turns on where the CPU allows it. WRMSR IA32_TSC / IA32_TSC_ADJUST also pass through: they move
// the hypervisor's clock too, which evmm does not rely on.
//
// Should a CPU force RDTSC exiting (no such CPU is known: it is not a default-1 control), the exits 16 (RDTSC) and
// 51 (RDTSCP) are handled as the instructions would be: the TSC plus TSC_OFFSET when offsetting is on, RDTSCP's ECX
// from IA32_TSC_AUX.
#pragma once

namespace evmm {

void tsc_init(); // stage 3

} // namespace evmm
