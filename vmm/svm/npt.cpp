#include "vmm/svm/npt.h"

#include <new>

#include "arch/x86_64/ept.h"
#include "arch/x86_64/paging.h"
#include "evmm_desc.h"
#include "vmm/guest/gcpu.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/world.h"
#include "vmm/host/percpu.h"
#include "vmm/svm/svm_cr.h"

namespace evmm {
namespace {

// One set of nested tables per guest (guest0's and the TEE's, docs/tee.md), each the mirror of that guest's EPT.
constexpr u32 NPT_MAX = 2;
struct Npt {
    PageTables* tables;
    u64 eptp; // the EPT they mirror
};
Npt g_npts[NPT_MAX];
u32 g_npt_count;
PageHeap* g_heap;
// Per CPU: which worlds' next VMRUN flushes their ASID's translations (bit 0: guest0's vCPU, bit 1: the TEE's; each
// world has its own ASID on a CPU, vmm/svm/vmcb_setup.cpp).
constexpr u8 FLUSH_GUEST0 = 1, FLUSH_EVERY_WORLD = 3;
volatile u8 g_flush[EVMM_MAX_CPUS];

u8 world_bit(const Gcpu& g) { return g.world != nullptr && !g.world->normal ? 2 : FLUSH_GUEST0; }

// Each readable EPT leaf (SDM Vol. 3C §29.3.2: R in bit 0, W in bit 1, X in bit 2, a leaf at level 1 or with bit 7)
// mapped alike, without X with NX (APM Vol. 2 §15.25.5: the nested walk honours NX under the host's EFER.NXE, which
// evmm sets; the TEE's view of guest0's memory is rw-); non-present and execute-only entries stay out.
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
            s = npt.map(gpa, e & epte::ADDR_FIELD & ~(size - 1), size,
                        PagePerms{(e & epte::W) != 0, (e & epte::X) != 0}, true, true);
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
    if (g_npt_count == NPT_MAX) return Status::error("too many nested page tables", "npt", NPT_MAX);
    void* mem = heap.alloc_pages(1); // the engine's bookkeeping
    if (mem == nullptr) return Status::error("out of heap pages", "npt");
    PageTables& npt = *new (mem) PageTables(heap);
    EVMM_TRY(npt.init());
    Status s = Status::success();
    if (!mirror(npt, heap, guest.eptp() & epte::ADDR_FIELD, LEVEL_PML4, 0, s)) return s;
    set_user(heap, npt.root_pa(), LEVEL_PML4);
    ncr3 = npt.root_pa();
    g_npts[g_npt_count++] = Npt{&npt, guest.eptp()};
    g_heap = &heap;
    return Status::success();
}

Status npt_update_page(u64 eptp, u64 gpa, u64 hpa, EptPerms perms) {
    PageTables* npt = nullptr;
    for (u32 i = 0; i < g_npt_count; ++i)
        if (g_npts[i].eptp == eptp) npt = g_npts[i].tables;
    if (npt == nullptr) return Status::error("no nested tables mirror this EPT", "npt", eptp);
    if (perms.read)
        EVMM_TRY(npt->map(gpa, hpa, PAGE_SIZE, PagePerms{perms.write, perms.exec}, false, false));
    else
        EVMM_TRY(npt->unmap(gpa, PAGE_SIZE));
    set_user(*g_heap, npt->root_pa(), LEVEL_PML4); // a split large leaf's new table (§15.25.5)
    return Status::success();
}

// Every world's vCPU of this CPU (guest0's only without a TEE, so the flag clears at its next VMRUN).
void npt_flush_this_cpu() {
    g_flush[this_cpu().cpu_id % EVMM_MAX_CPUS] = g_npt_count > 1 ? FLUSH_EVERY_WORLD : FLUSH_GUEST0;
}

void npt_flush_before_vmrun(Gcpu& g) {
    volatile u8& f = g_flush[g.cpu_id % EVMM_MAX_CPUS];
    if (f == 0) [[likely]] // no flush asked for on this CPU: one test on every exit, as with one world (P1)
        return;
    const u8 bit = world_bit(g);
    if ((f & bit) == 0) return;
    f = static_cast<u8>(f & ~bit);
    svm_flush_guest_tlb(g);
}

} // namespace evmm
