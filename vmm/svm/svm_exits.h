// The AMD SVM backend's #VMEXIT dispatch (APM Vol. 2 §15.6, Appendix C): exit codes mapped to the vendor-neutral
// intercept kinds (vmm/guest/intercept.h), whose handlers the modules registered, and the backend's own exits.
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm {

// Stage 3, BSP, after modules_init: the exit-code table from the modules' registrations.
void svm_exits_init();
// Exit statistics (Gcpu::exits, exit_stats_log): exit codes 60h-8Fh one counter each (0-47), then one each for the CR
// accesses (00h-1Fh), DR accesses (20h-3Fh), exceptions (40h-5Fh), NPF (400h) and any other code.
inline constexpr u32 SVM_EXIT_COUNTERS = 53;
u32 svm_exit_counter(u64 code);
// The counter's name with its exit code(s), e.g. "CPUID (72h)".
const char* svm_exit_counter_name(u32 counter);
// The end of every exit, GIF = 0 from here on: the NMI to inject, a nested-TLB flush asked for, RAX and RSP from
// Gcpu.regs into g's VMCB (VMRUN loads them from there, §15.5.1).
void svm_before_vmrun(Gcpu& g);
// Where evmm_svm_run records the stack pointer of cpu's VMRUN loop (0 until it runs), for a world switch.
u64* svm_loop_rsp_slot(u32 cpu);

} // namespace evmm

// vmm/svm/svm_entry.S: the VMRUN loop of this CPU's vCPU g (its VMCB complete); host_save_pa: svm_host_save_pa;
// loop_rsp: svm_loop_rsp_slot(cpu).
extern "C" [[noreturn]] void evmm_svm_run(evmm::Gcpu* g, evmm::u64 host_save_pa, evmm::u64* loop_rsp);
// A world switch's last step (vmm/svm/gcpu_svm.cpp, gcpu_switch): drops the exit being handled and runs the loop at
// loop_rsp (*svm_loop_rsp_slot) with g, whose VMCB is ready (svm_before_vmrun done).
extern "C" [[noreturn]] void evmm_svm_enter_at(evmm::Gcpu* g, evmm::u64 loop_rsp);
extern "C" void evmm_svm_exit_handler(evmm::Gcpu* g);
