// Extended Page Tables (Intel SDM Vol. 3C §29.3 "The Extended Page Table Mechanism (EPT)"): a builder for the
// 4-level EPT paging structures that translate guest-physical addresses, a walker, a leaf visitor, the EPTP
// value (§25.6.11, Table 25-9) and a detector of misconfigured entries (§29.3.3.1) to explain EPT-misconfiguration
// VM exits.
//
// Entry formats: SDM Vol. 3C §29.3.2, Tables 29-1 (PML4E), 29-2 (PDPTE mapping a 1 GiB page), 29-3 (PDPTE
// referencing a page directory), 29-4 (PDE mapping a 2 MiB page), 29-5 (PDE referencing a page table) and 29-6
// (PTE). EPT uses the same 4-level, 9-bits-per-level layout as IA-32e paging: the walk/map/split/visit logic is
// the page-table engine's (arch/x86_64/page_table.h) over the EptEntry format defined here.
//
// Conventions of the builder (those of paging.h, adapted):
//  - Non-leaf entries are R|W|X with bits 7:3 zero (reserved there), so the access rights of a mapping are decided
//    by its leaf alone (§29.3.3.2: an access is allowed only if every entry of the walk allows it).
//  - Leaves carry R/W/X from EptPerms, the EPT memory type in bits 5:3 (§29.3.7) and ignore-PAT = 0 (the EPT type
//    then combines with the guest's PAT exactly as the MTRR type does natively, §29.3.7.2). A and D are left 0 for
//    the CPU to set when EPTP enables them; user-execute (bit 10, mode-based execute control) and suppress #VE
//    (bit 63, EPT-violation #VE) are left 0: evmm enables neither feature, and then they are ignored.
//  - Entries are written with single 64-bit atomic stores, a new table is fully filled before it is linked, so
//    live tables are consistent at every step. The caller invalidates (INVEPT) after map/unmap of a live range
//    (§29.4.3).
//  - Table pages are never freed (PageAlloc has no free): where a larger leaf would replace an existing table,
//    the builder descends into that table instead.
#pragma once

#include "arch/x86_64/mtrr.h"
#include "arch/x86_64/paging.h"
#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"

