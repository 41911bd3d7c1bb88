// MemoryMap: editing of a physical memory map held in a caller-supplied, fixed-capacity array of
// evmm_mmap_entry_t (no heap). The loader feeds it the firmware map (E820 via Multiboot2), normalizes it, carves
// out what evmm keeps for itself, and copies the result into evmm_desc_t.guest0_mmap.
//
// Entries are half-open ranges [base, base + length) with an EVMM_MEM_* type. add() rejects ranges that wrap
// past 2^64, so base + length never overflows for any stored entry.
//
// Overlap rule ("the more restrictive type wins"): any type other than EVMM_MEM_USABLE beats EVMM_MEM_USABLE;
// between two non-usable types the higher type number wins (BAD > NVS > ACPI reclaimable > RESERVED).
//
// Every operation that may need room checks capacity before it changes anything, so a failed call leaves the
// map exactly as it was.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"

namespace evmm {

class MemoryMap {
public:
    // A half-open range [base, base + length); used for the ranges find_free_top_down() must avoid.
    struct Range {
        u64 base;
        u64 length;
    };

    // The map starts empty; `storage` must hold `capacity` entries and outlive the map.
    MemoryMap(evmm_mmap_entry_t* storage, u32 capacity) : entries_(storage), capacity_(capacity) {}

    u32 count() const { return count_; }
    u32 capacity() const { return capacity_; }
    // i must be < count().
    const evmm_mmap_entry_t& operator[](u32 i) const { return entries_[i]; }
    const evmm_mmap_entry_t* entries() const { return entries_; }
    void clear() { count_ = 0; }

    // Appends [base, base + length) as `type`, without sorting or merging. A zero length is ignored (success).
    // Errors: type 0, a range that wraps past 2^64, no room left.
    Status add(u64 base, u64 length, u32 type);

    // Sorts by base (ties: the more restrictive type first). Stable, O(n^2), no allocation.
    void sort();

    // sort(), then coalesces entries of the SAME type that touch or overlap. Never needs room, never fails.
    // Overlaps between different types are left alone: use normalize() for those.
    void merge();

    // Resolves overlaps between different types (the more restrictive type wins), then sort() and merge().
    // Afterwards the map is sorted, non-overlapping, and no two touching entries have the same type. Cutting a
    // range in two (a restrictive range in the middle of a usable one) needs one more entry: error when full.
    Status normalize();

    // Carves [base, base + length) out of every entry: an entry inside it goes, an entry covering it is split in
    // two (needs room). Order is kept (a split's upper part follows its lower part). Zero length: no-op.
    Status remove(u64 base, u64 length);

    // remove(base, length), then add(base, length, type), then merge(): the range becomes `type` wherever it
    // was before, whatever it was. Zero length: no-op.
    Status reserve(u64 base, u64 length, u32 type);

    // End (exclusive) of the highest-ending entry whose type is neither EVMM_MEM_RESERVED nor EVMM_MEM_BAD;
    // 0 when there is none.
    u64 top_of_memory() const;

    // Sum of the lengths of EVMM_MEM_USABLE entries (saturating; meaningful on a normalized map).
    u64 usable_bytes() const;

    // Finds the highest `align`-aligned base such that [base, base + size) lies inside one EVMM_MEM_USABLE entry,
    // ends at or below `limit` (base + size <= limit), overlaps none of avoid[0..avoid_count) and no entry of any
    // other type. Errors: size 0, align not a power of two, nothing fits. `avoid` may be nullptr when
    // avoid_count is 0.
    Status find_free_top_down(u64 size, u64 align, u64 limit, const Range* avoid, u32 avoid_count, u64& out_base) const;

    // Copies the entries to dst[0..count()); error (nothing copied, out_count 0) if dst_capacity < count().
    Status copy_to(evmm_mmap_entry_t* dst, u32 dst_capacity, u32& out_count) const;

private:
    void erase_at(u32 i);
    void insert_at(u32 i, const evmm_mmap_entry_t& e); // caller guarantees room
    void insert_sorted(const evmm_mmap_entry_t& e);    // caller guarantees room
    void move_to_sorted_place(u32 i);                  // after entries_[i].base grew

    evmm_mmap_entry_t* entries_;
    u32 capacity_;
    u32 count_ = 0;
};

} // namespace evmm
