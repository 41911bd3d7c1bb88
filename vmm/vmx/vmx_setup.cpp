#include "vmm/vmx/vmx_setup.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmx.h"
#include "arch/x86_64/vmx_controls.h"
#include "lib/format.h"
#include "vmm/vmx/vmx_probe.h"

namespace evmm {
namespace {

VmxState g_vmx;

} // namespace

Status vmx_capabilities_init() {
    EVMM_TRY(vmx_probe(g_vmx.snap, g_vmx.features));
    // SDM Vol. 3D A.2: with IA32_VMX_BASIC[55] set, the TRUE_* MSRs report the allowed-0 settings that may be 0.
    const bool t = g_vmx.features.true_ctls;
    VmxCapMsrs& c = g_vmx.caps;
    c.pinbased = rdmsr(t ? Msr::IA32_VMX_TRUE_PINBASED_CTLS : Msr::IA32_VMX_PINBASED_CTLS);
    c.procbased = rdmsr(t ? Msr::IA32_VMX_TRUE_PROCBASED_CTLS : Msr::IA32_VMX_PROCBASED_CTLS);
    c.procbased2 = g_vmx.snap.procbased2;
    c.exit = rdmsr(t ? Msr::IA32_VMX_TRUE_EXIT_CTLS : Msr::IA32_VMX_EXIT_CTLS);
    c.entry = rdmsr(t ? Msr::IA32_VMX_TRUE_ENTRY_CTLS : Msr::IA32_VMX_ENTRY_CTLS);
    c.misc = rdmsr(Msr::IA32_VMX_MISC);
    c.cr0_fixed0 = rdmsr(Msr::IA32_VMX_CR0_FIXED0);
    c.cr0_fixed1 = rdmsr(Msr::IA32_VMX_CR0_FIXED1);
    c.cr4_fixed0 = rdmsr(Msr::IA32_VMX_CR4_FIXED0);
    c.cr4_fixed1 = rdmsr(Msr::IA32_VMX_CR4_FIXED1);
    c.ept_vpid_cap = g_vmx.snap.ept_vpid_cap;
    c.vmfunc = (allowed1(c.procbased2) & PROC2_ENABLE_VM_FUNCTIONS) ? rdmsr(Msr::IA32_VMX_VMFUNC) : 0;
    c.phys_addr_bits = cpu_phys_addr_bits();
    return Status::success();
}

const VmxState& vmx_state() { return g_vmx; }

Status vmx_on(PageHeap& heap) {
    const VmxCapMsrs& c = g_vmx.caps;
    // SDM Vol. 3C §24.7: every CPU has its own IA32_FEATURE_CONTROL; unlocked, enable VMX outside SMX and lock it.
    const u64 fc = rdmsr(Msr::IA32_FEATURE_CONTROL);
    if ((fc & FEATURE_CONTROL_LOCK) == 0)
        wrmsr(Msr::IA32_FEATURE_CONTROL, fc | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK);
    else if ((fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX) == 0)
        return Status::error("IA32_FEATURE_CONTROL is locked with VMX outside SMX disabled on this CPU",
                             "IA32_FEATURE_CONTROL", fc);
    // SDM Vol. 3C §24.8 ("Restrictions on VMX Operation"): CR0 and CR4 must hold the fixed bits in VMX operation.
    write_cr0(vmx_fixed_bits_apply(read_cr0(), c.cr0_fixed0, c.cr0_fixed1));
    // OSFXSR always and OSXSAVE where the CPU has XSAVE: the host never executes an SSE or AVX instruction (it is
    // built -mgeneral-regs-only), and HOST_CR4 (this CR4) with them set lets the world switch and the XSETBV exit
    // run FXSAVE/XSAVE/XSETBV without toggling CR4 (docs/tee.md "Cost (P5)").
    constexpr u32 CPUID1_ECX_XSAVE = 1u << 26;
    const u64 fx = CR4_OSFXSR | ((cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_XSAVE) ? CR4_OSXSAVE : 0);
    write_cr4(vmx_fixed_bits_apply(read_cr4() | CR4_VMXE | fx, c.cr4_fixed0, c.cr4_fixed1));
    // SDM Vol. 3C §25.11.5: the VMXON region, 4 KiB aligned, starts with the VMCS revision identifier.
    auto* region = static_cast<u32*>(heap.alloc_pages(1));
    if (region == nullptr) return Status::error("out of heap pages", "VMXON region");
    region[0] = g_vmx.features.revision;
    const u64 pa = heap.virt_to_phys(region);
    const VmxResult r = vmxon(pa);
    if (r != VmxResult::Ok)
        return Status::error(r == VmxResult::FailInvalid ? "VMXON failed: VMfailInvalid (bad VMXON region or CR0/CR4)"
                                                         : "VMXON failed: VMfailValid",
                             "VMXON", pa, read_cr4());
    return Status::success();
}

} // namespace evmm
