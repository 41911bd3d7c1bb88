// AMD-Vi DMA protection. See amdvi.h; section numbers refer to the AMD IOMMU specification (pub. 48882).
#include "vmm/iommu/amdvi.h"

#include <new>

#include "arch/x86_64/cpu.h"
#include "lib/formats/dmar.h"
#include "lib/formats/ivrs.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/host/platform.h"
#include "vmm/host/smp.h"
#include "vmm/iommu/dma_domain.h"

namespace evmm {
namespace {

constexpr const char* WHERE = "amd-vi";
// Domain id of guest0's DMA domain: 1, like VT-d's (0 stays unused).
constexpr u16 DOMAIN_ID = 1;
// How long an IOMMU may take to carry out commands (each wait; real IOMMUs take microseconds).
constexpr u64 COMMAND_TIMEOUT_MS = 100;
constexpr u64 RSDP_MAX_LEN = 4096;
// Command buffer and event log: 2^8 = 256 entries of 16 bytes, one page each (§3.4: ComLen / EventLen 1000b, the least
// allowed).
constexpr u32 RING_LEN = amdvibase::LEN_MIN;
constexpr u64 RING_BYTES = (u64{1} << RING_LEN) * AMDVI_COMMAND_SIZE;
static_assert(RING_BYTES == PAGE_SIZE && (u64{1} << RING_LEN) * AMDVI_EVENT_SIZE == PAGE_SIZE);
constexpr u64 COMPLETION_DONE = 0x414D'4456'2D4F'4B21ull; // what COMPLETION_WAIT stores: "!KO-VDMA"

// Physical memory through the VMM's identity map, for the ACPI tables.
class HostPhys final : public PhysMem {
public:
    const void* map(u64 pa, size_t len) const override {
        if (pa == 0 || add_overflows(pa, len) || pa + len > platform().identity_limit) return nullptr;
        return reinterpret_cast<const void*>(pa);
    }
};

struct Iommu {
    u64 base;
    u64 size;
    AmdViEfr efr;
    u16 device_id;
    u32 max_device_id;
    AmdViCommand* cmd; // command buffer (heap), RING_BYTES
    u64 cmd_pa;
    u64 cmd_tail;            // byte offset of the next command
    AmdViEventEntry* events; // event log (heap), RING_BYTES
    u64 events_pa;
    volatile u64* completion; // the COMPLETION_WAIT store target (heap)
    u64 completion_pa;
};

Iommu g_iommus[IVRS_MAX_IOMMUS];
u32 g_iommu_count = 0;
bool g_available = false;
bool g_enabled = false;
IvrsInfo g_ivrs; // kept out of the stack

// --- register access (§3.4: 64-bit registers, accessed as such; uncached MMIO through the identity map) ---
u64 rd64(const Iommu& m, u32 off) { return *reinterpret_cast<volatile const u64*>(m.base + off); }
void wr64(const Iommu& m, u32 off, u64 v) { *reinterpret_cast<volatile u64*>(m.base + off) = v; }

// Waits until done() is true; false after COMMAND_TIMEOUT_MS.
template <typename Done>
bool wait_for(Done done) {
    return spin_until(done, smp_ms_to_ticks(COMMAND_TIMEOUT_MS));
}

// §3.4 (Command Buffer Head / Tail): writes the command at the tail and moves the tail past it; the IOMMU runs commands
// from head to tail. Waits (bounded) while the buffer is full (the tail would reach the head).
Status submit(Iommu& m, const AmdViCommand& c) {
    const u64 next = (m.cmd_tail + AMDVI_COMMAND_SIZE) % RING_BYTES;
    if (!wait_for([&] { return (rd64(m, amdvireg::CMD_BUF_HEAD) & amdvibase::HEAD_TAIL_MASK) != next; }))
        return Status::error("command buffer stays full (the IOMMU does not run commands)", WHERE, m.base,
                             rd64(m, amdvireg::STATUS));
    m.cmd[m.cmd_tail / AMDVI_COMMAND_SIZE] = c;
    asm volatile("" ::: "memory"); // the command is in memory before the tail moves (x86 stores stay ordered)
    m.cmd_tail = next;
    wr64(m, amdvireg::CMD_BUF_TAIL, m.cmd_tail);
    return Status::success();
}

// §2.4: COMPLETION_WAIT with a store to memory: done when the IOMMU has stored COMPLETION_DONE, which it does
// only after every earlier command completed.
Status completion_wait(Iommu& m) {
    *m.completion = 0;
    EVMM_TRY(submit(m, amdvi_cmd_completion_wait(m.completion_pa, COMPLETION_DONE)));
    if (!wait_for([&] { return *m.completion == COMPLETION_DONE; }))
        return Status::error("COMPLETION_WAIT not done (no store to memory)", WHERE, m.base, rd64(m, amdvireg::STATUS));
    return Status::success();
}

// Every cached device table entry (INVALIDATE_IOMMU_ALL where EFR.IASup, else one INVALIDATE_DEVTAB_ENTRY per id
// of the table) and every cached translation of the domain, then a completion wait.
Status invalidate(Iommu& m, u32 max_id) {
    if (m.efr.ia_sup()) {
        EVMM_TRY(submit(m, amdvi_cmd_invalidate_all()));
    } else {
        for (u32 id = 0; id <= max_id; ++id)
            EVMM_TRY(submit(m, amdvi_cmd_invalidate_devtab_entry(static_cast<u16>(id))));
    }
    EVMM_TRY(submit(m, amdvi_cmd_invalidate_domain(DOMAIN_ID)));
    return completion_wait(m);
}

Status enable_iommu(Iommu& m, u32 index, u64 devtab_pa, u64 devtab_pages, u32 max_id) {
    // §3.4: the bases are written while the command buffer, event log and translation are off.
    const u64 keep =
        rd64(m, amdvireg::CONTROL) &
        ~(amdvictl::IOMMU_EN | amdvictl::EVENT_LOG_EN | amdvictl::EVENT_INT_EN | amdvictl::COM_WAIT_INT_EN |
          amdvictl::CMD_BUF_EN | amdvictl::PPR_LOG_EN | amdvictl::PPR_EN | amdvictl::GT_EN | amdvictl::GA_EN);
    wr64(m, amdvireg::CONTROL, keep);
    // §3.4: no exclusion range (accesses there would bypass translation).
    wr64(m, amdvireg::EXCLUSION_BASE, 0);
    wr64(m, amdvireg::EXCLUSION_LIMIT, 0);
    wr64(m, amdvireg::DEV_TABLE_BASE, amdvi_dev_table_base(devtab_pa, devtab_pages));
    wr64(m, amdvireg::CMD_BUF_BASE, amdvi_ring_base(m.cmd_pa, RING_LEN));
    wr64(m, amdvireg::CMD_BUF_HEAD, 0);
    wr64(m, amdvireg::CMD_BUF_TAIL, 0);
    m.cmd_tail = 0;
    wr64(m, amdvireg::EVENT_LOG_BASE, amdvi_ring_base(m.events_pa, RING_LEN));
    wr64(m, amdvireg::EVENT_LOG_HEAD, 0);
    wr64(m, amdvireg::EVENT_LOG_TAIL, 0);
    wr64(m, amdvireg::STATUS, amdvistatus::EVENT_OVERFLOW | amdvistatus::EVENT_LOG_INT | amdvistatus::COM_WAIT_INT);
    // Command buffer, event log and translation on together (an IOMMU may run commands only while IommuEn = 1, as
    // QEMU's does), then the invalidations: at reset the caches hold nothing, and firmware left translation off.
    wr64(m, amdvireg::CONTROL,
         keep | amdvictl::COHERENT | amdvictl::CMD_BUF_EN | amdvictl::EVENT_LOG_EN | amdvictl::IOMMU_EN);
    EVMM_TRY(invalidate(m, max_id));
    LOG_INFO(
        "amd-vi: iommu %u at 0x%lx: device table 0x%lx (%lu page(s), ids 0-0x%x), command buffer 0x%lx, event log "
        "0x%lx, caches invalidated, translation enabled",
        index, m.base, devtab_pa, devtab_pages, max_id, m.cmd_pa, m.events_pa);
    return Status::success();
}

const char* ivhd_type_name(u8 type) {
    switch (type) {
    case IVRS_TYPE_IVHD_10: return "10h";
    case IVRS_TYPE_IVHD_11: return "11h";
    case IVRS_TYPE_IVHD_40: return "40h";
    default: return "?";
    }
}

// Restarts an overflowed event log (§3.4 EventOverflow): log off, overflow cleared, head and tail at 0, log on.
void restart_event_log(const Iommu& m) {
    const u64 ctl = rd64(m, amdvireg::CONTROL);
    wr64(m, amdvireg::CONTROL, ctl & ~amdvictl::EVENT_LOG_EN);
    if (!wait_for([&] { return (rd64(m, amdvireg::STATUS) & amdvistatus::EVENT_LOG_RUN) == 0; }))
        LOG_WARN("amd-vi: iommu at 0x%lx: the event log does not stop (EventLogRun stays 1)", m.base);
    wr64(m, amdvireg::STATUS, amdvistatus::EVENT_OVERFLOW);
    wr64(m, amdvireg::EVENT_LOG_HEAD, 0);
    wr64(m, amdvireg::EVENT_LOG_TAIL, 0);
    wr64(m, amdvireg::CONTROL, ctl | amdvictl::EVENT_LOG_EN);
}

} // namespace

bool amdvi_available() { return g_available; }
bool amdvi_enabled() { return g_enabled; }
u64 amdvi_ivrs_pa() { return g_ivrs.table_pa; }

bool amdvi_discover() {
    const Platform& p = platform();
    const HostPhys mem;
    if (p.acpi_rsdp == 0) return false;
    const auto* r = static_cast<const AcpiRsdp*>(mem.map(p.acpi_rsdp, ACPI_RSDP_V1_SIZE));
    size_t rsdp_len = ACPI_RSDP_V1_SIZE;
    if (r != nullptr && r->revision >= ACPI_RSDP_REVISION_2 && mem.map(p.acpi_rsdp, ACPI_RSDP_V2_SIZE) != nullptr)
        rsdp_len = r->length < RSDP_MAX_LEN ? r->length : RSDP_MAX_LEN;
    const void* rsdp = mem.map(p.acpi_rsdp, rsdp_len);
    const Status s = ivrs_find_and_parse(mem, rsdp, rsdp_len, g_ivrs);
    if (acpi_table_not_found(s)) return false;
    if (!s.ok()) {
        LOG_WARN("amd-vi: the IVRS table is unusable: %s in %s (0x%lx, 0x%lx): DMA is not isolated", s.what,
                 s.where ? s.where : "?", s.value, s.value2);
        return true;
    }
    const IvrsInfo& v = g_ivrs;
    LOG_INFO("amd-vi: IVRS at 0x%lx: %u IOMMU(s) (IVHD type %s), %u IVMD(s), IVinfo 0x%x", v.table_pa, v.iommu_count,
             v.iommu_count != 0 ? ivhd_type_name(v.iommus[0].type) : "-", v.ivmd_count, v.iv_info);
    for (u32 i = 0; i < v.ivmd_count; ++i)
        LOG_WARN(
            "amd-vi: IVMD 0x%lx-0x%lx (type 0x%x, flags 0x%x, device 0x%x) is not mapped into the DMA domain unless "
            "it is guest0 RAM, nor honoured as an exclusion range",
            v.ivmds[i].base, v.ivmds[i].base + v.ivmds[i].length, v.ivmds[i].type, v.ivmds[i].flags,
            v.ivmds[i].device_id);
    if (v.iommu_count == 0) {
        LOG_WARN("amd-vi: the IVRS lists no IOMMU: DMA is not isolated");
        return true;
    }
    bool usable = true;
    for (u32 i = 0; i < v.iommu_count; ++i) {
        const IvrsIommu& d = v.iommus[i];
        Iommu& m = g_iommus[i];
        m = Iommu{};
        m.base = d.base_address;
        m.size = amdvireg::MMIO_SIZE;
        m.device_id = d.device_id;
        m.max_device_id = d.max_device_id;
        if (d.pci_segment != 0 || add_overflows(m.base, amdvireg::MMIO_SIZE_WITH_COUNTERS) ||
            m.base + amdvireg::MMIO_SIZE_WITH_COUNTERS > p.identity_limit) {
            LOG_WARN("amd-vi: iommu %u at 0x%lx: PCI segment %u or registers outside the identity map: not supported",
                     i, m.base, d.pci_segment);
            usable = false;
            continue;
        }
        m.efr = AmdViEfr{rd64(m, amdvireg::EXT_FEATURE)};
        const u64 ctl = rd64(m, amdvireg::CONTROL);
        if (m.efr.pc_sup()) m.size = amdvireg::MMIO_SIZE_WITH_COUNTERS;
        LOG_INFO(
            "amd-vi: iommu %u at 0x%lx: device %02x:%02x.%u, capability at 0x%x, EFR 0x%lx (IVHD image 0x%lx), "
            "%u-level host tables, invalidate-all %s, performance counters %s, flags 0x%x, device ids 0-0x%x%s (%u "
            "device entries)",
            i, m.base, source_id_bus(d.device_id), source_id_dev(d.device_id), source_id_fn(d.device_id),
            d.capability_offset, m.efr.raw, d.efr_image, m.efr.host_levels(), m.efr.ia_sup() ? "yes" : "no",
            m.efr.pc_sup() ? "yes" : "no", d.flags, d.max_device_id, d.covers_all ? " (all)" : "", d.device_entries);
        if (m.efr.raw == ~u64{0} || ctl == ~u64{0}) {
            LOG_WARN("amd-vi: iommu %u at 0x%lx: registers read as all ones (no IOMMU there): DMA is not isolated", i,
                     m.base);
            usable = false;
        } else if ((ctl & amdvictl::IOMMU_EN) != 0) {
            LOG_WARN(
                "amd-vi: iommu %u at 0x%lx: translation is already enabled (Control 0x%lx): left alone, DMA is not "
                "isolated by evmm",
                i, m.base, ctl);
            usable = false;
        } else if (m.efr.host_levels() < 4) {
            LOG_WARN("amd-vi: iommu %u at 0x%lx lacks 4-level host page tables (EFR.HATS %u): DMA is not isolated", i,
                     m.base, m.efr.hats());
            usable = false;
        } else if (d.device_entries == 0) {
            LOG_WARN("amd-vi: iommu %u at 0x%lx: its IVHD names no device: DMA is not isolated", i, m.base);
            usable = false;
        }
    }
    g_iommu_count = v.iommu_count;
    if (!usable) return true;
    MemoryMap::Range regs[IVRS_MAX_IOMMUS];
    for (u32 i = 0; i < g_iommu_count; ++i) regs[i] = MemoryMap::Range{g_iommus[i].base, g_iommus[i].size};
    g_available = platform_hide_devices("amd-vi", "iommu", regs, g_iommu_count, "DMA is not isolated");
    return true;
}

Status amdvi_protect(PageHeap& heap, u64 limit, const MemoryMap::Range* holes, u32 hole_count) {
    if (!g_available || g_enabled) return Status::success();
    MemoryMap::Range all[PLATFORM_MAX_GUEST_HOLES + 1];
    u32 n = 0;
    EVMM_TRY(dma_domain_holes(holes, hole_count, platform().trampoline_base, all, PLATFORM_MAX_GUEST_HOLES + 1, n));

    // §2.2.3: PDEs with NextLevel 0 at levels 2 and 3 are 2 MiB and 1 GiB pages on every IOMMU.
    void* obj = heap.alloc_pages(align_up(sizeof(AmdViIoTables), PAGE_SIZE) / PAGE_SIZE);
    if (obj == nullptr) return Status::error("out of heap pages for the DMA domain", WHERE);
    auto* io = new (obj) AmdViIoTables(heap);
    EVMM_TRY(io->init());
    DmaDomainStats st{};
    EVMM_TRY(dma_domain_build_identity(*io, limit, all, n, true, true, st));

    // §2.2.2: one device table for the ids of every IOMMU (each reads only the entries of its own devices).
    u32 max_id = 0;
    for (u32 i = 0; i < g_iommu_count; ++i)
        if (g_iommus[i].max_device_id > max_id) max_id = g_iommus[i].max_device_id;
    const u64 pages = amdvi_dev_table_pages(max_id);
    auto* dte = static_cast<AmdViDte*>(heap.alloc_pages(pages));
    if (dte == nullptr) return Status::error("out of heap pages for the device table (pages)", WHERE, pages);
    const u64 devtab_pa = heap.virt_to_phys(dte);
    const u64 entries = pages * AMDVI_DTES_PER_PAGE;
    for (u64 id = 0; id < entries; ++id) dte[id] = AmdViDte::make(io->root_pa(), DOMAIN_ID);
    LOG_INFO(
        "amd-vi: DMA domain %u: identity 0-0x%lx without %u hole(s) (the hypervisor, hidden registers, AP start "
        "page): %lu x 1G, %lu x 2M, %lu x 4K pages, %lu table pages; device table 0x%lx: %lu entries",
        DOMAIN_ID, limit, n, st.pages_1g, st.pages_2m, st.pages_4k, st.table_pages, devtab_pa, entries);
    for (u32 i = 0; i < n; ++i)
        LOG_INFO("amd-vi: not mapped for DMA: 0x%lx-0x%lx", all[i].base, all[i].base + all[i].length);

    // Per IOMMU: command buffer and event log (a page each), and one page for the COMPLETION_WAIT store.
    for (u32 i = 0; i < g_iommu_count; ++i) {
        Iommu& m = g_iommus[i];
        m.cmd = static_cast<AmdViCommand*>(heap.alloc_pages(1));
        m.events = static_cast<AmdViEventEntry*>(heap.alloc_pages(1));
        void* c = heap.alloc_pages(1);
        if (m.cmd == nullptr || m.events == nullptr || c == nullptr)
            return Status::error("out of heap pages for the command buffer / event log", WHERE, i);
        m.cmd_pa = heap.virt_to_phys(m.cmd);
        m.events_pa = heap.virt_to_phys(m.events);
        m.completion = static_cast<volatile u64*>(c);
        m.completion_pa = heap.virt_to_phys(c);
    }
    // The tables are written back to memory before any IOMMU reads them (Control.Coherent, set below, makes its
    // device table reads snoop; the write-back covers IOMMUs whose other reads do not): once, at boot.
    asm volatile("wbinvd" ::: "memory");
    for (u32 i = 0; i < g_iommu_count; ++i)
        EVMM_TRY(enable_iommu(g_iommus[i], i, devtab_pa, pages, static_cast<u32>(entries - 1)));
    g_enabled = true;
    LOG_INFO("amd-vi: DMA remapping on for %u IOMMU(s): devices reach only guest0's memory", g_iommu_count);
    return Status::success();
}

Status amdvi_protect_guest(PageHeap& heap, const Guest& g) {
    return amdvi_protect(heap, g.phys_limit(), g.holes(), g.hole_count());
}

u32 amdvi_poll_faults(AmdViEvent* out, u32 max) {
    u32 seen = 0;
    for (u32 i = 0; i < g_iommu_count && g_enabled; ++i) {
        const Iommu& m = g_iommus[i];
        u64 head = rd64(m, amdvireg::EVENT_LOG_HEAD) & amdvibase::HEAD_TAIL_MASK;
        const u64 tail = rd64(m, amdvireg::EVENT_LOG_TAIL) & amdvibase::HEAD_TAIL_MASK;
        // At most one lap of the log: a bad tail cannot keep the loop going.
        for (u64 k = 0; head != tail && head < RING_BYTES && k < RING_BYTES / AMDVI_EVENT_SIZE; ++k) {
            const volatile AmdViEventEntry& slot = m.events[head / AMDVI_EVENT_SIZE]; // written by the IOMMU
            const AmdViEventEntry raw{slot.lo, slot.hi};
            const AmdViEvent e = amdvi_decode_event(raw);
            if (e.code == u8(AmdViEventCode::IoPageFault))
                LOG_WARN("amd-vi: DMA fault: iommu %u, source %02x:%02x.%u, %s at 0x%lx, %s (domain %u, %s)", i,
                         source_id_bus(e.device_id), source_id_dev(e.device_id), source_id_fn(e.device_id),
                         e.write ? "write" : "read", e.address, amdvi_event_name(e.code), e.domain_id,
                         e.permission ? "permission" : (e.present ? "present" : "not present"));
            else
                LOG_WARN("amd-vi: iommu %u: event %s (code 0x%x), device %02x:%02x.%u, address 0x%lx (raw 0x%lx)", i,
                         amdvi_event_name(e.code), e.code, source_id_bus(e.device_id), source_id_dev(e.device_id),
                         source_id_fn(e.device_id), e.address, raw.lo);
            if (seen < max && out != nullptr) out[seen] = e;
            ++seen;
            head = (head + AMDVI_EVENT_SIZE) % RING_BYTES;
            wr64(m, amdvireg::EVENT_LOG_HEAD, head);
        }
        if ((rd64(m, amdvireg::STATUS) & amdvistatus::EVENT_OVERFLOW) != 0) {
            LOG_WARN("amd-vi: iommu %u: the event log overflowed (Status.EventOverflow): some events were lost", i);
            restart_event_log(m);
        }
    }
    return seen;
}

} // namespace evmm
