// The machine as the VMM sees it, taken once from evmm_desc_t in stage 1 (BSP): CPUs, the hypervisor's own
// memory, the identity map's extent, ACPI power control. The one owner of these facts inside the VMM: modules and
// guests read them here instead of reaching into the descriptor.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "lib/formats/memmap.h"

namespace evmm {

struct Platform {
    u32 num_cpus;
    u32 apic_ids[EVMM_MAX_CPUS]; // by CPU number, BSP first
    u64 tsc_khz;
    u64 top_of_memory;
    u64 identity_limit; // the VMM identity-maps [0, identity_limit): all RAM, at least 4 GiB, 1 GiB granular
    u64 runtime_base, runtime_size; // the hypervisor's runtime region: never any guest's
    u64 trampoline_base;            // the APs' start page (0: none): never any guest's
    u64 acpi_rsdp;
    evmm_acpi_power_t acpi_power;
    u16 acpi_pm1a_sts, acpi_pm1b_sts; // the PM1 status ports (0: none)
    // The secure world's memory (docs/tee.md): [tee_base, tee_base + tee_size), tee_size 0 = no TEE; a barrier of
    // tee_barrier bytes on each side belongs to no guest.
    u64 tee_base, tee_size, tee_entry, tee_barrier;
};

// [0, max(4 GiB, top_of_memory)) rounded up to 1 GiB: what the VMM's page tables identity-map (vmm/host/hmm.h) and
// the extent of a guest's identity-mapped physical address space.
inline constexpr u64 identity_limit_for(u64 top_of_memory) {
    return align_up(top_of_memory > 4 * GiB ? top_of_memory : 4 * GiB, GiB);
}

void platform_init(const evmm_desc_t& d); // stage 1, BSP, once
const Platform& platform();

// Device register ranges the hypervisor keeps for itself (a DMA remapping unit's registers: guest0 must not
// reprogram the IOMMU). Registered before any guest is created (stage 1); each guest leaves them out of its
// second-level tables. 4 KiB aligned; at most PLATFORM_MAX_HIDDEN.
inline constexpr u32 PLATFORM_MAX_HIDDEN = 8;
Status platform_hide_range(u64 base, u64 size, const char* owner);
// platform_hide_range for the registers of `count` devices of one kind (e.g. "vt-d" "unit" 0..count-1), each logged
// ("<owner>: <device> I's registers BASE-END hidden from guests"). False at the first one refused, with a warning
// ("<owner>: cannot hide <device> I's registers from guests: WHY: <consequence>").
bool platform_hide_devices(const char* owner, const char* device, const MemoryMap::Range* regs, u32 count,
                           const char* consequence);
u32 platform_hidden_count();
const MemoryMap::Range& platform_hidden_at(u32 i);

// What no guest may reach, as holes in guest0's address space: the runtime region, the hidden device ranges, then
// the TEE's memory with its barriers (when there is a TEE). Returns the count written (at most max).
inline constexpr u32 PLATFORM_MAX_GUEST_HOLES = 3 + PLATFORM_MAX_HIDDEN;
u32 platform_guest_holes(MemoryMap::Range* out, u32 max);
// The same for the TEE's own address space: the runtime region, the hidden device ranges and the two barriers.
u32 platform_tee_holes(MemoryMap::Range* out, u32 max);
// [base, base + len) touches the TEE's memory or its barriers.
bool platform_in_tee(u64 base, u64 len);

// The CPU number of an APIC ID, or UINT32_MAX when no CPU evmm runs on has it.
u32 platform_cpu_of_apic_id(u32 apic_id);

} // namespace evmm
