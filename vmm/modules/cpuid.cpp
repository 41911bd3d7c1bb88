#include "vmm/modules/cpuid.h"

#include "arch/x86_64/cpuid.h"
#include "vmm/guest/intercept.h"
#include "vmm/modules/virt_policy.h"

namespace evmm {
namespace {

// CPUID reads EAX (leaf) and ECX (subleaf) and writes EAX, EBX, ECX, EDX; in 64-bit mode the upper halves of
// RAX, RBX, RCX, RDX are cleared (SDM Vol. 2A "CPUID"), which the u32 -> u64 stores below reproduce.
void on_cpuid(Gcpu& g) {
    const u32 leaf = static_cast<u32>(g.reg(Gpr::RAX));
    const u32 subleaf = static_cast<u32>(g.reg(Gpr::RCX));
    CpuidRegs r;
    if (virt::cpuid_is_hv_leaf(leaf)) [[unlikely]] {
        r = virt::cpuid_hv_leaf(leaf);
    } else {
        r = cpuid(leaf, subleaf);
        if (virt::cpuid_needs_guest_cr4(leaf)) r = virt::cpuid_adjust(leaf, subleaf, r, gcpu_cr4(g));
    }
    g.reg(Gpr::RAX) = r.eax;
    g.reg(Gpr::RBX) = r.ebx;
    g.reg(Gpr::RCX) = r.ecx;
    g.reg(Gpr::RDX) = r.edx;
    gcpu_skip_instruction(g);
}

} // namespace

void cpuid_init() { intercept_register(Intercept::Cpuid, on_cpuid); }

} // namespace evmm
