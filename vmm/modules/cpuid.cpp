#include "vmm/modules/cpuid.h"

#include "arch/x86_64/cpuid.h"
#include "vmm/guest/intercept.h"
#include "vmm/modules/virt_policy.h"

namespace evmm {
namespace {

// CPUID reads EAX (leaf) and ECX (subleaf) and writes EAX, EBX, ECX, EDX; in 64-bit mode the upper halves of
// RAX, RBX, RCX, RDX are cleared (SDM Vol. 2A "CPUID"), which the u32 -> u64 stores below reproduce.
void finish(Gcpu& g, const CpuidRegs& r) {
    g.reg(Gpr::RAX) = r.eax;
    g.reg(Gpr::RBX) = r.ebx;
    g.reg(Gpr::RCX) = r.ecx;
    g.reg(Gpr::RDX) = r.edx;
}

// Leaves whose answer depends on the guest's CR4 (OSXSAVE, OSPKE), and those that hide AMD SVM: apart, so that the
// common leaves' path makes no call before its last (a tail call) and needs no saved registers (P1,
// docs/performance.md).
[[gnu::noinline]] void on_cpuid_cr4_dependent(Gcpu& g, u32 leaf, u32 subleaf) {
    const CpuidRegs r = cpuid(leaf, subleaf);
    finish(g, virt::cpuid_adjust(leaf, subleaf, r, virt::cpuid_needs_guest_cr4(leaf) ? gcpu_cr4(g) : 0));
    gcpu_skip_instruction(g);
}

void on_cpuid(Gcpu& g) {
    const u32 leaf = static_cast<u32>(g.reg(Gpr::RAX));
    const u32 subleaf = static_cast<u32>(g.reg(Gpr::RCX));
    if (virt::cpuid_needs_adjust(leaf)) return on_cpuid_cr4_dependent(g, leaf, subleaf);
    finish(g, virt::cpuid_is_hv_leaf(leaf) ? virt::cpuid_hv_leaf(leaf) : cpuid(leaf, subleaf));
    gcpu_skip_instruction(g);
}

} // namespace

void cpuid_init() { intercept_register(Intercept::Cpuid, on_cpuid); }

} // namespace evmm
