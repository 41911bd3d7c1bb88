// stage1: the loader's C++ part, on the BSP, in long mode on an identity map of the first 4 GiB.
//
//  1. check the Multiboot2 magic, parse the boot information defensively (lib/formats/multiboot2.cpp)
//  2. evmm's own command line -> options (log level, serial port, testexit, console); the screen console starts
//     (lib/console.h) on the screen the information describes
//  3. modules: role = first word of the GRUB module line; unknown roles are reported
//  4. CPUs from the ACPI MADT, TSC frequency
//  5. the runtime region (VMM image + symbol table + descriptor + stacks + heap): 2 MiB aligned, in usable RAM
//     below 4 GiB, overlapping neither the loader, the boot information, nor any module
//  6. the AP trampoline page: 4 KiB below 1 MiB, overlapping none of the above (loader/smp_boot.h)
//  7. unpack the embedded VMM (LZ4, lib/formats/vmm_pack.h) into the region's heap, load + relocate it from there
//     to the region's start, build evmm_desc_t there (guest0's map without the region and the trampoline)
//  8. start every AP (INIT-SIPI-SIPI; each waits in the loader on its own VMM stack), record the CPUs that started,
//     release the APs: each calls vmm_main(cpu_id, desc); the BSP calls vmm_main(0, desc) (loader/ap_start.h)
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/exception.h"
#include "arch/x86_64/idt.h"
#include "arch/x86_64/msr_selftest.h"
#include "evmm/physmem.h"
#include "evmm_desc.h"
#include "lib/console.h"
#include "lib/formats/acpi.h"
#include "lib/formats/elf.h"
#include "lib/formats/memmap.h"
#include "lib/formats/multiboot2.h"
#include "lib/formats/vmm_pack.h"
#include "lib/log.h"
#include "lib/serial.h"
#include "lib/string.h"
#include "loader/ap_start.h"
#include "loader/cmdline.h"
#include "loader/desc_builder.h"
#include "loader/entry_defs.h"
#include "loader/smp_boot.h"
#include "loader/tee_image.h"
#include "loader/tsc.h"

extern "C" char __loader_start[], __loader_end[], _start[];
extern "C" const evmm::u8 evmm_vmm_blob_start[], evmm_vmm_blob_end[];
extern "C" const evmm::u64 loader_entry_tsc; // loader/entry.S
extern "C" const evmm::u8 evmm_symtab_start[], evmm_symtab_end[];

// For GDB (tools/gdb/evmm.gdb): where the VMM runs, and a function called once it is loaded and relocated.
extern "C" {
volatile evmm::u64 evmm_vmm_runtime_base = 0;
[[gnu::noinline]] void evmm_loader_vmm_ready() { asm volatile("" ::: "memory"); }
[[noreturn]] void stage1_main(evmm::u32 magic, evmm::u32 info_pa);
}

