// A guest: one object per virtual machine, owning its memory map (GPM), its second-level tables, its vCPUs and its
// id. guest0 is one instance, created in stage 4 from the boot modules (its kernel loaded by evmm acting as its
// boot loader: a Multiboot2 kernel, a Linux bzImage with the "initrd" module, or a Multiboot1 kernel, told apart by
// their headers). A second guest (the secure world) is another instance: no new globals, and the modules reach
// whichever guest a vCPU belongs to through Gcpu::guest.
#pragma once

#include "arch/x86_64/ept.h"
#include "arch/x86_64/mtrr.h"
#include "evmm/gcpu_state.h"
#include "evmm/physmem.h"
#include "evmm/spinlock.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "vmm/guest/boot/guest0_boot.h"
#include "vmm/guest/gcpu.h"
#include "vmm/guest/gpm.h"
#include "vmm/host/heap.h"
#include "vmm/host/platform.h"

namespace evmm {

inline constexpr u32 GUEST_MAX = 4;

class Guest {
public:
    u32 id() const { return id_; }
    const char* name() const { return name_; }
    // guest0: the OS that owns the platform (its devices, ACPI, the CPUs' start-up through INIT/SIPI). Other
    // guests (the secure world) own none of it.
    bool owns_platform() const { return id_ == 0; }

    // --- memory: guest-physical == host-physical (identity), minus what the hypervisor keeps -------------------
    // [gpa, gpa + len) lies inside one usable RAM range of the guest's memory map: the guest owns it and the
    // hypervisor may read and write it on the guest's behalf.
    bool owns_ram(u64 gpa, u64 len) const;
    // [gpa, gpa + len) is inside the guest's physical address space and mapped to it: readable without faulting
    // (for structures the processor itself reads from any guest-physical memory: PAE PDPTEs, page tables).
    bool phys_readable(u64 gpa, u64 len) const;
    // While vCPUs run (any CPU): guest-physical page gpa now maps host-physical page hpa (4 KiB aligned; hpa == gpa
    // restores the identity), RWX with gpa's memory type. Serialized; afterwards every CPU invalidates the
    // mappings derived from this guest's tables (INVEPT here and, through vmm/host/ipc.h, on the others: SDM
    // Vol. 3C §29.4.3.4). The caller checks that both pages are the guest's RAM.
    Status remap_page(u64 gpa, u64 hpa);
    // While vCPUs run: the guest may access its page gpa (identity mapped) only as `perms` says; invalidated on every
    // CPU like remap_page. For a guest-physical intercept added at run time (vmm/guest/gpa_intercept.h).
    Status set_page_rights(u64 gpa, bool read, bool write, bool exec);

    const evmm_mmap_entry_t* memory_map() const { return mmap_; }
    u32 memory_map_count() const { return mmap_count_; }
    u64 phys_limit() const { return phys_limit_; }
    u64 eptp() const { return eptp_; }
    const GpmStats& gpm_stats() const { return gpm_stats_; }
    const GuestBoot& boot() const { return boot_; }
    // The holes of its address space: what the hypervisor keeps (runtime region, hidden device registers), never
    // mapped by its second-level tables (nor by a DMA domain that mirrors them).
    const MemoryMap::Range* holes() const { return holes_; }
    u32 hole_count() const { return hole_count_; }

    // --- vCPUs -------------------------------------------------------------------------------------------------
    u32 vcpu_count() const { return vcpu_count_; }
    Gcpu& vcpu(u32 i) { return vcpus_[i < vcpu_count_ ? i : 0]; }

    // guest0 from the boot modules (BSP, stage 4): memory map from the descriptor, identity EPT without the
    // hypervisor's memory, the guest-physical intercepts registered in stage 3, the kernel of the "guest0" module.
    // Errors say what is wrong with guest0's image.
    static Status create_guest0(const evmm_desc_t& d, PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                                Guest*& out);
    // The secure world (BSP, stage 4, after guest0; docs/tee.md): memory map = its range; EPT = the identity space
    // without the runtime region, the hidden device ranges and the barriers, executable only inside its range; one
    // vCPU per CPU whose entry state is include/evmm_tee.h's (boot().entry: the BSP's); per-world state for its
    // vCPUs and guest0's (vmm/guest/world.h).
    static Status create_tee(const evmm_desc_t& d, PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                             Guest& guest0, Guest*& out);

private:
    Status update_page(u64 gpa, u64 hpa, EptPerms perms, const char* where);
    Status init_memory(PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                       const MemoryMap::Range* exec_only = nullptr);
    Status init_vcpus(PageHeap& heap, u32 count);

    u32 id_ = 0;
    const char* name_ = "";
    evmm_mmap_entry_t mmap_[EVMM_MAX_MMAP] = {};
    u32 mmap_count_ = 0;
    u64 phys_limit_ = 0;
    EptTables* ept_ = nullptr;
    u64 eptp_ = 0;
    GpmStats gpm_stats_ = {};
    MemoryMap::Range holes_[PLATFORM_MAX_GUEST_HOLES] = {};
    u32 hole_count_ = 0;
    SpinLock ept_lock_;
    GuestBoot boot_ = {};
    Gcpu* vcpus_ = nullptr;
    u32 vcpu_count_ = 0;
};

// A guest's physical memory as evmm reads it on the guest's behalf (its page walks, the instructions it emulates):
// identity mapped (gpa == VMM virtual), only where Guest::phys_readable says so.
class GuestPhys final : public PhysMem {
public:
    explicit GuestPhys(const Guest& g) : guest_(g) {}
    const void* map(u64 pa, size_t len) const override {
        return guest_.phys_readable(pa, len) ? reinterpret_cast<const void*>(pa) : nullptr;
    }

private:
    const Guest& guest_;
};

// Implemented by the backend: this CPU forgets what it cached from the second-level tables behind `root` (VT-x: the
// EPTP; INVEPT, SDM Vol. 3C §29.4.3.1).
void slat_invalidate(u64 root);
// Implemented by the backend: a 4 KiB page of `root`'s EPT changed at run time (Guest::update_page, under its lock);
// a backend whose second-level tables are not the EPT itself (SVM's nested tables, their mirror) changes them alike.
Status slat_update_mirror(u64 root, u64 gpa, u64 hpa, EptPerms perms);

u32 guest_count();
Guest& guest_at(u32 i);

} // namespace evmm
