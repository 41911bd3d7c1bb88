#include "vmm/svm/npt.h"

#include <new>

#include "arch/x86_64/ept.h"
#include "arch/x86_64/paging.h"
#include "evmm_desc.h"
#include "vmm/guest/gcpu.h"
#include "vmm/guest/guest.h"
#include "vmm/host/percpu.h"
#include "vmm/svm/svm_cr.h"

namespace evmm {
namespace {

PageTables* g_npt; // guest0's nested tables (the only ones with SVM)
PageHeap* g_heap;
u64 g_npt_eptp; // the EPT they mirror
volatile bool g_flush[EVMM_MAX_CPUS];

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

} // namespace

Status npt_build_from_ept(PageHeap& heap, Guest& guest, u64& ncr3) {
    void* mem = heap.alloc_pages(1); // the engine's bookkeeping (guest0's only set in this slice)
    if (mem == nullptr) return Status::error("out of heap pages", "npt");
    PageTables& npt = *new (mem) PageTables(heap);
    EVMM_TRY(npt.init());
    Status s = Status::success();
    if (!mirror(npt, heap, guest.eptp() & epte::ADDR_FIELD, LEVEL_PML4, 0, s)) return s;
    set_user(heap, npt.root_pa(), LEVEL_PML4);
    ncr3 = npt.root_pa();
    g_npt = &npt;
    g_heap = &heap;
    g_npt_eptp = guest.eptp();
    return Status::success();
}

Status npt_update_page(u64 eptp, u64 gpa, u64 hpa, EptPerms perms) {
    if (g_npt == nullptr || eptp != g_npt_eptp) return Status::error("no nested tables mirror this EPT", "npt", eptp);
    if (perms.read)
        EVMM_TRY(g_npt->map(gpa, hpa, PAGE_SIZE, PagePerms{perms.write, true}, false, false));
    else
        EVMM_TRY(g_npt->unmap(gpa, PAGE_SIZE));
    set_user(*g_heap, g_npt->root_pa(), LEVEL_PML4); // a split large leaf's new table (§15.25.5)
    return Status::success();
}

void npt_flush_this_cpu() { g_flush[this_cpu().cpu_id % EVMM_MAX_CPUS] = true; }

void npt_flush_before_vmrun(Gcpu& g) {
    if (!g_flush[g.cpu_id % EVMM_MAX_CPUS]) [[likely]]
        return;
    g_flush[g.cpu_id % EVMM_MAX_CPUS] = false;
    svm_flush_guest_tlb(g);
}

} // namespace evmm
