// DMA protection, vendor-neutral: the front of the two IOMMU drivers, Intel VT-d (vmm/iommu/vtd.h, found through
// the ACPI DMAR) and AMD-Vi (vmm/iommu/amdvi.h, found through the ACPI IVRS). Callers (vmm_main's stages 2 and 4,
// the dma-faults module, the `vtdtest=1` DMA test) use only this header.
//
// iommu_discover tries VT-d first and, when the machine has no DMAR table, AMD-Vi; at most one of them is ever
// available. Everything else goes to the one discovered.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "lib/formats/memmap.h"
#include "vmm/host/heap.h"

namespace evmm {

class Guest;

enum class IommuKind : u8 { None, Vtd, AmdVi };

// Stage 2 (BSP): finds and checks the IOMMUs (DMAR, else IVRS), hides their registers from guests.
void iommu_discover();

// The driver discover chose (None: no table at all), its log prefix ("vt-d", "amd-vi"), and its test prefix
// ("vtd", "amd-vi": the `vtdtest=1` lines).
IommuKind iommu_kind();
const char* iommu_name();
const char* iommu_test_name();

// Whether protection can be turned on (usable IOMMUs found), and whether it is on.
bool iommu_available();
bool iommu_enabled();

// One DMA domain for every device: DMA addresses [0, limit) minus the holes (and the APs' start page), identity;
// then translation on. A no-op (success) when no IOMMU is available or translation is already on.
Status iommu_protect(PageHeap& heap, u64 limit, const MemoryMap::Range* holes, u32 hole_count);
// The same with guest0's address space.
Status iommu_protect_guest(PageHeap& heap, const Guest& g);

// One DMA fault (VT-d fault record, AMD-Vi event log entry).
struct IommuFault {
    u16 source_id;    // PCI bus:dev.fn of the requester (pci_source_id)
    bool read;        // false: a write
    u64 address;      // the DMA address (VT-d: its page)
    const char* name; // VT-d fault reason / AMD-Vi event name
};
// Logs and clears the faults the IOMMUs recorded. Returns the faults seen; with out/max, also the first `max`.
u32 iommu_poll_faults(IommuFault* out = nullptr, u32 max = 0);

} // namespace evmm
