// The vCPU tick on SVM (gcpu_tick_every in vmm/guest/gcpu.h). SVM has no VMX-preemption timer, so the tick is a
// physical interrupt: evmm's own LAPIC timer (vmm/host/host_timer.h) with the INTR intercept (AMD APM Vol. 2 §15.9.1
// "Physical Interrupts") and V_INTR_MASKING (§15.21.1), so the guest's RFLAGS.IF does not hold it off. Only for a vCPU
// of a guest that does not own the platform (the TEE while it boots, before guest0 runs on the CPU): guest0's vCPUs
// get no tick, their CPU's LAPIC is guest0's (docs/svm.md).
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm::svm {

bool gcpu_tick_every(Gcpu& g, u64 tsc_ticks);
void gcpu_tick_stop(Gcpu& g);

} // namespace evmm::svm

namespace evmm {

// INTR (60h): the host timer's interrupt (or an early one): the Tick intercept when the deadline passed.
void svm_intr_exit(Gcpu& g);

} // namespace evmm
