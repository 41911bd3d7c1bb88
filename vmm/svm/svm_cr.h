// Control registers and EFER of an SVM guest (AMD APM Vol. 2 §15.9 "Instruction Intercepts" for CR accesses, §15.5.1
// "VMRUN" consistency checks, §15.11 MSR intercepts): what VT-x's cr_access (vmm/vmx/cr_access.cpp) does for VMX.
//
// A guest write of CR0 or CR4 exits (full write intercepts, exit codes 10h and 14h) and is judged by the same rules
// as on VT-x (vmm/modules/virt_policy.h: reserved bits, PG without PE, NW without CD, IA-32e activation, ...):
// refused with #GP(0) as the CPU would, else applied to the VMCB. The VMCB then never holds a CR0/CR4/EFER that
// fails VMRUN's consistency checks (VMEXIT_INVALID). Guest RDMSR/WRMSR of EFER exit too (the MSR permission map): the
// guest reads EFER.SVME clear (CPUID hides SVM) and cannot clear the VMCB's EFER.SVME, which VMRUN requires.
// CR3 and CR8 do not exit: with nested paging the guest owns its paging (docs/svm.md).
#pragma once

#include "arch/x86_64/insn.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

// Stage 3, BSP: the CR4 and EFER bits this CPU implements (CPUID), the reserved-bit rules' input.
void svm_cr_init();
// The VMCB's CR intercept vector (offset 000h) for every vCPU.
u32 svm_cr_intercepts();
// The MSR the MSR permission map sends to svm_efer_exit (IA32_EFER).
bool svm_msr_is_efer(u32 msr);
// Exit handlers: MOV to CR0/CR4, CLTS, LMSW (CR0/CR4 write intercepts), RDMSR/WRMSR of EFER.
void svm_cr_write_exit(Gcpu& g);
void svm_efer_read_exit(Gcpu& g);
void svm_efer_write_exit(Gcpu& g);
// After VMEXIT_INVALID: the first of VMRUN's consistency checks (§15.5.1) g's VMCB fails, with the offending value
// (nullptr: none of those evmm checks; the CPU has more).
const char* svm_vmcb_invalid_reason(Gcpu& g, u64& value);
// The CR/DR instruction at the guest's CS:RIP (an intercept without decode assists). False when its bytes no longer
// translate (another CPU changed the guest's page tables since the fetch): the caller resumes the guest unchanged, and
// the CPU fetches it again (a #PF, as on bare metal, or the intercept again), and once (svm_fetch_again) when the bytes
// are not a CR/DR instruction; stops evmm when that repeats at the same RIP (an intercept evmm cannot explain).
bool svm_decode_at_rip(Gcpu& g, CrDrInsn& d);
// Decoded bytes that do not explain the intercept (another CPU may have rewritten them since): true the first time at
// this RIP (resume the guest unchanged: the CPU fetches the instruction again), false when the last unexplained one was
// at the same RIP (evmm's own failure: the caller stops evmm).
bool svm_fetch_again(Gcpu& g);
// The guest's TLB entries flushed at the next VMRUN (its ASID with flush-by-ASID, else every ASID: §15.16.1).
void svm_flush_guest_tlb(Gcpu& g);

} // namespace evmm
