// x86-64 4-level paging (IA-32e paging, Intel SDM Vol. 3A §4.5): a builder for the hypervisor's own page tables
// (identity-mapped physical memory, W^X permissions for its image, unmapped stack guard pages) and a walker that
// also reads raw tables (the ones CR3 actually points at) through a PageAlloc.
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

#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"

namespace evmm {

// Bits of IA-32e paging-structure entries, SDM Vol. 3A §4.5, Tables 4-14 .. 4-20.
namespace pte {
inline constexpr u64 P = bit(0);     // Present
inline constexpr u64 RW = bit(1);    // R/W: 0 = writes not allowed to the region controlled by the entry
inline constexpr u64 US = bit(2);    // U/S: 0 = user-mode accesses not allowed
inline constexpr u64 PWT = bit(3);   // page-level write-through
inline constexpr u64 PCD = bit(4);   // page-level cache disable
inline constexpr u64 A = bit(5);     // accessed
inline constexpr u64 D = bit(6);     // dirty (leaves only)
inline constexpr u64 PS = bit(7);    // page size: 1 in a PDPTE (1 GiB page) / PDE (2 MiB page); reserved in a PML4E
inline constexpr u64 G = bit(8);     // global (leaves only)
inline constexpr u64 PAT_4K = bit(7);     // PAT bit of a PTE (Table 4-20), same position as PS
inline constexpr u64 PAT_LARGE = bit(12); // PAT bit of a 1 GiB PDPTE / 2 MiB PDE (Tables 4-16, 4-18)
inline constexpr u64 XD = bit(63);   // execute-disable (if IA32_EFER.NXE = 1)

// MAXPHYADDR is at most 52 (SDM §4.1.4); address fields are bits (M-1):12 / 21 / 30.
inline constexpr unsigned MAX_PHYS_ADDR_BITS = 52;
inline constexpr u64 PHYS_LIMIT = bit(MAX_PHYS_ADDR_BITS);
inline constexpr u64 ADDR_4K = (PHYS_LIMIT - 1) & ~(4 * KiB - 1);  // table address or 4 KiB frame, bits 51:12
inline constexpr u64 ADDR_2M = (PHYS_LIMIT - 1) & ~(2 * MiB - 1);  // 2 MiB frame, bits 51:21
inline constexpr u64 ADDR_1G = (PHYS_LIMIT - 1) & ~(1 * GiB - 1);  // 1 GiB frame, bits 51:30
static_assert(ADDR_4K == 0x000F'FFFF'FFFF'F000ull);
static_assert(ADDR_2M == 0x000F'FFFF'FFE0'0000ull);
static_assert(ADDR_1G == 0x000F'FFFF'C000'0000ull);

// The attribute bits a leaf carries besides its frame (what "same mapping" compares).
inline constexpr u64 LEAF_ATTRS = P | RW | US | PWT | PCD | G | XD;
} // namespace pte

// Levels of the walk, SDM §4.5.4 (level 1 = page table ... level 4 = PML4).
inline constexpr int LEVEL_PT = 1;
inline constexpr int LEVEL_PD = 2;
inline constexpr int LEVEL_PDPT = 3;
inline constexpr int LEVEL_PML4 = 4;
inline constexpr unsigned ENTRIES_PER_TABLE = 512;  // 4 KiB table of 8-byte entries
inline constexpr unsigned INDEX_BITS = 9;           // linear-address bits per level
inline constexpr unsigned PAGE_SHIFT = 12;
static_assert(ENTRIES_PER_TABLE * sizeof(u64) == PAGE_SIZE);
static_assert(bit(INDEX_BITS) == ENTRIES_PER_TABLE);

// Linear-address bit where a level's index starts (12, 21, 30, 39), and the span one of its entries covers.
constexpr unsigned level_shift(int level) { return PAGE_SHIFT + INDEX_BITS * unsigned(level - 1); }
constexpr u64 level_span(int level) { return bit(level_shift(level)); }

inline constexpr u64 PAGE_4K = 4 * KiB;
inline constexpr u64 PAGE_2M = 2 * MiB;
inline constexpr u64 PAGE_1G = 1 * GiB;
static_assert(level_span(LEVEL_PT) == PAGE_4K && level_span(LEVEL_PD) == PAGE_2M && level_span(LEVEL_PDPT) == PAGE_1G);

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
    WB,  // PCD=0 PWT=0
    UC,  // PCD=1 PWT=1
};

struct PagePerms {
    bool write;
    bool exec;
    CacheType cache = CacheType::WB;
};

// One present leaf: effective rights (AND of R/W over the levels; exec = no XD at any level).
struct Leaf {
    u64 va;         // canonical linear address of the page
    u64 pa;         // frame address
    u64 size;       // PAGE_4K / PAGE_2M / PAGE_1G
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

class PageTables {
public:
    explicit PageTables(PageAlloc& mem) : mem_(mem) {}
    PageTables(const PageTables&) = delete;
    PageTables& operator=(const PageTables&) = delete;

    // Allocates the (empty) PML4. Error when out of pages or called twice.
    Status init();
    // Physical address of the PML4: the address part of CR3 (0 before init).
    u64 root_pa() const { return root_pa_; }
    PageAlloc& mem() const { return mem_; }

    // Maps [va, va+size) to [pa, pa+size). va, pa, size 4 KiB aligned; the va range canonical and within one half;
    // pa+size <= 2^52. Uses 1 GiB / 2 MiB leaves (when allowed) wherever va, pa and the rest of the range are
    // aligned, 4 KiB at the edges. Overwrites existing mappings; a large leaf only partly remapped with different
    // frames/perms is split first, keeping the rest of it identical (a part remapped identically is left as is).
    // size 0 is a no-op. On error (e.g. out of pages) the tables are consistent but the range may be partly mapped.
    Status map(u64 va, u64 pa, u64 size, PagePerms perms, bool allow_2m, bool allow_1g);

    // Makes [va, va+size) not present (e.g. stack guard pages), splitting large leaves as needed. Unmapped parts
    // of the range are fine. Same argument rules as map.
    Status unmap(u64 va, u64 size);

    struct WalkResult {
        bool present;
        u64 pa;         // translation of va (frame + offset) when present
        u64 page_size;  // size of the leaf when present
        bool write;     // effective: AND of R/W over the levels
        bool exec;      // effective: no XD at any level
        int level;      // level of the leaf; when not present the level whose entry was not present (0: bad va)
        u64 entry;      // the leaf entry (or the non-present entry)
        CacheType cache;
    };
    WalkResult walk(u64 va) const;

    // Calls f(const Leaf&) for every present leaf, ascending va.
    template <class F>
    u64 for_each_leaf(F&& f) const {
        using Ptr = decltype(&f);
        return visit_leaves(
            root_pa_, mem_, [](void* ctx, const Leaf& leaf) { (*static_cast<Ptr>(ctx))(leaf); },
            const_cast<void*>(static_cast<const void*>(&f)));
    }

private:
    Status check_range(u64 va, u64 size) const;
    Status map_range(u64 table_pa, int level, u64 va, u64 pa, u64 size, u64 leaf_bits, bool allow_2m,
                     bool allow_1g, bool unmap);
    Status alloc_table(u64& pa, u64*& table, const char* where);
    Status child_table(u64* entry, int level, u64& child_pa, const char* where);

    PageAlloc& mem_;
    u64 root_pa_ = 0;
};

// W^X audit: leaves that are effectively both writable and executable.
struct WxReport {
    u64 bytes_mapped;        // total size of present leaves
    u64 leaves;              // present leaves
    u64 violations;          // leaves writable and executable
    u64 first_violation_va;  // lowest va of such a leaf (0 if none)
    u64 bad_entries;         // see visit_leaves; a trustworthy report has 0
    constexpr bool clean() const { return violations == 0 && bad_entries == 0; }
};
WxReport check_wx(const PageTables& pt);
// Same audit over raw tables (e.g. the ones CR3 points at), read through mem.phys_to_virt.
WxReport check_wx_raw(u64 root_pa, PageAlloc& mem);

} // namespace evmm
