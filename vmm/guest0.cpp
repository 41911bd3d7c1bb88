#include "vmm/guest0.h"

#include <new>

#include "arch/x86_64/ept.h"
#include "lib/format.h"
#include "lib/log.h"
#include "lib/memmap.h"
#include "loader/acpi.h"
#include "vmm/guest_loader/multiboot2_guest.h"

namespace evmm {
namespace {

alignas(EptTables) unsigned char g_ept_storage[sizeof(EptTables)];
evmm_mmap_entry_t g_map_storage[EVMM_MAX_MMAP];
char g_names[EVMM_MAX_MODULES][40];

// guest0 is identity mapped: guest-physical == host-physical, minus the hypervisor's runtime region.
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

} // namespace

Status guest0_create(const evmm_desc_t& d, PageHeap& heap, const MtrrState& mtrr, bool ept_2m, bool ept_1g,
                     Guest0& out) {
    out = Guest0{};
    // (1) GPM + EPT: identity map of all memory the guest may address, the runtime region left out.
    out.ept_limit = align_up(d.top_of_memory > 4 * GiB ? d.top_of_memory : 4 * GiB, GiB);
    auto* ept = new (g_ept_storage) EptTables(heap);
    EVMM_TRY(ept->init());
    // Holes: the runtime region, and the page the APs started from (both absent from guest0's memory map too).
    const MemoryMap::Range holes[] = {{d.runtime_base, d.runtime_size}, {d.trampoline_base, PAGE_SIZE}};
    const u32 nholes = d.trampoline_base != 0 ? 2 : 1;
    EVMM_TRY(gpm_build_identity_ept(*ept, mtrr, out.ept_limit, holes, nholes, out.ept_stats, ept_2m, ept_1g));
    out.eptp = ept_make_eptp(ept->root_pa(), false);

    // (2) guest0's kernel.
    if (d.guest0_module == UINT32_MAX)
        return Status::error("no guest0 module (GRUB: module2 FILE guest0 ARGS...): nothing to run", "guest0");
    const evmm_module_t& m = d.modules[d.guest0_module];
    const u8* image = reinterpret_cast<const u8*>(m.start);
    Mb2KernelHeader hdr;
    EVMM_TRY(mb2_kernel_find_header(image, m.size, hdr));
    Mb2KernelPlan plan;
    EVMM_TRY(mb2_kernel_plan(image, m.size, hdr, plan));

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

    Mb2NamedRange forbidden[EVMM_MAX_MODULES + 2];
    u32 nf = 0;
    forbidden[nf++] = {d.runtime_base, d.runtime_size, "the hypervisor (evmm runtime region)"};
    if (d.trampoline_base != 0) forbidden[nf++] = {d.trampoline_base, PAGE_SIZE, "the hypervisor (AP start page)"};
    MemoryMap::Range avoid[EVMM_MAX_MODULES + 1];
    u32 na = 0;
    for (u32 i = 0; i < d.module_count; ++i) {
        format(g_names[i], sizeof g_names[i], "module %u (%s)", i, d.modules[i].role);
        forbidden[nf++] = {d.modules[i].start, d.modules[i].size, g_names[i]};
        avoid[na++] = {d.modules[i].start, d.modules[i].size};
    }
    IdentityGuestMem mem(out.ept_limit, d.runtime_base, d.runtime_size);
    static Mb2LoadDiag diag;
    const Status ls = mb2_kernel_load(image, m.size, plan, mem, map, forbidden, nf, &diag);
    if (!ls.ok()) {
        if (diag.message[0] != '\0') LOG_ERROR("guest0: %s", diag.message);
        return ls;
    }
    out.kernel_base = plan.span_base;
    out.kernel_end = plan.span_end;
    avoid[na++] = {plan.span_base, plan.span_end - plan.span_base};

    // (3) its Multiboot2 information, (4) its entry state.
    Mb2GuestInfoInputs in;
    mb2_info_inputs_from_desc(d, in);
    mb2_info_inputs_apply_kernel(hdr, plan, in);
    if (rsdp_len != 0) {
        in.rsdp = rsdp;
        in.rsdp_len = rsdp_len;
    }
    EVMM_TRY(mb2_guest_info_size(in, out.info_size));
    EVMM_TRY(mb2_choose_info_gpa(map, out.info_size, avoid, na, out.info_gpa));
    u64 written = 0;
    EVMM_TRY(mb2_build_guest_info(in, mem, out.info_gpa, out.info_size, written));
    mb2_guest_entry_state(out.entry, plan.entry, static_cast<u32>(out.info_gpa));
    return Status::success();
}

} // namespace evmm
