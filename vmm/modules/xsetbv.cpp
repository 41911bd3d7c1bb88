#include "vmm/modules/xsetbv.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "lib/log.h"
#include "vmm/guest/intercept.h"
#include "vmm/guest/world.h"
#include "vmm/modules/virt_policy.h"

namespace evmm {
namespace {

constexpr u32 CPUID_XSAVE_LEAF = 0xD;
constexpr u32 CPUID1_ECX_XSAVE = 1u << 26;

u64 g_xcr0_supported = 0; // CPUID.(EAX=0DH,ECX=0):EDX:EAX

void on_xsetbv(Gcpu& g) {
    // SDM Vol. 2C "XSETBV": ECX selects the XCR (upper half of RCX ignored), EDX:EAX is the value.
    const u32 xcr = static_cast<u32>(g.reg(Gpr::RCX));
    const u64 value = (u64{static_cast<u32>(g.reg(Gpr::RDX))} << 32) | static_cast<u32>(g.reg(Gpr::RAX));
    const char* bad = xcr != 0 ? "ECX != 0 (only XCR0 exists)" : virt::xcr0_violation(value, g_xcr0_supported);
    if (bad != nullptr) {
        LOG_DEBUG("guest0: XSETBV(%u, 0x%lx) refused with #GP(0): %s", xcr, value, bad);
        gcpu_inject_exception(g, Vector::GP, 0);
        return;
    }
    // XSETBV needs CR4.OSXSAVE in the host too (it is #UD otherwise): vmx_on keeps it set where the CPU has XSAVE,
    // which the guest's XSETBV proves.
    asm volatile("xsetbv" : : "c"(0u), "a"(static_cast<u32>(value)), "d"(static_cast<u32>(value >> 32)) : "memory");
    world_xcr0_written(g, value); // a world switch saves state under it (vmm/guest/world.h)
    gcpu_skip_instruction(g);
}

} // namespace

void xsetbv_init() {
    if ((cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_XSAVE) && cpuid(CpuidLeaf::BASIC).eax >= CPUID_XSAVE_LEAF) {
        const CpuidRegs r = cpuid(CPUID_XSAVE_LEAF, 0);
        g_xcr0_supported = (u64{r.edx} << 32) | r.eax;
    }
    intercept_register(Intercept::Xsetbv, on_xsetbv);
}

} // namespace evmm
