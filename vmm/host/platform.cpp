#include "vmm/host/platform.h"

#include "lib/log.h"

namespace evmm {
namespace {
Platform g_platform;
MemoryMap::Range g_hidden[PLATFORM_MAX_HIDDEN];
u32 g_hidden_count = 0;
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
    p.acpi_pm1a_sts = d.acpi_pm1a_sts;
    p.acpi_pm1b_sts = d.acpi_pm1b_sts;
    if (d.tee_size != 0) {
        p.tee_base = d.tee_base;
        p.tee_size = d.tee_size;
        p.tee_entry = d.tee_entry;
        p.tee_barrier = d.tee_barrier;
    }
}

const Platform& platform() { return g_platform; }

Status platform_hide_range(u64 base, u64 size, const char* owner) {
    if (size == 0 || !is_aligned(base, PAGE_SIZE) || !is_aligned(size, PAGE_SIZE) || add_overflows(base, size))
        return Status::error("hidden range not 4 KiB aligned or empty", owner, base, size);
    if (g_hidden_count == PLATFORM_MAX_HIDDEN)
        return Status::error("too many hidden device ranges", owner, PLATFORM_MAX_HIDDEN);
    g_hidden[g_hidden_count++] = MemoryMap::Range{base, size};
    return Status::success();
}

bool platform_hide_devices(const char* owner, const char* device, const MemoryMap::Range* regs, u32 count,
                           const char* consequence) {
    for (u32 i = 0; i < count; ++i) {
        const Status h = platform_hide_range(regs[i].base, regs[i].length, owner);
        if (!h.ok()) {
            LOG_WARN("%s: cannot hide %s %u's registers from guests: %s: %s", owner, device, i, h.what, consequence);
            return false;
        }
        LOG_INFO("%s: %s %u's registers 0x%lx-0x%lx hidden from guests", owner, device, i, regs[i].base,
                 regs[i].base + regs[i].length);
    }
    return true;
}

u32 platform_hidden_count() { return g_hidden_count; }
const MemoryMap::Range& platform_hidden_at(u32 i) { return g_hidden[i < g_hidden_count ? i : 0]; }

namespace {
u32 common_holes(MemoryMap::Range* out, u32 max) {
    u32 n = 0;
    if (n < max) out[n++] = MemoryMap::Range{g_platform.runtime_base, g_platform.runtime_size};
    for (u32 i = 0; i < g_hidden_count && n < max; ++i) out[n++] = g_hidden[i];
    return n;
}
} // namespace

u32 platform_guest_holes(MemoryMap::Range* out, u32 max) {
    u32 n = common_holes(out, max);
    const Platform& p = g_platform;
    if (p.tee_size != 0 && n < max)
        out[n++] = MemoryMap::Range{p.tee_base - p.tee_barrier, p.tee_size + 2 * p.tee_barrier};
    return n;
}

u32 platform_tee_holes(MemoryMap::Range* out, u32 max) {
    u32 n = common_holes(out, max);
    const Platform& p = g_platform;
    if (n < max) out[n++] = MemoryMap::Range{p.tee_base - p.tee_barrier, p.tee_barrier};
    if (n < max) out[n++] = MemoryMap::Range{p.tee_base + p.tee_size, p.tee_barrier};
    return n;
}

bool platform_in_tee(u64 base, u64 len) {
    const Platform& p = g_platform;
    return p.tee_size != 0 && ranges_overlap(base, len, p.tee_base - p.tee_barrier, p.tee_size + 2 * p.tee_barrier);
}

u32 platform_cpu_of_apic_id(u32 apic_id) {
    for (u32 c = 0; c < g_platform.num_cpus; ++c)
        if (g_platform.apic_ids[c] == apic_id) return c;
    return UINT32_MAX;
}

} // namespace evmm
