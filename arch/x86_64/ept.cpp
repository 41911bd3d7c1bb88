// EPT builder, walker and misconfiguration detector (Intel SDM Vol. 3C §29.3). See ept.h for the conventions.
#include "arch/x86_64/ept.h"

namespace evmm {

template class PageTable<EptEntry>;

namespace {

using Engine = PageTable<EptEntry>;

// Leaf attributes (normalized, EptEntry): rights, memory type, ignore-PAT 0, A/D 0 (ept.h).
constexpr u64 leaf_attrs(EptPerms perms, MemType type) {
    u64 bits = u64{static_cast<u8>(type)} << epte::MEMTYPE_SHIFT;
    if (perms.read) bits |= epte::R;
    if (perms.write) bits |= epte::W;
    if (perms.exec) bits |= epte::X;
    return bits;
}

constexpr MemType leaf_memtype(u64 e) { return static_cast<MemType>((e & epte::MEMTYPE_MASK) >> epte::MEMTYPE_SHIFT); }

constexpr EptLeaf make_leaf(const Engine::LeafInfo& l) {
    const bool ignore_pat = (l.entry & epte::IGNORE_PAT) != 0;
    const MemType type = leaf_memtype(l.entry);
    return EptLeaf{l.addr, l.frame, level_span(l.level), l.rights, type, ignore_pat, l.level, l.entry};
}

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
    if (rights == 0) return false; // not present: EPT violation, not misconfiguration
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
    const bool leaf = Engine::is_leaf(entry, level);
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
    return Engine::visit(root_pa, mem, [&](const Engine::LeafInfo& l) { fn(ctx, make_leaf(l)); }).bad;
}

EptStats ept_stats_raw(u64 root_pa, PageAlloc& mem) {
    EptStats s{};
    if (root_pa == 0) {
        s.bad_entries = 1;
        return s;
    }
    const Engine::VisitCounts c = Engine::visit(root_pa, mem, [&s](const Engine::LeafInfo& l) {
        s.bytes_mapped += level_span(l.level);
        if (l.level == LEVEL_PT)
            ++s.leaves_4k;
        else if (l.level == LEVEL_PD)
            ++s.leaves_2m;
        else
            ++s.leaves_1g;
    });
    s.table_pages = c.tables;
    s.bad_entries = c.bad;
    return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Builder

Status EptEntry::check_range(u64 gpa, u64 size, const char* where) {
    if (gpa >= EPT_GPA_LIMIT || size > EPT_GPA_LIMIT - gpa)
        return Status::error("guest-physical range beyond the 48 bits a 4-level EPT translates", where, gpa, size);
    return Status::success();
}

Status EptTables::map(u64 gpa, u64 hpa, u64 size, EptPerms perms, MemType type, bool allow_2m, bool allow_1g) {
    constexpr const char* WHERE = EptEntry::WHERE.map;
    if (perms.write && !perms.read)
        return Status::error("EPT write access without read access is a misconfiguration", WHERE, gpa);
    if (!perms.read && !perms.write && !perms.exec)
        return Status::error("EPT mapping with no access rights: use unmap", WHERE, gpa);
    if (!ept_memtype_valid(static_cast<u8>(type)))
        return Status::error("reserved EPT memory type", WHERE, static_cast<u8>(type));
    return map_leaves(gpa, hpa, size, leaf_attrs(perms, type), allow_2m, allow_1g);
}

EptTables::WalkResult EptTables::walk(u64 gpa) const {
    WalkResult r{};
    if (gpa >= EPT_GPA_LIMIT) return r;
    const Walk w = walk_entry(gpa);
    r.level = w.level;
    r.entry = w.entry;
    if (!w.present) return r;
    const EptLeaf leaf = make_leaf(Engine::LeafInfo{gpa, w.pa, w.level, w.entry, w.rights});
    r.present = true;
    r.hpa = w.pa;
    r.page_size = leaf.size;
    r.perms = leaf.perms;
    r.mem_type = leaf.mem_type;
    r.ignore_pat = leaf.ignore_pat;
    return r;
}

} // namespace evmm
