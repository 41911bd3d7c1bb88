// MemoryMap: see memmap.h for the contract.
#include "lib/formats/memmap.h"

namespace evmm {

namespace {

constexpr const char* WHERE = "memory map";

constexpr u64 end_of(const evmm_mmap_entry_t& e) { return e.base + e.length; }

// How restrictive a type is; the higher rank wins an overlap. Usable is the least restrictive; among the others
// the higher EVMM_MEM_* number wins. Distinct types have distinct ranks (type 0 is never stored).
constexpr u32 rank(u32 type) { return type == EVMM_MEM_USABLE ? 0 : type; }

// Sort order: by base; at equal bases the more restrictive type first (normalize() relies on this).
constexpr bool before(const evmm_mmap_entry_t& a, const evmm_mmap_entry_t& b) {
    return a.base < b.base || (a.base == b.base && rank(a.type) > rank(b.type));
}

// End of [base, base + length), saturated at 2^64 - 1 instead of wrapping (for caller-supplied ranges).
constexpr u64 saturating_end(u64 base, u64 length) { return add_overflows(base, length) ? ~u64{0} : base + length; }

// [b1, e1) and [b2, e2) overlap (both non-empty)?
constexpr bool spans_overlap(u64 b1, u64 e1, u64 b2, u64 e2) { return b1 < e2 && b2 < e1 && b1 < e1 && b2 < e2; }

} // namespace

void MemoryMap::erase_at(u32 i) {
    for (u32 j = i; j + 1 < count_; ++j) entries_[j] = entries_[j + 1];
    --count_;
}

void MemoryMap::insert_at(u32 i, const evmm_mmap_entry_t& e) {
    for (u32 j = count_; j > i; --j) entries_[j] = entries_[j - 1];
    entries_[i] = e;
    ++count_;
}

void MemoryMap::insert_sorted(const evmm_mmap_entry_t& e) {
    u32 i = count_;
    while (i > 0 && before(e, entries_[i - 1])) --i;
    insert_at(i, e);
}

void MemoryMap::move_to_sorted_place(u32 i) {
    while (i + 1 < count_ && before(entries_[i + 1], entries_[i])) {
        const evmm_mmap_entry_t t = entries_[i];
        entries_[i] = entries_[i + 1];
        entries_[i + 1] = t;
        ++i;
    }
}

Status MemoryMap::add(u64 base, u64 length, u32 type) {
    if (type == 0) return Status::error("memory type 0 is invalid", WHERE, base, length);
    if (length == 0) return Status::success();
    if (add_overflows(base, length))
        return Status::error("range wraps past the end of the address space", WHERE, base, length);
    if (count_ >= capacity_) return Status::error("memory map is full", WHERE, capacity_);
    entries_[count_++] = evmm_mmap_entry_t{base, length, type, 0};
    return Status::success();
}

void MemoryMap::sort() {
    // Insertion sort: stable, no allocation, and n is at most a few hundred.
    for (u32 i = 1; i < count_; ++i) {
        const evmm_mmap_entry_t e = entries_[i];
        u32 j = i;
        while (j > 0 && before(e, entries_[j - 1])) {
            entries_[j] = entries_[j - 1];
            --j;
        }
        entries_[j] = e;
    }
}

void MemoryMap::merge() {
    sort();
    // Sorted by base, so an entry can only extend the last kept entry of its own type if it starts at or before
    // that entry's end; compare against the immediately preceding kept entry only (different types in between
    // stop the coalescing, which is what a non-overlapping map needs).
    u32 out = 0;
    for (u32 i = 0; i < count_; ++i) {
        const evmm_mmap_entry_t e = entries_[i];
        if (out > 0) {
            evmm_mmap_entry_t& last = entries_[out - 1];
            if (last.type == e.type && e.base <= end_of(last)) {
                if (end_of(e) > end_of(last)) last.length = end_of(e) - last.base;
                continue;
            }
        }
        entries_[out++] = e;
    }
    count_ = out;
}

Status MemoryMap::normalize() {
    sort();
    // Sweep: entries_[0..i] never overlap each other and entries_[i] ends at or before entries_[i + 1].base once
    // i advances. Each step either advances i, removes an entry, or moves an entry's base past entries_[i]'s end
    // (after which it cannot overlap entries_[i] again), so the loop ends. Only the "restrictive range inside a
    // less restrictive one" case adds an entry, and the step after it advances i.
    u32 i = 0;
    while (i + 1 < count_) {
        evmm_mmap_entry_t& a = entries_[i];
        evmm_mmap_entry_t& b = entries_[i + 1];
        const u64 a_end = end_of(a);
        const u64 b_end = end_of(b);
        if (a_end <= b.base) {
            ++i;
            continue;
        }
        // Overlap, with a.base <= b.base.
        if (a.type == b.type) {
            if (b_end > a_end) a.length = b_end - a.base;
            erase_at(i + 1);
            continue;
        }
        if (rank(a.type) > rank(b.type)) {
            // a wins: b keeps only what lies above a.
            if (b_end <= a_end) {
                erase_at(i + 1);
            } else {
                b.base = a_end;
                b.length = b_end - a_end;
                move_to_sorted_place(i + 1);
            }
            continue;
        }
        // b wins. Equal bases sort the winner first, so here a.base < b.base and a keeps [a.base, b.base).
        if (a_end > b_end) {
            if (count_ >= capacity_)
                return Status::error("memory map is full while resolving overlaps", WHERE, a.base, b.base);
            const evmm_mmap_entry_t upper{b_end, a_end - b_end, a.type, 0};
            a.length = b.base - a.base;
            insert_sorted(upper);
        } else {
            a.length = b.base - a.base;
        }
        ++i;
    }
    merge();
    return Status::success();
}

namespace {

// How remove(base, end) would change the entry count: entries it splits in two, entries it deletes.
void count_cuts(const evmm_mmap_entry_t* entries, u32 count, u64 base, u64 end, u32& splits, u32& deletes) {
    splits = 0;
    deletes = 0;
    for (u32 i = 0; i < count; ++i) {
        const u64 e_base = entries[i].base;
        const u64 e_end = end_of(entries[i]);
        if (!spans_overlap(e_base, e_end, base, end)) continue;
        if (e_base < base && e_end > end)
            ++splits;
        else if (e_base >= base && e_end <= end)
            ++deletes;
    }
}

} // namespace

Status MemoryMap::remove(u64 base, u64 length) {
    if (length == 0) return Status::success();
    if (add_overflows(base, length))
        return Status::error("range wraps past the end of the address space", WHERE, base, length);
    const u64 end = base + length;
    u32 splits = 0, deletes = 0;
    count_cuts(entries_, count_, base, end, splits, deletes);
    if (u64{count_} + splits > capacity_)
        return Status::error("memory map is full: no room to split an entry", WHERE, base, length);

    for (u32 i = 0; i < count_;) {
        evmm_mmap_entry_t& e = entries_[i];
        const u64 e_end = end_of(e);
        if (!spans_overlap(e.base, e_end, base, end)) {
            ++i;
        } else if (e.base >= base && e_end <= end) {
            erase_at(i);
        } else if (e.base < base && e_end > end) {
            const evmm_mmap_entry_t upper{end, e_end - end, e.type, 0};
            e.length = base - e.base;
            insert_at(i + 1, upper);
            i += 2;
        } else if (e.base < base) {
            e.length = base - e.base; // keeps the part below the hole
            ++i;
        } else {
            e.base = end; // keeps the part above the hole
            e.length = e_end - end;
            ++i;
        }
    }
    return Status::success();
}

Status MemoryMap::reserve(u64 base, u64 length, u32 type) {
    if (type == 0) return Status::error("memory type 0 is invalid", WHERE, base, length);
    if (length == 0) return Status::success();
    if (add_overflows(base, length))
        return Status::error("range wraps past the end of the address space", WHERE, base, length);
    u32 splits = 0, deletes = 0;
    count_cuts(entries_, count_, base, base + length, splits, deletes);
    // remove() peaks at count + splits; add() then needs one more after the deletes.
    const u64 peak = u64{count_} + splits;
    const u64 after = peak - deletes + 1;
    if (peak > capacity_ || after > capacity_)
        return Status::error("memory map is full: no room to reserve a range", WHERE, base, length);
    EVMM_TRY(remove(base, length));
    EVMM_TRY(add(base, length, type));
    merge();
    return Status::success();
}

u64 MemoryMap::top_of_memory() const {
    u64 top = 0;
    for (u32 i = 0; i < count_; ++i) {
        const evmm_mmap_entry_t& e = entries_[i];
        if (e.type == EVMM_MEM_RESERVED || e.type == EVMM_MEM_BAD) continue;
        if (end_of(e) > top) top = end_of(e);
    }
    return top;
}

u64 MemoryMap::usable_bytes() const {
    u64 sum = 0;
    for (u32 i = 0; i < count_; ++i) {
        if (entries_[i].type != EVMM_MEM_USABLE) continue;
        sum = add_overflows(sum, entries_[i].length) ? ~u64{0} : sum + entries_[i].length;
    }
    return sum;
}

Status MemoryMap::find_free_top_down(u64 size, u64 align, u64 limit, const Range* avoid, u32 avoid_count,
                                     u64& out_base) const {
    if (size == 0) return Status::error("allocation size is zero", WHERE);
    if (!is_pow2(align)) return Status::error("alignment is not a power of two", WHERE, align);
    if (avoid == nullptr && avoid_count != 0) return Status::error("avoid list is null", WHERE, avoid_count);

    bool found = false;
    u64 best = 0;
    for (u32 i = 0; i < count_; ++i) {
        const evmm_mmap_entry_t& e = entries_[i];
        if (e.type != EVMM_MEM_USABLE) continue;
        u64 hi = end_of(e) < limit ? end_of(e) : limit;
        // Each retry lowers hi to the base of an obstacle that overlapped the highest candidate; candidates below
        // that base never meet that obstacle again, so there are at most (obstacles + 1) rounds.
        for (;;) {
            if (hi < e.base || hi - e.base < size) break;
            const u64 cand = align_down(hi - size, align);
            if (cand < e.base) break;
            if (found && cand <= best) break;
            const u64 cand_end = cand + size; // <= hi, cannot wrap
            bool conflict = false;
            u64 lowest = hi;
            for (u32 k = 0; k < avoid_count; ++k) {
                const u64 r_end = saturating_end(avoid[k].base, avoid[k].length);
                if (avoid[k].length != 0 && spans_overlap(cand, cand_end, avoid[k].base, r_end)) {
                    conflict = true;
                    if (avoid[k].base < lowest) lowest = avoid[k].base;
                }
            }
            for (u32 k = 0; k < count_; ++k) {
                const evmm_mmap_entry_t& x = entries_[k];
                if (x.type == EVMM_MEM_USABLE) continue;
                if (spans_overlap(cand, cand_end, x.base, end_of(x))) {
                    conflict = true;
                    if (x.base < lowest) lowest = x.base;
                }
            }
            if (!conflict) {
                found = true;
                best = cand;
                break;
            }
            hi = lowest;
        }
    }
    if (!found) return Status::error("no free usable range fits", WHERE, size, align);
    out_base = best;
    return Status::success();
}

Status MemoryMap::copy_to(evmm_mmap_entry_t* dst, u32 dst_capacity, u32& out_count) const {
    out_count = 0;
    if (dst_capacity < count_) return Status::error("destination memory map too small", WHERE, count_, dst_capacity);
    for (u32 i = 0; i < count_; ++i) dst[i] = entries_[i];
    out_count = count_;
    return Status::success();
}

} // namespace evmm
