#include "vmm/svm/npt.h"

#include <new>

#include "arch/x86_64/ept.h"
#include "arch/x86_64/paging.h"
#include "vmm/guest/guest.h"

namespace evmm {
namespace {

struct Mirror {
    PageTables* npt;
    Status status;
};

void mirror_leaf(void* ctx, const EptLeaf& l) {
    auto& m = *static_cast<Mirror*>(ctx);
    if (!m.status.ok() || !l.perms.read) return;
    m.status = m.npt->map(l.gpa, l.hpa, l.size, PagePerms{l.perms.write, true}, true, true);
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

} // namespace

Status npt_build_from_ept(PageHeap& heap, Guest& guest, u64& ncr3) {
    void* mem = heap.alloc_pages(1); // the engine's bookkeeping (guest0's only set in this slice)
    if (mem == nullptr) return Status::error("out of heap pages", "npt");
    Mirror m{new (mem) PageTables(heap), Status::success()};
    EVMM_TRY(m.npt->init());
    ept_visit_leaves(guest.eptp() & epte::ADDR_FIELD, heap, mirror_leaf, &m);
    EVMM_TRY(m.status);
    set_user(heap, m.npt->root_pa(), LEVEL_PML4);
    ncr3 = m.npt->root_pa();
    return Status::success();
}

} // namespace evmm
