// The vendor-neutral IOMMU front. See iommu.h.
#include "vmm/iommu/iommu.h"

#include "arch/x86_64/vtd.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/iommu/amdvi.h"
#include "vmm/iommu/vtd.h"

namespace evmm {
namespace {

IommuKind g_kind = IommuKind::None;
constexpr u32 FAULTS_AT_ONCE = 8; // faults converted per driver call (the rest are logged and counted)

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
    switch (g_kind) {
    case IommuKind::Vtd: return vtd_protect(heap, limit, holes, hole_count);
    case IommuKind::AmdVi: return amdvi_protect(heap, limit, holes, hole_count);
    case IommuKind::None: break;
    }
    return Status::success();
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
