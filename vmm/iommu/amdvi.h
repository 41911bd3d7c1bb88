// DMA protection with the AMD IOMMU (AMD-Vi): every device id the IVRS names is put into one DMA domain whose I/O
// page tables mirror guest0's address space (identity, without the hypervisor's runtime region, the hidden device
// registers and the APs' start page), so no device can reach the hypervisor's memory. The twin of vtd.h; callers
// use the vendor-neutral front, vmm/iommu/iommu.h.
//
// Two steps:
//  - amdvi_discover (stage 2, BSP): the IVRS through the RSDP/XSDT (lib/formats/ivrs.h); each IOMMU is checked (PCI
//    segment 0, registers inside the identity map and not all ones, translation not already enabled by firmware,
//    4-level host tables in EFR.HATS). When every IOMMU is usable, their MMIO registers (16 KiB, 512 KiB with
//    performance counters, EFR.PCSup) are hidden from guests (vmm/host/platform.h), so guest0 cannot reprogram them.
//    Otherwise one line says why, and DMA stays unprotected.
//  - amdvi_protect (once guest0's address space is known: stage 4, or stage 2 in the `vtdtest=1` mode): builds the
//    domain's I/O page tables and one device table for DeviceIDs 0 .. the highest id the IVHDs name (every entry
//    V = 1, TV = 1, Mode 4, IR = IW = 1, DomainID 1; ids beyond the table are aborted by the hardware), then on each
//    IOMMU: no exclusion range, device table / command buffer / event log bases, command buffer, event log and
//    translation on, then invalidation of every cached device table entry and translation of the domain, and a
//    COMPLETION_WAIT whose store to memory is polled, bounded.
// Faults are polled (amdvi_poll_faults): the event log interrupt stays off.
#pragma once

#include "arch/x86_64/amdvi.h"
#include "evmm/base.h"
#include "evmm/status.h"
#include "lib/formats/memmap.h"
#include "vmm/host/heap.h"

namespace evmm {

class Guest;

// Stage 2 (BSP): finds and checks the IOMMUs, hides their registers. False when there is no IVRS table (nothing
// logged: the caller says so), true when there is one, usable or not.
bool amdvi_discover();

// Whether amdvi_discover found usable IOMMUs (amdvi_protect will act), and whether translation is on.
bool amdvi_available();
bool amdvi_enabled();
u64 amdvi_ivrs_pa(); // the IVRS discover parsed (0: none)

// The domain of DMA addresses [0, limit) minus the holes (and the APs' start page, added here) for every device id;
// then translation on every IOMMU. A no-op (success) when no IOMMU is available or translation is already on.
Status amdvi_protect(PageHeap& heap, u64 limit, const MemoryMap::Range* holes, u32 hole_count);
// The same with guest0's address space.
Status amdvi_protect_guest(PageHeap& heap, const Guest& g);

// Reads every IOMMU's event log from head to tail, logs each event (IOMMU, source bus:dev.fn, read/write, address,
// event name) and moves the head past it; an overflowed log is logged and restarted. Returns the events seen; with
// out/max, also the first `max` of them.
u32 amdvi_poll_faults(AmdViEvent* out = nullptr, u32 max = 0);

} // namespace evmm
