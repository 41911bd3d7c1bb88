// x86-64 4-level paging builder and walker (Intel SDM Vol. 3A §4.5) over the page-table engine
// (arch/x86_64/page_table.h). See paging.h for the conventions.
#include "arch/x86_64/paging.h"

namespace evmm {

template class PageTable<Ia32ePte>;

namespace {

using Engine = PageTable<Ia32ePte>;

// Leaf attributes (normalized, Ia32ePte) for perms: supervisor, not global, PAT 0, A/D preset (§4.8).
constexpr u64 leaf_attrs(PagePerms perms) {
    u64 bits = pte::P | pte::A | pte::D;
    if (perms.write) bits |= pte::RW;
    if (!perms.exec) bits |= pte::XD;
    if (perms.cache == CacheType::UC) bits |= pte::PCD | pte::PWT;
    return bits;
}

// WB when PCD, PWT and the PAT bit of the level are all 0 (PAT entry 0 with the power-up PAT, §11.12.3).
constexpr CacheType decode_cache(u64 e, int level) {
    constexpr u64 CACHE_BITS = pte::PCD | pte::PWT | pte::PAT_4K;
    return (Ia32ePte::attrs(e, level) & CACHE_BITS) == 0 ? CacheType::WB : CacheType::UC;
}

} // namespace

u64 visit_leaves(u64 root_pa, PageAlloc& mem, LeafVisitor fn, void* ctx) {
    if (root_pa == 0 || fn == nullptr) return 1;
    return Engine::visit(root_pa, mem,
                         [&](const Engine::LeafInfo& l) {
                             fn(ctx, Leaf{sign_extend_va(l.addr), l.frame, level_span(l.level), l.rights.write,
                                          l.rights.exec, decode_cache(l.entry, l.level), l.level, l.entry});
                         })
        .bad;
}

Status Ia32ePte::check_range(u64 va, u64 size, const char* where) {
    if (!is_canonical(va)) return Status::error("non-canonical virtual address", where, va);
    if (size == 0) return Status::success();
    if (add_overflows(va, size - 1)) return Status::error("virtual range wraps", where, va, size);
    const u64 last = va + size - 1;
    if (!is_canonical(last) || (va >> (VA_BITS - 1)) != (last >> (VA_BITS - 1)))
        return Status::error("virtual range not canonical", where, va, size);
    return Status::success();
}

Status PageTables::map(u64 va, u64 pa, u64 size, PagePerms perms, bool allow_2m, bool allow_1g) {
    return map_leaves(va, pa, size, leaf_attrs(perms), allow_2m, allow_1g);
}

PageTables::WalkResult PageTables::walk(u64 va) const {
    WalkResult r{};
    if (!is_canonical(va)) return r;
    const Walk w = walk_entry(va);
    r.level = w.level;
    r.entry = w.entry;
    if (!w.present) return r;
    r.present = true;
    r.pa = w.pa;
    r.page_size = w.size;
    r.write = w.rights.write;
    r.exec = w.rights.exec;
    r.cache = decode_cache(w.entry, w.level);
    return r;
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
