// A DMA domain as an identity map with holes. See dma_domain.h.
#include "vmm/iommu/dma_domain.h"

namespace evmm {
namespace {

constexpr const char* WHERE = "dma_domain";

// The hole i widened to 4 KiB boundaries: [base, end).
void hole_bounds(const MemoryMap::Range& h, u64& base, u64& end) {
    base = align_down(h.base, PAGE_4K);
    end = align_up(h.base + h.length, PAGE_4K); // checked not to wrap; within 2^64 - 4 KiB then
}

bool touches_hole(const MemoryMap::Range* holes, u32 count, u64 addr, u64 size, u64& hole_end) {
    bool hit = false;
    for (u32 i = 0; i < count; ++i) {
        if (holes[i].length == 0) continue;
        u64 b = 0, e = 0;
        hole_bounds(holes[i], b, e);
        if (ranges_overlap(addr, size, b, e - b)) {
            if (!hit || e > hole_end) hole_end = e;
            hit = true;
        }
    }
    return hit;
}

} // namespace

Status dma_domain_holes(const MemoryMap::Range* holes, u32 hole_count, u64 trampoline_base, MemoryMap::Range* out,
                        u32 max, u32& n) {
    n = 0;
    if (hole_count + (trampoline_base != 0 ? 1 : 0) > max) return Status::error("too many holes", WHERE, hole_count);
    for (u32 i = 0; i < hole_count; ++i) out[n++] = holes[i];
    if (trampoline_base != 0) out[n++] = MemoryMap::Range{trampoline_base, PAGE_SIZE};
    return Status::success();
}

template <class Tables>
Status dma_domain_build_identity(Tables& tables, u64 limit, const MemoryMap::Range* holes, u32 hole_count,
                                 bool allow_2m, bool allow_1g, DmaDomainStats& stats) {
    stats = DmaDomainStats{};
    if (tables.root_pa() == 0) return Status::error("I/O page tables not initialized", WHERE);
    if (limit == 0 || !is_aligned(limit, PAGE_4K) || limit > Tables::DMA_ADDR_LIMIT)
        return Status::error("DMA address limit not 4 KiB aligned or beyond 2^48", WHERE, limit);
    if (hole_count != 0 && holes == nullptr) return Status::error("hole list missing", WHERE, hole_count);
    for (u32 i = 0; i < hole_count; ++i) {
        if (holes[i].length != 0 &&
            (add_overflows(holes[i].base, holes[i].length) || holes[i].base + holes[i].length > ~u64{0} - PAGE_4K))
            return Status::error("hole wraps past 2^64", WHERE, holes[i].base, holes[i].length);
    }
    struct Choice {
        u64 size;
        bool allowed;
    };
    const Choice choices[] = {{PAGE_1G, allow_1g}, {PAGE_2M, allow_2m}, {PAGE_4K, true}};
    u64 addr = 0;
    while (addr < limit) {
        u64 hole_end = 0;
        if (touches_hole(holes, hole_count, addr, PAGE_4K, hole_end)) {
            addr = hole_end;
            continue;
        }
        u64 size = PAGE_4K;
        for (const Choice& c : choices) {
            if (!c.allowed || !is_aligned(addr, c.size) || c.size > limit - addr) continue;
            if (touches_hole(holes, hole_count, addr, c.size, hole_end)) continue;
            size = c.size;
            break;
        }
        EVMM_TRY(tables.map(addr, addr, size, DmaPerms{true, true}, allow_2m, allow_1g));
        if (size == PAGE_1G)
            ++stats.pages_1g;
        else if (size == PAGE_2M)
            ++stats.pages_2m;
        else
            ++stats.pages_4k;
        addr += size;
    }
    stats.table_pages = tables.table_pages();
    return Status::success();
}

template Status dma_domain_build_identity<VtdSlTables>(VtdSlTables&, u64, const MemoryMap::Range*, u32, bool, bool,
                                                       DmaDomainStats&);
template Status dma_domain_build_identity<AmdViIoTables>(AmdViIoTables&, u64, const MemoryMap::Range*, u32, bool, bool,
                                                         DmaDomainStats&);

} // namespace evmm
