#include "vmm/svm/npt.h"

#include <new>

#include "arch/x86_64/ept.h"
#include "arch/x86_64/paging.h"
#include "vmm/guest/guest.h"

namespace evmm {
namespace {

// Each readable EPT leaf (SDM Vol. 3C §29.3.2: R in bit 0, W in bit 1, a leaf at level 1 or with bit 7) mapped
// alike; non-present and execute-only entries stay out.
bool mirror(PageTables& npt, PageHeap& heap, u64 table_pa, int level, u64 base, Status& s) {
    const auto* t = static_cast<const u64*>(heap.phys_to_virt(table_pa));
    for (u32 i = 0; i < 512; ++i) {
        const u64 e = t[i];
        const u64 gpa = base + u64{i} * level_span(level);
        if ((e & (epte::R | epte::W | epte::X)) == 0) continue;
        if (level > LEVEL_PT && (e & epte::LARGE) == 0) {
            if (!mirror(npt, heap, e & epte::ADDR_FIELD, level - 1, gpa, s)) return false;
        } else if (e & epte::R) {
            const u64 size = level_span(level);
            s = npt.map(gpa, e & epte::ADDR_FIELD & ~(size - 1), size, PagePerms{(e & epte::W) != 0, true}, true, true);
            if (!s.ok()) return false;
        }
    }
    return true;
}

// §15.25.5: U/S = 1 at every level (the engine's non-leaf entries and PagePerms leaves are supervisor ones).
void set_user(PageHeap& heap, u64 table_pa, int level) {
    auto* t = static_cast<u64*>(heap.phys_to_virt(table_pa));
    for (u32 i = 0; i < 512; ++i) {
        if ((t[i] & pte::P) == 0) continue;
        t[i] |= pte::US;
        if (level > LEVEL_PT && (t[i] & pte::PS) == 0) set_user(heap, t[i] & pte::ADDR_4K, level - 1);
    }
}

// The nested tables of each guest that has them (guest0 in this slice), by the guest's EPTP.
struct NptOf {
    u64 eptp;
    PageTables* npt;
};
constexpr u32 MAX_NPT_GUESTS = 2;
NptOf g_npts[MAX_NPT_GUESTS];
PageHeap* g_heap = nullptr;

} // namespace

Status npt_update_page(Guest& guest, u64 gpa, u64 hpa, bool read, bool write, bool exec) {
    PageTables* npt = nullptr;
    for (const NptOf& n : g_npts)
        if (n.npt != nullptr && n.eptp == guest.eptp()) npt = n.npt;
    if (npt == nullptr || g_heap == nullptr)
        return Status::error("the guest has no nested page tables", "npt_update_page", gpa);
    if (read)
        EVMM_TRY(npt->map(gpa, hpa, PAGE_4K, PagePerms{write, exec}, false, false));
    else
        EVMM_TRY(npt->unmap(gpa, PAGE_4K));
    set_user(*g_heap, npt->root_pa(), LEVEL_PML4); // the new tables of a split, and the new leaf
    return Status::success();
}

Status npt_build_from_ept(PageHeap& heap, Guest& guest, u64& ncr3) {
    void* mem = heap.alloc_pages(1); // the engine's bookkeeping (guest0's only set in this slice)
    if (mem == nullptr) return Status::error("out of heap pages", "npt");
    PageTables& npt = *new (mem) PageTables(heap);
    EVMM_TRY(npt.init());
    Status s = Status::success();
    if (!mirror(npt, heap, guest.eptp() & epte::ADDR_FIELD, LEVEL_PML4, 0, s)) return s;
    set_user(heap, npt.root_pa(), LEVEL_PML4);
    ncr3 = npt.root_pa();
    g_heap = &heap;
    for (NptOf& n : g_npts) {
        if (n.npt != nullptr) continue;
        n = NptOf{guest.eptp(), &npt};
        return Status::success();
    }
    return Status::error("more guests with nested page tables than npt.cpp keeps", "npt", MAX_NPT_GUESTS);
}

} // namespace evmm
