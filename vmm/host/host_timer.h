// A one-shot timer of the hypervisor's own on this CPU's local APIC, for the time before guest0 owns the CPU (its
// LAPIC, timer included, is guest0's afterwards): the AMD SVM backend's vCPU tick while the TEE boots (docs/svm.md;
// VT-x has the VMX-preemption timer instead).
//
// While armed, the CPU's APIC is set so that only this timer can interrupt evmm's host (which enables interrupts
// only for an instant, host_timer_take_pending): the TPR blocks priority classes 0-14 (the timer's vector is in
// class 15), LINT0 (the 8259's virtual wire, ExtINT, which the TPR does not block) is masked. host_timer_release puts
// back everything host_timer_arm changed (LVT timer, divide configuration, initial count, TPR, LINT0, SVR), after
// taking the timer's interrupt if it came, so guest0 starts with the APIC the firmware left.
#pragma once

#include "evmm/base.h"

namespace evmm {

// The vector of evmm's timer interrupt (priority class 15).
inline constexpr u8 HOST_TIMER_VECTOR = 0xF1;

// Arms the timer on this CPU to interrupt at TSC `deadline` (the first call on a CPU saves the APIC's state and
// measures the timer's rate against the TSC, 1 ms). False when this CPU's APIC is disabled or its timer does not
// count (no timer: nothing changed).
bool host_timer_arm(u64 deadline);
// An INTR exit: takes the pending interrupt (interrupts on for one instruction); then, while armed, disarms the timer
// if the deadline passed, else arms it again for the rest.
void host_timer_on_interrupt();
// Disarms the timer and restores the APIC (a no-op where host_timer_arm never succeeded on this CPU).
void host_timer_release();
// evmm's IDT for a vector >= 32 (vmm/host/panic.cpp): the timer's interrupt (EOI), the APIC's spurious vector, or
// another interrupt of class 15 taken while armed (EOI, logged). False for anything else (unexpected).
bool host_timer_take_interrupt(u64 vector);

} // namespace evmm
