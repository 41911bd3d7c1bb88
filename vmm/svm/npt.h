// AMD nested page tables (APM Vol. 2 §15.25 "Nested Paging"): the ordinary long-mode entry format (Ia32ePte, the
// page-table engine's PageTables of arch/x86_64/paging.h), with U/S set in every entry because the CPU treats every
// guest access as a user access in the nested walk (§15.25.5). Built as the mirror of a guest's EPT: the same
// memory map, holes (evmm's runtime region) and guest-physical intercepts (absent pages: nested page faults).
#pragma once

#include "evmm/status.h"
#include "vmm/host/heap.h"

namespace evmm {

class Guest;

// Every leaf of guest's EPT (its eptp()) as a nested-page-table leaf of the same size and rights: out = nCR3.
// The tables stay the guest's (npt_update_page changes them).
Status npt_build_from_ept(PageHeap& heap, Guest& guest, u64& ncr3);

// A run-time change of one 4 KiB page of guest's EPT (Guest::update_page: the APIC page moved, a page's rights),
// mirrored: not readable -> not present (a nested page fault), else mapped to hpa with write / execute as given
// (a large leaf around it is split). The caller holds the guest's EPT lock and invalidates (slat_invalidate).
Status npt_update_page(Guest& guest, u64 gpa, u64 hpa, bool read, bool write, bool exec);

} // namespace evmm
