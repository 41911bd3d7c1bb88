// Deliberate faults (`crashtest=` on evmm's command line, docs/options.md) to test the exception and panic paths
// from outside: ud2, a read of a stack guard page, unbounded recursion into the guard page (#PF, then #DF on its
// IST stack), a software panic. Run by the BSP at the end of stage 1.
#pragma once

#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

void crash_test(u8 kind);
// Implemented by the backend: breaks the gcpu's guest state so that its next VM entry fails (crashtest=vmentry:
// the VM-entry checker must explain the failure).
void crash_test_break_vm_entry(Gcpu& g); // EVMM_CRASHTEST_*; NONE and the kinds handled elsewhere do nothing

} // namespace evmm
