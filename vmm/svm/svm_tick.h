// The vCPU tick on SVM (gcpu_tick_every in vmm/guest/gcpu.h). SVM has no VMX-preemption timer. The tick is a TSC
// deadline checked at every exit of the vCPU (GcpuArch::tick_deadline): the Tick intercept runs at the first exit
// after it. That needs exits:
//   - a vCPU of a guest that does not own the platform (the TEE while it boots, before guest0 runs on the CPU) gets
//     them from evmm's own LAPIC timer (vmm/host/host_timer.h) with the INTR intercept (AMD APM Vol. 2 §15.9.1
//     "Physical Interrupts") and V_INTR_MASKING (§15.21.1), so the guest's RFLAGS.IF does not hold it off;
//   - guest0's vCPUs get no timer (their CPU's LAPIC, timer included, is guest0's; intercepting guest0's interrupts
//     would cost an exit and a re-injection per interrupt): their tick comes with their next exit of any kind after
//     the deadline (a running OS exits for its APIC writes, I/O, CPUID; an idle vCPU may not for a while).
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm::svm {

bool gcpu_tick_every(Gcpu& g, u64 tsc_ticks);
void gcpu_tick_stop(Gcpu& g);

} // namespace evmm::svm

namespace evmm {

// INTR (60h): evmm's timer interrupt (or an early one) is taken and acknowledged; the deadline check follows.
void svm_intr_exit(Gcpu& g);
// At the end of an exit with a tick armed: the Tick intercept when the deadline passed.
void svm_tick_check(Gcpu& g);

} // namespace evmm
