// x86-64 4-level paging builder and walker (Intel SDM Vol. 3A §4.5). See paging.h for the conventions.
#include "arch/x86_64/paging.h"

namespace evmm {
namespace {

constexpr const char* WHERE_MAP = "paging.map";
constexpr const char* WHERE_UNMAP = "paging.unmap";
constexpr const char* WHERE_INIT = "paging.init";

constexpr u64 INDEX_MASK = ENTRIES_PER_TABLE - 1;

// Bits of an entry that references the next table: present and writable, supervisor, executable, so that the
// leaf decides the rights (SDM §4.6.1: R/W is ANDed and XD ORed over the levels).
constexpr u64 TABLE_BITS = pte::P | pte::RW;

constexpr unsigned table_index(u64 va, int level) { return unsigned((va >> level_shift(level)) & INDEX_MASK); }

// A PDPTE/PDE with PS = 1 maps a page (Tables 4-16, 4-18); every present PTE maps a page (Table 4-20).
constexpr bool is_leaf(u64 e, int level) {
    return level == LEVEL_PT || ((level == LEVEL_PD || level == LEVEL_PDPT) && (e & pte::PS) != 0);
}

constexpr u64 frame_mask(int level) {
    return level == LEVEL_PT ? pte::ADDR_4K : level == LEVEL_PD ? pte::ADDR_2M : pte::ADDR_1G;
}

constexpr u64 pat_bit(int level) { return level == LEVEL_PT ? pte::PAT_4K : pte::PAT_LARGE; }

constexpr bool leaf_allowed(int level, bool allow_2m, bool allow_1g) {
    return level == LEVEL_PT || (level == LEVEL_PD && allow_2m) || (level == LEVEL_PDPT && allow_1g);
}

// Leaf bits (without PS) for perms: supervisor, not global, PAT 0, A/D preset (§4.8).
constexpr u64 leaf_bits(PagePerms perms) {
    u64 bits = pte::P | pte::A | pte::D;
    if (perms.write) bits |= pte::RW;
    if (!perms.exec) bits |= pte::XD;
    if (perms.cache == CacheType::UC) bits |= pte::PCD | pte::PWT;
    return bits;
}

constexpr CacheType decode_cache(u64 e, int level) {
    return (e & (pte::PCD | pte::PWT | pat_bit(level))) == 0 ? CacheType::WB : CacheType::UC;
}

// Live tables: one 64-bit store per entry so the CPU never sees a torn entry, ordered after the fill of a table
// it links (SDM §4.10.4 on modifying live paging structures).
inline void store_entry(u64* e, u64 v) { __atomic_store_n(e, v, __ATOMIC_RELEASE); }
inline u64 load_entry(const u64* e) { return __atomic_load_n(e, __ATOMIC_RELAXED); }

inline u64* table_at(PageAlloc& mem, u64 pa) { return static_cast<u64*>(mem.phys_to_virt(pa)); }

// The entry for the child_level pieces of the large leaf e (at child_level + 1): same attributes, same frames.
constexpr u64 split_piece(u64 e, int child_level, unsigned i) {
    const int level = child_level + 1;
    u64 attrs = e & ~frame_mask(level);
    if (child_level == LEVEL_PT) {
        // PS goes away; the PAT bit moves from bit 12 to bit 7 (Table 4-18 vs Table 4-20).
        const bool pat = (attrs & pte::PAT_LARGE) != 0;
        attrs &= ~(pte::PS | pte::PAT_LARGE);
        if (pat) attrs |= pte::PAT_4K;
    }
    return (e & frame_mask(level)) + u64{i} * level_span(child_level) + attrs;
}

struct VisitState {
    PageAlloc& mem;
    LeafVisitor fn;
    void* ctx;
    u64 bad;
};

void visit_table(VisitState& st, u64 table_pa, int level, u64 va_base, bool write, bool exec) {
    const u64* t = table_at(st.mem, table_pa);
    if (t == nullptr) {
        ++st.bad;
        return;
    }
    for (unsigned i = 0; i < ENTRIES_PER_TABLE; ++i) {
        const u64 e = load_entry(&t[i]);
        if ((e & pte::P) == 0) continue;
        if (level == LEVEL_PML4 && (e & pte::PS) != 0) {  // reserved in a PML4E (Table 4-14)
            ++st.bad;
            continue;
        }
        const u64 va = va_base | (u64{i} << level_shift(level));
        const bool w = write && (e & pte::RW) != 0;
        const bool x = exec && (e & pte::XD) == 0;
        if (is_leaf(e, level)) {
            const Leaf leaf{sign_extend_va(va), e & frame_mask(level), level_span(level), w, x,
                            decode_cache(e, level), level, e};
            st.fn(st.ctx, leaf);
        } else {
            visit_table(st, e & pte::ADDR_4K, level - 1, va, w, x);
        }
    }
}

} // namespace

u64 visit_leaves(u64 root_pa, PageAlloc& mem, LeafVisitor fn, void* ctx) {
    VisitState st{mem, fn, ctx, 0};
    if (root_pa == 0 || fn == nullptr) return 1;
    visit_table(st, root_pa & pte::ADDR_4K, LEVEL_PML4, 0, true, true);
    return st.bad;
}

Status PageTables::alloc_table(u64& pa, u64*& table, const char* where) {
    pa = mem_.alloc_page();
    if (pa == 0) return Status::error("out of memory for page tables", where);
    if (!is_aligned(pa, PAGE_4K) || pa >= pte::PHYS_LIMIT)
        return Status::error("page allocator returned a bad table address", where, pa);
    table = table_at(mem_, pa);
    if (table == nullptr) return Status::error("page table not addressable", where, pa);
    __builtin_memset(table, 0, PAGE_4K);  // the allocator zeroes too; a table must never start with stale entries
    return Status::success();
}

Status PageTables::init() {
    if (root_pa_ != 0) return Status::error("page tables already initialized", WHERE_INIT, root_pa_);
    u64 pa = 0;
    u64* table = nullptr;
    EVMM_TRY(alloc_table(pa, table, WHERE_INIT));
    root_pa_ = pa;
    return Status::success();
}

// Returns the table the entry *entry (at level) references, creating it (empty) when the entry is not present, or
// splitting a large leaf into a full table of next-level leaves with the same frames and attributes.
Status PageTables::child_table(u64* entry, int level, u64& child_pa, const char* where) {
    const u64 e = load_entry(entry);
    if ((e & pte::P) != 0 && !is_leaf(e, level)) {
        child_pa = e & pte::ADDR_4K;
        return Status::success();
    }
    u64 pa = 0;
    u64* t = nullptr;
    EVMM_TRY(alloc_table(pa, t, where));
    if ((e & pte::P) != 0) {  // a large leaf: split it
        for (unsigned i = 0; i < ENTRIES_PER_TABLE; ++i) store_entry(&t[i], split_piece(e, level - 1, i));
    }
    store_entry(entry, pa | TABLE_BITS);
    child_pa = pa;
    return Status::success();
}

Status PageTables::check_range(u64 va, u64 size) const {
    const char* where = WHERE_MAP;
    if (root_pa_ == 0) return Status::error("page tables not initialized", where);
    if (!is_aligned(va, PAGE_4K) || !is_aligned(size, PAGE_4K))
        return Status::error("virtual range not 4 KiB aligned", where, va, size);
    if (!is_canonical(va)) return Status::error("non-canonical virtual address", where, va);
    if (size == 0) return Status::success();
    if (add_overflows(va, size - 1)) return Status::error("virtual range wraps", where, va, size);
    const u64 last = va + size - 1;
    if (!is_canonical(last) || (va >> (VA_BITS - 1)) != (last >> (VA_BITS - 1)))
        return Status::error("virtual range not canonical", where, va, size);
    return Status::success();
}

Status PageTables::map(u64 va, u64 pa, u64 size, PagePerms perms, bool allow_2m, bool allow_1g) {
    EVMM_TRY(check_range(va, size));
    if (!is_aligned(pa, PAGE_4K)) return Status::error("physical address not 4 KiB aligned", WHERE_MAP, pa);
    if (pa >= pte::PHYS_LIMIT || size > pte::PHYS_LIMIT - pa)
        return Status::error("physical range beyond MAXPHYADDR", WHERE_MAP, pa, size);
    if (size == 0) return Status::success();
    return map_range(root_pa_, LEVEL_PML4, va, pa, size, leaf_bits(perms), allow_2m, allow_1g, false);
}

Status PageTables::unmap(u64 va, u64 size) {
    Status s = check_range(va, size);
    if (!s) {
        s.where = WHERE_UNMAP;
        return s;
    }
    if (size == 0) return Status::success();
    return map_range(root_pa_, LEVEL_PML4, va, 0, size, 0, false, false, true);
}

// Maps (or unmaps) [va, va+size) within the table at table_pa (at level). The range lies inside this table's span.
Status PageTables::map_range(u64 table_pa, int level, u64 va, u64 pa, u64 size, u64 bits, bool allow_2m,
                             bool allow_1g, bool unmap) {
    u64* t = table_at(mem_, table_pa);
    if (t == nullptr) return Status::error("page table not addressable", unmap ? WHERE_UNMAP : WHERE_MAP, table_pa);
    const u64 span = level_span(level);
    while (size != 0) {
        u64* entry = &t[table_index(va, level)];
        const u64 offset = va & (span - 1);
        const u64 chunk = size < span - offset ? size : span - offset;
        const bool full = chunk == span;
        const u64 e = load_entry(entry);
        const bool present = (e & pte::P) != 0;
        const bool leaf = present && is_leaf(e, level);

        bool descend = false;
        if (unmap) {
            if (!present) {
                // nothing mapped here
            } else if (leaf && full) {
                store_entry(entry, 0);
            } else {
                descend = true;
            }
        } else if (full && leaf_allowed(level, allow_2m, allow_1g) && is_aligned(pa, span) && (!present || leaf)) {
            store_entry(entry, pa | bits | (level == LEVEL_PT ? 0 : pte::PS));
        } else if (leaf && (e & frame_mask(level)) + offset == pa &&
                   (e & (pte::LEAF_ATTRS | pat_bit(level))) == (bits & pte::LEAF_ATTRS)) {
            // The large leaf already maps this part exactly so: keep it whole.
        } else {
            descend = true;
        }

        if (descend) {
            u64 child_pa = 0;
            EVMM_TRY(child_table(entry, level, child_pa, unmap ? WHERE_UNMAP : WHERE_MAP));
            EVMM_TRY(map_range(child_pa, level - 1, va, pa, chunk, bits, allow_2m, allow_1g, unmap));
        }
        va += chunk;
        pa += chunk;
        size -= chunk;
    }
    return Status::success();
}

PageTables::WalkResult PageTables::walk(u64 va) const {
    WalkResult r{};
    if (!is_canonical(va) || root_pa_ == 0) return r;
    bool write = true;
    bool exec = true;
    u64 table_pa = root_pa_;
    for (int level = LEVEL_PML4; level >= LEVEL_PT; --level) {
        r.level = level;
        const u64* t = table_at(mem_, table_pa);
        if (t == nullptr) return r;
        const u64 e = load_entry(&t[table_index(va, level)]);
        r.entry = e;
        if ((e & pte::P) == 0) return r;
        if (level == LEVEL_PML4 && (e & pte::PS) != 0) return r;  // reserved bit: the CPU would fault
        write = write && (e & pte::RW) != 0;
        exec = exec && (e & pte::XD) == 0;
        if (is_leaf(e, level)) {
            const u64 span = level_span(level);
            r.present = true;
            r.pa = (e & frame_mask(level)) + (va & (span - 1));
            r.page_size = span;
            r.write = write;
            r.exec = exec;
            r.cache = decode_cache(e, level);
            return r;
        }
        table_pa = e & pte::ADDR_4K;
    }
    return r;  // not reached: level 1 entries are always leaves
}

WxReport check_wx_raw(u64 root_pa, PageAlloc& mem) {
    WxReport rep{};
    rep.bad_entries = visit_leaves(
        root_pa, mem,
        [](void* ctx, const Leaf& leaf) {
            auto& r = *static_cast<WxReport*>(ctx);
            ++r.leaves;
            r.bytes_mapped += leaf.size;
            if (leaf.write && leaf.exec) {
                if (r.violations == 0) r.first_violation_va = leaf.va;
                ++r.violations;
            }
        },
        &rep);
    return rep;
}

WxReport check_wx(const PageTables& pt) { return check_wx_raw(pt.root_pa(), pt.mem()); }

} // namespace evmm
