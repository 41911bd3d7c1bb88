#include "vmm/host/platform.h"

namespace evmm {
namespace {
Platform g_platform;
} // namespace

void platform_init(const evmm_desc_t& d) {
    Platform& p = g_platform;
    p.num_cpus = d.num_cpus;
    for (u32 i = 0; i < d.num_cpus && i < EVMM_MAX_CPUS; ++i) p.apic_ids[i] = d.apic_ids[i];
    p.tsc_khz = d.tsc_khz;
    p.top_of_memory = d.top_of_memory;
    p.identity_limit = identity_limit_for(d.top_of_memory);
    p.runtime_base = d.runtime_base;
    p.runtime_size = d.runtime_size;
    p.trampoline_base = d.trampoline_base;
    p.acpi_rsdp = d.acpi_rsdp;
    p.acpi_power = d.acpi_power;
}

const Platform& platform() { return g_platform; }

u32 platform_cpu_of_apic_id(u32 apic_id) {
    for (u32 c = 0; c < g_platform.num_cpus; ++c)
        if (g_platform.apic_ids[c] == apic_id) return c;
    return UINT32_MAX;
}

} // namespace evmm
