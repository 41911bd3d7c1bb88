#include "vmm/modules/tsc.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmx.h"
#include "vmm/vmx/vmexit.h"

namespace evmm {
namespace {

// SDM Vol. 3C §26.3 ("Changes to Instruction Behavior in VMX Non-Root Operation", RDTSC): with "use TSC
// offsetting" the guest reads TSC + TSC_OFFSET.
u64 guest_tsc() {
    u64 t = rdtsc();
    if (vmread(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS) & PROC_USE_TSC_OFFSETTING)
        t += vmread(VmcsField::TSC_OFFSET);
    return t;
}

void set_edx_eax(Gcpu& g, u64 v) {
    g.reg(Gpr::RAX) = static_cast<u32>(v);
    g.reg(Gpr::RDX) = v >> 32;
}

void on_rdtsc(Gcpu& g) {
    set_edx_eax(g, guest_tsc());
    gcpu_skip_instruction(g);
}

void on_rdtscp(Gcpu& g) {
    set_edx_eax(g, guest_tsc());
    g.reg(Gpr::RCX) = static_cast<u32>(rdmsr(Msr::IA32_TSC_AUX));
    gcpu_skip_instruction(g);
}

} // namespace

void tsc_init() {
    // Nothing requested: see tsc.h.
    vmexit_register(ExitReason::RDTSC, on_rdtsc);
    vmexit_register(ExitReason::RDTSCP, on_rdtscp);
}

} // namespace evmm
