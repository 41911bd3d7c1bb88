#include "vmm/svm/svm_setup.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/svm.h"
#include "evmm_desc.h"

namespace evmm {

bool g_svm_backend = false;

namespace {
SvmFeatures g_features;
u64 g_host_save[EVMM_MAX_CPUS];
} // namespace

// APM Vol. 2 §15.4: CPUID Fn8000_0001 ECX[SVM]; §15.30.1: VM_CR.SVMDIS set by firmware forbids EFER.SVME;
// §15.25.3: CPUID Fn8000_000A EDX[NP].
Status svm_probe() {
    if (cpuid(0x80000000).eax < CPUID_SVM_FEATURES) return Status::error("no CPUID leaf 8000_000Ah", "svm");
    if ((cpuid(CPUID_EXT_FEATURES).ecx & CPUID_EXT_ECX_SVM) == 0)
        return Status::error("CPUID.80000001:ECX.SVM = 0", "svm");
    // VM_CR exists with SVM (APM Vol. 2 §15.30.1); a CPU or hypervisor that claims SVM without it is not used.
    u64 vm_cr = 0;
    if (!rdmsr_safe(MSR_VM_CR, vm_cr)) return Status::error("msr 0xc0010114 (VM_CR) not readable on this CPU", "svm");
    if (vm_cr & VM_CR_SVMDIS) return Status::error("disabled by firmware (VM_CR.SVMDIS = 1)", "VM_CR", vm_cr);
    const CpuidRegs f = cpuid(CPUID_SVM_FEATURES);
    if ((f.edx & CPUID_SVM_EDX_NP) == 0) return Status::error("no nested paging (CPUID.8000000A:EDX.NP = 0)", "svm");
    g_features.asids = f.ebx;
    g_features.nrips = (f.edx & CPUID_SVM_EDX_NRIPS) != 0;
    g_features.flush_by_asid = (f.edx & CPUID_SVM_EDX_FLUSH_BY_ASID) != 0;
    g_features.decode_assists = (f.edx & CPUID_SVM_EDX_DECODE_ASSISTS) != 0;
    if (g_features.asids < 2) return Status::error("no ASID for guests", "svm", f.ebx);
    g_svm_backend = true;
    return Status::success();
}

const SvmFeatures& svm_features() { return g_features; }

Status svm_on(PageHeap& heap, u32 cpu) {
    void* hsave = heap.alloc_pages(1);
    void* host = heap.alloc_pages(1);
    if (hsave == nullptr || host == nullptr) return Status::error("out of heap pages", "VM_HSAVE_PA");
    wrmsr(Msr::IA32_EFER, rdmsr(Msr::IA32_EFER) | EFER_SVME);
    // The host's CR4 (restored at every #VMEXIT from the host save area, §15.5.2) with OSFXSR, and OSXSAVE where
    // the CPU has XSAVE, as vmx_on keeps them: the APIC store emulation reads the guest's XMM/YMM registers and the
    // XSETBV exit executes XSETBV (vmm/modules/guest_apic.cpp, xsetbv.cpp); without them both are #UD in the host.
    constexpr u32 CPUID1_ECX_XSAVE = 1u << 26;
    write_cr4(read_cr4() | CR4_OSFXSR | ((cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_XSAVE) ? CR4_OSXSAVE : 0));
    wrmsr(static_cast<Msr>(MSR_VM_HSAVE_PA), heap.virt_to_phys(hsave));
    g_host_save[cpu % EVMM_MAX_CPUS] = heap.virt_to_phys(host);
    return Status::success();
}

u64 svm_host_save_pa(u32 cpu) { return g_host_save[cpu % EVMM_MAX_CPUS]; }

} // namespace evmm
