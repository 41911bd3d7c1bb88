// One page-table engine for every x86 4 KiB-table, 9-bits-per-level translation structure, in the spirit of
// NOVA's Ptab and Hedron's Generic_page_table: `PageTable<Format>` owns the walk, the map/unmap with split of
// large leaves, the leaf visitor and the table allocation; a Format only says what an entry means.
//
// Formats in the tree:
//  - Ia32ePte (arch/x86_64/paging.h): IA-32e paging entries, SDM Vol. 3A §4.5, Tables 4-14 .. 4-20 (the
//    hypervisor's own tables; the guest walker of vmm/guest/guest_paging.cpp reads guest 4-/5-level and PAE
//    tables with it);
//  - EptEntry (arch/x86_64/ept.h): EPT entries, SDM Vol. 3C §29.3.2, Tables 29-1 .. 29-6;
//  - VtdSlpte (arch/x86_64/vtd.h): VT-d second-level paging entries, VT-d spec §9.8 (the EPT layout with R/W
//    rights bits only; a DMA domain's tables, vmm/iommu);
//  - AmdViPte (arch/x86_64/amdvi.h): AMD I/O page-table entries, AMD IOMMU spec §2.2.3 (a leaf is told apart from a
//    table by its NextLevel field, not by one bit, and a table entry names the level of the table it references:
//    the two optional hooks below).
// Designed to also take, later, AMD NPT (AMD APM Vol. 2 §15.25: nested tables are IA-32e PTEs, so Ia32ePte with
// user/supervisor conventions of its own).
//
// A Format is a struct of static members (checked by the PageTableFormat concept below):
//   MAX_LEAF_LEVEL        the highest level whose entries may map a page (LEVEL_PDPT: 1 GiB pages);
//   LARGE                 the bit that makes an entry at LEVEL_PD .. MAX_LEAF_LEVEL a leaf (reserved above);
//   ADDR_MASK             the address field of an entry (table address / 4 KiB frame), bits 51:12;
//   present(e)            whether the entry is present;
//   table(pa)             the non-leaf entry that references the table at pa;
//   leaf(frame, a, lvl)   the leaf at lvl mapping frame with attributes a (normalized: as in a 4 KiB leaf,
//                         frame and LARGE excluded);
//   attrs(e, lvl)         the normalized attributes of the leaf e at lvl (leaf(frame(e), attrs(e, l), l) == e
//                         for a well-formed leaf), so a large leaf splits into smaller ones with the same ones;
//   MATCH_ATTRS           the normalized attribute bits that make two leaves the "same mapping";
//   Rights, ALL_RIGHTS, narrow(r, e)   effective access rights, narrowed by each entry of a walk;
//   check_range(addr, size, where)     the input ranges the tables translate (addr, size 4 KiB aligned);
//   WHERE                              the `where` of the builder's errors (PageTableNames).
// Optional (both or neither; LARGE is then 0):
//   large(e)              whether a present entry at LEVEL_PD .. MAX_LEAF_LEVEL is a leaf (instead of e & LARGE);
//   table(pa, level)      the non-leaf entry at level that references the table at pa (instead of table(pa)).
#pragma once

#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"

