#include "vmm/guest/guest.h"

#include <new>

#include "lib/format.h"
#include "lib/formats/acpi.h"
#include "lib/formats/memmap.h"
#include "lib/log.h"
#include "lib/string.h"
#include "vmm/guest/boot/kernel_image.h"
#include "vmm/guest/boot/linux_bzimage.h"
#include "vmm/guest/boot/multiboot1_guest.h"
#include "vmm/guest/boot/multiboot2_guest.h"
#include "vmm/guest/gpa_intercept.h"
#include "vmm/host/ipc.h"
#include "vmm/host/platform.h"

namespace evmm {
namespace {

Guest* g_guests[GUEST_MAX];
u32 g_guest_count = 0;
evmm_mmap_entry_t g_map_storage[EVMM_MAX_MMAP];  // stage 4 scratch (BSP only)
char g_names[EVMM_MAX_BOOT_MODULES][40];

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

// The Linux x86 boot protocol (vmm/guest/boot/linux_bzimage.h): kernel, initrd (the first module with role
// "initrd"), command line (guest0's ARGS), zero page with guest0's e820 map and the RSDP; the 64-bit entry (boot
// page tables and GDT written by linux_load) when the kernel has XLF_KERNEL_64, else the 32-bit entry.
Status load_linux(const evmm_desc_t& d, const u8* image, const evmm_boot_module_t& m, const MemoryMap& map,
                  MemoryMap::Range* avoid, u32 na, const u8* rsdp, u32 rsdp_len, GuestMem& mem, GuestBoot& out) {
    constexpr u64 MB2_INFO_GUARD = 16 * KiB;  // GRUB's Multiboot2 information (its RSDP copy is handed to Linux)
    LinuxImage li;
    EVMM_TRY(linux_inspect(image, m.size, li));
    const evmm_boot_module_t* initrd = nullptr;
    for (u32 i = 0; i < d.boot_module_count && initrd == nullptr; ++i)
        if (str_eq(d.boot_modules[i].role, str_len(d.boot_modules[i].role, EVMM_ROLE_MAX), "initrd")) initrd = &d.boot_modules[i];
    if (d.mb2_info != 0) avoid[na++] = {d.mb2_info, MB2_INFO_GUARD};
    const size_t cmdline_len = str_len(m.cmdline, EVMM_BOOT_MODULE_CMDLINE_MAX);
    static LinuxPlan plan;
    EVMM_TRY(linux_plan(li, map, avoid, na, initrd ? initrd->size : 0, cmdline_len, plan));
    EVMM_TRY(linux_load(image, m.size, li, plan, mem, initrd ? reinterpret_cast<const u8*>(initrd->start) : nullptr,
                        initrd ? initrd->size : 0, m.cmdline, cmdline_len, d.guest0_mmap, d.guest0_mmap_count,
                        rsdp_len ? rsdp : nullptr, d.acpi_rsdp));
    const bool entry64 = plan.entry64 != 0;
    if (entry64) linux_entry_state_64(out.entry, plan.entry64, plan.zero_page, plan.boot_tables);
    else linux_entry_state_32(out.entry, plan.code32_start, static_cast<u32>(plan.zero_page));
    out.kernel_base = plan.kernel_addr;
    out.kernel_end = plan.kernel_addr + plan.kernel_reserve;
    out.info_gpa = plan.zero_page;
    out.info_size = PAGE_SIZE;
    out.initrd_base = plan.initrd_addr;
    out.initrd_size = plan.initrd_size;
    LOG_INFO("guest0: Linux boot protocol %u.%02u, %s entry 0x%lx, kernel at 0x%lx%s, initrd %s0x%lx (%lu bytes), "
             "zero page 0x%lx",
             li.version >> 8, li.version & 0xFF, entry64 ? "64-bit" : "32-bit", out.entry.rip, plan.kernel_addr,
             plan.relocated ? " (relocated)" : "", initrd ? "" : "none ", plan.initrd_addr, plan.initrd_size,
             plan.zero_page);
    if (entry64)
        LOG_DEBUG("guest0: Linux boot page tables (identity map 0-4 GiB, 2 MiB pages) and GDT at 0x%lx-0x%lx",
                  plan.boot_tables, plan.boot_tables + LINUX_BOOT_TABLES_SIZE);
    return Status::success();
}

} // namespace

u32 guest_count() { return g_guest_count; }
Guest& guest_at(u32 i) { return *g_guests[i < g_guest_count ? i : 0]; }

bool Guest::owns_ram(u64 gpa, u64 len) const {
    if (add_overflows(gpa, len)) return false;
    for (u32 i = 0; i < mmap_count_; ++i) {
        const evmm_mmap_entry_t& e = mmap_[i];
        if (e.type == EVMM_MEM_USABLE && !add_overflows(e.base, e.length) && inside(gpa, len, e.base, e.base + e.length))
            return true;
    }
    return false;
}

bool Guest::phys_readable(u64 gpa, u64 len) const {
    const Platform& p = platform();
    return inside(gpa, len, 0, phys_limit_) && !ranges_overlap(gpa, len, p.runtime_base, p.runtime_size);
}

Status Guest::init_memory(PageHeap& heap, const MtrrState& mtrr, const u64* holes, u32 nholes, bool ept_2m,
                          bool ept_1g) {
    void* mem = heap.alloc_pages(align_up(sizeof(EptTables), PAGE_SIZE) / PAGE_SIZE);
    if (mem == nullptr) return Status::error("out of heap pages for the EPT root object", "guest");
    ept_ = new (mem) EptTables(heap);
    EVMM_TRY(ept_->init());
    MemoryMap::Range ranges[4];
    if (nholes > 4) return Status::error("too many holes", "guest", nholes);
    for (u32 i = 0; i < nholes; ++i) ranges[i] = {holes[2 * i], holes[2 * i + 1]};
    EVMM_TRY(gpm_build_identity_ept(*ept_, mtrr, phys_limit_, ranges, nholes, gpm_stats_, ept_2m, ept_1g));
    // The guest-physical ranges modules handle themselves (stage 3 registrations): only the rights they allow.
    for (u32 i = 0; i < gpa_intercept_count(); ++i) {
        const GpaIntercept& r = gpa_intercept_at(i);
        for (u64 page = r.base; page < r.base + r.size; page += PAGE_4K) {
            const EptTables::WalkResult w = ept_->walk(page);
            if (!w.present) return Status::error("intercepted guest-physical page not mapped", r.owner, page);
            EVMM_TRY(ept_->map(page, page, PAGE_4K, EptPerms{r.allowed.read, r.allowed.write, r.allowed.exec},
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
    const u64 holes[] = {p.runtime_base, p.runtime_size};
    EVMM_TRY(g.init_memory(heap, mtrr, holes, 1, ept_2m, ept_1g));
    // One vCPU per physical CPU, each pinned to its CPU.
    void* vc = heap.alloc_pages(align_up(sizeof(Gcpu) * p.num_cpus, PAGE_SIZE) / PAGE_SIZE);
    if (vc == nullptr) return Status::error("out of heap pages for vCPUs", "guest", p.num_cpus);
    g.vcpus_ = static_cast<Gcpu*>(vc);
    g.vcpu_count_ = p.num_cpus;
    for (u32 i = 0; i < p.num_cpus; ++i) {
        Gcpu& v = *new (&g.vcpus_[i]) Gcpu{};
        v.cpu_id = i;
        v.index = i;
        v.guest = &g;
    }
    EVMM_TRY(g.load_guest0_kernel(d));
    g_guests[g_guest_count++] = &g;
    out = &g;
    return Status::success();
}

Status Guest::load_guest0_kernel(const evmm_desc_t& d) {
    // guest0's kernel: the image says what it is (a Multiboot2 header, a Linux setup header, a Multiboot1
    // header, in that order), and evmm boots it the way the matching boot loader would.
    if (d.guest0_boot_module == UINT32_MAX)
        return Status::error("no guest0 module (GRUB: module2 FILE guest0 ARGS...): nothing to run", "guest0");
    const evmm_boot_module_t& m = d.boot_modules[d.guest0_boot_module];
    const u8* image = reinterpret_cast<const u8*>(m.start);

    MemoryMap map(g_map_storage, EVMM_MAX_MMAP);
    for (u32 i = 0; i < d.guest0_mmap_count; ++i)
        EVMM_TRY(map.add(d.guest0_mmap[i].base, d.guest0_mmap[i].length, d.guest0_mmap[i].type));

    // The RSDP copy GRUB gave us may lie where the kernel goes: keep the bytes first.
    u8 rsdp[ACPI_RSDP_V2_SIZE] = {};
    u32 rsdp_len = 0;
    if (d.acpi_rsdp != 0) {
        __builtin_memcpy(rsdp, reinterpret_cast<const void*>(d.acpi_rsdp), ACPI_RSDP_V1_SIZE);
        const auto* r = reinterpret_cast<const AcpiRsdp*>(rsdp);
        rsdp_len = r->revision >= ACPI_RSDP_REVISION_2 ? ACPI_RSDP_V2_SIZE : ACPI_RSDP_V1_SIZE;
        if (rsdp_len == ACPI_RSDP_V2_SIZE)
            __builtin_memcpy(rsdp, reinterpret_cast<const void*>(d.acpi_rsdp), ACPI_RSDP_V2_SIZE);
    }

    NamedRange forbidden[EVMM_MAX_BOOT_MODULES + 2];
    u32 nf = 0;
    forbidden[nf++] = {d.runtime_base, d.runtime_size, "the hypervisor (evmm runtime region)"};
    if (d.trampoline_base != 0) forbidden[nf++] = {d.trampoline_base, PAGE_SIZE, "the hypervisor (AP start page)"};
    MemoryMap::Range avoid[EVMM_MAX_BOOT_MODULES + 2];
    u32 na = 0;
    for (u32 i = 0; i < d.boot_module_count; ++i) {
        format(g_names[i], sizeof g_names[i], "module %u (%s)", i, d.boot_modules[i].role);
        forbidden[nf++] = {d.boot_modules[i].start, d.boot_modules[i].size, g_names[i]};
        avoid[na++] = {d.boot_modules[i].start, d.boot_modules[i].size};
    }
    IdentityGuestMem mem(phys_limit_, d.runtime_base, d.runtime_size);

    Mb2KernelHeader hdr;
    const Status mb2 = mb2_kernel_find_header(image, m.size, hdr);
    if (!mb2.ok() && linux_is_bzimage(image, m.size)) {
        boot_.kind = "Linux bzImage";
        return load_linux(d, image, m, map, avoid, na, rsdp, rsdp_len, mem, boot_);
    }
    Mb1Header mb1;
    const bool is_mb1 = !mb2.ok() && mb1_find_header(image, m.size, mb1).ok();
    if (!mb2.ok() && !is_mb1) return mb2;  // none of the three: the Multiboot2 error says what is missing

    KernelPlan plan;
    if (is_mb1) EVMM_TRY(mb1_plan(image, m.size, mb1, plan));
    else EVMM_TRY(mb2_kernel_plan(image, m.size, hdr, plan));
    boot_.kind = is_mb1 ? "Multiboot1 kernel" : "Multiboot2 kernel";
    static KernelLoadDiag diag;
    const Status ls = kernel_load(image, m.size, plan, mem, map, forbidden, nf, &diag);
    if (!ls.ok()) {
        if (diag.message[0] != '\0') LOG_ERROR("guest0: %s", diag.message);
        return ls;
    }
    boot_.kernel_base = plan.span_base;
    boot_.kernel_end = plan.span_end;
    avoid[na++] = {plan.span_base, plan.span_end - plan.span_base};

    // Its boot information and its entry state.
    BootInfoInputs in;
    boot_info_inputs_from_desc(d, in);
    if (rsdp_len != 0) {
        in.rsdp = rsdp;
        in.rsdp_len = rsdp_len;
    }
    u64 written = 0;
    if (is_mb1) {
        mb1_info_inputs_apply_kernel(mb1, in);
        EVMM_TRY(mb1_info_size(in, boot_.info_size));
        EVMM_TRY(choose_info_gpa(map, boot_.info_size, avoid, na, boot_.info_gpa));
        EVMM_TRY(mb1_build_info(in, mem, boot_.info_gpa, boot_.info_size, written));
        mb1_entry_state(boot_.entry, plan.entry, static_cast<u32>(boot_.info_gpa));
    } else {
        mb2_info_inputs_apply_kernel(hdr, plan, in);
        EVMM_TRY(mb2_guest_info_size(in, boot_.info_size));
        EVMM_TRY(choose_info_gpa(map, boot_.info_size, avoid, na, boot_.info_gpa));
        EVMM_TRY(mb2_build_guest_info(in, mem, boot_.info_gpa, boot_.info_size, written));
        mb2_guest_entry_state(boot_.entry, plan.entry, static_cast<u32>(boot_.info_gpa));
    }
    return Status::success();
}

Status Guest::remap_page(u64 gpa, u64 hpa) {
    if (ept_ == nullptr) return Status::error("the guest has no EPT yet", "remap_page");
    if (!is_aligned(gpa, PAGE_4K) || !is_aligned(hpa, PAGE_4K))
        return Status::error("page addresses must be 4 KiB aligned", "remap_page", gpa, hpa);
    {
        LockGuard guard(ept_lock_);
        const EptTables::WalkResult w = ept_->walk(gpa);
        if (!w.present) return Status::error("guest-physical page not mapped", "remap_page", gpa);
        EVMM_TRY(ept_->map(gpa, hpa, PAGE_4K, EptPerms{true, true, true}, w.mem_type, false, false));
    }
    slat_invalidate(eptp_);
    const u32 missing = ipc_call_others(slat_invalidate, eptp_);
    if (missing != 0) return Status::error("CPUs did not invalidate the guest's EPT in time", "remap_page", missing);
    return Status::success();
}

} // namespace evmm
