// guest0's identity-mapped EPT over the MTRR memory types. See gpm.h.
#include "vmm/guest/gpm.h"

namespace evmm {
namespace {

constexpr const char* WHERE = "gpm.identity_ept";

// guest0 gets every access right to its own memory.
constexpr EptPerms GUEST_RWX{true, true, true};
constexpr EptPerms GUEST_RW{true, true, false};

// [base, base + size) lies partly inside `r` (a leaf there would straddle its edge).
bool straddles(const MemoryMap::Range* r, u64 base, u64 size) {
    if (r == nullptr || !ranges_overlap(base, size, r->base, r->length)) return false;
    return base < r->base || base + size > r->base + r->length;
}

// Page sizes tried at each step, largest first, with the EPT level that maps them.
struct PageChoice {
    u64 size;
    int level;
};
constexpr PageChoice PAGE_CHOICES[] = {{PAGE_1G, LEVEL_PDPT}, {PAGE_2M, LEVEL_PD}, {PAGE_4K, LEVEL_PT}};

// A hole widened to 4 KiB boundaries and clipped to limit: [base, end). Empty when base >= end.
struct Hole {
    u64 base;
    u64 end;
};

Hole clipped_hole(const MemoryMap::Range& r, u64 limit) {
    const u64 end = r.base + r.length; // caller checked it does not wrap
    const u64 clipped_end = end < limit ? end : limit;
    const u64 base = align_down(r.base, PAGE_4K);
    return Hole{base, align_up(clipped_end, PAGE_4K)}; // limit is 4 KiB aligned and < 2^48: no overflow
}

// If addr lies in a hole, the end of that hole (true); else false.
bool hole_at(const MemoryMap::Range* holes, u32 count, u64 limit, u64 addr, u64& hole_end) {
    for (u32 i = 0; i < count; ++i) {
        const Hole h = clipped_hole(holes[i], limit);
        if (holes[i].length != 0 && h.base <= addr && addr < h.end) {
            hole_end = h.end;
            return true;
        }
    }
    return false;
}

bool touches_hole(const MemoryMap::Range* holes, u32 count, u64 limit, u64 base, u64 size) {
    for (u32 i = 0; i < count; ++i) {
        const Hole h = clipped_hole(holes[i], limit);
        if (holes[i].length != 0 && h.base < h.end && ranges_overlap(base, size, h.base, h.end - h.base)) return true;
    }
    return false;
}

bool size_allowed(const PageChoice& c, bool allow_2m, bool allow_1g) {
    return c.level == LEVEL_PT || (c.level == LEVEL_PD && allow_2m) || (c.level == LEVEL_PDPT && allow_1g);
}

} // namespace

Status gpm_build_identity_ept(EptTables& ept, const MtrrState& mtrr, u64 limit, const MemoryMap::Range* holes,
                              u32 hole_count, GpmStats& stats, bool allow_2m, bool allow_1g,
                              const MemoryMap::Range* exec_only) {
    stats = GpmStats{};
    if (ept.root_pa() == 0) return Status::error("EPT not initialized", WHERE);
    if (limit == 0 || !is_aligned(limit, PAGE_4K) || limit > EPT_GPA_LIMIT)
        return Status::error("guest-physical limit not 4 KiB aligned or beyond 2^48", WHERE, limit);
    if (hole_count != 0 && holes == nullptr) return Status::error("hole list missing", WHERE, hole_count);
    for (u32 i = 0; i < hole_count; ++i) {
        if (holes[i].length != 0 && add_overflows(holes[i].base, holes[i].length))
            return Status::error("hole wraps past 2^64", WHERE, holes[i].base, holes[i].length);
    }

    Status result = Status::success();
    u64 addr = 0;
    while (addr < limit) {
        u64 hole_end = 0;
        if (hole_at(holes, hole_count, limit, addr, hole_end)) {
            addr = hole_end;
            continue;
        }
        // addr is 4 KiB aligned and outside every (4 KiB widened) hole, so the 4 KiB choice always fits; an MTRR
        // set has 4 KiB granularity, so its type is uniform too (mtrr_type covers a pathological set anyway).
        u64 size = PAGE_4K;
        MemType type = mtrr_type(mtrr, addr);
        for (const PageChoice& c : PAGE_CHOICES) {
            if (!size_allowed(c, allow_2m, allow_1g) || !is_aligned(addr, c.size) || c.size > limit - addr) continue;
            if (touches_hole(holes, hole_count, limit, addr, c.size) || straddles(exec_only, addr, c.size)) continue;
            MemType t = MemType::UC;
            if (!mtrr_range_type(mtrr, addr, c.size, t)) continue;
            size = c.size;
            type = t;
            break;
        }
        const bool exec = exec_only == nullptr || ranges_overlap(addr, size, exec_only->base, exec_only->length);
        result = ept.map(addr, addr, size, exec ? GUEST_RWX : GUEST_RW, type, allow_2m, allow_1g);
        if (!result) break;
        if (size == PAGE_1G)
            ++stats.pages_1g;
        else if (size == PAGE_2M)
            ++stats.pages_2m;
        else
            ++stats.pages_4k;
        addr += size;
    }

    // The holes are absent whatever the EPT held before this build (a no-op on fresh tables).
    for (u32 i = 0; result && i < hole_count; ++i) {
        const Hole h = clipped_hole(holes[i], limit);
        if (holes[i].length != 0 && h.base < h.end) result = ept.unmap(h.base, h.end - h.base);
    }
    stats.table_pages = ept.table_pages();
    if (!result && result.where == nullptr) result.where = WHERE;
    return result;
}

} // namespace evmm
