// NMI virtualisation on SVM (AMD APM Vol. 2 §15.20 "Event Injection", §15.9 the NMI and IRET intercepts): what VT-x's
// virtual NMIs and NMI-window exiting do (vmm/vmx/vmx_exits.cpp), with the means SVM has.
//
// Every NMI meant for guest0 reaches evmm's NMI handler: one that arrives while the guest runs exits (NMI intercept)
// and is taken after the exit path's STGI; a self-NMI whose ICR write evmm emulated arrives while evmm runs. The
// handler's guest hook (set_guest_nmi_hook) marks it pending on this CPU. Right before VMRUN (GIF already clear, so
// no NMI slips in between) a pending NMI is injected (EVENTINJ type NMI) when the guest is not handling one: evmm
// tracks the guest's NMI blocking itself, from the injection to the next IRET (IRET intercept). An NMI that becomes
// pending while blocked waits: at the IRET exit evmm lets the IRET execute with RFLAGS.TF set and #DB intercepted,
// and injects the NMI at the single-step trap after it (one pending at most, further ones merge, as on the CPU). An NMI
// that waits behind an exception being injected comes at the next virtual-interrupt window (VINTR intercept): when the
// guest can take an interrupt again.
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm {

// Stage 3, BSP: the guest NMI hook.
void svm_nmi_init();
// Exit handlers: NMI (61h: nothing to do, evmm's handler took it), IRET (74h), #DB (41h) while single-stepping it.
void svm_nmi_exit(Gcpu& g);
void svm_iret_exit(Gcpu& g);
void svm_db_exit(Gcpu& g);
// VINTR (64h): the virtual-interrupt window asked for when an NMI waited behind an injected exception.
void svm_vintr_exit(Gcpu& g);
// A reset of the vCPU (INIT): no NMI blocking, no single-stepped IRET (a pending NMI stays pending).
void svm_nmi_reset(Gcpu& g);
// The end of every exit: GIF cleared, then a pending NMI injected if the guest can take it.
void svm_nmi_before_vmrun(Gcpu& g);

} // namespace evmm