namespace evmm {

u32 this_cpu_id() { return 0; } // only the BSP logs in the loader (APs wait silently in loader/ap_start.cpp)

namespace {

constexpr u64 LOW_MEMORY_END = 1 * MiB; // real-mode IVT, BDA, EBDA, option ROMs, BIOS: never ours
constexpr u64 IDENTITY_LIMIT = LOADER_IDENTITY_GIB * GiB;
constexpr u32 MAX_AVOID = EVMM_MAX_BOOT_MODULES + 4; // + low memory, loader, information, runtime region

// Physical memory as the loader sees it: identity mapped below 4 GiB.
class IdentityMem final : public PhysMem {
public:
    const void* map(u64 pa, size_t len) const override {
        if (pa == 0 || add_overflows(pa, len) || pa + len > IDENTITY_LIMIT) return nullptr;
        return reinterpret_cast<const void*>(pa);
    }
};

alignas(16) IdtGate g_idt[IDT_VECTORS];
Mb2Info g_mb2;
evmm_mmap_entry_t g_mmap_storage[EVMM_MAX_MMAP];
char g_roles[EVMM_MAX_BOOT_MODULES][EVMM_ROLE_MAX];
char g_args[EVMM_MAX_BOOT_MODULES][EVMM_BOOT_MODULE_CMDLINE_MAX];
char g_cmdline[EVMM_CMDLINE_MAX];

[[noreturn]] void fail(const char* doing, const Status& s) {
    LOG_ERROR("loader: error: %s: %s%s%s (value 0x%lx, 0x%lx)", doing, s.what, s.where ? " in " : "",
              s.where ? s.where : "", s.value, s.value2);
    final_stop(StopReason::Fatal, doing);
}

const char* mem_type_name(u32 t) {
    switch (t) {
    case EVMM_MEM_USABLE: return "usable";
    case EVMM_MEM_RESERVED: return "reserved";
    case EVMM_MEM_ACPI_RECLAIMABLE: return "ACPI reclaimable";
    case EVMM_MEM_ACPI_NVS: return "ACPI NVS";
    case EVMM_MEM_BAD: return "bad";
    }
    return "?";
}

const char* tsc_source_name(u32 s) {
    switch (s) {
    case EVMM_TSC_SOURCE_CPUID15: return "CPUID 15H";
    case EVMM_TSC_SOURCE_CPUID16: return "CPUID 16H";
    case EVMM_TSC_SOURCE_PIT: return "PIT calibration";
    }
    return "?";
}

bool known_role(const char* role) {
    const size_t n = str_len(role, EVMM_ROLE_MAX);
    return str_eq(role, n, "guest0") || str_eq(role, n, "initrd") || str_eq(role, n, "tee");
}

// The TEE's device seed: RDRAND where the CPU has it (CPUID.01H:ECX[30], SDM Vol. 2B "RDRAND"), else mixed from the
// TSC (splitmix64: distinct per boot, not secret; docs/tee.md).
void tee_seed(u8 (&out)[EVMM_TEE_SEED_SIZE], bool& from_rdrand) {
    constexpr u32 CPUID1_ECX_RDRAND = 1u << 30;
    from_rdrand = (cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_RDRAND) != 0;
    u64 x = rdtsc();
    for (u32 i = 0; i < EVMM_TEE_SEED_SIZE; i += 8) {
        u64 v = 0;
        bool got = false;
        for (u32 tries = 0; from_rdrand && !got && tries < 10; ++tries)
            asm volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(got) : : "cc");
        if (!got) {
            from_rdrand = false;
            x += 0x9E3779B97F4A7C15ull ^ rdtsc();
            v = x;
            v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ull;
            v = (v ^ (v >> 27)) * 0x94D049BB133111EBull;
            v ^= v >> 31;
        }
        for (u32 b = 0; b < 8; ++b) out[i + b] = static_cast<u8>(v >> (8 * b));
    }
}

u32 bsp_apic_id() {
    // CPUID.1:EBX[31:24]: initial APIC ID (SDM Vol. 2A); leaf 0BH EDX gives the full x2APIC ID when present.
    constexpr u32 X2APIC_TOPOLOGY_LEAF = 0xB;
    constexpr u32 APIC_ID_SHIFT = 24;
    if (cpuid(CpuidLeaf::BASIC).eax >= X2APIC_TOPOLOGY_LEAF) {
        const CpuidRegs r = cpuid(X2APIC_TOPOLOGY_LEAF, 0);
        if (r.ebx != 0) return r.edx;
    }
    return cpuid(CpuidLeaf::FEATURES).ebx >> APIC_ID_SHIFT;
}

// The screen console (docs/debugging.md#screen-console), unless console=serial: the screen of the information, cleared.
// Returns what it found for evmm_desc_t (type none without a usable screen); `why` says why one is not used.
evmm_screen_t start_screen_console(const evmm_options_t& opt, Status& why) {
    evmm_screen_t scr{};
    why = Status::success();
    if ((opt.console & EVMM_CONSOLE_SCREEN) == 0) return scr;
    why = mb2_screen(g_mb2, IDENTITY_LIMIT, scr);
    if (why.ok() && scr.type != EVMM_SCREEN_NONE) why = console_screen_start(scr);
    if (!why.ok()) return evmm_screen_t{};
    console_screen_export(scr);
    return scr;
}

void print_console(const evmm_options_t& opt, const evmm_screen_t& scr, const Status& why) {
    if ((opt.console & EVMM_CONSOLE_SCREEN) == 0) {
        LOG_INFO("loader: console: serial only (console=serial)");
    } else if (!why.ok()) {
        LOG_WARN("loader: warning: console: the screen is not used: %s (value 0x%lx, 0x%lx)", why.what, why.value,
                 why.value2);
    } else if (scr.type == EVMM_SCREEN_NONE) {
        LOG_INFO("loader: console: no screen (UEFI without a framebuffer: no GRUB video module loaded?)");
    } else if (scr.type == EVMM_SCREEN_EGA_TEXT) {
        LOG_INFO("loader: console: screen: text mode at 0x%lx, %ux%u cells, until guest0 starts (%s)", scr.addr,
                 scr.width, scr.height,
                 g_mb2.has_framebuffer ? "framebuffer tag" : "no framebuffer tag: the BIOS's VGA text mode");
    } else {
        LOG_INFO(
            "loader: console: screen: framebuffer at 0x%lx, %ux%u, %u bpp, pitch %u, red %u:%u green %u:%u blue %u:%u; "
            "%ux%u cells, until guest0 starts (framebuffer tag)",
            scr.addr, scr.width, scr.height, scr.bpp, scr.pitch, scr.red_pos, scr.red_size, scr.green_pos,
            scr.green_size, scr.blue_pos, scr.blue_size, scr.text_cols, scr.text_rows);
    }
    if (opt.console == EVMM_CONSOLE_SCREEN && scr.type == EVMM_SCREEN_NONE)
        LOG_WARN("loader: warning: console=screen without a screen: the log stays on the serial port");
}

void print_cmdline_warnings(const CmdlineWarnings& w) {
    for (u32 i = 0; i < w.count; ++i)
        LOG_WARN("loader: warning: %s \"%.*s\" in the evmm command line: ignored",
                 cmdline_warning_text(w.items[i].kind), static_cast<int>(w.items[i].token_len), w.items[i].token);
    if (w.dropped) LOG_WARN("loader: warning: %u more bad options not shown", w.dropped);
}

} // namespace
} // namespace evmm