namespace evmm {

// Bits of EPT paging-structure entries, SDM Vol. 3C Tables 29-1 .. 29-6.
namespace epte {
inline constexpr u64 R = bit(0); // read access
inline constexpr u64 W = bit(1); // write access
inline constexpr u64 X = bit(2); // execute access (supervisor-mode execute with mode-based execute control)
inline constexpr u64 RWX = R | W | X;
// An entry with bits 2:0 all 0 is not present and the CPU ignores its bits 63:3 (§29.3.2).
inline constexpr u64 PRESENT_MASK = RWX;
inline constexpr unsigned MEMTYPE_SHIFT = 3; // EPT memory type, bits 5:3 (leaves only)
inline constexpr u64 MEMTYPE_MASK = u64{0x7} << MEMTYPE_SHIFT;
inline constexpr u64 IGNORE_PAT = bit(6);   // ignore PAT memory type (leaves only)
inline constexpr u64 LARGE = bit(7);        // 1: PDPTE maps a 1 GiB page / PDE maps a 2 MiB page; ignored in a PTE
inline constexpr u64 A = bit(8);            // accessed (if EPTP bit 6 enables A/D flags)
inline constexpr u64 D = bit(9);            // dirty (leaves only, if EPTP bit 6 enables A/D flags)
inline constexpr u64 UX = bit(10);          // user-mode execute (if mode-based execute control for EPT)
inline constexpr u64 SUPPRESS_VE = bit(63); // suppress #VE (leaves only, if EPT-violation #VE)

// Bits 7:3 of an entry that references a table are reserved (Tables 29-1, 29-3, 29-5).
inline constexpr u64 NONLEAF_RESERVED = u64{0x1F} << MEMTYPE_SHIFT;
static_assert(NONLEAF_RESERVED == (MEMTYPE_MASK | IGNORE_PAT | LARGE));
// Bits 29:12 of a 1 GiB leaf and bits 20:12 of a 2 MiB leaf are reserved (Tables 29-2, 29-4).
inline constexpr u64 RESERVED_1G = (PAGE_1G - 1) & ~(PAGE_4K - 1);
inline constexpr u64 RESERVED_2M = (PAGE_2M - 1) & ~(PAGE_4K - 1);
static_assert(RESERVED_1G == 0x3FFF'F000ull && RESERVED_2M == 0x1F'F000ull);
// Physical-address fields end at bit 51; bits 51:N (N = MAXPHYADDR) are reserved, bits 63:52 are ignored or
// feature bits (never reserved).
inline constexpr u64 ADDR_FIELD = pte::ADDR_4K;

// The attribute bits a leaf carries besides its frame (what "same mapping" compares; A/D are the CPU's).
inline constexpr u64 LEAF_ATTRS = RWX | MEMTYPE_MASK | IGNORE_PAT | UX | SUPPRESS_VE;
} // namespace epte

// EPT memory types (§29.3.7): the encodings of Table 12-8, so evmm::MemType is used directly; 2, 3 and 7 are
// reserved (a leaf holding one is misconfigured, §29.3.3.1).
inline constexpr u8 EPT_MEMTYPE_UC = 0;
inline constexpr u8 EPT_MEMTYPE_WB = 6;
static_assert(static_cast<u8>(MemType::UC) == EPT_MEMTYPE_UC && static_cast<u8>(MemType::WB) == EPT_MEMTYPE_WB);
constexpr bool ept_memtype_valid(u64 t) {
    return t == static_cast<u8>(MemType::UC) || t == static_cast<u8>(MemType::WC) ||
           t == static_cast<u8>(MemType::WT) || t == static_cast<u8>(MemType::WP) || t == static_cast<u8>(MemType::WB);
}

// Extended-page-table pointer, SDM Vol. 3C §25.6.11, Table 25-9.
namespace eptp {
inline constexpr u64 MEMTYPE_MASK = 0x7;         // bits 2:0: memory type of the EPT paging structures (UC or WB)
inline constexpr unsigned WALK_LENGTH_SHIFT = 3; // bits 5:3: EPT page-walk length minus 1
inline constexpr u64 WALK_LENGTH_MASK = u64{0x7} << WALK_LENGTH_SHIFT;
inline constexpr u64 WALK_LEVELS = 4;     // evmm builds 4-level EPT (PML4 .. PT)
inline constexpr u64 AD_ENABLE = bit(6);  // bit 6: enable accessed and dirty flags for EPT
inline constexpr u64 SSS_ENABLE = bit(7); // bit 7: enforce access rights for supervisor shadow-stack pages
inline constexpr u64 RESERVED_11_8 = u64{0xF} << 8;
inline constexpr u64 ADDR_MASK = pte::ADDR_4K; // bits N-1:12: physical address of the EPT PML4 table
} // namespace eptp

// The EPTP for a 4-level EPT rooted at root_pa (4 KiB aligned): paging structures accessed WB, walk length 4,
// A/D flags as asked (only if IA32_VMX_EPT_VPID_CAP bit 21 says they are supported).
constexpr u64 ept_make_eptp(u64 root_pa, bool enable_ad) {
    return (root_pa & eptp::ADDR_MASK) | EPT_MEMTYPE_WB | ((eptp::WALK_LEVELS - 1) << eptp::WALK_LENGTH_SHIFT) |
           (enable_ad ? eptp::AD_ENABLE : 0);
}

// Guest-physical addresses a 4-level EPT translates: bits 47:0 (§29.3.2).
inline constexpr unsigned EPT_GPA_BITS = 48;
inline constexpr u64 EPT_GPA_LIMIT = bit(EPT_GPA_BITS);

// Mask of the physical-address bits a processor with MAXPHYADDR = n supports (bits n-1:0), the form
// ept_entry_misconfigured takes. n is clamped to 52 (SDM Vol. 3A §4.1.4).
constexpr u64 ept_phys_addr_mask(unsigned maxphyaddr) {
    return maxphyaddr >= pte::MAX_PHYS_ADDR_BITS ? pte::PHYS_LIMIT - 1 : bit(maxphyaddr) - 1;
}

// True when the present EPT paging-structure entry `entry`, at level (LEVEL_PML4 .. LEVEL_PT), would cause an EPT
// misconfiguration (SDM §29.3.3.1); why then names the cause (a static string), else it is nullptr:
//   bits 2:0 = 010b or 110b (write without read);
//   bits 2:0 = 100b (execute-only) when the processor does not support it (IA32_VMX_EPT_VPID_CAP bit 0);
//   a present entry with a reserved bit set: bits 51:N above MAXPHYADDR (phys_addr_bits_mask = bits N-1:0, see
//   ept_phys_addr_mask), bits 7:3 of a PML4E or of an entry that references a table, bits 29:12 of a 1 GiB leaf,
//   bits 20:12 of a 2 MiB leaf;
//   a leaf (1 GiB PDPTE, 2 MiB PDE, PTE) whose EPT memory type is reserved (2, 3 or 7).
// A not-present entry (bits 2:0 = 000b) is never misconfigured (it causes EPT violations instead). Not checked:
// LARGE in a PDPTE on a processor without 1 GiB EPT pages (bit 17 of the capability MSR), and the bit-10 variants
// of the rules under mode-based execute control, which evmm does not enable. A level outside 1..4 is reported as
// misconfigured ("bad level").
bool ept_entry_misconfigured(u64 entry, int level, u64 phys_addr_bits_mask, bool exec_only_supported, const char*& why);

struct EptPerms {
    bool read;
    bool write;
    bool exec;
};

// The EPT paging-structure entry format for the page-table engine (Tables 29-1 .. 29-6). Normalized leaf
// attributes are the leaf bits without the frame and LARGE (the memory type, ignore-PAT and rights bits sit at the
// same place in every leaf format; bit 7 is LARGE in a PDPTE/PDE and ignored in a PTE). VT-d second-level paging
// entries (VT-d spec §9.8) share this layout (R/W in bits 1:0) and can be a Format of the same shape.
struct EptEntry {
    static constexpr int MAX_LEAF_LEVEL = LEVEL_PDPT; // 1 GiB pages (Table 29-2)
    static constexpr u64 LARGE = epte::LARGE;
    static constexpr u64 ADDR_MASK = epte::ADDR_FIELD;
    static constexpr u64 MATCH_ATTRS = epte::LEAF_ATTRS;

