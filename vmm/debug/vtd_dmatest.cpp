// The VT-d DMA test with QEMU's edu device. See vtd_dmatest.h.
#include "vmm/debug/vtd_dmatest.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/pci.h"
#include "lib/formats/dmar.h"
#include "lib/log.h"
#include "vmm/host/platform.h"
#include "vmm/host/smp.h"
#include "vmm/iommu/iommu.h"

namespace evmm {
namespace {

// QEMU hw/misc/edu.c, docs/specs/edu.rst.
constexpr u32 EDU_VENDOR_DEVICE = 0x11E8'1234u;
constexpr u32 EDU_IDENT = 0x00;     // 0xRRrr00ed: major, minor, 0xed
constexpr u32 EDU_DMA_SRC = 0x80;   // 64-bit
constexpr u32 EDU_DMA_DST = 0x88;   // 64-bit
constexpr u32 EDU_DMA_COUNT = 0x90; // 64-bit
constexpr u32 EDU_DMA_CMD = 0x98;   // 64-bit: bit 0 start (cleared when done), bit 1 direction, bit 2 interrupt
constexpr u64 EDU_DMA_RUN = 1;
constexpr u64 EDU_DMA_TO_RAM = 2;   // direction 1: from the device's buffer to RAM; 0: from RAM to the buffer
constexpr u64 EDU_BUFFER = 0x40000; // the device's 4 KiB DMA buffer, in its own DMA address space
constexpr u64 EDU_BAR_SIZE = 1 * MiB;
constexpr u64 DMA_TIMEOUT_MS = 3000; // QEMU runs each transfer 100 ms (virtual) after the command
constexpr u64 LEN = 256;

struct Edu {
    u8 bus, dev;
    u64 bar;
};

bool find_edu(Edu& e) {
    for (u8 dev = 0; dev < 32; ++dev) {
        if (pci::read32(0, dev, 0, pci::VENDOR_DEVICE) != EDU_VENDOR_DEVICE) continue;
        const u32 bar = pci::read32(0, dev, 0, pci::BAR0);
        e = Edu{0, dev, bar & pci::BAR_MEM_MASK};
        if ((bar & pci::BAR_IO) != 0 || (bar & pci::BAR_TYPE_64) != 0) e.bar = 0;
        return true;
    }
    return false;
}

u64 rd(const Edu& e, u32 off) { return *reinterpret_cast<volatile const u64*>(e.bar + off); }
u32 rd32(const Edu& e, u32 off) { return *reinterpret_cast<volatile const u32*>(e.bar + off); }
void wr(const Edu& e, u32 off, u64 v) { *reinterpret_cast<volatile u64*>(e.bar + off) = v; }

bool dma(const Edu& e, u64 src, u64 dst, u64 cmd) {
    wr(e, EDU_DMA_SRC, src);
    wr(e, EDU_DMA_DST, dst);
    wr(e, EDU_DMA_COUNT, LEN);
    wr(e, EDU_DMA_CMD, cmd | EDU_DMA_RUN);
    return spin_until([&] { return (rd(e, EDU_DMA_CMD) & EDU_DMA_RUN) == 0; }, smp_ms_to_ticks(DMA_TIMEOUT_MS));
}

bool overlaps_boot_data(const evmm_desc_t& d, u64 base, u64 len) {
    for (u32 i = 0; i < d.boot_module_count && i < EVMM_MAX_BOOT_MODULES; ++i)
        if (ranges_overlap(base, len, d.boot_modules[i].start, d.boot_modules[i].size)) return true;
    return ranges_overlap(base, len, d.loader_file.load_addr, d.loader_file.load_size) ||
           ranges_overlap(base, len, align_down(d.mb2_info, PAGE_SIZE), 16 * PAGE_SIZE);
}

// Two pages of guest0's RAM that nothing uses yet: the top of the highest usable range below 4 GiB.
u64 pick_guest_pages(const evmm_desc_t& d) {
    u64 best = 0;
    for (u32 i = 0; i < d.guest0_mmap_count && i < EVMM_MAX_MMAP; ++i) {
        const evmm_mmap_entry_t& m = d.guest0_mmap[i];
        if (m.type != EVMM_MEM_USABLE) continue;
        const u64 end = align_down(m.base + m.length, PAGE_SIZE);
        if (end > 4 * GiB || end < 2 * PAGE_SIZE || end - 2 * PAGE_SIZE < align_up(m.base, PAGE_SIZE)) continue;
        const u64 p = end - 2 * PAGE_SIZE;
        if (p > best && p >= 1 * MiB && !overlaps_boot_data(d, p, 2 * PAGE_SIZE)) best = p;
    }
    return best;
}

// The lines' prefix: "vtd" with VT-d (the lines the VT-d tests expect), "amd-vi" with AMD-Vi.
const char* T = "vtd";

bool fail(const char* why, u64 a = 0, u64 b = 0) {
    LOG_ERROR("%s test: FAILED: %s (0x%lx, 0x%lx)", T, why, a, b);
    return false;
}

// The device writes its buffer to the page at physical `target` (`p` in evmm's view): the IOMMU must refuse it, with
// a write fault from the device (source id `sid`) at that address, and the page must keep its bytes (saved in `copy`).
// With AMD-Vi the fault event may be missing: QEMU 7.2's amd-iommu drops a DMA whose page-table entry is not present
// without logging an IO_PAGE_FAULT (docs/security.md); an event that is logged must still match.
[[gnu::noinline]] bool refused(const Edu& e, u16 sid, u64 target, const u8* p, u8* copy, const char* what) {
    for (u64 i = 0; i < PAGE_SIZE; ++i) copy[i] = p[i];
    const bool done = dma(e, EDU_BUFFER, target, EDU_DMA_TO_RAM);
    IommuFault f{};
    const u32 faults = done ? iommu_poll_faults(&f, 1) : 0;
    const bool fault_needed = iommu_kind() != IommuKind::AmdVi;
    if (!done || (faults == 0 && fault_needed) ||
        (faults != 0 && (f.source_id != sid || f.address != target || f.read)))
        return fail(
            "DMA into a refused page: unfinished, or no write fault from the device there (page, fault address)",
            target, f.address);
    for (u64 i = 0; i < PAGE_SIZE; ++i)
        if (p[i] != copy[i]) return fail("DMA changed a refused page (address, offset)", target, i);
    if (faults == 0)
        LOG_INFO("%s test: DMA into %s at 0x%lx: blocked (no fault event recorded), memory unchanged", T, what, target);
    else
        LOG_INFO("%s test: DMA into %s at 0x%lx: blocked (fault from %02x:%02x.0 at 0x%lx), memory unchanged", T, what,
                 target, e.bus, e.dev, f.address);
    return true;
}

// The test itself, once translation is on: false (after a `FAILED` line) at the first check that fails.
bool run(const evmm_desc_t& d, PageHeap& heap) {
    Edu e{};
    if (!find_edu(e)) return fail("no edu device (PCI 1234:11e8) on bus 0");
    if (e.bar == 0 || e.bar + EDU_BAR_SIZE > platform().identity_limit)
        return fail("edu BAR0 is not a usable 32-bit memory BAR", e.dev, e.bar);
    const u32 cmd = pci::read32(e.bus, e.dev, 0, pci::COMMAND);
    pci::write32(e.bus, e.dev, 0, pci::COMMAND, cmd | pci::COMMAND_MEMORY | pci::COMMAND_BUS_MASTER);
    const u32 ident = rd32(e, EDU_IDENT);
    const u16 sid = pci_source_id(e.bus, e.dev, 0);
    LOG_INFO("%s test: edu at %02x:%02x.0 (source id 0x%x), BAR0 0x%lx, ident 0x%x, bus mastering on", T, e.bus, e.dev,
             sid, e.bar, ident);
    if ((ident & 0xFF) != 0xED) return fail("edu ident register is not 0x......ed", ident);

    // 1. guest0's RAM: from page A through the device's buffer into page B; B must equal A.
    const u64 a = pick_guest_pages(d);
    if (a == 0) return fail("no free guest0 RAM page for the test");
    const u64 b = a + PAGE_SIZE;
    u8* pa = reinterpret_cast<u8*>(a);
    u8* pb = reinterpret_cast<u8*>(b);
    for (u64 i = 0; i < LEN; ++i) {
        pa[i] = static_cast<u8>(i * 7 + 3);
        pb[i] = 0;
    }
    if (!dma(e, a, EDU_BUFFER, 0)) return fail("edu DMA from guest0 RAM did not finish", a);
    if (!dma(e, EDU_BUFFER, b, EDU_DMA_TO_RAM)) return fail("edu DMA into guest0 RAM did not finish", b);
    for (u64 i = 0; i < LEN; ++i)
        if (pb[i] != pa[i]) return fail("DMA into guest0 RAM: wrong byte (offset, value)", i, pb[i]);
    if (iommu_poll_faults() != 0) return fail("DMA within guest0 RAM faulted");
    LOG_INFO("%s test: DMA into guest0 RAM at 0x%lx: %lu bytes copied from 0x%lx and checked", T, b, LEN, a);

    // 2. evmm's runtime region: a heap page; 3. the secure world (docs/tee.md), when the loader carved it: the lower
    //    barrier's last page, its info page, a page in its middle, the upper barrier's first page, all holes of the
    //    domain (platform_guest_holes). Each write must fault and change nothing (page B keeps the bytes before).
    const u64 t = heap.alloc_page();
    if (t == 0) return fail("out of heap pages");
    const u64 at[5] = {t, d.tee_base - PAGE_SIZE, d.tee_base, d.tee_base + align_down(d.tee_size / 2, PAGE_SIZE),
                       d.tee_base + d.tee_size};
    for (u32 i = 0; i < (d.tee_size != 0 ? 5u : 1u); ++i)
        if (!refused(e, sid, at[i], i == 0 ? static_cast<u8*>(heap.phys_to_virt(t)) : reinterpret_cast<u8*>(at[i]), pb,
                     i == 0               ? "evmm's runtime region"
                     : (i == 2 || i == 3) ? "the TEE's memory"
                                          : "the TEE's barrier"))
            return false;
    return true;
}

} // namespace

void vtd_dma_test(const evmm_desc_t& d, PageHeap& heap) {
    T = iommu_test_name();
    LOG_INFO("%s test: DMA through the IOMMU with QEMU's edu device", T);
    if (!iommu_enabled())
        return LOG_WARN("%s test: %s DMA remapping is not on: nothing to test", T,
                        iommu_kind() == IommuKind::AmdVi ? "AMD-Vi" : "VT-d");
    if (run(d, heap)) LOG_INFO("%s test: passed", T);
}

} // namespace evmm