namespace evmm {

// Levels of a walk, SDM Vol. 3A §4.5.4 (level 1 = page table ... level 4 = PML4, 5 = PML5 with LA57, §4.5.1).
inline constexpr int LEVEL_PT = 1;
inline constexpr int LEVEL_PD = 2;
inline constexpr int LEVEL_PDPT = 3;
inline constexpr int LEVEL_PML4 = 4;
inline constexpr int LEVEL_PML5 = 5;
inline constexpr unsigned ENTRIES_PER_TABLE = 512; // 4 KiB table of 8-byte entries
inline constexpr unsigned INDEX_BITS = 9;          // address bits per level
inline constexpr unsigned PAGE_SHIFT = 12;
static_assert(ENTRIES_PER_TABLE * sizeof(u64) == PAGE_SIZE);
static_assert(bit(INDEX_BITS) == ENTRIES_PER_TABLE);
static_assert(bit(PAGE_SHIFT) == PAGE_SIZE);

// Address bit where a level's index starts (12, 21, 30, 39, 48), and the span one of its entries covers.
constexpr unsigned level_shift(int level) { return PAGE_SHIFT + INDEX_BITS * unsigned(level - 1); }
constexpr u64 level_span(int level) { return bit(level_shift(level)); }
// Index of addr's entry in a table at level.
constexpr unsigned table_index(u64 addr, int level) {
    return unsigned((addr >> level_shift(level)) & (ENTRIES_PER_TABLE - 1));
}

inline constexpr u64 PAGE_4K = 4 * KiB;
inline constexpr u64 PAGE_2M = 2 * MiB;
inline constexpr u64 PAGE_1G = 1 * GiB;
static_assert(level_span(LEVEL_PT) == PAGE_4K && level_span(LEVEL_PD) == PAGE_2M && level_span(LEVEL_PDPT) == PAGE_1G);

// The `where` of a builder's errors: static strings such as "ept.map".
struct PageTableNames {
    const char* init;
    const char* map;
    const char* unmap;
};

// The form of a page-table entry format (see the top of this file).
template <class F>
concept PageTableFormat = requires(u64 e, u64 pa, int level, typename F::Rights r) {
    requires(F::MAX_LEAF_LEVEL >= LEVEL_PT && F::MAX_LEAF_LEVEL < LEVEL_PML4);
    requires(F::LARGE & F::ADDR_MASK) == 0;
    F::present(e) ? 0 : 1;
    requires(
        requires { F::table(pa); } || requires { F::table(pa, level) + (F::large(e) ? 0 : 1); });
    F::leaf(pa, e, level) + F::attrs(e, level) + F::MATCH_ATTRS;
    r = F::narrow(F::ALL_RIGHTS, e);
    F::check_range(e, e, F::WHERE.map).ok();
};

// The optional hooks (see the top of this file), or the LARGE bit and table(pa).
template <class F>
constexpr bool format_large(u64 e) {
    if constexpr (requires { F::large(e); })
        return F::large(e);
    else
        return (e & F::LARGE) != 0;
}
template <class F>
constexpr u64 format_table(u64 pa, int level) {
    if constexpr (requires { F::table(pa, level); })
        return F::table(pa, level);
    else
        return F::table(pa);
}

// A compile-time check of a Format's layout: leaf() and attrs() invert each other on a sample leaf at level.
template <class F>
requires PageTableFormat<F>
constexpr bool leaf_round_trips(u64 leaf, int level) {
    return F::leaf(leaf & F::ADDR_MASK & ~(level_span(level) - 1), F::attrs(leaf, level), level) == leaf;
}

// Adapts a callable f(const LeafT&) to the (ctx, leaf) function-pointer visitors of the non-template APIs:
// LeafThunk<LeafT, decltype(&f)>::call with leaf_thunk_ctx(f).
template <class LeafT, class FnPtr>
struct LeafThunk {
    static void call(void* ctx, const LeafT& leaf) { (*static_cast<FnPtr>(ctx))(leaf); }
};
template <class Fn>
void* leaf_thunk_ctx(const Fn& f) {
    return const_cast<void*>(static_cast<const void*>(&f));
}

// 4-level tables of Format entries rooted at a PML4 allocated from a PageAlloc (table pages are never freed).
// Conventions (those of the formats' wrappers, paging.h and ept.h):
//  - non-leaf entries are Format::table(pa): neutral rights, so a mapping's rights are decided by its leaf;
//  - entries are written with single 64-bit atomic stores and a new table is fully filled before it is linked,
//    so live tables are consistent at every step (SDM Vol. 3A §4.10.4); the caller flushes TLBs / INVEPTs;
//  - where a larger leaf would replace an existing table, map descends into that table instead.
template <class Format>
requires PageTableFormat<Format>
class PageTable {
public:
    using Rights = typename Format::Rights;
    static constexpr int LEVELS = LEVEL_PML4;