    static constexpr bool present(u64 e) { return (e & epte::PRESENT_MASK) != 0; }
    // All rights, bits 7:3 zero (reserved there, Tables 29-1, 29-3, 29-5), so that the leaf decides the rights
    // (§29.3.3.2: every entry of the walk must allow the access).
    static constexpr u64 table(u64 pa) { return pa | epte::RWX; }
    static constexpr u64 leaf(u64 frame, u64 attrs, int level) {
        return frame | attrs | (level == LEVEL_PT ? 0 : epte::LARGE);
    }
    static constexpr u64 attrs(u64 e, int) { return e & ~epte::ADDR_FIELD & ~epte::LARGE; }

    using Rights = EptPerms;
    static constexpr Rights ALL_RIGHTS{true, true, true};
    static constexpr Rights narrow(Rights r, u64 e) {
        return Rights{r.read && (e & epte::R) != 0, r.write && (e & epte::W) != 0, r.exec && (e & epte::X) != 0};
    }

    // gpa+size <= 2^48, the guest-physical addresses a 4-level EPT translates (§29.3.2).
    static Status check_range(u64 gpa, u64 size, const char* where);
    static constexpr PageTableNames WHERE{"ept.init", "ept.map", "ept.unmap"};
};
static_assert(leaf_round_trips<EptEntry>(PAGE_1G | epte::RWX | epte::LARGE | epte::IGNORE_PAT, LEVEL_PDPT));
extern template class PageTable<EptEntry>;

// One present leaf of an EPT. Rights are the effective ones (AND over the levels of the walk).
struct EptLeaf {
    u64 gpa;  // guest-physical address of the page
    u64 hpa;  // frame address
    u64 size; // PAGE_4K / PAGE_2M / PAGE_1G
    EptPerms perms;
    MemType mem_type; // bits 5:3 as is (raw tables may hold a reserved encoding: see ept_memtype_valid)
    bool ignore_pat;
    int level; // LEVEL_PT / LEVEL_PD / LEVEL_PDPT
    u64 entry; // raw leaf entry
};

using EptLeafVisitor = void (*)(void* ctx, const EptLeaf& leaf);

// Visits, in ascending gpa order, every present leaf of the EPT rooted at root_pa (the address part of EPTP),
// reading tables through mem.phys_to_virt. Returns the number of bad entries skipped: tables phys_to_virt could
// not give, and PML4Es with bit 7 set (reserved). Depth is bounded by the 4 levels, so any contents terminate.
u64 ept_visit_leaves(u64 root_pa, PageAlloc& mem, EptLeafVisitor fn, void* ctx);

// Leaf and table counts of an EPT (tables reached from the root, the root included).
struct EptStats {
    u64 leaves_4k;
    u64 leaves_2m;
    u64 leaves_1g;
    u64 table_pages;
    u64 bytes_mapped;
    u64 bad_entries; // see ept_visit_leaves; a trustworthy count has 0
    constexpr u64 leaves() const { return leaves_4k + leaves_2m + leaves_1g; }
};
EptStats ept_stats_raw(u64 root_pa, PageAlloc& mem);

class EptTables : public PageTable<EptEntry> {
public:
    using PageTable::PageTable;

