// x86-64 4-level paging (IA-32e paging, Intel SDM Vol. 3A §4.5): a builder for the hypervisor's own page tables
// (identity-mapped physical memory, W^X permissions for its image, unmapped stack guard pages) and a walker that
// also reads raw tables (the ones CR3 actually points at) through a PageAlloc. The walk/map/split/visit logic is
// the page-table engine's (arch/x86_64/page_table.h) over the Ia32ePte entry format defined here.
//
// Conventions of the builder:
//  - Non-leaf entries (PML4E, PDPTE/PDE that reference a table) are always P|R/W with U/S=0 and XD=0, so the
//    access rights of a mapping are decided by its leaf alone (SDM §4.6: rights are the AND of R/W and the OR of
//    XD over all levels of the walk; neutral upper levels make the leaf authoritative).
//  - Leaves are supervisor-only (U/S=0), not global, PAT bit 0; A and D are preset so the CPU never has to set
//    them (SDM §4.8). Cache attribute through PCD/PWT only (PAT entries 0 and 3 with the power-up PAT, §11.12.4).
//  - Non-executable leaves set XD: IA32_EFER.NXE must be 1 before such tables are loaded (SDM §4.1.1, §4.5: with
//    NXE=0 bit 63 is reserved and the walk faults).
//  - Entries are written with single 64-bit atomic stores, a new table is fully filled before it is linked, so
//    live tables are consistent at every step. The caller flushes TLBs after map/unmap of a live range (§4.10.4).
//  - Table pages are never freed (PageAlloc has no free): where a larger leaf would replace an existing table,
//    the builder descends into that table instead.
#pragma once

#include "arch/x86_64/page_table.h"
#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"