using namespace evmm;

extern "C" [[noreturn]] void stage1_main(u32 magic, u32 info_pa) {
    // Early: the log on COM1 at the default level until the command line says otherwise; exceptions reported.
    log_init(COM1_PORT, LogLevel::Info);
    idt_fill(g_idt, LOADER_CS, nullptr);
    lidt(DescriptorTableRegister{sizeof(g_idt) - 1, reinterpret_cast<uptr>(&g_idt[0])});

    if (magic != MB2_BOOT_MAGIC) {
        LOG_ERROR("loader: not started by a Multiboot2 boot loader: EAX = 0x%x, expected 0x%x", magic, MB2_BOOT_MAGIC);
        final_stop(StopReason::Fatal, "bad Multiboot2 magic");
    }
    const IdentityMem mem;
    // Read the total size first, bounded by the identity map; the parser checks the rest.
    const u8* info = static_cast<const u8*>(mem.map(info_pa, 8));
    if (info == nullptr)
        fail("reading the Multiboot2 information", Status::error("address not mapped", "info", info_pa));
    u32 total = 0;
    __builtin_memcpy(&total, info, sizeof total);
    const size_t avail = mem.map(info_pa, total) ? total : 0;
    Status s = mb2_parse(info, avail, g_mb2);
    if (!s.ok()) fail("parsing the Multiboot2 information", s);

    // evmm's own options.
    evmm_options_t opt{};
    CmdlineWarnings warn{};
    s = cmdline_parse(g_mb2.cmdline.str, g_mb2.cmdline.len, opt, warn);
    if (!s.ok()) fail("parsing the command line", s);
    Status screen_why;
    const evmm_screen_t screen = start_screen_console(opt, screen_why);
    // console=screen turns the serial log off, but only when there is a screen to see the log on.
    const bool serial = (opt.console & EVMM_CONSOLE_SERIAL) != 0 || screen.type == EVMM_SCREEN_NONE;
    log_init(serial ? opt.serial_port : 0, static_cast<LogLevel>(opt.log_level));
    set_test_exit(static_cast<TestExit>(opt.testexit));
    str_copy(g_cmdline, sizeof g_cmdline, g_mb2.cmdline.str ? g_mb2.cmdline.str : "", g_mb2.cmdline.len);

    LOG_INFO("loader: evmm loader, booted by \"%s\", Multiboot2 information at 0x%x (%u bytes)",
             g_mb2.loader_name.str ? g_mb2.loader_name.str : "?", info_pa, g_mb2.total_size);
    LOG_INFO("loader: command line \"%s\"", g_cmdline);
    print_cmdline_warnings(warn);
    if (opt.crashtest == EVMM_CRASHTEST_MSR) msr_fixup_selftest("loader: ");
    print_console(opt, screen, screen_why);

    // Memory map.
    if (!g_mb2.has_mmap) fail("reading the memory map", Status::error("no memory map tag", "Multiboot2 information"));
    MemoryMap mmap(g_mmap_storage, EVMM_MAX_MMAP);
    for (u32 i = 0; i < g_mb2.mmap_count; ++i)
        if (!(s = mmap.add(g_mb2.mmap[i].base, g_mb2.mmap[i].length, g_mb2.mmap[i].type)).ok())
            fail("reading the memory map", s);
    if (!(s = mmap.normalize()).ok()) fail("normalizing the memory map", s);
    LOG_INFO("loader: memory map: %u entries, top of memory 0x%lx, %lu MiB usable", mmap.count(), mmap.top_of_memory(),
             mmap.usable_bytes() / MiB);
    for (u32 i = 0; i < mmap.count(); ++i)
        LOG_DEBUG("loader:   0x%016lx-0x%016lx %s", mmap[i].base, mmap[i].base + mmap[i].length,
                  mem_type_name(mmap[i].type));

    // Modules.
    LoaderBootModule modules[EVMM_MAX_BOOT_MODULES];
    MemoryMap::Range avoid[MAX_AVOID];
    u32 navoid = 0;
    avoid[navoid++] = {0, LOW_MEMORY_END}; // first: the trampoline, which must lie there, skips it
    avoid[navoid++] = {reinterpret_cast<uptr>(__loader_start), static_cast<u64>(__loader_end - __loader_start)};
    avoid[navoid++] = {info_pa, g_mb2.total_size};
    for (u32 i = 0; i < g_mb2.module_count; ++i) {
        const Mb2Module& m = g_mb2.modules[i];
        s = mb2_split_module_cmdline(m.cmdline.str, m.cmdline.len, g_roles[i], EVMM_ROLE_MAX, g_args[i],
                                     EVMM_BOOT_MODULE_CMDLINE_MAX);
        if (!s.ok()) {
            // Nothing is cut: a kernel started with part of its command line could miss what matters most.
            if (s.what == MB2_ERR_ARGS_TOO_LONG)
                LOG_ERROR(
                    "loader: module %u at 0x%x: its arguments have %lu characters, evmm takes at most %lu "
                    "(Linux's COMMAND_LINE_SIZE 2048 with the NUL): shorten its module2 line",
                    i, m.mod_start, s.value, s.value2);
            else if (s.what == MB2_ERR_ROLE_TOO_LONG)
                LOG_ERROR(
                    "loader: module %u at 0x%x: its role (the first word after the file) has %lu characters, "
                    "at most %lu",
                    i, m.mod_start, s.value, s.value2);
            else
                LOG_ERROR("loader: module %u at 0x%x: its GRUB line must start with a role (module2 FILE ROLE ARGS...)",
                          i, m.mod_start);
            fail("reading module command lines", s);
        }
        modules[i] = LoaderBootModule{m.mod_start, u64{m.mod_end} - m.mod_start, g_roles[i], g_args[i]};
        avoid[navoid++] = {m.mod_start, u64{m.mod_end} - m.mod_start};
        // A log line holds 256 characters: a long command line is shown by its start and its length.
        constexpr size_t ARGS_SHOWN = 100;
        const size_t args_len = str_len(g_args[i], EVMM_BOOT_MODULE_CMDLINE_MAX);
        if (known_role(g_roles[i]) && args_len > ARGS_SHOWN)
            LOG_INFO("loader: module %u: 0x%x-0x%x role %s args \"%.*s...\" (%lu characters)", i, m.mod_start,
                     m.mod_end, g_roles[i], static_cast<int>(ARGS_SHOWN), g_args[i], args_len);
        else if (known_role(g_roles[i]))
            LOG_INFO("loader: module %u: 0x%x-0x%x role %s args \"%s\"", i, m.mod_start, m.mod_end, g_roles[i],
                     g_args[i]);
        else
            LOG_WARN("loader: module %u: 0x%x-0x%x unknown role \"%s\" (known: guest0, initrd, tee): not used", i,
                     m.mod_start, m.mod_end, g_roles[i]);
    }
    if (g_mb2.module_count == 0) LOG_WARN("loader: no modules: there is no guest0 to run");

    // CPUs (ACPI MADT).
    u32 apic_ids[EVMM_MAX_CPUS];
    u32 ncpus = 1;
    const u32 bsp = bsp_apic_id();
    apic_ids[0] = bsp;
    u64 rsdp_pa = 0;
    const u8* rsdp = g_mb2.rsdp();
    size_t rsdp_len = g_mb2.rsdp_len();
    if (rsdp != nullptr) {
        rsdp_pa = reinterpret_cast<uptr>(rsdp);
    } else if (acpi_find_rsdp_bios(mem, rsdp_pa).ok()) {
        rsdp = static_cast<const u8*>(mem.map(rsdp_pa, ACPI_RSDP_V1_SIZE));
        const auto* r = reinterpret_cast<const AcpiRsdp*>(rsdp);
        rsdp_len = r->revision >= ACPI_RSDP_REVISION_2 ? ACPI_RSDP_V2_SIZE : ACPI_RSDP_V1_SIZE;
    }
    u64 madt_pa = 0;
    static MadtCpus madt;
    if (rsdp == nullptr) {
        LOG_WARN("loader: warning: no ACPI RSDP: assuming 1 CPU");
    } else if (!(s = acpi_find_table(mem, rsdp, rsdp_len, ACPI_SIG_MADT, madt_pa)).ok() ||
               !(s = acpi_parse_madt(mem, madt_pa, madt)).ok()) {
        LOG_WARN("loader: warning: ACPI MADT unusable (%s%s%s): assuming 1 CPU", s.what, s.where ? " in " : "",
                 s.where ? s.where : "");
    } else {
        ncpus = 1;
        for (u32 i = 0; i < madt.count && ncpus < EVMM_MAX_CPUS; ++i)
            if (madt.apic_id[i] != bsp) apic_ids[ncpus++] = madt.apic_id[i];
        LOG_INFO("loader: cpus: %u (ACPI MADT at 0x%lx; %u disabled skipped, %u over the limit of %u), BSP APIC ID %u",
                 ncpus, madt_pa, madt.disabled_skipped, madt.overflow_skipped, EVMM_MAX_CPUS, bsp);
    }

    // ACPI power management: how guest0 will power the machine off (FADT PM1 control ports, \_S5 in the DSDT).
    evmm_acpi_power_t power{};
    u16 pm1_sts[2] = {0, 0};
    if (rsdp != nullptr) {
        u64 fadt_pa = 0;
        AcpiPowerInfo pi{};
        if (!(s = acpi_find_table(mem, rsdp, rsdp_len, ACPI_SIG_FADT, fadt_pa)).ok() ||
            !(s = acpi_parse_fadt(mem, fadt_pa, pi)).ok()) {
            LOG_WARN("loader: warning: ACPI FADT unusable (%s%s%s): guest0's power-off is not watched", s.what,
                     s.where ? " in " : "", s.where ? s.where : "");
        } else {
            power = evmm_acpi_power_t{pi.pm1a_cnt,     pi.pm1b_cnt,     static_cast<u8>(pi.s5_valid),
                                      pi.s5_slp_typ_a, pi.s5_slp_typ_b, 0};
            pm1_sts[0] = pi.pm1a_sts;
            pm1_sts[1] = pi.pm1b_sts;
            LOG_INFO(
                "loader: acpi: FADT at 0x%lx: PM1a_CNT port 0x%x, PM1b_CNT port 0x%x%s; \\_S5 %s (SLP_TYP %u/%u); "
                "PM1a_STS port 0x%x, PM1b_STS port 0x%x",
                fadt_pa, pi.pm1a_cnt, pi.pm1b_cnt, pi.hw_reduced ? " (hardware-reduced ACPI)" : "",
                pi.s5_valid ? "found" : "not found", pi.s5_slp_typ_a, pi.s5_slp_typ_b, pi.pm1a_sts, pi.pm1b_sts);
        }
    }

    // TSC.
    const TscInfo tsc = tsc_measure();
    LOG_INFO("loader: tsc: %lu kHz (%s)", tsc.khz, tsc_source_name(tsc.source));
    if (tsc.cpuid_khz_unused != 0)
        LOG_INFO("loader: tsc: CPUID claims %lu kHz, the PIT disagrees: using the PIT's figure", tsc.cpuid_khz_unused);

    // The runtime region, planned from the packed VMM's header: its image span, and its unpacked size for the
    // unpack area at the heap's start.
    const size_t blob_size = static_cast<size_t>(evmm_vmm_blob_end - evmm_vmm_blob_start);
    VmmPackHeader pack{};
    if (!(s = vmm_pack_inspect(evmm_vmm_blob_start, blob_size, pack)).ok()) fail("inspecting the embedded VMM", s);
    const u64 symtab_size = static_cast<u64>(evmm_symtab_end - evmm_symtab_start);
    RuntimeLayout layout{};
    if (!(s = runtime_layout_plan(pack.image_span, symtab_size, ncpus, layout, pack.raw_size)).ok())
        fail("planning the runtime region", s);
    u64 base = 0;
    if (!(s = mmap.find_free_top_down(layout.size, RUNTIME_ALIGN, RUNTIME_REGION_LIMIT, avoid, navoid, base)).ok())
        fail("placing the runtime region (no usable, 2 MiB aligned RAM below 4 GiB is free)", s);
    LOG_INFO(
        "loader: runtime region 0x%lx-0x%lx (%lu KiB): vmm +0x%lx, symbols +0x%lx, desc +0x%lx, stacks +0x%lx, "
        "heap +0x%lx (%lu KiB)",
        base, base + layout.size, layout.size / KiB, layout.vmm_offset, layout.symtab_offset, layout.desc_offset,
        layout.stacks_offset, layout.heap_offset, layout.heap_size / KiB);

    // The AP trampoline page (only with APs to start): below 1 MiB, clear of the loader, the boot information and
    // the modules (on UEFI, GRUB puts modules and the information low, e.g. at 0x2000 and 0x4000).
    u64 trampoline = 0;
    if (ncpus > 1) {
        if ((s = trampoline_place(mmap, avoid + 1, navoid - 1, trampoline)).ok())
            LOG_INFO("loader: ap trampoline at 0x%lx (SIPI vector 0x%x), hidden from guest0", trampoline,
                     sipi_vector(trampoline));
        else
            LOG_WARN(
                "loader: warning: no usable 4 KiB page below 1 MiB for the AP trampoline (%s): only the BSP "
                "will run",
                s.what);
    }

    // The secure world (loader/tee_image.h): the first `tee` module. A bad one is refused and evmm boots without it.
    u32 tee_module = UINT32_MAX;
    for (u32 i = 0; i < g_mb2.module_count; ++i) {
        if (!str_eq(g_roles[i], str_len(g_roles[i], EVMM_ROLE_MAX), "tee")) continue;
        if (tee_module == UINT32_MAX)
            tee_module = i;
        else
            LOG_WARN("loader: module %u: a second tee module: not used", i);
    }
    u64 tee_base = 0, tee_entry = 0;
    static TeePlan tee;
    if (tee_module != UINT32_MAX) {
        avoid[navoid++] = {base, layout.size};
        const LoaderBootModule& m = modules[tee_module];
        const u8* file = reinterpret_cast<const u8*>(m.start);
        u8 seed[EVMM_TEE_SEED_SIZE];
        bool rdrand = false;
        tee_seed(seed, rdrand);
        if (!(s = tee_plan(file, m.size, ncpus, tee)).ok() ||
            !(s = tee_place(mmap, tee.size, RUNTIME_REGION_LIMIT, avoid, navoid, tee_base)).ok() ||
            !(s = tee_load(file, m.size, tee, reinterpret_cast<u8*>(tee_base), tee_base, tsc.khz, seed, tee_entry))
                 .ok()) {
            LOG_ERROR("loader: error: tee module %u refused: %s%s%s (value 0x%lx, 0x%lx): evmm boots without a TEE",
                      tee_module, s.what, s.where ? " in " : "", s.where ? s.where : "", s.value, s.value2);
            tee_base = tee_entry = 0;
            tee.size = 0;
        } else {
            LOG_INFO(
                "loader: tee: 0x%lx-0x%lx (%lu MiB, barriers of %lu KiB on each side), image %lu KiB at +0x%lx, "
                "entry 0x%lx, seed from %s",
                tee_base, tee_base + tee.size, tee.size / MiB, u64{EVMM_TEE_BARRIER} / KiB, tee.image_span / KiB,
                u64{EVMM_TEE_IMAGE_OFFSET}, tee_entry, rdrand ? "RDRAND" : "the TSC");
        }
    }

    // Unpack the VMM's ELF file into the heap (nothing uses it before the VMM's heap init, which zeroes what it
    // hands out), check it, and load the image from there.
    u8* region = reinterpret_cast<u8*>(base);
    u8* const file = region + layout.unpack_offset;
    if (!(s = vmm_pack_unpack(evmm_vmm_blob_start, pack, file, layout.unpack_size)).ok())
        fail("unpacking the embedded VMM", s);
    ElfImage img{};
    if (!(s = elf_inspect(file, pack.raw_size, img)).ok()) fail("inspecting the embedded VMM", s);
    if (img.max_vaddr - img.min_vaddr > layout.vmm_size)
        fail("inspecting the embedded VMM", Status::error("PT_LOAD span larger than the pack header's image_span",
                                                          "VMM pack", img.max_vaddr - img.min_vaddr, pack.image_span));
    const u64 bias = base + layout.vmm_offset - img.min_vaddr;
    if (!(s = elf_load(file, pack.raw_size, img, region + layout.vmm_offset, layout.vmm_size, bias)).ok())
        fail("loading the VMM", s);
    __builtin_memcpy(region + layout.symtab_offset, evmm_symtab_start, symtab_size);

    // The descriptor.
    DescInputs in{};
    in.options = opt;
    in.cmdline = g_cmdline;
    in.num_cpus = ncpus;
    in.apic_ids = apic_ids;
    in.tsc_khz = tsc.khz;
    in.tsc_source = tsc.source;
    in.memory = &mmap;
    in.runtime_base = base;
    in.layout = &layout;
    // load_*: the packed blob, as GRUB loaded it (inside the loader); runtime_*: the unpacked, relocated image.
    in.vmm_file = evmm_file_info_t{reinterpret_cast<uptr>(evmm_vmm_blob_start), blob_size, 0, 0, 0};
    const u64 loader_size = static_cast<u64>(__loader_end - __loader_start);
    in.loader_file =
        evmm_file_info_t{reinterpret_cast<uptr>(__loader_start), loader_size, reinterpret_cast<uptr>(__loader_start),
                         loader_size, reinterpret_cast<uptr>(&_start)};
    in.vmm_entry_offset = img.entry - img.min_vaddr;
    in.acpi_rsdp = rsdp_pa;
    in.mb2_info = info_pa;
    in.efi_system_table = g_mb2.has_efi64_system_table ? g_mb2.efi64_system_table : 0;
    in.boot_modules = modules;
    in.boot_module_count = g_mb2.module_count;
    in.loader_entry_tsc = loader_entry_tsc;
    in.trampoline_base = trampoline;
    in.acpi_power = power;
    in.acpi_pm1a_sts = pm1_sts[0];
    in.acpi_pm1b_sts = pm1_sts[1];
    in.tee_base = tee_base;
    in.tee_size = tee.size;
    in.tee_entry = tee_entry;
    in.tee_boot_module = tee_module;
    in.screen = screen;
    auto* desc = reinterpret_cast<evmm_desc_t*>(region + layout.desc_offset);
    if (!(s = desc_build(in, *desc)).ok()) fail("building evmm_desc_t", s);

    LOG_INFO(
        "loader: vmm loaded at 0x%lx (%lu KiB; unpacked %lu KiB from %lu KiB), entry 0x%lx; evmm_desc_t at %p; "
        "guest0 memory map %u entries",
        desc->vmm_file.runtime_addr, desc->vmm_file.runtime_size / KiB, pack.raw_size / KiB, u64{blob_size} / KiB,
        desc->vmm_file.entry, static_cast<void*>(desc), desc->guest0_mmap_count);

    evmm_vmm_runtime_base = desc->vmm_file.runtime_addr - img.min_vaddr;
    evmm_loader_vmm_ready();

    // The APs: all started before the BSP enters the VMM; desc->num_cpus / apic_ids then list the CPUs that did.
    ApStartInputs ap{};
    ap.trampoline_base = trampoline;
    ap.apic_ids = apic_ids;
    ap.count = trampoline != 0 ? ncpus : 1;
    ap.desc = desc;
    ap.tsc_khz = tsc.khz;
    ap.idtr = DescriptorTableRegister{sizeof(g_idt) - 1, reinterpret_cast<uptr>(&g_idt[0])};
    smp_start_aps(ap);
    // The screen goes to the VMM with the loader's text and the row after its last line; the loader's own log (its
    // exception handler, until each CPU's stage 1 step 8) stays on the serial port from here.
    console_screen_export(desc->screen);
    console_screen_stop();
    smp_release_aps();
    using VmmMain = void (*)(u32, const evmm_desc_t*);
    reinterpret_cast<VmmMain>(desc->vmm_file.entry)(0, desc);
    final_stop(StopReason::Fatal, "vmm_main returned");
}
