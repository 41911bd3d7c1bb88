#include "vmm/vmx/bitmaps.h"

#include "vmm/guest/intercept.h"
#include "vmm/host/panic.h"
#include "vmm/modules/virt_policy.h"

namespace evmm {
namespace {
u8* g_msr = nullptr; // zeroed by PageHeap
u64 g_msr_pa = 0;
u8* g_io[2] = {nullptr, nullptr};
u64 g_io_pa[2] = {0, 0};

void set_msr_bit(u32 msr, bool write, bool on) {
    const virt::BitmapPos p = virt::msr_bitmap_pos(msr, write);
    if (!p.valid) return; // outside both MSR ranges: such accesses always exit (§25.6.9)
    const u8 m = static_cast<u8>(1u << p.bit);
    g_msr[p.byte] = static_cast<u8>(on ? (g_msr[p.byte] | m) : (g_msr[p.byte] & ~m));
}

u8* page(PageHeap& heap, u64& pa) {
    u8* p = static_cast<u8*>(heap.alloc_pages(1));
    if (p != nullptr) pa = heap.virt_to_phys(p);
    return p;
}
} // namespace

Status vmx_bitmaps_init(PageHeap& heap) {
    if ((g_msr = page(heap, g_msr_pa)) == nullptr || (g_io[0] = page(heap, g_io_pa[0])) == nullptr ||
        (g_io[1] = page(heap, g_io_pa[1])) == nullptr)
        return Status::error("out of heap pages for the MSR and I/O bitmaps", "vmx");
    return Status::success();
}

u64 vmx_msr_bitmap_pa() { return g_msr_pa; }
u64 vmx_io_bitmap_pa(u32 which) { return g_io_pa[which & 1]; }

void intercept_msr(u32 msr, bool read, bool write) {
    if (g_msr == nullptr) PANIC("intercept_msr(0x%x) before the bitmaps exist", msr);
    set_msr_bit(msr, false, read);
    set_msr_bit(msr, true, write);
}

void intercept_io_port(u16 port) {
    if (g_io[0] == nullptr) PANIC("intercept_io_port(0x%x) before the bitmaps exist", port);
    const virt::IoBitmapPos p = virt::io_bitmap_pos(port);
    g_io[p.bitmap][p.byte] = static_cast<u8>(g_io[p.bitmap][p.byte] | (1u << p.bit));
}

} // namespace evmm
