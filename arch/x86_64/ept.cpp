// EPT builder, walker and misconfiguration detector (Intel SDM Vol. 3C §29.3). See ept.h for the conventions.
#include "arch/x86_64/ept.h"

namespace evmm {
namespace {

constexpr const char* WHERE_MAP = "ept.map";
constexpr const char* WHERE_UNMAP = "ept.unmap";
constexpr const char* WHERE_INIT = "ept.init";

constexpr u64 INDEX_MASK = ENTRIES_PER_TABLE - 1;

// Bits of an entry that references the next table: all rights, bits 7:3 zero (reserved there, Tables 29-1, 29-3,
// 29-5), so that the leaf decides the rights (§29.3.3.2: every entry of the walk must allow the access).
constexpr u64 TABLE_BITS = epte::RWX;

constexpr unsigned table_index(u64 gpa, int level) { return unsigned((gpa >> level_shift(level)) & INDEX_MASK); }

constexpr bool is_present(u64 e) { return (e & epte::PRESENT_MASK) != 0; }

// A PDPTE/PDE with bit 7 = 1 maps a page (Tables 29-2, 29-4); every present PTE maps a page (Table 29-6).
constexpr bool is_leaf(u64 e, int level) {
    return level == LEVEL_PT || ((level == LEVEL_PD || level == LEVEL_PDPT) && (e & epte::LARGE) != 0);
}

constexpr u64 frame_mask(int level) {
    return level == LEVEL_PT ? pte::ADDR_4K : level == LEVEL_PD ? pte::ADDR_2M : pte::ADDR_1G;
}

constexpr bool leaf_allowed(int level, bool allow_2m, bool allow_1g) {
    return level == LEVEL_PT || (level == LEVEL_PD && allow_2m) || (level == LEVEL_PDPT && allow_1g);
}

// Leaf bits (without LARGE): rights, memory type, ignore-PAT 0, A/D 0 (ept.h).
constexpr u64 leaf_bits(EptPerms perms, MemType type) {
    u64 bits = u64{static_cast<u8>(type)} << epte::MEMTYPE_SHIFT;
    if (perms.read) bits |= epte::R;
    if (perms.write) bits |= epte::W;
    if (perms.exec) bits |= epte::X;
    return bits;
}

constexpr MemType leaf_memtype(u64 e) {
    return static_cast<MemType>((e & epte::MEMTYPE_MASK) >> epte::MEMTYPE_SHIFT);
}

// Live tables: one 64-bit store per entry so the CPU never sees a torn entry, ordered after the fill of a table
// it links (the EPT counterpart of SDM Vol. 3A §4.10.4).
inline void store_entry(u64* e, u64 v) { __atomic_store_n(e, v, __ATOMIC_RELEASE); }
inline u64 load_entry(const u64* e) { return __atomic_load_n(e, __ATOMIC_RELAXED); }

inline u64* table_at(PageAlloc& mem, u64 pa) { return static_cast<u64*>(mem.phys_to_virt(pa)); }

// The entry for piece i (a child_level page) of the large leaf e (at child_level + 1): same attributes, same
// frames. The memory type, ignore-PAT and rights bits sit at the same place in every leaf format; bit 7 is LARGE
// in a PDE and ignored in a PTE (Table 29-6), so it goes away when the pieces are 4 KiB.
constexpr u64 split_piece(u64 e, int child_level, unsigned i) {
    const int level = child_level + 1;
    u64 attrs = e & ~frame_mask(level);
    if (child_level == LEVEL_PT) attrs &= ~epte::LARGE;
    return (e & frame_mask(level)) + u64{i} * level_span(child_level) + attrs;
}

struct VisitState {
    PageAlloc& mem;
    EptLeafVisitor fn;
    void* ctx;
    u64 bad;
    u64 tables;
};

void visit_table(VisitState& st, u64 table_pa, int level, u64 gpa_base, EptPerms rights) {
    const u64* t = table_at(st.mem, table_pa);
    if (t == nullptr) {
        ++st.bad;
        return;
    }
    ++st.tables;
    for (unsigned i = 0; i < ENTRIES_PER_TABLE; ++i) {
        const u64 e = load_entry(&t[i]);
        if (!is_present(e)) continue;
        if (level == LEVEL_PML4 && (e & epte::LARGE) != 0) {  // reserved in a PML4E (Table 29-1)
            ++st.bad;
            continue;
        }
        const u64 gpa = gpa_base | (u64{i} << level_shift(level));
        const EptPerms r{rights.read && (e & epte::R) != 0, rights.write && (e & epte::W) != 0,
                         rights.exec && (e & epte::X) != 0};
        if (is_leaf(e, level)) {
            if (st.fn != nullptr) {
                const EptLeaf leaf{gpa, e & frame_mask(level), level_span(level), r, leaf_memtype(e),
                                   (e & epte::IGNORE_PAT) != 0, level, e};
                st.fn(st.ctx, leaf);
            }
        } else {
            visit_table(st, e & pte::ADDR_4K, level - 1, gpa, r);
        }
    }
}

constexpr EptPerms ALL_RIGHTS{true, true, true};

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// Misconfiguration (§29.3.3.1)

bool ept_entry_misconfigured(u64 entry, int level, u64 phys_addr_bits_mask, bool exec_only_supported,
                             const char*& why) {
    why = nullptr;
    if (level < LEVEL_PT || level > LEVEL_PML4) {
        why = "bad level";
        return true;
    }
    const u64 rights = entry & epte::PRESENT_MASK;
    if (rights == 0) return false;  // not present: EPT violation, not misconfiguration
    // "The value of bits 2:0 of an EPT paging-structure entry is either 010b (write-only) or 110b
    //  (write/execute)."
    if ((entry & epte::W) != 0 && (entry & epte::R) == 0) {
        why = "write access without read access (bits 2:0 = 010b or 110b)";
        return true;
    }
    // "The value of bits 2:0 ... is 100b (execute-only) and this value is not supported by the logical processor."
    if (rights == epte::X && !exec_only_supported) {
        why = "execute-only entry (bits 2:0 = 100b) not supported by this processor";
        return true;
    }
    // Bits 51:N of every format are reserved (N = MAXPHYADDR).
    if ((entry & epte::ADDR_FIELD & ~phys_addr_bits_mask) != 0) {
        why = "reserved physical-address bits 51:MAXPHYADDR set";
        return true;
    }
    const bool leaf = is_leaf(entry, level);
    if (!leaf) {
        // Tables 29-1, 29-3, 29-5: bits 7:3 reserved (for a PML4E that includes bit 7).
        if ((entry & epte::NONLEAF_RESERVED) != 0) {
            why = level == LEVEL_PML4 ? "reserved bits 7:3 set in an EPT PML4E"
                                      : "reserved bits 7:3 set in an entry that references an EPT table";
            return true;
        }
        return false;
    }
    if (level == LEVEL_PDPT && (entry & epte::RESERVED_1G) != 0) {
        why = "reserved bits 29:12 set in an EPT PDPTE mapping a 1 GiB page";
        return true;
    }
    if (level == LEVEL_PD && (entry & epte::RESERVED_2M) != 0) {
        why = "reserved bits 20:12 set in an EPT PDE mapping a 2 MiB page";
        return true;
    }
    // "The entry is the last one used to translate a guest physical address ... and the value of bits 5:3 (EPT
    //  memory type) is 2, 3, or 7 (these values are reserved)."
    if (!ept_memtype_valid((entry & epte::MEMTYPE_MASK) >> epte::MEMTYPE_SHIFT)) {
        why = "reserved EPT memory type (2, 3 or 7) in a leaf";
        return true;
    }
    return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Visitor and statistics

u64 ept_visit_leaves(u64 root_pa, PageAlloc& mem, EptLeafVisitor fn, void* ctx) {
    if (root_pa == 0 || fn == nullptr) return 1;
    VisitState st{mem, fn, ctx, 0, 0};
    visit_table(st, root_pa & pte::ADDR_4K, LEVEL_PML4, 0, ALL_RIGHTS);
    return st.bad;
}

EptStats ept_stats_raw(u64 root_pa, PageAlloc& mem) {
    EptStats s{};
    if (root_pa == 0) {
        s.bad_entries = 1;
        return s;
    }
    VisitState st{mem,
                  [](void* ctx, const EptLeaf& leaf) {
                      auto& r = *static_cast<EptStats*>(ctx);
                      r.bytes_mapped += leaf.size;
                      if (leaf.level == LEVEL_PT) ++r.leaves_4k;
                      else if (leaf.level == LEVEL_PD) ++r.leaves_2m;
                      else ++r.leaves_1g;
                  },
                  &s, 0, 0};
    visit_table(st, root_pa & pte::ADDR_4K, LEVEL_PML4, 0, ALL_RIGHTS);
    s.table_pages = st.tables;
    s.bad_entries = st.bad;
    return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Builder

Status EptTables::alloc_table(u64& pa, u64*& table, const char* where) {
    pa = mem_.alloc_page();
    if (pa == 0) return Status::error("out of memory for EPT tables", where);
    if (!is_aligned(pa, PAGE_4K) || pa >= pte::PHYS_LIMIT)
        return Status::error("page allocator returned a bad EPT table address", where, pa);
    table = table_at(mem_, pa);
    if (table == nullptr) return Status::error("EPT table not addressable", where, pa);
    __builtin_memset(table, 0, PAGE_4K);  // the allocator zeroes too; a table must never start with stale entries
    ++table_pages_;
    return Status::success();
}

Status EptTables::init() {
    if (root_pa_ != 0) return Status::error("EPT already initialized", WHERE_INIT, root_pa_);
    u64 pa = 0;
    u64* table = nullptr;
    EVMM_TRY(alloc_table(pa, table, WHERE_INIT));
    root_pa_ = pa;
    return Status::success();
}

// Returns the table the entry *entry (at level) references, creating it (empty) when the entry is not present, or
// splitting a large leaf into a full table of next-level leaves with the same frames and attributes.
Status EptTables::child_table(u64* entry, int level, u64& child_pa, const char* where) {
    const u64 e = load_entry(entry);
    if (is_present(e) && !is_leaf(e, level)) {
        child_pa = e & pte::ADDR_4K;
        return Status::success();
    }
    u64 pa = 0;
    u64* t = nullptr;
    EVMM_TRY(alloc_table(pa, t, where));
    if (is_present(e)) {  // a large leaf: split it
        for (unsigned i = 0; i < ENTRIES_PER_TABLE; ++i) store_entry(&t[i], split_piece(e, level - 1, i));
    }
    store_entry(entry, pa | TABLE_BITS);
    child_pa = pa;
    return Status::success();
}

Status EptTables::check_range(u64 gpa, u64 size, const char* where) const {
    if (root_pa_ == 0) return Status::error("EPT not initialized", where);
    if (!is_aligned(gpa, PAGE_4K) || !is_aligned(size, PAGE_4K))
        return Status::error("guest-physical range not 4 KiB aligned", where, gpa, size);
    if (gpa >= EPT_GPA_LIMIT || size > EPT_GPA_LIMIT - gpa)
        return Status::error("guest-physical range beyond the 48 bits a 4-level EPT translates", where, gpa, size);
    return Status::success();
}

Status EptTables::map(u64 gpa, u64 hpa, u64 size, EptPerms perms, MemType type, bool allow_2m, bool allow_1g) {
    EVMM_TRY(check_range(gpa, size, WHERE_MAP));
    if (!is_aligned(hpa, PAGE_4K)) return Status::error("host-physical address not 4 KiB aligned", WHERE_MAP, hpa);
    if (hpa >= pte::PHYS_LIMIT || size > pte::PHYS_LIMIT - hpa)
        return Status::error("host-physical range beyond MAXPHYADDR", WHERE_MAP, hpa, size);
    if (perms.write && !perms.read)
        return Status::error("EPT write access without read access is a misconfiguration", WHERE_MAP, gpa);
    if (!perms.read && !perms.write && !perms.exec)
        return Status::error("EPT mapping with no access rights: use unmap", WHERE_MAP, gpa);
    if (!ept_memtype_valid(static_cast<u8>(type)))
        return Status::error("reserved EPT memory type", WHERE_MAP, static_cast<u8>(type));
    if (size == 0) return Status::success();
    return map_range(root_pa_, LEVEL_PML4, gpa, hpa, size, leaf_bits(perms, type), allow_2m, allow_1g, false);
}

Status EptTables::unmap(u64 gpa, u64 size) {
    EVMM_TRY(check_range(gpa, size, WHERE_UNMAP));
    if (size == 0) return Status::success();
    return map_range(root_pa_, LEVEL_PML4, gpa, 0, size, 0, false, false, true);
}

// Maps (or unmaps) [gpa, gpa+size) within the table at table_pa (at level). The range lies inside this table's
// span.
Status EptTables::map_range(u64 table_pa, int level, u64 gpa, u64 hpa, u64 size, u64 bits, bool allow_2m,
                            bool allow_1g, bool unmap) {
    u64* t = table_at(mem_, table_pa);
    if (t == nullptr) return Status::error("EPT table not addressable", unmap ? WHERE_UNMAP : WHERE_MAP, table_pa);
    const u64 span = level_span(level);
    while (size != 0) {
        u64* entry = &t[table_index(gpa, level)];
        const u64 offset = gpa & (span - 1);
        const u64 chunk = size < span - offset ? size : span - offset;
        const bool full = chunk == span;
        const u64 e = load_entry(entry);
        const bool present = is_present(e);
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
        } else if (full && leaf_allowed(level, allow_2m, allow_1g) && is_aligned(hpa, span) && (!present || leaf)) {
            store_entry(entry, hpa | bits | (level == LEVEL_PT ? 0 : epte::LARGE));
        } else if (leaf && (e & frame_mask(level)) + offset == hpa && (e & epte::LEAF_ATTRS) == bits) {
            // The large leaf already maps this part exactly so: keep it whole.
        } else {
            descend = true;
        }

        if (descend) {
            u64 child_pa = 0;
            EVMM_TRY(child_table(entry, level, child_pa, unmap ? WHERE_UNMAP : WHERE_MAP));
            EVMM_TRY(map_range(child_pa, level - 1, gpa, hpa, chunk, bits, allow_2m, allow_1g, unmap));
        }
        gpa += chunk;
        hpa += chunk;
        size -= chunk;
    }
    return Status::success();
}

EptTables::WalkResult EptTables::walk(u64 gpa) const {
    WalkResult r{};
    if (gpa >= EPT_GPA_LIMIT || root_pa_ == 0) return r;
    EptPerms rights = ALL_RIGHTS;
    u64 table_pa = root_pa_;
    for (int level = LEVEL_PML4; level >= LEVEL_PT; --level) {
        r.level = level;
        const u64* t = table_at(mem_, table_pa);
        if (t == nullptr) return r;
        const u64 e = load_entry(&t[table_index(gpa, level)]);
        r.entry = e;
        if (!is_present(e)) return r;
        if (level == LEVEL_PML4 && (e & epte::LARGE) != 0) return r;  // reserved: misconfiguration
        rights = EptPerms{rights.read && (e & epte::R) != 0, rights.write && (e & epte::W) != 0,
                          rights.exec && (e & epte::X) != 0};
        if (is_leaf(e, level)) {
            const u64 span = level_span(level);
            r.present = true;
            r.hpa = (e & frame_mask(level)) + (gpa & (span - 1));
            r.page_size = span;
            r.perms = rights;
            r.mem_type = leaf_memtype(e);
            r.ignore_pat = (e & epte::IGNORE_PAT) != 0;
            return r;
        }
        table_pa = e & pte::ADDR_4K;
    }
    return r;  // not reached: level 1 entries are always leaves
}

} // namespace evmm