    // An entry at level maps a page: every present PTE, a PDPTE/PDE with LARGE (up to MAX_LEAF_LEVEL).
    static constexpr bool is_leaf(u64 e, int level) {
        return level == LEVEL_PT || (level <= Format::MAX_LEAF_LEVEL && format_large<Format>(e));
    }
    // LARGE above MAX_LEAF_LEVEL (e.g. PS in a PML4E, Table 4-14; bit 7 of an EPT PML4E, Table 29-1) is reserved.
    static constexpr bool large_reserved(u64 e, int level) {
        return level > Format::MAX_LEAF_LEVEL && format_large<Format>(e);
    }
    // Frame address of a leaf at level: the address field without the bits below the page size.
    static constexpr u64 frame(u64 e, int level) { return e & Format::ADDR_MASK & ~(level_span(level) - 1); }
    // Address of the table a non-leaf entry references.
    static constexpr u64 next_table(u64 e) { return e & Format::ADDR_MASK; }
    // The entry for piece i (a level - 1 page) of the large leaf e at level: same attributes, consecutive frames.
    static constexpr u64 split_piece(u64 e, int level, unsigned i) {
        return Format::leaf(frame(e, level) + u64{i} * level_span(level - 1), Format::attrs(e, level), level - 1);
    }

    // Result of a walk: the leaf (present), or where it stopped.
    struct Walk {
        bool present;  // a leaf maps addr
        bool readable; // false: the table at `table` could not be read
        bool reserved; // stopped at an entry with LARGE reserved (the CPU faults / reports a misconfiguration)
        int level;     // level of the leaf, or of the entry / table where the walk stopped (0: not started)
        u64 table;     // address of the table holding `entry`
        u64 entry;     // the leaf entry, or the not-present / reserved one
        u64 pa;        // translation of addr (frame + offset) when present
        u64 size;      // span of the leaf when present
        Rights rights; // effective rights over the levels walked
    };

    // Walks from the table at root (at top_level) for addr, reading entry i of the table at pa through
    // read(pa, i, e) -> bool (false: not readable). Tables need not be owned: the guest walker reads guest memory.
    template <class Read>
    static Walk walk_tables(u64 root, int top_level, u64 addr, Read&& read) {
        Walk w{};
        w.rights = Format::ALL_RIGHTS;
        u64 table = root & Format::ADDR_MASK;
        for (int level = top_level; level >= LEVEL_PT; --level) {
            w.level = level;
            w.table = table;
            u64 e = 0;
            w.readable = read(table, table_index(addr, level), e);
            if (!w.readable) return w;
            w.entry = e;
            if (!Format::present(e)) return w;
            if (large_reserved(e, level)) {
                w.reserved = true;
                return w;
            }
            w.rights = Format::narrow(w.rights, e);
            if (is_leaf(e, level)) {
                w.present = true;
                w.size = level_span(level);
                w.pa = frame(e, level) + (addr & (w.size - 1));
                return w;
            }
            table = next_table(e);
        }
        return w; // not reached: level 1 entries are always leaves
    }

    // One present leaf found by visit.
    struct LeafInfo {
        u64 addr; // input address of the page (not sign-extended)
        u64 frame;
        int level;
        u64 entry;
        Rights rights; // effective over the levels
    };
    struct VisitCounts {
        u64 bad;    // tables phys_to_virt could not give, entries with LARGE reserved
        u64 tables; // tables visited, the root included
    };

    // Calls fn(const LeafInfo&) for every present leaf of the tables rooted at root, ascending address. Depth is
    // bounded by the levels, so any table contents (even cycles) terminate.
    template <class Fn>
    static VisitCounts visit(u64 root, PageAlloc& mem, Fn&& fn) {
        VisitCounts c{};
        visit_table(c, mem, fn, root & Format::ADDR_MASK, LEVELS, 0, Format::ALL_RIGHTS);
        return c;
    }

    explicit PageTable(PageAlloc& mem) : mem_(mem) {}
    PageTable(const PageTable&) = delete;
    PageTable& operator=(const PageTable&) = delete;