namespace evmm {

// Bits of IA-32e paging-structure entries, SDM Vol. 3A §4.5, Tables 4-14 .. 4-20.
namespace pte {
inline constexpr u64 P = bit(0);      // Present
inline constexpr u64 RW = bit(1);     // R/W: 0 = writes not allowed to the region controlled by the entry
inline constexpr u64 US = bit(2);     // U/S: 0 = user-mode accesses not allowed
inline constexpr u64 PWT = bit(3);    // page-level write-through
inline constexpr u64 PCD = bit(4);    // page-level cache disable
inline constexpr u64 A = bit(5);      // accessed
inline constexpr u64 D = bit(6);      // dirty (leaves only)
inline constexpr u64 PS = bit(7);     // page size: 1 in a PDPTE (1 GiB page) / PDE (2 MiB page); reserved in a PML4E
inline constexpr u64 G = bit(8);      // global (leaves only)
inline constexpr u64 PAT_4K = bit(7); // PAT bit of a PTE (Table 4-20), same position as PS
inline constexpr u64 PAT_LARGE = bit(12); // PAT bit of a 1 GiB PDPTE / 2 MiB PDE (Tables 4-16, 4-18)
inline constexpr u64 XD = bit(63);        // execute-disable (if IA32_EFER.NXE = 1)

// MAXPHYADDR is at most 52 (SDM §4.1.4); address fields are bits (M-1):12 / 21 / 30.
inline constexpr unsigned MAX_PHYS_ADDR_BITS = 52;
inline constexpr u64 PHYS_LIMIT = bit(MAX_PHYS_ADDR_BITS);
inline constexpr u64 ADDR_4K = (PHYS_LIMIT - 1) & ~(4 * KiB - 1); // table address or 4 KiB frame, bits 51:12
inline constexpr u64 ADDR_2M = (PHYS_LIMIT - 1) & ~(2 * MiB - 1); // 2 MiB frame, bits 51:21
inline constexpr u64 ADDR_1G = (PHYS_LIMIT - 1) & ~(1 * GiB - 1); // 1 GiB frame, bits 51:30
static_assert(ADDR_4K == 0x000F'FFFF'FFFF'F000ull);
static_assert(ADDR_2M == 0x000F'FFFF'FFE0'0000ull);
static_assert(ADDR_1G == 0x000F'FFFF'C000'0000ull);

// The attribute bits a leaf carries besides its frame (what "same mapping" compares).
inline constexpr u64 LEAF_ATTRS = P | RW | US | PWT | PCD | G | XD;
} // namespace pte

// 4-level paging translates 48-bit linear addresses; bits 63:47 must be equal (canonical, SDM §3.3.7.1).
inline constexpr unsigned VA_BITS = 48;
constexpr bool is_canonical(u64 va) {
    const u64 upper = va >> (VA_BITS - 1);
    return upper == 0 || upper == (~u64{0} >> (VA_BITS - 1));
}
constexpr u64 sign_extend_va(u64 va) {
    return (va & bit(VA_BITS - 1)) ? (va | ~(bit(VA_BITS) - 1)) : (va & (bit(VA_BITS) - 1));
}

// Memory type of a leaf through PCD/PWT (PAT bit left 0); with the power-up PAT, index 0 = WB, index 3 = UC
// (SDM Vol. 3A §11.12.3, Table 11-11).
enum class CacheType : u8 {
    WB, // PCD=0 PWT=0
    UC, // PCD=1 PWT=1
};

struct PagePerms {
    bool write;
    bool exec;
    CacheType cache = CacheType::WB;
};

// One present leaf: effective rights (AND of R/W over the levels; exec = no XD at any level).
struct Leaf {
    u64 va;   // canonical linear address of the page
    u64 pa;   // frame address
    u64 size; // PAGE_4K / PAGE_2M / PAGE_1G
    bool write;
    bool exec;
    CacheType cache; // WB unless PCD|PWT (other PCD/PWT/PAT combinations are reported as UC)
    int level;       // LEVEL_PT / LEVEL_PD / LEVEL_PDPT
    u64 entry;       // raw leaf entry
};

using LeafVisitor = void (*)(void* ctx, const Leaf& leaf);

// Visits, in ascending va order, every present leaf of the 4-level tables rooted at root_pa (CR3's address part),
// reading tables through mem.phys_to_virt. Returns the number of bad entries skipped: tables phys_to_virt could
// not give, and PML4Es with the reserved PS bit set. Depth is bounded by the 4 levels, so any table contents
// (even cycles) terminate.
u64 visit_leaves(u64 root_pa, PageAlloc& mem, LeafVisitor fn, void* ctx);

// The IA-32e paging-structure entry format for the page-table engine (Tables 4-14 .. 4-20). Normalized leaf
// attributes are those of a PTE: the PAT bit at bit 7 (a large leaf holds it at bit 12 and PS at bit 7). AMD NPT
// entries have this same format (AMD APM Vol. 2 §15.25.5).
struct Ia32ePte {
    static constexpr int MAX_LEAF_LEVEL = LEVEL_PDPT; // 1 GiB pages (PDPTE with PS, Table 4-16)
    static constexpr u64 LARGE = pte::PS;
    static constexpr u64 ADDR_MASK = pte::ADDR_4K;
    // Attribute bits of any entry: all but the address field (bits 11:0 and 63:52).
    static constexpr u64 ATTR_FIELD = ~pte::ADDR_4K;
    static constexpr u64 MATCH_ATTRS = pte::LEAF_ATTRS | pte::PAT_4K;

    static constexpr bool present(u64 e) { return (e & pte::P) != 0; }
    // Present and writable, supervisor, executable, so that the leaf decides the rights (SDM §4.6.1: R/W is ANDed
    // and XD ORed over the levels).
    static constexpr u64 table(u64 pa) { return pa | pte::P | pte::RW; }
    static constexpr u64 leaf(u64 frame, u64 attrs, int level) {
        if (level == LEVEL_PT) return frame | attrs;
        const u64 pat = (attrs & pte::PAT_4K) != 0 ? pte::PAT_LARGE : 0; // Table 4-18 vs Table 4-20
        return frame | (attrs & ~pte::PAT_4K) | pat | pte::PS;
    }
    static constexpr u64 attrs(u64 e, int level) {
        if (level == LEVEL_PT) return e & ATTR_FIELD;
        const u64 pat = (e & pte::PAT_LARGE) != 0 ? pte::PAT_4K : 0;
        return (e & ATTR_FIELD & ~pte::PS) | pat;
    }

    struct Rights {
        bool write; // AND of R/W over the levels
        bool exec;  // no XD at any level
    };
    static constexpr Rights ALL_RIGHTS{true, true};
    static constexpr Rights narrow(Rights r, u64 e) {
        return Rights{r.write && (e & pte::RW) != 0, r.exec && (e & pte::XD) == 0};
    }

    // The va range canonical and within one half (SDM §3.3.7.1).
    static Status check_range(u64 va, u64 size, const char* where);
    static constexpr PageTableNames WHERE{"paging.init", "paging.map", "paging.unmap"};
};
static_assert(leaf_round_trips<Ia32ePte>(PAGE_2M | pte::P | pte::PS | pte::PAT_LARGE | pte::XD, LEVEL_PD));
extern template class PageTable<Ia32ePte>;

class PageTables : public PageTable<Ia32ePte> {
public:
    using PageTable::PageTable;

    // Maps [va, va+size) to [pa, pa+size). va, pa, size 4 KiB aligned; the va range canonical and within one half;
    // pa+size <= 2^52. Uses 1 GiB / 2 MiB leaves (when allowed) wherever va, pa and the rest of the range are
    // aligned, 4 KiB at the edges. Overwrites existing mappings; a large leaf only partly remapped with different
    // frames/perms is split first, keeping the rest of it identical (a part remapped identically is left as is).
    // size 0 is a no-op. On error (e.g. out of pages) the tables are consistent but the range may be partly mapped.
    Status map(u64 va, u64 pa, u64 size, PagePerms perms, bool allow_2m, bool allow_1g);

    // unmap(va, size) (the engine's) makes [va, va+size) not present (e.g. stack guard pages), splitting large
    // leaves as needed. Unmapped parts of the range are fine. Same argument rules as map.
    using PageTable::unmap;

    struct WalkResult {
        bool present;
        u64 pa;        // translation of va (frame + offset) when present
        u64 page_size; // size of the leaf when present
        bool write;    // effective: AND of R/W over the levels
        bool exec;     // effective: no XD at any level
        int level;     // level of the leaf; when not present the level whose entry was not present (0: bad va)
        u64 entry;     // the leaf entry (or the non-present entry)
        CacheType cache;
    };
    WalkResult walk(u64 va) const;

    // Calls f(const Leaf&) for every present leaf, ascending va.
    template <class F>
    u64 for_each_leaf(F&& f) const {
        return visit_leaves(root_pa(), mem(), &LeafThunk<Leaf, decltype(&f)>::call, leaf_thunk_ctx(f));
    }
};

// W^X audit: leaves that are effectively both writable and executable.
struct WxReport {
    u64 bytes_mapped;       // total size of present leaves
    u64 leaves;             // present leaves
    u64 violations;         // leaves writable and executable
    u64 first_violation_va; // lowest va of such a leaf (0 if none)
    u64 bad_entries;        // see visit_leaves; a trustworthy report has 0
    constexpr bool clean() const { return violations == 0 && bad_entries == 0; }
};
WxReport check_wx(const PageTables& pt);
// Same audit over raw tables (e.g. the ones CR3 points at), read through mem.phys_to_virt.
WxReport check_wx_raw(u64 root_pa, PageAlloc& mem);

} // namespace evmm
