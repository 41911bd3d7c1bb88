// The vendor-neutral vCPU interface (vmm/guest/gcpu.h) on AMD SVM: the same functions on the exiting gcpu's VMCB.
// vmm/vmx/gcpu_vmx.cpp forwards each gcpu_* call here when svm_backend() (vmm/svm/svm_setup.h). RAX and RSP live
// in the VMCB; the exit handler copies them into Gcpu.regs on #VMEXIT and back before VMRUN, so gcpu_gpr reads
// every register from Gcpu.regs.
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm::svm {

u64 gcpu_rip(Gcpu& g);
u64 gcpu_rflags(Gcpu& g);
void gcpu_set_rflags(Gcpu& g, u64 value);
u64 gcpu_cr0(Gcpu& g);
u64 gcpu_cr3(Gcpu& g);
u64 gcpu_cr4(Gcpu& g);
u64 gcpu_efer(Gcpu& g);
u32 gcpu_cpl(Gcpu& g);
bool gcpu_in_64bit_mode(Gcpu& g);
bool gcpu_cs_default_32(Gcpu& g);
u64 gcpu_seg_base(Gcpu& g, u32 seg);
bool gcpu_ss_big(Gcpu& g);
u64 gcpu_guest_tsc(Gcpu& g);
evmm_segment_t gcpu_segment(Gcpu& g, SegReg r);
void gcpu_set_segment(Gcpu& g, SegReg r, const evmm_segment_t& s);
evmm_table_reg_t gcpu_gdtr(Gcpu& g);
void gcpu_set_rip(Gcpu& g, u64 rip);
bool gcpu_load_cr3(Gcpu& g, u64 cr3);
void gcpu_set_task_switched(Gcpu& g);
IoExit gcpu_io_exit(Gcpu& g);
GpaExit gcpu_gpa_exit(Gcpu& g);
bool gcpu_exit_in_event_delivery(Gcpu& g);
void gcpu_skip_instruction(Gcpu& g);
bool gcpu_hypercall_begin(Gcpu& g);
void gcpu_advance_rip(Gcpu& g, u64 length);
void gcpu_halt(Gcpu& g);
void gcpu_inject_exception(Gcpu& g, Vector v, u32 error_code);
void gcpu_inject_exception_for_access(Gcpu& g, Vector v, u32 error_code, const char* what);
void gcpu_inject_page_fault(Gcpu& g, u64 lin, u32 error_code);
Status gcpu_load_state(Gcpu& g, const evmm_gcpu_state_t& s);
void gcpu_dump(Gcpu& g);
bool gcpu_kick_for_init(u32 cpu);
// At the end of an exit: a virtual INIT gcpu_kick_for_init asked for (the Init handler runs: the vCPU is reset).
bool take_init_request(Gcpu& g);
// The world switch's last step (gcpu_switch in vmm/guest/gcpu.h): VMRUN of `to` on this CPU's VMRUN loop.
[[noreturn]] void gcpu_switch(Gcpu& from, Gcpu& to);
// Not in this slice (docs/svm.md): each stops evmm with gcpu_fatal naming itself.
[[noreturn]] void not_in_slice(Gcpu& g, const char* what);

} // namespace evmm::svm