    // Allocates the (empty) PML4. Error when out of pages or called twice.
    Status init() {
        if (root_pa_ != 0) return Status::error("page tables already initialized", Format::WHERE.init, root_pa_);
        u64* table = nullptr;
        return alloc_table(root_pa_, table, Format::WHERE.init);
    }
    // Physical address of the PML4 (0 before init).
    u64 root_pa() const { return root_pa_; }
    PageAlloc& mem() const { return mem_; }
    // Table pages allocated so far (the root included).
    u64 table_pages() const { return table_pages_; }

    // Walk of these tables.
    Walk walk_entry(u64 addr) const {
        if (root_pa_ == 0) return Walk{};
        return walk_tables(root_pa_, LEVELS, addr, [this](u64 table, unsigned i, u64& e) {
            const u64* t = table_at(mem_, table);
            if (t == nullptr) return false;
            e = load_entry(&t[i]);
            return true;
        });
    }

    // Makes [addr, addr+size) not present, splitting large leaves as needed. Unmapped parts of the range are fine.
    // addr, size 4 KiB aligned and accepted by Format::check_range. size 0 is a no-op.
    Status unmap(u64 addr, u64 size) {
        EVMM_TRY(check_range(addr, size, Format::WHERE.unmap));
        return map_range(root_pa_, LEVELS, addr, 0, size, Args{0, false, false, true});
    }

protected:
    // Maps [addr, addr+size) to [pa, pa+size) with leaves of normalized attributes attrs. addr, pa, size 4 KiB
    // aligned; the addr range accepted by Format::check_range; pa+size within the address field. Uses 1 GiB /
    // 2 MiB leaves (when allowed) wherever addr, pa and the rest of the range are aligned. A large leaf only partly
    // remapped with different frames/attributes is split first, keeping the rest of it identical (a part remapped
    // identically is left as is). size 0 is a no-op. On error the tables are consistent, the range partly mapped.
    Status map_leaves(u64 addr, u64 pa, u64 size, u64 attrs, bool allow_2m, bool allow_1g) {
        constexpr const char* WHERE = Format::WHERE.map;
        constexpr u64 PA_LIMIT = Format::ADDR_MASK + PAGE_4K;
        EVMM_TRY(check_range(addr, size, WHERE));
        if (!is_aligned(pa, PAGE_4K)) return Status::error("output address not 4 KiB aligned", WHERE, pa);
        if (pa >= PA_LIMIT || size > PA_LIMIT - pa)
            return Status::error("output range beyond MAXPHYADDR", WHERE, pa, size);
        return map_range(root_pa_, LEVELS, addr, pa, size, Args{attrs, allow_2m, allow_1g, false});
    }

private:
    struct Args {
        u64 attrs;
        bool allow_2m;
        bool allow_1g;
        bool unmap;
    };

    Status check_range(u64 addr, u64 size, const char* where) const {
        if (root_pa_ == 0) return Status::error("page tables not initialized", where);
        if (!is_aligned(addr, PAGE_4K) || !is_aligned(size, PAGE_4K))
            return Status::error("input range not 4 KiB aligned", where, addr, size);
        return Format::check_range(addr, size, where);
    }

    static const char* where(bool unmap) { return unmap ? Format::WHERE.unmap : Format::WHERE.map; }

    // Live tables: one 64-bit store per entry so the CPU never sees a torn entry, ordered after the fill of a
    // table it links (SDM Vol. 3A §4.10.4).
    static void store_entry(u64* e, u64 v) { __atomic_store_n(e, v, __ATOMIC_RELEASE); }
    static u64 load_entry(const u64* e) { return __atomic_load_n(e, __ATOMIC_RELAXED); }
    static u64* table_at(PageAlloc& mem, u64 pa) { return static_cast<u64*>(mem.phys_to_virt(pa)); }

    static constexpr bool leaf_allowed(int level, const Args& a) {
        return level == LEVEL_PT || (level == LEVEL_PD && a.allow_2m) ||
               (level == LEVEL_PDPT && a.allow_1g && Format::MAX_LEAF_LEVEL >= LEVEL_PDPT);
    }

