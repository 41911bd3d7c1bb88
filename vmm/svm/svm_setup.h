// The AMD SVM backend's stage 2 (AMD APM Vol. 2 §15.4 "Enabling SVM"): the CPU's SVM and nested-paging support
// checked once, then on every CPU EFER.SVME set and the host state-save area (VM_HSAVE_PA) given.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "vmm/host/heap.h"

namespace evmm {

struct SvmFeatures {
    u32 asids;           // CPUID 8000_000Ah EBX
    bool nrips;          // the CPU saves the next RIP in the VMCB on #VMEXIT
    bool flush_by_asid;  // TLB_CONTROL 3: flush only the guest's ASID (§15.16.1)
    bool decode_assists; // EXITINFO1 names the GPR of MOV CR/DR intercepts (§15.33)
};

// The backend in use: set in stage 2 when the CPU has no VT-x but SVM with nested paging (a vendor dispatch the
// vendor-neutral interfaces test only off their hot paths: vmm/vmx/gcpu_vmx.cpp).
extern bool g_svm_backend;
inline bool svm_backend() { return g_svm_backend; }

// BSP, stage 2: SVM present, not disabled (VM_CR.SVMDIS), nested paging. An error says what is missing.
Status svm_probe();
const SvmFeatures& svm_features();
// Every CPU, stage 2: EFER.SVME = 1, VM_HSAVE_PA = a page of its own, and a page for its host VMSAVE state.
Status svm_on(PageHeap& heap, u32 cpu);
// The page where this CPU's host FS/GS/TR/LDTR and syscall MSRs are kept across VMRUN (VMSAVE/VMLOAD).
u64 svm_host_save_pa(u32 cpu);

} // namespace evmm
