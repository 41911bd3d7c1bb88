// Debug registers, RDPMC and the faults QEMU's TCG raises itself, for an SVM guest (AMD APM Vol. 2 §15.12 "Exception
// Intercepts" and DR intercepts, §15.9 instruction intercepts; Vol. 2 §13.1 debug registers; Vol. 3 "RDPMC").
//
// Debug registers: DR6 and DR7 live in the VMCB, DR0-DR3 in the CPU (evmm does not use them). Writes of DR7 always
// exit; while the guest's DR7.GD (general detect) is set every MOV DR exits too, and evmm raises the #DB fault the CPU
// would (DR6.BD set, DR7.GD cleared), so the general-detect rule holds whether or not the CPU (or emulator) implements
// it. RDPMC exits: the counter index is checked against the counters CPUID reports, #GP otherwise.
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm {

// Stage 3, BSP: the RDPMC counters this CPU has; whether it is QEMU's TCG (CPUID 4000_0000h "TCGTCGTCGTCG").
void svm_dr_init();
// QEMU's TCG (its quirks: docs/svm.md). Valid from svm_dr_init.
bool svm_qemu_tcg();
// The VMCB's DR intercept vector (offset 004h) for a guest DR7.
u32 svm_dr_intercepts(u64 dr7);
// The VMCB's exception intercept vector (offset 008h): #UD and #GP under QEMU's TCG (docs/svm.md, quirks).
u32 svm_exception_intercepts();
// The VMCB's intercept vector 4 (offset 010h) bits this file adds: MWAIT under QEMU's TCG.
u32 svm_quirk_intercepts2();
// Exit handlers: MOV to/from DRn (20h-2Fh, 30h-3Fh), RDPMC (6Fh), an intercepted exception (40h + vector).
void svm_dr_exit(Gcpu& g);
void svm_rdpmc_exit(Gcpu& g);
void svm_exception_exit(Gcpu& g);
void svm_mwait_exit(Gcpu& g);

} // namespace evmm
