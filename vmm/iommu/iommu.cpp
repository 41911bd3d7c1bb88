// The vendor-neutral IOMMU front. See iommu.h.
#include "vmm/iommu/iommu.h"

#include "arch/x86_64/vtd.h"
#include "lib/formats/acpi.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/host/platform.h"
#include "vmm/iommu/amdvi.h"
#include "vmm/iommu/vtd.h"

namespace evmm {
namespace {

IommuKind g_kind = IommuKind::None;
constexpr u32 FAULTS_AT_ONCE = 8; // faults converted per driver call (the rest are logged and counted)
constexpr char DMAR_HIDDEN[4] = {'X', 'M', 'A', 'R'};
constexpr char IVRS_HIDDEN[4] = {'X', 'V', 'R', 'S'};

// Once evmm owns the IOMMUs, guest0's OS must not find them: it would program registers guest0 cannot reach (their
// pages are holes of its EPT/NPT: a fault in the OS's IOMMU driver) or, were they reachable, undo the isolation. The
// table's signature is changed in place (guest0's copy of the ACPI tables is the firmware's, in memory it owns) and
// its checksum kept valid (acpi_table_rename): the OS boots as on a machine without an IOMMU.
void hide_table_from_guests() {
    const u64 pa = g_kind == IommuKind::Vtd ? vtd_dmar_pa() : amdvi_ivrs_pa();
    if (pa == 0 || pa + sizeof(AcpiSdtHeader) > platform().identity_limit) return;
    auto& h = *reinterpret_cast<AcpiSdtHeader*>(pa);
    const char* to = g_kind == IommuKind::Vtd ? DMAR_HIDDEN : IVRS_HIDDEN;
    LOG_INFO("%s: the ACPI %.4s table at 0x%lx is renamed %.4s for guest0: its OS sees no IOMMU", iommu_name(),
             h.signature, pa, to);
    acpi_table_rename(h, to);
}

} // namespace

void iommu_discover() {
    if (vtd_discover()) {
        g_kind = IommuKind::Vtd;
        return;
    }
    if (amdvi_discover()) {
        LOG_INFO("vt-d: no DMAR table: AMD-Vi (IVRS) instead");
        g_kind = IommuKind::AmdVi;
        return;
    }
    LOG_WARN("vt-d: no DMAR table: DMA is not isolated");
    LOG_INFO("amd-vi: no IVRS table either");
}

IommuKind iommu_kind() { return g_kind; }
const char* iommu_name() { return g_kind == IommuKind::AmdVi ? "amd-vi" : "vt-d"; }
const char* iommu_test_name() { return g_kind == IommuKind::AmdVi ? "amd-vi" : "vtd"; }

bool iommu_available() {
    switch (g_kind) {
    case IommuKind::Vtd: return vtd_available();
    case IommuKind::AmdVi: return amdvi_available();
    case IommuKind::None: break;
    }
    return false;
}

bool iommu_enabled() {
    switch (g_kind) {
    case IommuKind::Vtd: return vtd_enabled();
    case IommuKind::AmdVi: return amdvi_enabled();
    case IommuKind::None: break;
    }
    return false;
}

Status iommu_protect(PageHeap& heap, u64 limit, const MemoryMap::Range* holes, u32 hole_count) {
    const bool was_on = iommu_enabled();
    Status s = Status::success();
    switch (g_kind) {
    case IommuKind::Vtd: s = vtd_protect(heap, limit, holes, hole_count); break;
    case IommuKind::AmdVi: s = amdvi_protect(heap, limit, holes, hole_count); break;
    case IommuKind::None: break;
    }
    if (s.ok() && !was_on && iommu_enabled()) hide_table_from_guests();
    return s;
}

Status iommu_protect_guest(PageHeap& heap, const Guest& g) {
    return iommu_protect(heap, g.phys_limit(), g.holes(), g.hole_count());
}

u32 iommu_poll_faults(IommuFault* out, u32 max) {
    if (g_kind == IommuKind::Vtd) {
        VtdFaultRecord r[FAULTS_AT_ONCE];
        const u32 n = vtd_poll_faults(r, FAULTS_AT_ONCE);
        for (u32 i = 0; i < n && i < FAULTS_AT_ONCE && i < max && out != nullptr; ++i)
            out[i] = IommuFault{r[i].source_id, r[i].read, r[i].address, vtd_fault_reason_name(r[i].reason)};
        return n;
    }
    if (g_kind == IommuKind::AmdVi) {
        AmdViEvent e[FAULTS_AT_ONCE];
        const u32 n = amdvi_poll_faults(e, FAULTS_AT_ONCE);
        for (u32 i = 0; i < n && i < FAULTS_AT_ONCE && i < max && out != nullptr; ++i)
            out[i] = IommuFault{e[i].device_id, !e[i].write, e[i].address, amdvi_event_name(e[i].code)};
        return n;
    }
    return 0;
}

} // namespace evmm
