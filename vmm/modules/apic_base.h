// guest0's writes to IA32_APIC_BASE (MSR 1BH; SDM Vol. 3A §11.4.4 Figure 11-5, §11.12.5 Figure 11-27), checked
// before evmm performs them (pure, host-tested).
//
// What the processor refuses with #GP(0) is refused the same way: reserved bits (0-7, 9, MAXPHYADDR and up), the
// invalid state EN = 0 with EXTD = 1, and the transitions x2APIC -> xAPIC and disabled -> x2APIC (only xAPIC ->
// x2APIC and x2APIC -> disabled are allowed), EXTD without x2APIC support. What the processor would allow but
// isolation cannot is refused with #GP(0) too: an xAPIC base whose page overlaps memory the hypervisor keeps (its
// runtime region, the AP start page, another guest's memory) or lies outside the guest's physical address space —
// the classic "APIC remap" attack, where evmm's next access to that physical page would reach the APIC instead.
#pragma once

#include "evmm/base.h"
#include "lib/formats/memmap.h"

namespace evmm::virt {

struct ApicBaseCheck {
    bool ok;
    const char* why; // when !ok
};

ApicBaseCheck apic_base_check(u64 old_value, u64 new_value, u8 maxphyaddr, bool x2apic_supported, u64 phys_limit,
                              const MemoryMap::Range* kept, u32 nkept);

} // namespace evmm::virt
