// guest0 has no VMX (and no SVM): every hardware-virtualisation instruction raises #UD, as on a processor without VT-x
// (SDM Vol. 2C chapter 32 "VMX Instruction Reference": #UD "if not in VMX operation"). In VMX non-root operation they
// exit unconditionally (SDM Vol. 3C §26.1.2): VMCLEAR 19, VMLAUNCH 20, VMPTRLD 21, VMPTRST 22, VMREAD 23, VMRESUME 24,
// VMWRITE 25, VMXOFF 26, VMXON 27, INVEPT 50, INVVPID 53, VMFUNC 59 (only with "enable VM functions", which evmm leaves
// off). GETSEC (11) exits only when the guest set CR4.SMXE (§26.1.1: #UD comes first otherwise); SMX is hidden from
// guest0 too (CPUID.1:ECX.SMX = 0), so it also gets #UD. The instruction is not skipped: #UD is a fault.
#pragma once

namespace evmm {

void vmx_instructions_init(); // stage 3

} // namespace evmm
