#include "vmm/guest/boot/guest0_boot.h"

#include "lib/format.h"
#include "lib/formats/acpi.h"
#include "lib/formats/memmap.h"
#include "lib/log.h"
#include "lib/string.h"
#include "vmm/guest/boot/kernel_image.h"
#include "vmm/guest/boot/linux_bzimage.h"
#include "vmm/guest/boot/multiboot1_guest.h"
#include "vmm/guest/boot/multiboot2_guest.h"

namespace evmm {
namespace {

evmm_mmap_entry_t g_map_storage[EVMM_MAX_MMAP]; // stage 4 scratch (BSP only)
char g_names[EVMM_MAX_BOOT_MODULES][40];

// The Linux x86 boot protocol (vmm/guest/boot/linux_bzimage.h): kernel, initrd (the first module with role
// "initrd"), command line (guest0's ARGS), zero page with guest0's e820 map and the RSDP; the 64-bit entry (boot
// page tables and GDT written by linux_load) when the kernel has XLF_KERNEL_64, else the 32-bit entry.
Status load_linux(const evmm_desc_t& d, const u8* image, const evmm_boot_module_t& m, const MemoryMap& map,
                  MemoryMap::Range* avoid, u32 na, const u8* rsdp, u32 rsdp_len, GuestMem& mem, GuestBoot& out) {
    constexpr u64 MB2_INFO_GUARD = 16 * KiB; // GRUB's Multiboot2 information (its RSDP copy is handed to Linux)
    LinuxImage li;
    EVMM_TRY(linux_inspect(image, m.size, li));
    const evmm_boot_module_t* initrd = nullptr;
    for (u32 i = 0; i < d.boot_module_count && initrd == nullptr; ++i)
        if (str_eq(d.boot_modules[i].role, str_len(d.boot_modules[i].role, EVMM_ROLE_MAX), "initrd"))
            initrd = &d.boot_modules[i];
    if (d.mb2_info != 0) avoid[na++] = {d.mb2_info, MB2_INFO_GUARD};
    const size_t cmdline_len = str_len(m.cmdline, EVMM_BOOT_MODULE_CMDLINE_MAX);
    static LinuxPlan plan;
    EVMM_TRY(linux_plan(li, map, avoid, na, initrd ? initrd->size : 0, cmdline_len, plan));
    EVMM_TRY(linux_load(image, m.size, li, plan, mem, initrd ? reinterpret_cast<const u8*>(initrd->start) : nullptr,
                        initrd ? initrd->size : 0, m.cmdline, cmdline_len, d.guest0_mmap, d.guest0_mmap_count,
                        rsdp_len ? rsdp : nullptr, d.acpi_rsdp));
    const bool entry64 = plan.entry64 != 0;
    if (entry64)
        linux_entry_state_64(out.entry, plan.entry64, plan.zero_page, plan.boot_tables);
    else
        linux_entry_state_32(out.entry, plan.code32_start, static_cast<u32>(plan.zero_page));
    out.kernel_base = plan.kernel_addr;
    out.kernel_end = plan.kernel_addr + plan.kernel_reserve;
    out.info_gpa = plan.zero_page;
    out.info_size = PAGE_SIZE;
    out.initrd_base = plan.initrd_addr;
    out.initrd_size = plan.initrd_size;
    LOG_INFO(
        "guest0: Linux boot protocol %u.%02u, %s entry 0x%lx, kernel at 0x%lx%s, initrd %s0x%lx (%lu bytes), "
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

Status guest0_boot(const evmm_desc_t& d, GuestMem& mem, GuestBoot& out) {
    out = GuestBoot{};
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

    Mb2KernelHeader hdr;
    const Status mb2 = mb2_kernel_find_header(image, m.size, hdr);
    if (!mb2.ok() && linux_is_bzimage(image, m.size)) {
        out.kind = "Linux bzImage";
        return load_linux(d, image, m, map, avoid, na, rsdp, rsdp_len, mem, out);
    }
    Mb1Header mb1;
    const bool is_mb1 = !mb2.ok() && mb1_find_header(image, m.size, mb1).ok();
    if (!mb2.ok() && !is_mb1) return mb2; // none of the three: the Multiboot2 error says what is missing

    KernelPlan plan;
    if (is_mb1)
        EVMM_TRY(mb1_plan(image, m.size, mb1, plan));
    else
        EVMM_TRY(mb2_kernel_plan(image, m.size, hdr, plan));
    out.kind = is_mb1 ? "Multiboot1 kernel" : "Multiboot2 kernel";
    static KernelLoadDiag diag;
    const Status ls = kernel_load(image, m.size, plan, mem, map, forbidden, nf, &diag);
    if (!ls.ok()) {
        if (diag.message[0] != '\0') LOG_ERROR("guest0: %s", diag.message);
        return ls;
    }
    out.kernel_base = plan.span_base;
    out.kernel_end = plan.span_end;
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
        EVMM_TRY(mb1_info_size(in, out.info_size));
        EVMM_TRY(choose_info_gpa(map, out.info_size, avoid, na, out.info_gpa));
        EVMM_TRY(mb1_build_info(in, mem, out.info_gpa, out.info_size, written));
        mb1_entry_state(out.entry, plan.entry, static_cast<u32>(out.info_gpa));
    } else {
        mb2_info_inputs_apply_kernel(hdr, plan, in);
        EVMM_TRY(mb2_guest_info_size(in, out.info_size));
        EVMM_TRY(choose_info_gpa(map, out.info_size, avoid, na, out.info_gpa));
        EVMM_TRY(mb2_build_guest_info(in, mem, out.info_gpa, out.info_size, written));
        mb2_guest_entry_state(out.entry, plan.entry, static_cast<u32>(out.info_gpa));
    }
    return Status::success();
}

} // namespace evmm
