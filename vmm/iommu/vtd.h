// DMA protection with Intel VT-d: every device behind every remapping unit of the DMAR is put into one DMA domain
// whose second-level tables mirror guest0's address space (identity, without the hypervisor's runtime region, the
// hidden device registers and the APs' start page), so no device can reach the hypervisor's memory.
//
// Two steps:
//  - vtd_discover (stage 2, BSP): the DMAR through the RSDP/XSDT (lib/formats/dmar.h); each unit's version and
//    capabilities are checked (translation not already enabled, 4-level / 48-bit second-level tables). When every
//    unit is usable, their register pages are hidden from guests (vmm/host/platform.h: guest0's EPT leaves them
//    out, so guest0 cannot reprogram the IOMMU). Otherwise one line says why, and DMA stays unprotected.
//  - vtd_protect (once guest0's address space is known: stage 4, or stage 2 in the `vtdtest=1` mode): builds the
//    root table, one context table (every bus and device:function of a unit → the domain) and the domain's
//    second-level tables, then on each unit: root table pointer (GCMD.SRTP), write-buffer flush where CAP.RWBF,
//    global context-cache and IOTLB invalidation (register-based), translation enable (GCMD.TE). Every wait for
//    the hardware is bounded.
// Faults are polled (vtd_poll_faults): the fault event interrupt stays masked.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "lib/formats/memmap.h"
#include "vmm/host/heap.h"

namespace evmm {

class Guest;

// Stage 2 (BSP): finds and checks the remapping units, hides their registers. False when there is no DMAR table
// (nothing logged: the caller, vmm/iommu/iommu.h, tries AMD-Vi and says so), true otherwise.
bool vtd_discover();

// Whether vtd_discover found usable units (vtd_protect will act), and whether translation is on.
bool vtd_available();
bool vtd_enabled();
u64 vtd_dmar_pa(); // the DMAR discover parsed (0: none)

// The domain of DMA addresses [0, limit) minus the holes (and the APs' start page, added here) for every device;
// then translation on every unit. A no-op (success) when no unit is available or translation is already on.
Status vtd_protect(PageHeap& heap, u64 limit, const MemoryMap::Range* holes, u32 hole_count);
// The same with guest0's address space.
Status vtd_protect_guest(PageHeap& heap, const Guest& g);

// Reads every unit's fault recording registers, logs each fault (unit, source bus:dev.fn, read/write, address,
// reason) and clears it. Returns the faults seen; with out/max, also the first `max` of them.
struct VtdFaultRecord {
    u16 source_id;
    u8 reason;
    bool read;
    u64 address;
};
u32 vtd_poll_faults(VtdFaultRecord* out = nullptr, u32 max = 0);

} // namespace evmm
