// XCR0 (exit 55: XSETBV exits unconditionally, SDM Vol. 3C §26.1.2). XSETBV at CPL > 0 or with CR4.OSXSAVE = 0
// faults in the guest before it can exit (§26.1.1), so the exit sees only a CPL-0 write. evmm checks it as the
// processor would (SDM Vol. 1 §13.3; vmm/modules/virt_policy.h, xcr0_violation): ECX != 0, a cleared x87 bit, AVX
// without SSE, a bit CPUID.(EAX=0DH,ECX=0):EDX:EAX does not report, MPX/AVX-512/AMX groups half set, or AVX-512
// without AVX raise #GP(0); a valid value is loaded into the real XCR0. XCR0 is the guest's alone: the VMM never
// touches FPU/SSE/AVX state (-mgeneral-regs-only), so nothing is switched on VM exit.
#pragma once

namespace evmm {

void xsetbv_init(); // stage 3

} // namespace evmm
