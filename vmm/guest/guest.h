// Stage 4 (create guest): guest0's physical memory (GPM) as an identity EPT without the hypervisor's region, and
// guest0's kernel loaded from its module by evmm acting as its boot loader: a Multiboot2 kernel, a Linux bzImage
// (with the module of role "initrd") or a Multiboot1 kernel, told apart by their headers.
#pragma once

#include "arch/x86_64/mtrr.h"
#include "evmm/status.h"
#include "evmm/gcpu_state.h"
#include "evmm_desc.h"
#include "vmm/guest/gpm.h"
#include "vmm/host/heap.h"

namespace evmm {

struct Guest0 {
    u64 eptp;
    EptTables* ept;      // guest0's EPT (modules adjust single pages at stage 4, before any gcpu runs)
    u64 ept_limit;       // guest-physical [0, ept_limit) is mapped, but for the hypervisor's region
    GpmStats ept_stats;
    evmm_gcpu_state_t entry;  // the BSP gcpu's first state: Multiboot2 i386 machine state
    u64 info_gpa, info_size;
    u64 kernel_base, kernel_end;
    u64 initrd_base, initrd_size;  // Linux only
    const char* kind;              // "Multiboot2 kernel", "Linux bzImage", "Multiboot1 kernel"
};

// BSP only. Errors say what is wrong with guest0's image (no guest0 module, no Multiboot2 header, a segment over
// the hypervisor or a module, ...).
Status guest0_create(const evmm_desc_t& d, PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                     Guest0& out);

// While gcpus run (any CPU): guest-physical page gpa now maps host-physical page hpa (4 KiB aligned; hpa == gpa
// restores the identity), RWX with gpa's memory type. Serialized by a lock; afterwards every CPU invalidates the
// mappings derived from guest0's EPT (INVEPT here, and on the others through vmm/host/ipc.h), so no CPU keeps using the
// old frame (SDM Vol. 3C §29.4.3.4). The caller checks that both pages are guest0's RAM.
Status guest0_ept_remap_page(u64 gpa, u64 hpa);

} // namespace evmm
