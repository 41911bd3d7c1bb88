// VT-d DMA protection. See vtd.h; section numbers refer to the Intel VT-d specification (rev. 4.1).
#include "vmm/iommu/vtd.h"

#include <new>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/vtd.h"
#include "lib/formats/dmar.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/host/platform.h"
#include "vmm/host/smp.h"
#include "vmm/iommu/dma_domain.h"

namespace evmm {
namespace {

constexpr const char* WHERE = "vt-d";
// Domain id of guest0's DMA domain on every unit: 1, because with CAP.CM = 1 hardware may tag not-present
// entries with domain 0 (§6.2.2), so software leaves 0 unused.
constexpr u16 DOMAIN_ID = 1;
// How long a unit may take to carry out a command (each wait; real units take microseconds).
constexpr u64 COMMAND_TIMEOUT_MS = 100;
constexpr u64 RSDP_MAX_LEN = 4096;

// Physical memory through the VMM's identity map, for the ACPI tables.
class HostPhys final : public PhysMem {
public:
    const void* map(u64 pa, size_t len) const override {
        if (pa == 0 || add_overflows(pa, len) || pa + len > platform().identity_limit) return nullptr;
        return reinterpret_cast<const void*>(pa);
    }
};

struct Unit {
    u64 base;
    u64 size;
    bool include_pci_all;
    u32 version;
    VtdCap cap;
    VtdEcap ecap;
};

Unit g_units[DMAR_MAX_UNITS];
u32 g_unit_count = 0;
bool g_available = false;
bool g_enabled = false;
DmarInfo g_dmar; // large: kept out of the stack

// --- register access (uncached MMIO through the identity map; §11.4: 32-bit registers with 32-bit accesses,
// 64-bit ones with 64-bit accesses) ---
u32 rd32(const Unit& u, u32 off) { return *reinterpret_cast<volatile const u32*>(u.base + off); }
u64 rd64(const Unit& u, u32 off) { return *reinterpret_cast<volatile const u64*>(u.base + off); }
void wr32(const Unit& u, u32 off, u32 v) { *reinterpret_cast<volatile u32*>(u.base + off) = v; }
void wr64(const Unit& u, u32 off, u64 v) { *reinterpret_cast<volatile u64*>(u.base + off) = v; }

// Waits until (read() & mask) == want; false after COMMAND_TIMEOUT_MS.
template <typename Read>
bool wait_for(Read read, u64 mask, u64 want) {
    return spin_until([&] { return (read() & mask) == want; }, smp_ms_to_ticks(COMMAND_TIMEOUT_MS));
}

// §11.4.4: a GCMD write carries the persistent status bits of GSTS and the one bit changed.
Status global_command(const Unit& u, u32 cmd, bool set_means_done, const char* what) {
    const u32 persistent = rd32(u, vtdreg::GSTS) & vtdgcmd::ONE_SHOT_MASK;
    wr32(u, vtdreg::GCMD, persistent | cmd);
    const bool ok = wait_for([&] { return u64{rd32(u, vtdreg::GSTS)}; }, cmd, set_means_done ? cmd : 0);
    if (!ok) return Status::error(what, WHERE, u.base, rd32(u, vtdreg::GSTS));
    return Status::success();
}

// Clears every recorded fault and the overflow flag (RW1C), so later faults are new ones.
void clear_faults(const Unit& u) {
    const u32 fro = u.cap.fro();
    for (u32 i = 0; i < u.cap.nfr(); ++i) {
        const u32 hi = fro + i * vtdreg::FRCD_SIZE + 8;
        if ((rd64(u, hi) & vtdfault::FRCD_HI_F) != 0) wr64(u, hi, vtdfault::FRCD_HI_F);
    }
    wr32(u, vtdreg::FSTS, vtdfault::FSTS_PFO);
}

Status enable_unit(const Unit& u, u32 index, u64 root_pa) {
    // §11.4.6: RTADDR with TTM = 00 (legacy mode), then GCMD.SRTP until GSTS.RTPS.
    wr64(u, vtdreg::RTADDR, root_pa);
    EVMM_TRY(global_command(u, vtdgcmd::SRTP, true, "root table pointer not latched (GSTS.RTPS stays 0)"));
    // §6.8: a write-buffer flush where the unit has one (CAP.RWBF), so the table writes reach memory.
    if (u.cap.rwbf())
        EVMM_TRY(global_command(u, vtdgcmd::WBF, false, "write-buffer flush not finished (GSTS.WBFS stays 1)"));
    // §6.5.1 / §11.4.7: global context-cache invalidation, then (§6.5.1: after a context-cache invalidation)
    // global IOTLB invalidation with draining (§11.4.8.1).
    wr64(u, vtdreg::CCMD, vtdccmd::ICC | vtdccmd::CIRG_GLOBAL);
    if (!wait_for([&] { return rd64(u, vtdreg::CCMD); }, vtdccmd::ICC, 0))
        return Status::error("context-cache invalidation not finished (CCMD.ICC stays 1)", WHERE, u.base);
    if ((rd64(u, vtdreg::CCMD) & vtdccmd::CAIG_MASK) == 0)
        return Status::error("context-cache invalidation refused (CCMD.CAIG = 0)", WHERE, u.base);
    const u32 iotlb = u.ecap.iro() + vtdreg::IOTLB_AFTER_IVA;
    wr64(u, iotlb, vtdiotlb::IVT | vtdiotlb::IIRG_GLOBAL | vtdiotlb::DR | vtdiotlb::DW);
    if (!wait_for([&] { return rd64(u, iotlb); }, vtdiotlb::IVT, 0))
        return Status::error("IOTLB invalidation not finished (IOTLB.IVT stays 1)", WHERE, u.base);
    if ((rd64(u, iotlb) & vtdiotlb::IAIG_MASK) == 0)
        return Status::error("IOTLB invalidation refused (IOTLB.IAIG = 0)", WHERE, u.base);
    clear_faults(u);
    // §11.4.4: translation on; GSTS.TES says when the hardware has it.
    EVMM_TRY(global_command(u, vtdgcmd::TE, true, "translation not enabled (GSTS.TES stays 0)"));
    LOG_INFO(
        "vt-d: unit %u at 0x%lx: root table 0x%lx set, context cache and IOTLB invalidated, translation "
        "enabled",
        index, u.base, root_pa);
    return Status::success();
}

const char* scope_name(u8 type) {
    switch (type) {
    case DMAR_SCOPE_PCI_ENDPOINT: return "PCI endpoint";
    case DMAR_SCOPE_PCI_SUBHIERARCHY: return "PCI sub-hierarchy";
    case DMAR_SCOPE_IOAPIC: return "I/O APIC";
    case DMAR_SCOPE_HPET: return "HPET";
    case DMAR_SCOPE_ACPI_NAMESPACE: return "ACPI namespace device";
    default: return "unknown scope type";
    }
}

} // namespace

bool vtd_available() { return g_available; }
bool vtd_enabled() { return g_enabled; }
u64 vtd_dmar_pa() { return g_dmar.table_pa; }

bool vtd_discover() {
    const Platform& p = platform();
    const HostPhys mem;
    if (p.acpi_rsdp == 0) {
        LOG_WARN("vt-d: no ACPI RSDP, so no DMAR table: DMA is not isolated");
        return true; // no IVRS either
    }
    const auto* r = static_cast<const AcpiRsdp*>(mem.map(p.acpi_rsdp, ACPI_RSDP_V1_SIZE));
    size_t rsdp_len = ACPI_RSDP_V1_SIZE;
    if (r != nullptr && r->revision >= ACPI_RSDP_REVISION_2 && mem.map(p.acpi_rsdp, ACPI_RSDP_V2_SIZE) != nullptr)
        rsdp_len = r->length < RSDP_MAX_LEN ? r->length : RSDP_MAX_LEN;
    const void* rsdp = mem.map(p.acpi_rsdp, rsdp_len);
    const Status s = dmar_find_and_parse(mem, rsdp, rsdp_len, g_dmar);
    if (acpi_table_not_found(s)) return false;
    if (!s.ok()) {
        LOG_WARN("vt-d: the DMAR table is unusable: %s in %s (0x%lx, 0x%lx): DMA is not isolated", s.what,
                 s.where ? s.where : "?", s.value, s.value2);
        return true;
    }
    const DmarInfo& d = g_dmar;
    LOG_INFO("vt-d: DMAR at 0x%lx: %u remapping unit(s), %u RMRR(s), host address width %u, flags 0x%x", d.table_pa,
             d.unit_count, d.rmrr_count, d.host_address_width, d.flags);
    for (u32 i = 0; i < d.rmrr_count; ++i)
        LOG_WARN("vt-d: RMRR 0x%lx-0x%lx (%u device(s)) is not mapped into the DMA domain unless it is guest0 RAM",
                 d.rmrrs[i].base, d.rmrrs[i].end, d.rmrrs[i].scope_count);
    if (d.unit_count == 0) {
        LOG_WARN("vt-d: the DMAR lists no remapping unit: DMA is not isolated");
        return true;
    }
    bool usable = true;
    for (u32 i = 0; i < d.unit_count; ++i) {
        const DmarUnit& du = d.units[i];
        Unit& u = g_units[i];
        u = Unit{du.register_base, du.register_size, du.include_pci_all, 0, {}, {}};
        if (du.segment != 0 || du.register_base + du.register_size > p.identity_limit) {
            LOG_WARN("vt-d: unit %u at 0x%lx: PCI segment %u or registers outside the identity map: not supported", i,
                     du.register_base, du.segment);
            usable = false;
            continue;
        }
        u.version = rd32(u, vtdreg::VER);
        u.cap = VtdCap{rd64(u, vtdreg::CAP)};
        u.ecap = VtdEcap{rd64(u, vtdreg::ECAP)};
        const u32 gsts = rd32(u, vtdreg::GSTS);
        LOG_INFO(
            "vt-d: unit %u at 0x%lx: version %u.%u, cap 0x%lx, ecap 0x%lx, %lu domains, SAGAW 0x%x, MGAW %u, "
            "caching mode %s, coherent walks %s, %u fault records, %s, %u device scope(s)",
            i, u.base, (u.version >> 4) & 0xF, u.version & 0xF, u.cap.raw, u.ecap.raw, u.cap.domains(), u.cap.sagaw(),
            u.cap.mgaw(), u.cap.cm() ? "yes" : "no", u.ecap.c() ? "yes" : "no", u.cap.nfr(),
            du.include_pci_all ? "all PCI devices (INCLUDE_PCI_ALL)" : "the devices of its scopes", du.scope_count);
        for (u32 k = 0; k < du.scope_count; ++k) {
            const DmarScope& sc = du.scopes[k];
            const DmarPathEntry last = sc.path_len != 0 ? sc.path[sc.path_len - 1] : DmarPathEntry{0, 0};
            LOG_INFO("vt-d: unit %u scope: %s, start bus %u, path length %u, last %02x.%u, enumeration id %u", i,
                     scope_name(sc.type), sc.start_bus, sc.path_len, last.device, last.function, sc.enumeration_id);
        }
        if (u.version == 0xFFFF'FFFFu || u.cap.raw == ~u64{0}) {
            LOG_WARN("vt-d: unit %u at 0x%lx: registers read as all ones (no unit there): DMA is not isolated", i,
                     u.base);
            usable = false;
        } else if ((gsts & vtdgcmd::TE) != 0) {
            LOG_WARN(
                "vt-d: unit %u at 0x%lx: translation is already enabled (GSTS 0x%x): left alone, DMA is not "
                "isolated by evmm",
                i, u.base, gsts);
            usable = false;
        } else if (!u.cap.sagaw_4level() || u.cap.mgaw() < 48) {
            LOG_WARN(
                "vt-d: unit %u at 0x%lx lacks 4-level (48-bit) second-level tables (SAGAW 0x%x, MGAW %u): DMA "
                "is not isolated",
                i, u.base, u.cap.sagaw(), u.cap.mgaw());
            usable = false;
        } else if (u.cap.domains() <= DOMAIN_ID) {
            LOG_WARN("vt-d: unit %u at 0x%lx supports too few domains (%lu): DMA is not isolated", i, u.base,
                     u.cap.domains());
            usable = false;
        } else if (u.cap.fro() + u.cap.nfr() * vtdreg::FRCD_SIZE > u.size ||
                   u.ecap.iro() + vtdreg::IOTLB_AFTER_IVA + 8 > u.size) {
            LOG_WARN("vt-d: unit %u at 0x%lx: fault or IOTLB registers beyond its register set: DMA is not isolated", i,
                     u.base);
            usable = false;
        }
    }
    g_unit_count = d.unit_count;
    if (!usable) return true;
    MemoryMap::Range regs[DMAR_MAX_UNITS];
    for (u32 i = 0; i < g_unit_count; ++i) regs[i] = MemoryMap::Range{g_units[i].base, g_units[i].size};
    g_available = platform_hide_devices("vt-d", "unit", regs, g_unit_count, "DMA is not isolated");
    return true;
}

Status vtd_protect(PageHeap& heap, u64 limit, const MemoryMap::Range* holes, u32 hole_count) {
    if (!g_available || g_enabled) return Status::success();
    MemoryMap::Range all[PLATFORM_MAX_GUEST_HOLES + 1];
    u32 n = 0;
    EVMM_TRY(dma_domain_holes(holes, hole_count, platform().trampoline_base, all, PLATFORM_MAX_GUEST_HOLES + 1, n));

    // Large pages only where every unit has them (CAP.SLLPS).
    bool allow_2m = true, allow_1g = true;
    for (u32 i = 0; i < g_unit_count; ++i) {
        allow_2m = allow_2m && g_units[i].cap.sllps_2m();
        allow_1g = allow_1g && g_units[i].cap.sllps_1g();
    }
    void* obj = heap.alloc_pages(align_up(sizeof(VtdSlTables), PAGE_SIZE) / PAGE_SIZE);
    if (obj == nullptr) return Status::error("out of heap pages for the DMA domain", WHERE);
    auto* sl = new (obj) VtdSlTables(heap);
    EVMM_TRY(sl->init());
    DmaDomainStats st{};
    EVMM_TRY(dma_domain_build_identity(*sl, limit, all, n, allow_2m, allow_1g, st));

    // §9.1 / §9.3: one root table whose every bus points to one context table whose every device:function is
    // in the domain (shared by every unit: a unit only ever sees requests of its own devices).
    const u64 root_pa = heap.alloc_page();
    const u64 ctx_pa = heap.alloc_page();
    if (root_pa == 0 || ctx_pa == 0) return Status::error("out of heap pages for the root/context tables", WHERE);
    auto* root = static_cast<VtdRootEntry*>(heap.phys_to_virt(root_pa));
    auto* ctx = static_cast<VtdContextEntry*>(heap.phys_to_virt(ctx_pa));
    for (u32 i = 0; i < VTD_CONTEXT_ENTRIES; ++i) ctx[i] = VtdContextEntry::make(sl->root_pa(), DOMAIN_ID);
    for (u32 i = 0; i < VTD_ROOT_ENTRIES; ++i) root[i] = VtdRootEntry::make(ctx_pa);
    LOG_INFO(
        "vt-d: DMA domain %u: identity 0-0x%lx without %u hole(s) (the hypervisor, hidden registers, AP start "
        "page): %lu x 1G, %lu x 2M, %lu x 4K pages, %lu table pages; root table 0x%lx, context table 0x%lx",
        DOMAIN_ID, limit, n, st.pages_1g, st.pages_2m, st.pages_4k, st.table_pages, root_pa, ctx_pa);
    for (u32 i = 0; i < n; ++i)
        LOG_INFO("vt-d: not mapped for DMA: 0x%lx-0x%lx", all[i].base, all[i].base + all[i].length);

    // Where page walks do not snoop the caches (ECAP.C = 0, §11.4.3), the tables must be written back to memory
    // before the hardware reads them.
    bool coherent = true;
    for (u32 i = 0; i < g_unit_count; ++i) coherent = coherent && g_units[i].ecap.c();
    if (!coherent) asm volatile("wbinvd" ::: "memory");

    for (u32 i = 0; i < g_unit_count; ++i) EVMM_TRY(enable_unit(g_units[i], i, root_pa));
    g_enabled = true;
    LOG_INFO("vt-d: DMA remapping on for %u unit(s): devices reach only guest0's memory", g_unit_count);
    return Status::success();
}

Status vtd_protect_guest(PageHeap& heap, const Guest& g) {
    return vtd_protect(heap, g.phys_limit(), g.holes(), g.hole_count());
}

u32 vtd_poll_faults(VtdFaultRecord* out, u32 max) {
    u32 seen = 0;
    for (u32 i = 0; i < g_unit_count && g_available; ++i) {
        const Unit& u = g_units[i];
        const u32 fsts = rd32(u, vtdreg::FSTS);
        if ((fsts & (vtdfault::FSTS_PPF | vtdfault::FSTS_PFO)) == 0) continue;
        const u32 fro = u.cap.fro();
        for (u32 k = 0; k < u.cap.nfr(); ++k) {
            const u32 off = fro + k * vtdreg::FRCD_SIZE;
            const u64 hi = rd64(u, off + 8);
            if ((hi & vtdfault::FRCD_HI_F) == 0) continue;
            const VtdFault f = vtd_decode_fault(rd64(u, off), hi);
            wr64(u, off + 8, vtdfault::FRCD_HI_F); // RW1C
            LOG_WARN("vt-d: DMA fault: unit %u, source %02x:%02x.%u, %s at 0x%lx, reason %u (%s)", i,
                     source_id_bus(f.source_id), source_id_dev(f.source_id), source_id_fn(f.source_id),
                     f.read ? "read" : "write", f.address, f.reason, vtd_fault_reason_name(f.reason));
            if (seen < max && out != nullptr) out[seen] = VtdFaultRecord{f.source_id, f.reason, f.read, f.address};
            ++seen;
        }
        if ((fsts & vtdfault::FSTS_PFO) != 0) {
            LOG_WARN("vt-d: unit %u: fault records overflowed (FSTS.PFO): some faults were not recorded", i);
            wr32(u, vtdreg::FSTS, vtdfault::FSTS_PFO);
        }
    }
    return seen;
}

} // namespace evmm