    template <class Fn>
    static void visit_table(VisitCounts& c, PageAlloc& mem, Fn& fn, u64 table_pa, int level, u64 base, Rights r) {
        const u64* t = table_at(mem, table_pa);
        if (t == nullptr) {
            ++c.bad;
            return;
        }
        ++c.tables;
        for (unsigned i = 0; i < ENTRIES_PER_TABLE; ++i) {
            const u64 e = load_entry(&t[i]);
            if (!Format::present(e)) continue;
            if (large_reserved(e, level)) {
                ++c.bad;
                continue;
            }
            const u64 addr = base | (u64{i} << level_shift(level));
            const Rights er = Format::narrow(r, e);
            if (is_leaf(e, level)) {
                fn(LeafInfo{addr, frame(e, level), level, e, er});
            } else {
                visit_table(c, mem, fn, next_table(e), level - 1, addr, er);
            }
        }
    }

    Status alloc_table(u64& pa, u64*& table, const char* where) {
        pa = mem_.alloc_page();
        if (pa == 0) return Status::error("out of memory for page tables", where);
        if (!is_aligned(pa, PAGE_4K) || (pa & ~Format::ADDR_MASK) != 0)
            return Status::error("page allocator returned a bad table address", where, pa);
        table = table_at(mem_, pa);
        if (table == nullptr) return Status::error("page table not addressable", where, pa);
        __builtin_memset(table, 0, PAGE_4K); // the allocator zeroes too; a table must never start with stale entries
        ++table_pages_;
        return Status::success();
    }

    // The table *entry (at level) references, created (empty) when the entry is not present, or filled with the
    // pieces of the large leaf it held (same frames and attributes).
    Status child_table(u64* entry, int level, u64& child_pa, const char* where) {
        const u64 e = load_entry(entry);
        if (Format::present(e) && !is_leaf(e, level)) {
            child_pa = next_table(e);
            return Status::success();
        }
        u64 pa = 0;
        u64* t = nullptr;
        EVMM_TRY(alloc_table(pa, t, where));
        if (Format::present(e)) {
            for (unsigned i = 0; i < ENTRIES_PER_TABLE; ++i) store_entry(&t[i], split_piece(e, level, i));
        }
        store_entry(entry, format_table<Format>(pa, level));
        child_pa = pa;
        return Status::success();
    }

    // Maps (or unmaps) [addr, addr+size) within the table at table_pa (at level); the range lies inside its span.
    Status map_range(u64 table_pa, int level, u64 addr, u64 pa, u64 size, const Args& a) {
        u64* t = table_at(mem_, table_pa);
        if (t == nullptr) return Status::error("page table not addressable", where(a.unmap), table_pa);
        const u64 span = level_span(level);
        while (size != 0) {
            u64* entry = &t[table_index(addr, level)];
            const u64 offset = addr & (span - 1);
            const u64 chunk = size < span - offset ? size : span - offset;
            const bool full = chunk == span;
            const u64 e = load_entry(entry);
            const bool present = Format::present(e);
            const bool leaf = present && is_leaf(e, level);

            bool descend = false;
            if (a.unmap) {
                if (!present) {
                    // nothing mapped here
                } else if (leaf && full) {
                    store_entry(entry, 0);
                } else {
                    descend = true;
                }
            } else if (full && leaf_allowed(level, a) && is_aligned(pa, span) && (!present || leaf)) {
                store_entry(entry, Format::leaf(pa, a.attrs, level));
            } else if (leaf && frame(e, level) + offset == pa &&
                       (Format::attrs(e, level) & Format::MATCH_ATTRS) == (a.attrs & Format::MATCH_ATTRS)) {
                // The large leaf already maps this part exactly so: keep it whole.
            } else {
                descend = true;
            }

            if (descend) {
                u64 child_pa = 0;
                EVMM_TRY(child_table(entry, level, child_pa, where(a.unmap)));
                EVMM_TRY(map_range(child_pa, level - 1, addr, pa, chunk, a));
            }
            addr += chunk;
            pa += chunk;
            size -= chunk;
        }
        return Status::success();
    }

    PageAlloc& mem_;
    u64 root_pa_ = 0;
    u64 table_pages_ = 0;
};

} // namespace evmm
