// Host memory manager: the VMM's own 4-level page tables.
//
//  - all physical memory (at least the first 4 GiB, up to top_of_memory) identity mapped RW+NX, with 1 GiB pages
//    where the CPU has them, else 2 MiB;
//  - the runtime region remapped with 4 KiB pages and W^X: VMM text RX, rodata and relocated read-only data R,
//    data/bss/heap/stacks RW+NX, stack guard pages not present;
//  - MTRRs read out (memory types for EPT later) and a page walker over the live tables.
#pragma once

#include "arch/x86_64/mtrr.h"
#include "arch/x86_64/paging.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "vmm/host/heap.h"

namespace evmm {

struct HmmInfo {
    u64 identity_limit; // identity map covers [0, identity_limit)
    bool used_1g_pages;
    u64 cr3;
};

Status hmm_setup(const evmm_desc_t& desc, PageHeap& heap, HmmInfo& info);
// Loads the tables on this CPU: EFER.NXE, CR0.WP, then CR3.
void hmm_enable();
PageTables& hmm_tables();
const MtrrState& hmm_mtrrs();

} // namespace evmm
