#include "vmm/guest/guest.h"

#include <new>

#include "lib/formats/memmap.h"
#include "lib/log.h"
#include "vmm/guest/boot/entry_state.h"
#include "vmm/guest/boot/guest0_boot.h"
#include "vmm/guest/gpa_intercept.h"
#include "vmm/guest/world.h"
#include "vmm/host/ipc.h"
#include "vmm/host/platform.h"

namespace evmm {
namespace {

Guest* g_guests[GUEST_MAX];
u32 g_guest_count = 0;

// An identity-mapped guest: guest-physical == host-physical, minus the hypervisor's runtime region.
class IdentityGuestMem final : public GuestMem {
public:
    IdentityGuestMem(u64 limit, u64 hv_base, u64 hv_size) : limit_(limit), hv_base_(hv_base), hv_size_(hv_size) {}
    u8* map(u64 gpa, u64 len) override {
        if (add_overflows(gpa, len) || gpa + len > limit_ || ranges_overlap(gpa, len, hv_base_, hv_size_))
            return nullptr;
        return reinterpret_cast<u8*>(gpa);
    }

private:
    u64 limit_, hv_base_, hv_size_;
};

// [base, base + len) inside [lo, hi), without wrapping.
bool inside(u64 base, u64 len, u64 lo, u64 hi) { return !add_overflows(base, len) && base >= lo && base + len <= hi; }

} // namespace

u32 guest_count() { return g_guest_count; }
Guest& guest_at(u32 i) { return *g_guests[i < g_guest_count ? i : 0]; }

bool Guest::owns_ram(u64 gpa, u64 len) const {
    if (add_overflows(gpa, len)) return false;
    for (u32 i = 0; i < mmap_count_; ++i) {
        const evmm_mmap_entry_t& e = mmap_[i];
        if (e.type == EVMM_MEM_USABLE && !add_overflows(e.base, e.length) &&
            inside(gpa, len, e.base, e.base + e.length))
            return true;
    }
    return false;
}

bool Guest::phys_readable(u64 gpa, u64 len) const {
    if (!inside(gpa, len, 0, phys_limit_)) return false;
    for (u32 i = 0; i < hole_count_; ++i)
        if (ranges_overlap(gpa, len, holes_[i].base, holes_[i].length)) return false;
    return true;
}

Status Guest::init_memory(PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                          const MemoryMap::Range* exec_only) {
    void* mem = heap.alloc_pages(align_up(sizeof(EptTables), PAGE_SIZE) / PAGE_SIZE);
    if (mem == nullptr) return Status::error("out of heap pages for the EPT root object", "guest");
    ept_ = new (mem) EptTables(heap);
    EVMM_TRY(ept_->init());
    EVMM_TRY(
        gpm_build_identity_ept(*ept_, mtrr, phys_limit_, holes_, hole_count_, gpm_stats_, ept_2m, ept_1g, exec_only));
    // The guest-physical ranges modules handle themselves (stage 3 registrations): only the rights they allow.
    for (u32 i = 0; i < gpa_intercept_count(); ++i) {
        const GpaIntercept& r = gpa_intercept_at(i);
        for (u64 page = r.base; page < r.base + r.size; page += PAGE_4K) {
            const EptTables::WalkResult w = ept_->walk(page);
            if (!w.present) return Status::error("intercepted guest-physical page not mapped", r.owner, page);
            EVMM_TRY(ept_->map(page, page, PAGE_4K,
                               EptPerms{r.allowed.read, r.allowed.write, r.allowed.exec && exec_only == nullptr},
                               w.mem_type, false, false));
        }
        LOG_INFO("stage 4: %s: guest-physical 0x%lx-0x%lx mapped %s%s%s for %s (other accesses handled by %s)", name_,
                 r.base, r.base + r.size, r.allowed.read ? "r" : "-", r.allowed.write ? "w" : "-",
                 r.allowed.exec ? "x" : "-", name_, r.owner);
    }
    eptp_ = ept_make_eptp(ept_->root_pa(), false);
    return Status::success();
}

Status Guest::create_guest0(const evmm_desc_t& d, PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                            Guest*& out) {
    out = nullptr;
    if (g_guest_count == GUEST_MAX) return Status::error("too many guests", "guest", GUEST_MAX);
    void* mem = heap.alloc_pages(align_up(sizeof(Guest), PAGE_SIZE) / PAGE_SIZE);
    if (mem == nullptr) return Status::error("out of heap pages for a guest", "guest");
    Guest& g = *new (mem) Guest();
    g.id_ = g_guest_count;
    g.name_ = "guest0";
    const Platform& p = platform();
    // Memory map: the descriptor's (the firmware's without what the hypervisor keeps).
    for (u32 i = 0; i < d.guest0_mmap_count && i < EVMM_MAX_MMAP; ++i) g.mmap_[i] = d.guest0_mmap[i];
    g.mmap_count_ = d.guest0_mmap_count < EVMM_MAX_MMAP ? d.guest0_mmap_count : EVMM_MAX_MMAP;
    // GPM + EPT: identity map of all memory the guest may address, the runtime region left out. The page the APs
    // started from stays out of the map but is scrubbed and mapped: every AP left it before stage 1 ended, its
    // contents (the loader's AP start data) are none of guest0's business, and OSes read low memory outside their
    // map (Linux does, at boot), which must not fault.
    g.phys_limit_ = p.identity_limit;
    if (p.trampoline_base != 0) __builtin_memset(reinterpret_cast<void*>(p.trampoline_base), 0, PAGE_SIZE);
    // Holes: the runtime region and the device registers the hypervisor keeps (e.g. the IOMMU's, vmm/iommu).
    g.hole_count_ = platform_guest_holes(g.holes_, PLATFORM_MAX_GUEST_HOLES);
    EVMM_TRY(g.init_memory(heap, mtrr, ept_2m, ept_1g));
    // One vCPU per physical CPU, each pinned to its CPU.
    EVMM_TRY(g.init_vcpus(heap, p.num_cpus));
    // Its kernel, loaded by evmm acting as its boot loader (vmm/guest/boot/guest0_boot.h).
    IdentityGuestMem gmem(g.phys_limit_, p.runtime_base, p.runtime_size);
    EVMM_TRY(guest0_boot(d, gmem, g.boot_));
    g_guests[g_guest_count++] = &g;
    out = &g;
    return Status::success();
}

Status Guest::init_vcpus(PageHeap& heap, u32 count) {
    void* vc = heap.alloc_pages(align_up(sizeof(Gcpu) * count, PAGE_SIZE) / PAGE_SIZE);
    if (vc == nullptr) return Status::error("out of heap pages for vCPUs", "guest", count);
    vcpus_ = static_cast<Gcpu*>(vc);
    vcpu_count_ = count;
    for (u32 i = 0; i < count; ++i) {
        Gcpu& v = *new (&vcpus_[i]) Gcpu{};
        v.cpu_id = i;
        v.index = i;
        v.guest = this;
    }
    return Status::success();
}

Status Guest::create_tee(const evmm_desc_t& d, PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                         Guest& guest0, Guest*& out) {
    out = nullptr;
    const Platform& p = platform();
    if (p.tee_size == 0) return Status::error("no TEE in the descriptor", "tee");
    if (g_guest_count == GUEST_MAX) return Status::error("too many guests", "guest", GUEST_MAX);
    void* mem = heap.alloc_pages(align_up(sizeof(Guest), PAGE_SIZE) / PAGE_SIZE);
    if (mem == nullptr) return Status::error("out of heap pages for a guest", "tee");
    Guest& g = *new (mem) Guest();
    g.id_ = g_guest_count;
    g.name_ = "tee";
    g.mmap_[0] = evmm_mmap_entry_t{p.tee_base, p.tee_size, EVMM_MEM_USABLE, 0};
    g.mmap_count_ = 1;
    g.phys_limit_ = p.identity_limit;
    g.hole_count_ = platform_tee_holes(g.holes_, PLATFORM_MAX_GUEST_HOLES);
    const MemoryMap::Range exec{p.tee_base, p.tee_size};
    EVMM_TRY(g.init_memory(heap, mtrr, ept_2m, ept_1g, &exec));
    EVMM_TRY(g.init_vcpus(heap, p.num_cpus));
    for (u32 i = 0; i < p.num_cpus; ++i) {
        EVMM_TRY(world_init(g.vcpus_[i], heap));
        EVMM_TRY(world_init(guest0.vcpu(i), heap));
        world_pair(guest0.vcpu(i), g.vcpus_[i]);
    }
    gcpu_tee_entry_state(g.boot_.entry, d.tee_entry, p.tee_base, p.tee_size, 0);
    g.boot_.kind = "TEE image (ELF64 static PIE)";
    g.boot_.kernel_base = p.tee_base;
    g.boot_.kernel_end = p.tee_base + p.tee_size;
    g_guests[g_guest_count++] = &g;
    out = &g;
    return Status::success();
}

Status Guest::update_page(u64 gpa, u64 hpa, EptPerms perms, const char* where) {
    if (ept_ == nullptr) return Status::error("the guest has no EPT yet", where);
    if (!is_aligned(gpa, PAGE_4K) || !is_aligned(hpa, PAGE_4K))
        return Status::error("page addresses must be 4 KiB aligned", where, gpa, hpa);
    {
        LockGuard guard(ept_lock_);
        const EptTables::WalkResult w = ept_->walk(gpa);
        if (!w.present) return Status::error("guest-physical page not mapped", where, gpa);
        EVMM_TRY(ept_->map(gpa, hpa, PAGE_4K, perms, w.mem_type, false, false));
        EVMM_TRY(slat_update_mirror(eptp_, gpa, hpa, perms));
    }
    slat_invalidate(eptp_);
    const u32 missing = ipc_call_others(slat_invalidate, eptp_);
    if (missing != 0) return Status::error("CPUs did not invalidate the guest's EPT in time", where, missing);
    return Status::success();
}

Status Guest::remap_page(u64 gpa, u64 hpa) { return update_page(gpa, hpa, EptPerms{true, true, true}, "remap_page"); }

Status Guest::set_page_rights(u64 gpa, bool read, bool write, bool exec) {
    return update_page(gpa, gpa, EptPerms{read, write, exec}, "set_page_rights");
}

} // namespace evmm
