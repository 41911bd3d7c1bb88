// AMD nested page tables (APM Vol. 2 §15.25 "Nested Paging"): the ordinary long-mode entry format (Ia32ePte, the
// page-table engine's PageTables of arch/x86_64/paging.h), with U/S set in every entry because the CPU treats every
// guest access as a user access in the nested walk (§15.25.5). Built as the mirror of a guest's EPT: the same
// memory map, holes (evmm's runtime region) and guest-physical intercepts (absent pages: nested page faults).
#pragma once

#include "arch/x86_64/ept.h"
#include "evmm/status.h"
#include "vmm/host/heap.h"

namespace evmm {

class Guest;
struct Gcpu;

// Every leaf of guest's EPT (its eptp()) as a nested-page-table leaf of the same size and rights: out = nCR3.
Status npt_build_from_ept(PageHeap& heap, Guest& guest, u64& ncr3);
// A run-time change of one 4 KiB page of the EPT at `eptp` (Guest::update_page): the nested tables follow (readable:
// mapped to hpa, writable as asked; not readable: absent). Then every CPU flushes (slat_invalidate).
Status npt_update_page(u64 eptp, u64 gpa, u64 hpa, EptPerms perms);
// slat_invalidate on SVM: this CPU's next VMRUN flushes the guest's TLB (nested translations included, §15.16.1).
void npt_flush_this_cpu();
// At the end of an exit (GIF clear): the flush npt_flush_this_cpu asked for, into g's VMCB.
void npt_flush_before_vmrun(Gcpu& g);

} // namespace evmm
