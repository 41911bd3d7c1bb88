#include "vmm/host/percpu.h"

#include "arch/x86_64/msr.h"
#include "lib/log.h"

namespace evmm {
namespace {
PerCpu g_percpu[EVMM_MAX_CPUS];
} // namespace

void percpu_install(PerCpu& pc) {
    pc.self = &pc;
    wrmsr(Msr::IA32_GS_BASE, reinterpret_cast<uptr>(&pc));
}

PerCpu& this_cpu() {
    PerCpu* p;
    asm volatile("movq %%gs:0, %0" : "=r"(p));
    return *p;
}

PerCpu& percpu_of(u32 cpu_id) { return g_percpu[cpu_id]; }

u32 this_cpu_id() { return this_cpu().cpu_id; }

} // namespace evmm
