#include "loader/desc_builder.h"

#include "evmm_tee.h"
#include "lib/string.h"

namespace evmm {

Status runtime_layout_plan(u64 vmm_span, u64 symtab_size, u32 num_cpus, RuntimeLayout& out, u64 unpack_size) {
    out = RuntimeLayout{};
    if (num_cpus == 0 || num_cpus > EVMM_MAX_CPUS) return Status::error("bad CPU count", "runtime layout", num_cpus);
    if (vmm_span == 0 || vmm_span > RUNTIME_REGION_LIMIT)
        return Status::error("bad VMM image size", "runtime layout", vmm_span);
    if (symtab_size > RUNTIME_REGION_LIMIT)
        return Status::error("bad symbol table size", "runtime layout", symtab_size);
    if (unpack_size > RUNTIME_REGION_LIMIT) return Status::error("bad unpack size", "runtime layout", unpack_size);
    u64 off = 0;
    out.vmm_offset = off;
    out.vmm_size = align_up(vmm_span, PAGE_SIZE);
    off += out.vmm_size;
    out.symtab_offset = off;
    out.symtab_size = symtab_size;
    off += align_up(symtab_size, PAGE_SIZE);
    out.desc_offset = off;
    off += align_up(sizeof(evmm_desc_t), PAGE_SIZE);
    out.stacks_offset = off;
    out.stacks_size = u64{num_cpus} * EVMM_STACK_BLOCK_SIZE;
    off += out.stacks_size;
    out.heap_offset = off;
    out.unpack_offset = off;
    out.unpack_size = align_up(unpack_size, PAGE_SIZE);
    u64 min_heap = HEAP_BASE_SIZE + u64{num_cpus} * HEAP_PER_CPU_SIZE;
    if (min_heap < out.unpack_size) min_heap = out.unpack_size;
    out.size = align_up(off + min_heap, RUNTIME_ALIGN);
    out.heap_size = out.size - off;
    return Status::success();
}

Status desc_build(const DescInputs& in, evmm_desc_t& d) {
    __builtin_memset(&d, 0, sizeof d);
    if (in.num_cpus == 0 || in.num_cpus > EVMM_MAX_CPUS) return Status::error("bad CPU count", "desc", in.num_cpus);
    if (in.boot_module_count > EVMM_MAX_BOOT_MODULES)
        return Status::error("too many modules", "desc", in.boot_module_count, EVMM_MAX_BOOT_MODULES);
    if (in.layout == nullptr || in.memory == nullptr) return Status::error("missing layout or memory map", "desc");
    if (!is_aligned(in.trampoline_base, PAGE_SIZE))
        return Status::error("trampoline page not page aligned", "desc", in.trampoline_base);
    if (in.hidden_count != 0 && in.hidden == nullptr) return Status::error("missing hidden ranges", "desc");
    const RuntimeLayout& L = *in.layout;

    d.magic = EVMM_DESC_MAGIC;
    d.version = EVMM_DESC_VERSION;
    d.size = sizeof(evmm_desc_t);
    d.num_cpus = in.num_cpus;
    for (u32 i = 0; i < in.num_cpus; ++i) d.apic_ids[i] = in.apic_ids[i];
    d.bsp_apic_id = in.apic_ids[0];
    d.top_of_memory = in.memory->top_of_memory();
    d.tsc_khz = in.tsc_khz;
    d.tsc_source = in.tsc_source;

    d.vmm_file = in.vmm_file;
    d.vmm_file.runtime_addr = in.runtime_base + L.vmm_offset;
    d.vmm_file.runtime_size = L.vmm_size;
    d.vmm_file.entry = d.vmm_file.runtime_addr + in.vmm_entry_offset;
    d.loader_file = in.loader_file;

    d.runtime_base = in.runtime_base;
    d.runtime_size = L.size;
    d.stacks_base = in.runtime_base + L.stacks_offset;
    d.stacks_size = L.stacks_size;
    d.heap_base = in.runtime_base + L.heap_offset;
    d.heap_size = L.heap_size;
    d.symtab_addr = L.symtab_size ? in.runtime_base + L.symtab_offset : 0;
    d.symtab_size = L.symtab_size;

    d.acpi_rsdp = in.acpi_rsdp;
    d.mb2_info = in.mb2_info;
    d.efi_system_table = in.efi_system_table;
    d.options = in.options;
    const char* cl = in.cmdline ? in.cmdline : "";
    str_copy(d.cmdline, sizeof d.cmdline, cl, str_len(cl, sizeof d.cmdline - 1));

    d.boot_module_count = in.boot_module_count;
    d.guest0_boot_module = UINT32_MAX;
    for (u32 i = 0; i < in.boot_module_count; ++i) {
        const LoaderBootModule& m = in.boot_modules[i];
        evmm_boot_module_t& o = d.boot_modules[i];
        o.start = m.start;
        o.size = m.size;
        str_copy(o.role, sizeof o.role, m.role, str_len(m.role, sizeof o.role));
        if (!str_copy(o.cmdline, sizeof o.cmdline, m.args, str_len(m.args, EVMM_BOOT_MODULE_CMDLINE_MAX)))
            return Status::error("module command line too long", "desc", i, EVMM_BOOT_MODULE_CMDLINE_MAX - 1);
        if (str_eq(o.role, str_len(o.role, sizeof o.role), "guest0")) {
            if (d.guest0_boot_module != UINT32_MAX)
                return Status::error("two guest0 modules", "desc", d.guest0_boot_module, i);
            d.guest0_boot_module = i;
        }
    }
    d.loader_entry_tsc = in.loader_entry_tsc;
    d.trampoline_base = in.trampoline_base;
    d.acpi_power = in.acpi_power;
    d.acpi_pm1a_sts = in.acpi_pm1a_sts;
    d.acpi_pm1b_sts = in.acpi_pm1b_sts;
    if (in.screen.type != EVMM_SCREEN_NONE) d.screen = in.screen;
    d.tee_boot_module = UINT32_MAX;
    if (in.tee_size != 0) {
        if (!is_aligned(in.tee_base, EVMM_TEE_ALIGN) || !is_aligned(in.tee_size, EVMM_TEE_ALIGN) ||
            in.tee_base < EVMM_TEE_BARRIER || add_overflows(in.tee_base, in.tee_size + EVMM_TEE_BARRIER))
            return Status::error("TEE range not 2 MiB aligned or out of range", "desc", in.tee_base, in.tee_size);
        d.tee_base = in.tee_base;
        d.tee_size = in.tee_size;
        d.tee_entry = in.tee_entry;
        d.tee_barrier = EVMM_TEE_BARRIER;
        d.tee_boot_module = in.tee_boot_module;
    }

    // guest0's memory map: the firmware map without what the hypervisor keeps (runtime region, trampoline page).
    evmm_mmap_entry_t scratch[EVMM_MAX_MMAP];
    MemoryMap g0(scratch, EVMM_MAX_MMAP);
    for (u32 i = 0; i < in.memory->count(); ++i) {
        const evmm_mmap_entry_t& e = (*in.memory)[i];
        EVMM_TRY(g0.add(e.base, e.length, e.type));
    }
    EVMM_TRY(g0.remove(in.runtime_base, L.size));
    if (in.trampoline_base != 0) EVMM_TRY(g0.remove(in.trampoline_base, PAGE_SIZE));
    for (u32 i = 0; i < in.hidden_count; ++i) EVMM_TRY(g0.remove(in.hidden[i].base, in.hidden[i].length));
    if (d.tee_size != 0) EVMM_TRY(g0.remove(d.tee_base - d.tee_barrier, d.tee_size + 2 * d.tee_barrier));
    EVMM_TRY(g0.normalize());
    EVMM_TRY(g0.copy_to(d.guest0_mmap, EVMM_MAX_MMAP, d.guest0_mmap_count));
    return Status::success();
}

} // namespace evmm