    // Maps guest-physical [gpa, gpa+size) to host-physical [hpa, hpa+size) with perms and memory type. gpa, hpa,
    // size 4 KiB aligned; gpa+size <= 2^48; hpa+size <= 2^52; perms not write-without-read and not all false
    // (use unmap); execute-only is accepted (only valid where IA32_VMX_EPT_VPID_CAP bit 0 says so). Uses 1 GiB /
    // 2 MiB leaves (when allowed: IA32_VMX_EPT_VPID_CAP bits 17 / 16) wherever gpa, hpa and the rest of the range
    // are aligned, 4 KiB at the edges. Overwrites existing mappings; a large leaf only partly remapped with
    // different frames/attributes is split first, keeping the rest of it identical (a part remapped identically
    // is left as is). size 0 is a no-op. On error (e.g. out of pages) the tables are consistent but the range may
    // be partly mapped.
    Status map(u64 gpa, u64 hpa, u64 size, EptPerms perms, MemType type, bool allow_2m, bool allow_1g);

    // unmap(gpa, size) (the engine's) makes [gpa, gpa+size) not present, splitting large leaves as needed.
    // Unmapped parts of the range are fine. gpa, size 4 KiB aligned, gpa+size <= 2^48.
    using PageTable::unmap;

    struct WalkResult {
        bool present;
        u64 hpa;          // translation of gpa (frame + offset) when present
        u64 page_size;    // size of the leaf when present
        EptPerms perms;   // effective: AND over the levels
        MemType mem_type; // of the leaf
        bool ignore_pat;
        int level; // level of the leaf; when not present the level whose entry was not present (0: bad gpa)
        u64 entry; // the leaf entry (or the not-present one)
    };
    WalkResult walk(u64 gpa) const;

    // Calls f(const EptLeaf&) for every present leaf, ascending gpa. Returns ept_visit_leaves' bad count.
    template <class F>
    u64 for_each_leaf(F&& f) const {
        return ept_visit_leaves(root_pa(), mem(), &LeafThunk<EptLeaf, decltype(&f)>::call, leaf_thunk_ctx(f));
    }

    EptStats stats() const { return ept_stats_raw(root_pa(), mem()); }
};

} // namespace evmm
