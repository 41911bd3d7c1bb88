// The AMD SVM backend's #VMEXIT dispatch (APM Vol. 2 §15.6, Appendix C): exit codes mapped to the vendor-neutral
// intercept kinds (vmm/guest/intercept.h), whose handlers the modules registered, and the backend's own exits.
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm {

// Stage 3, BSP, after modules_init: the exit-code table from the modules' registrations.
void svm_exits_init();

} // namespace evmm

// vmm/svm/svm_entry.S: the VMRUN loop of this CPU's vCPU g (its VMCB complete); host_save_pa: svm_host_save_pa.
extern "C" [[noreturn]] void evmm_svm_run(evmm::Gcpu* g, evmm::u64 host_save_pa);
extern "C" void evmm_svm_exit_handler(evmm::Gcpu* g);
