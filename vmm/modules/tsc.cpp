#include "vmm/modules/tsc.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/msr.h"
#include "vmm/guest/intercept.h"

namespace evmm {
namespace {

void set_edx_eax(Gcpu& g, u64 v) {
    g.reg(Gpr::RAX) = static_cast<u32>(v);
    g.reg(Gpr::RDX) = v >> 32;
}

void on_rdtsc(Gcpu& g) {
    set_edx_eax(g, gcpu_guest_tsc(g));
    gcpu_skip_instruction(g);
}

void on_rdtscp(Gcpu& g) {
    set_edx_eax(g, gcpu_guest_tsc(g));
    g.reg(Gpr::RCX) = static_cast<u32>(rdmsr(Msr::IA32_TSC_AUX));
    gcpu_skip_instruction(g);
}

} // namespace

void tsc_init() {
    // Nothing requested: see tsc.h.
    intercept_register(Intercept::Rdtsc, on_rdtsc);
    intercept_register(Intercept::Rdtscp, on_rdtscp);
}

} // namespace evmm
