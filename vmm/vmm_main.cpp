// vmm_main: the hypervisor's entry on every CPU (evmm-boot-flow: "started in parallel for all available
// processors"). The loader calls vmm_main(cpu_id, desc) on its own stack; vmm_main moves to this CPU's VMM stack
// and continues with the six stages, the BSP opening each one.
//
// Every CPU walks all six stages (the BSP opening each, vmm/host/smp.h); guest0 then runs in VMX non-root mode.
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/exception.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/idt.h"
#include "arch/x86_64/vmx.h"
#include "arch/x86_64/vmx_controls.h"
#include "lib/console.h"
#include "lib/log.h"
#include "lib/serial.h"
#include "vmm/debug/crashtest.h"
#include "vmm/debug/vtd_dmatest.h"
#include "vmm/guest/boot/entry_state.h"
#include "vmm/guest/event.h"
#include "vmm/guest/gcpu.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/native_boot.h"
#include "vmm/host/heap.h"
#include "vmm/host/hmm.h"
#include "vmm/host/panic.h"
#include "vmm/host/percpu.h"
#include "vmm/host/platform.h"
#include "vmm/host/smp.h"
#include "vmm/iommu/iommu.h"
#include "vmm/modules/dma_faults.h"
#include "vmm/modules/modules.h"
#include "vmm/modules/tee.h"
#include "vmm/svm/npt.h"
#include "vmm/svm/svm_exits.h"
#include "vmm/svm/svm_setup.h"
#include "vmm/svm/vmcb_setup.h"
#include "vmm/vmx/bitmaps.h"
#include "vmm/vmx/exit_stats.h"
#include "vmm/vmx/forced_exits.h"
#include "vmm/vmx/vmcs_setup.h"
#include "vmm/vmx/vmexit.h"
#include "vmm/vmx/vmx_setup.h"

extern "C" void evmm_switch_stack_and_call(evmm::u64 stack_top, void (*fn)(evmm::u64, evmm::u64), evmm::u64 a0,
                                           evmm::u64 a1);
extern "C" [[noreturn]] void vmm_main(evmm::u32 cpu_id, const evmm_desc_t* desc);

namespace evmm {
namespace {

constexpr u32 BSP = 0;

const evmm_desc_t* g_desc = nullptr;
PageHeap g_heap;
alignas(16) IdtGate g_idt[IDT_VECTORS];
Guest* g_guest0 = nullptr;
Guest* g_tee = nullptr;
// fallback=boot-guest0 (docs/options.md) on a CPU evmm cannot run on: stages 3-5 only build guest0's image and entry
// state, stage 6 enters it natively (vmm/guest/native_boot.h). Written by the BSP in stage 2, read after.
bool g_native = false;
u64 g_ncr3 = 0;     // SVM: guest0's nested page tables
u64 g_tee_ncr3 = 0; // SVM: the TEE's

u8 ist_for(unsigned vector) {
    switch (static_cast<Vector>(vector)) {
    case Vector::DF: return static_cast<u8>(IstSlot::DoubleFault);
    case Vector::NMI: return static_cast<u8>(IstSlot::Nmi);
    case Vector::MC: return static_cast<u8>(IstSlot::MachineCheck);
    default: return static_cast<u8>(IstSlot::None);
    }
}

const char* yes_no(bool b) { return b ? "yes" : "no"; }

// The loader and the VMM are separate images: refuse a descriptor we do not understand.
bool desc_valid(const evmm_desc_t* d) {
    return d != nullptr && d->magic == EVMM_DESC_MAGIC && d->version == EVMM_DESC_VERSION &&
           d->size == sizeof(evmm_desc_t) && d->num_cpus >= 1 && d->num_cpus <= EVMM_MAX_CPUS;
}

// --- stage 1: setup host --------------------------------------------------------------------------------------
// BSP-only part, before the stage opens: log, heap, guest0's initial state, IDT, ISRs, host page tables.
void stage1_bsp(const evmm_desc_t& d) {
    // The screen console continues the loader's screen (lib/console.h): the loader found it below 4 GiB, which both
    // the loader's page tables and the VMM's identity map (vmm/host/hmm.cpp) cover. Its first use copies the
    // loader's text, before anything (guest0's kernel in stage 4) may overwrite the loader's memory.
    const bool screen = d.screen.type != EVMM_SCREEN_NONE && console_screen_start(d.screen).ok();
    const bool serial = (d.options.console & EVMM_CONSOLE_SERIAL) != 0 || !screen;
    log_init(serial ? d.options.serial_port : 0, static_cast<LogLevel>(d.options.log_level));
    set_test_exit(static_cast<TestExit>(d.options.testexit));
    platform_init(d);
    smp_init(d.num_cpus, d.tsc_khz);
    set_stop_others_hook(smp_stop_others);
    LOG_INFO("stage 1: setup host");
    LOG_INFO("desc: cpus=%u top_of_memory=0x%lx tsc_khz=%lu runtime=0x%lx+0x%lx modules=%u guest0_mmap=%u", d.num_cpus,
             d.top_of_memory, d.tsc_khz, d.runtime_base, d.runtime_size, d.boot_module_count, d.guest0_mmap_count);
    // (2) heap
    CHECK_OK(g_heap.init(reinterpret_cast<void*>(d.heap_base), d.heap_base, d.heap_size), "heap init");
    LOG_INFO("stage 1: (2) heap: 0x%lx-0x%lx, %lu pages free", d.heap_base, d.heap_base + d.heap_size,
             g_heap.stats().free_pages);
    // (3) guest0's initial CPU state: the guest's boot loader builds it in stage 4 (vmm/guest/boot/), from the image
    LOG_INFO("stage 1: (3) guest0 initial state: set in stage 4 by guest0's boot loader (from its image's headers)");
    // (5) IDT, shared by all CPUs (per-CPU IST stacks come from each CPU's TSS)
    idt_fill(g_idt, static_cast<u16>(Selector::Code64), ist_for);
    LOG_INFO("stage 1: (5) idt: %u vectors, #DF/NMI/#MC on IST 1/2/3", IDT_VECTORS);
    // (6) ISRs: exception names, symbols for backtraces
    panic_init(d);
    LOG_INFO("stage 1: (6) isr: handlers for %u exceptions, symbol table %s (%lu bytes)", EXCEPTION_VECTORS,
             d.symtab_addr ? "loaded" : "absent", d.symtab_size);
    // (7) host memory manager (one set of tables for every CPU)
    HmmInfo hi{};
    CHECK_OK(hmm_setup(d, g_heap, hi), "host memory manager");
    const MtrrState& m = hmm_mtrrs();
    LOG_INFO("stage 1: (7) hmm: identity map 0-0x%lx (%s pages), runtime region W^X, cr3=0x%lx", hi.identity_limit,
             hi.used_1g_pages ? "1 GiB" : "2 MiB", hi.cr3);
    LOG_INFO("stage 1: (7) mtrr: %s, default type %lu, %u variable ranges, fixed ranges %s",
             (m.def_type & MTRR_DEF_TYPE_E) ? "enabled" : "disabled", m.def_type & MTRR_DEF_TYPE_TYPE_MASK, m.var_count,
             (m.def_type & MTRR_DEF_TYPE_FE) ? "on" : "off");
}

// Per-CPU part: stacks, GDT + TSS, then load GDT, IDT and the host page tables on this CPU.
void stage1_cpu(u32 cpu) {
    PerCpu& pc = this_cpu();
    if (cpu != BSP) LOG_INFO("stage 1: setup host (APIC ID %u)", pc.apic_id);
    // (1) stacks
    LOG_INFO("stage 1: (1) stacks: block 0x%lx-0x%lx, stack top 0x%lx, IST #DF/NMI/#MC tops 0x%lx/0x%lx/0x%lx",
             pc.stack_block, pc.stack_block + EVMM_STACK_BLOCK_SIZE, stack_main_top(pc.stack_block),
             stack_ist_top(pc.stack_block, 1), stack_ist_top(pc.stack_block, 2), stack_ist_top(pc.stack_block, 3));
    // (4) GDT + TSS with IST stacks
    pc.tss.ist[static_cast<u8>(IstSlot::DoubleFault) - 1] = stack_ist_top(pc.stack_block, 1);
    pc.tss.ist[static_cast<u8>(IstSlot::Nmi) - 1] = stack_ist_top(pc.stack_block, 2);
    pc.tss.ist[static_cast<u8>(IstSlot::MachineCheck) - 1] = stack_ist_top(pc.stack_block, 3);
    pc.tss.iomap_base = sizeof(Tss64); // no I/O permission bitmap
    gdt_build(pc.gdt, pc.tss);
    LOG_INFO("stage 1: (4) gdt: %u entries at %p, tss at %p", GDT_ENTRIES, static_cast<void*>(&pc.gdt),
             static_cast<void*>(&pc.tss));
    // (8) load GDT, IDT, page tables on this CPU
    gdt_load(pc.gdt);
    percpu_install(pc); // loading GS may have cleared the GS base
    lidt(DescriptorTableRegister{sizeof(g_idt) - 1, reinterpret_cast<uptr>(&g_idt[0])});
    hmm_enable();
    LOG_INFO("stage 1: (8) gdt, idt and host page tables loaded");
#ifdef EVMM_DEBUG_CHECKS
    // Self-check of the live tables: nothing may be both writable and executable; guard pages are absent.
    if (cpu == BSP) {
        const u64 cr3 = read_cr3() & pte::ADDR_4K;
        const WxReport wx = check_wx_raw(cr3, g_heap);
        LOG_INFO("hmm: W^X check: %lu leaves, %lu MiB mapped, %lu writable+executable, %lu bad entries", wx.leaves,
                 wx.bytes_mapped / MiB, wx.violations, wx.bad_entries);
        if (!wx.clean()) PANIC("W^X violated: first writable+executable page at 0x%lx", wx.first_violation_va);
    }
    const auto guard = hmm_tables().walk(stack_guard(pc.stack_block, 0));
    if (guard.present) PANIC("stack guard page 0x%lx is mapped", stack_guard(pc.stack_block, 0));
    LOG_INFO("hmm: stack guard page 0x%lx not present: ok", stack_guard(pc.stack_block, 0));
#endif
}

// --- stage 2: setup vmx ---------------------------------------------------------------------------------------
void stage2_bsp() {
    LOG_INFO("stage 2: setup vmx");
    // DMA protection (vmm/iommu/iommu.h: VT-d, else AMD-Vi): the IOMMUs are found and checked here, before the VT-x
    // check, and their registers hidden from guest0; translation is turned on in stage 4 once guest0's address space
    // is built.
    iommu_discover();
    if (g_desc->options.vtdtest != 0) {
        // Test mode (QEMU has no VT-x: evmm stops right below): the domain from the platform's holes, then the edu
        // device's DMA into guest0's RAM and into the runtime region (vmm/debug/vtd_dmatest.h).
        MemoryMap::Range holes[PLATFORM_MAX_GUEST_HOLES];
        const u32 n = platform_guest_holes(holes, PLATFORM_MAX_GUEST_HOLES);
        const Status v = iommu_protect(g_heap, platform().identity_limit, holes, n);
        if (!v.ok())
            LOG_ERROR("%s: %s (%s 0x%lx, 0x%lx): DMA is not isolated", iommu_name(), v.what, v.where, v.value,
                      v.value2);
        vtd_dma_test(*g_desc, g_heap);
    }
    Status s = vmx_capabilities_init();
    if (!s.ok()) {
        if (s.where != nullptr)
            LOG_ERROR("VT-x not available: %s (%s = 0x%lx)", s.what, s.where, s.value);
        else
            LOG_ERROR("VT-x not available: %s", s.what);
        // The AMD SVM backend (vmm/svm/, docs/svm.md) where the CPU has SVM with nested paging.
        const Status a = svm_probe();
        if (a.ok()) {
            const SvmFeatures& sf = svm_features();
            LOG_INFO("SVM present: nested paging yes, %u ASIDs, NRIP save %s, decode assists %s, flush by ASID %s",
                     sf.asids, yes_no(sf.nrips), yes_no(sf.decode_assists), yes_no(sf.flush_by_asid));
            return;
        }
        LOG_ERROR("SVM not available: %s", a.what);
        if (g_desc->options.fallback == EVMM_FALLBACK_BOOT_GUEST0) {
            LOG_ERROR("fallback=boot-guest0: booting guest0 without evmm: no hypervisor, no isolation");
            g_native = true;
            return;
        }
        final_stop(StopReason::NoVtx, "VT-x or SVM is required");
    }
    const VmxFeatures& f = vmx_state().features;
    LOG_INFO(
        "VT-x present: VMCS revision 0x%x, region %u bytes, %s controls, EPT yes (2M %s, 1G %s), VPID %s, "
        "unrestricted guest yes",
        f.revision, f.region_size, f.true_ctls ? "true" : "default", yes_no(f.ept_2m), yes_no(f.ept_1g),
        yes_no(f.vpid));
    if (f.feature_control_needs_lock) LOG_INFO("VT-x: IA32_FEATURE_CONTROL was unlocked: enabled VMX and locked it");
}

void stage2_cpu(u32 cpu) {
    if (cpu != BSP) LOG_INFO("stage 2: setup vmx");
    if (g_native) return;
    if (svm_backend()) {
        CHECK_OK(svm_on(g_heap, cpu), "SVM enable");
        LOG_INFO("stage 2: EFER.SVME set, VM_HSAVE_PA given");
        return;
    }
    CHECK_OK(vmx_on(g_heap), "VMXON");
    LOG_INFO("stage 2: VMXON done (cr0=0x%lx cr4=0x%lx)", read_cr0(), read_cr4());
}

// --- stage 3: init module (BSP) --------------------------------------------------------------------------------
void stage3_bsp() {
    LOG_INFO("stage 3: init module");
    if (g_native) return; // no exits: no modules
    if (svm_backend()) {
        // The intercept registry keeps its MSR / I/O record in the VT-x bitmaps; SVM's maps are built from them.
        CHECK_OK(vmx_bitmaps_init(g_heap), "MSR and I/O bitmaps");
        modules_init();
        CHECK_OK(svm_permission_maps_init(g_heap), "SVM permission maps");
        svm_exits_init();
        if (g_desc->options.forceexits != 0) {
            // docs/options.md#forceexits: VT-x's optional exit controls; under SVM only the tick is forced.
            LOG_INFO(
                "stage 3: svm: forceexits=1: the VT-x exit controls it turns on are not forced under SVM; the "
                "dma-faults tick is");
            dma_faults_force_tick();
        }
        return;
    }
    vmx_exits_init(g_heap);
    modules_init();
    forced_exits_init(g_desc->options.forceexits != 0);
    if (g_desc->options.forceexits != 0) dma_faults_force_tick();
}

// --- stage 4: create guest (BSP) -------------------------------------------------------------------------------
void stage4_bsp(const evmm_desc_t& d) {
    LOG_INFO("stage 4: create guest");
    const VmxFeatures& f = vmx_state().features;
    // With SVM the EPT is only the model the nested tables mirror, natively (fallback) only the memory map's record:
    // every page size.
    const bool svm = svm_backend();
    const bool any_size = svm || g_native;
    const Status s = Guest::create_guest0(d, g_heap, hmm_mtrrs(), any_size || f.ept_2m, any_size || f.ept_1g, g_guest0);
    if (!s.ok()) {
        LOG_ERROR("guest0: cannot load it: %s%s%s (0x%lx, 0x%lx)", s.what, s.where ? " in " : "",
                  s.where ? s.where : "", s.value, s.value2);
        final_stop(StopReason::Fatal, "guest0 could not be created");
    }
    if (g_native) {
        const GuestBoot& b = g_guest0->boot();
        LOG_INFO("stage 4: guest0: %s at 0x%lx-0x%lx, entry 0x%lx: to be entered natively", b.kind, b.kernel_base,
                 b.kernel_end, b.entry.rip);
        return;
    }
    // guest0's DMA domain mirrors its address space; then translation on every IOMMU.
    const Status v = iommu_protect_guest(g_heap, *g_guest0);
    if (!v.ok())
        LOG_ERROR("%s: %s (%s 0x%lx, 0x%lx): DMA is not isolated", iommu_name(), v.what, v.where, v.value, v.value2);
    if (svm) {
        CHECK_OK(npt_build_from_ept(g_heap, *g_guest0, g_ncr3), "nested page tables");
        LOG_INFO("stage 4: npt: guest0's nested page tables at 0x%lx (the mirror of its EPT)", g_ncr3);
    }
    const GpmStats& e = g_guest0->gpm_stats();
    const GuestBoot& b = g_guest0->boot();
    LOG_INFO(
        "stage 4: gpm: EPT identity map 0-0x%lx without the hypervisor (0x%lx+0x%lx): %lu x 1G, %lu x 2M, %lu x 4K "
        "pages, %lu table pages",
        g_guest0->phys_limit(), d.runtime_base, d.runtime_size, e.pages_1g, e.pages_2m, e.pages_4k, e.table_pages);
    LOG_INFO("stage 4: guest0: %s at 0x%lx-0x%lx, entry 0x%lx, boot information at 0x%lx (%lu bytes)", b.kind,
             b.kernel_base, b.kernel_end, b.entry.rip, b.info_gpa, b.info_size);
    // The secure world (docs/tee.md): its memory is out of guest0's EPT and DMA domain (platform_guest_holes).
    const Platform& p = platform();
    if (p.tee_size != 0) {
        // With SVM the TEE's EPT is the model of its own nested tables (as guest0's), without guest0's memory.
        Status t =
            Guest::create_tee(d, g_heap, hmm_mtrrs(), any_size || f.ept_2m, any_size || f.ept_1g, *g_guest0, g_tee);
        if (t.ok() && svm) t = npt_build_from_ept(g_heap, *g_tee, g_tee_ncr3);
        if (!t.ok()) {
            LOG_ERROR("tee: cannot create it: %s%s%s (0x%lx, 0x%lx): guest0 runs without a TEE", t.what,
                      t.where ? " in " : "", t.where ? t.where : "", t.value, t.value2);
            g_tee = nullptr;
            for (u32 i = 0; i < p.num_cpus; ++i) g_guest0->vcpu(i).world = nullptr; // one world: SMCs get NO_TEE
        } else {
            LOG_INFO("stage 4: tee: 0x%lx-0x%lx rwx, guest0's space rw- (no hypervisor, no barriers), entry 0x%lx",
                     p.tee_base, p.tee_base + p.tee_size, p.tee_entry);
            if (svm) LOG_INFO("stage 4: npt: the TEE's nested page tables at 0x%lx", g_tee_ncr3);
        }
    }
    tee_attach(*g_guest0, g_tee);
}

// --- stage 5: init gcpu (every CPU) -----------------------------------------------------------------------------
// Returns the vCPU this CPU enters first: the TEE's where there is one (it hands the CPU to guest0 by its first SMC).
Gcpu& stage5_cpu(u32 cpu) {
    LOG_INFO("stage 5: init gcpu");
    if (cpu == 1 && g_desc->options.crashtest == EVMM_CRASHTEST_AP_PANIC)
        PANIC("crashtest: deliberate panic on an AP (cpu%u)", cpu);
    PerCpu& pc = this_cpu();
    Gcpu& g = g_guest0->vcpu(cpu);
    if (g_native) {
        // Said here, before the stage-5 barrier: once the BSP enters guest0 the serial port is guest0's.
        if (cpu != BSP) LOG_INFO("stage 5: cpu%u will wait for guest0's INIT-SIPI (no hypervisor)", cpu);
        return g;
    }
    const HostTables host{&pc.gdt, &pc.tss, g_idt, reinterpret_cast<uptr>(&pc)};
    // guest0's BSP starts at its entry point; its APs in the INIT state, launched only when guest0 sends them
    // INIT-SIPI-SIPI (stage 6; vmm/modules/guest_apic.h).
    evmm_gcpu_state_t ap_state;
    if (cpu != BSP) gcpu_init_state(ap_state, cpuid(CpuidLeaf::FEATURES).eax);
    const evmm_gcpu_state_t& st = cpu == BSP ? g_guest0->boot().entry : ap_state;
    if (svm_backend()) {
        CHECK_OK(gcpu_vmcb_init(g, g_heap, st, g_ncr3), "VMCB setup");
        LOG_INFO("stage 5: gcpu%u: VMCB at 0x%lx, nCR3 0x%lx, ASID %u, %s", cpu, g.arch.vmcs_pa, g.arch.eptp,
                 g.arch.vpid, cpu == BSP ? "starts at guest0's entry" : "waits for guest0's INIT-SIPI");
        if (g_tee == nullptr) return g;
        // The TEE's vCPU of this CPU: its own VMCB, nested tables and ASID; it runs first (stage 6).
        Gcpu& t = g_tee->vcpu(cpu);
        evmm_gcpu_state_t ts;
        const Platform& p = platform();
        gcpu_tee_entry_state(ts, p.tee_entry, p.tee_base, p.tee_size, cpu);
        CHECK_OK(gcpu_vmcb_init(t, g_heap, ts, g_tee_ncr3), "the TEE's VMCB setup");
        LOG_INFO("stage 5: tee gcpu%u: VMCB at 0x%lx, nCR3 0x%lx, ASID %u, runs before guest0", cpu, t.arch.vmcs_pa,
                 t.arch.eptp, t.arch.vpid);
        return t;
    }
    CHECK_OK(gcpu_vmcs_init(g, g_heap, host, st, g_guest0->eptp(), static_cast<u32>(ActivityState::ACTIVE)),
             "VMCS setup");
    LOG_INFO("stage 5: gcpu%u: VMCS at 0x%lx, EPTP 0x%lx, VPID %u, %s", cpu, g.arch.vmcs_pa, g.arch.eptp, g.arch.vpid,
             cpu == BSP ? "starts at guest0's entry" : "waits for guest0's INIT-SIPI");
    if (g_tee == nullptr) return g;
    // The TEE's vCPU of this CPU, last: its VMCS stays current, it runs first (stage 6).
    Gcpu& t = g_tee->vcpu(cpu);
    evmm_gcpu_state_t ts;
    const Platform& p = platform();
    gcpu_tee_entry_state(ts, p.tee_entry, p.tee_base, p.tee_size, cpu);
    CHECK_OK(gcpu_vmcs_init(t, g_heap, host, ts, g_tee->eptp(), static_cast<u32>(ActivityState::ACTIVE)),
             "the TEE's VMCS setup");
    LOG_INFO("stage 5: tee gcpu%u: VMCS at 0x%lx, runs before guest0", cpu, t.arch.vmcs_pa);
    return t;
}

// --- stage 6: launch guest (every CPU) ---------------------------------------------------------------------------
// fallback=boot-guest0: the BSP enters guest0 natively; an AP waits, interrupts off, for guest0's own INIT-SIPI
// (an INIT resets it out of HLT, as on bare metal, SDM Vol. 3A §10.4 "MP Initialization").
[[noreturn]] void stage6_native(u32 cpu) {
    if (cpu != BSP) halt_forever(); // silent: guest0 may be running on the BSP already (stage5_cpu said it)
    LOG_ALWAYS("fallback=boot-guest0: entering guest0 at 0x%lx natively; evmm's memory stays out of its memory map",
               g_guest0->boot().entry.rip);
    log_flush();
    const Status s = native_boot(g_guest0->boot().entry);
    LOG_ERROR("fallback=boot-guest0: cannot enter guest0: %s%s%s (0x%lx)", s.what, s.where ? " in " : "",
              s.where ? s.where : "", s.value);
    final_stop(StopReason::NoVtx, "VT-x or SVM is required (and guest0 cannot be entered natively)");
}

[[noreturn]] void stage6_cpu(u32 cpu, Gcpu& g) {
    if (g_native && cpu != BSP) stage6_native(cpu);
    LOG_INFO("stage 6: launch guest");
    if (g_native) stage6_native(cpu);
    const u8 crash = g_desc->options.crashtest;
    if (cpu == BSP && crash == EVMM_CRASHTEST_VMENTRY && !svm_backend()) {
        LOG_INFO("crashtest: making guest TR unusable before VMLAUNCH");
        crash_test_break_vm_entry(g);
    }
    if (cpu == BSP && crash == EVMM_CRASHTEST_VMENTRY && svm_backend()) {
        LOG_INFO("crashtest: clearing the guest's EFER.SVME in its VMCB before VMRUN");
        vmcb_of(g).save.efer &= ~EFER_SVME; // §15.5.1: VMRUN then fails with VMEXIT_INVALID
    }
    if (cpu == BSP)
        LOG_ALWAYS("perf: %lu TSC ticks from the loader's entry to guest0's launch",
                   rdtsc() - g_desc->loader_entry_tsc);
    // From here the screen is guest0's (docs/debugging.md#screen-console): the log stays on the serial port.
    if (cpu == BSP) console_screen_handover("guest0");
    // Modules' last word before the first entry; guest0's APs wait here for guest0's SIPI (vmm/modules/guest_apic).
    event_raise(Event::GuestLaunch, g);
    g.arch.launched = true;
    if (svm_backend()) evmm_svm_run(&g, svm_host_save_pa(cpu), svm_loop_rsp_slot(cpu));
    evmm_vmx_launch(&g);
}

// Stage k on every CPU: the BSP does its part and opens the stage; APs wait for it; everyone does the per-CPU
// part and arrives; the BSP waits for all before the next stage.
template <typename BspPart, typename CpuPart>
void stage(u32 k, u32 cpu, BspPart bsp_part, CpuPart cpu_part) {
    if (cpu == BSP) {
        bsp_part();
        stage_open(k);
    } else {
        stage_wait_open(k);
    }
    cpu_part();
    stage_arrive(k);
    if (cpu == BSP) stage_wait_all(k);
}

[[noreturn]] void vmm_main_continue(u64 cpu_id, u64 desc_addr) {
    const u32 cpu = static_cast<u32>(cpu_id);
    const evmm_desc_t& d = *reinterpret_cast<const evmm_desc_t*>(desc_addr);
    stage(
        1, cpu, [&] { stage1_bsp(d); },
        [&] {
            stage1_cpu(cpu);
            if (cpu == BSP) crash_test(d.options.crashtest);
        });
    stage(
        2, cpu, [] { stage2_bsp(); }, [&] { stage2_cpu(cpu); });
    stage(
        3, cpu, [] { stage3_bsp(); },
        [&] {
            if (cpu != BSP) LOG_INFO("stage 3: init module");
        });
    stage(
        4, cpu, [&] { stage4_bsp(d); },
        [&] {
            if (cpu != BSP) LOG_INFO("stage 4: create guest");
        });
    Gcpu* g = nullptr;
    stage(
        5, cpu, [] {}, [&] { g = &stage5_cpu(cpu); });
    if (cpu == BSP)
        stage_open(6);
    else
        stage_wait_open(6);
    stage6_cpu(cpu, *g);
}

} // namespace

} // namespace evmm

extern "C" [[noreturn]] void vmm_main(evmm::u32 cpu_id, const evmm_desc_t* desc) {
    using namespace evmm;
    if (cpu_id >= EVMM_MAX_CPUS) halt_forever(); // cannot even pick per-CPU data; the loader never does this
    PerCpu& pc = percpu_of(cpu_id);
    pc.cpu_id = cpu_id;
    percpu_install(pc);
    if (!desc_valid(desc)) {
        log_init(COM1_PORT, LogLevel::Info);
        LOG_ERROR("vmm_main: bad evmm_desc_t at %p (magic/version/size/num_cpus do not match this VMM)",
                  static_cast<const void*>(desc));
        final_stop(StopReason::Fatal, "bad evmm_desc_t");
    }
    if (cpu_id == 0) g_desc = desc;
    pc.apic_id = desc->apic_ids[cpu_id];
    pc.stack_block = desc->stacks_base + u64{cpu_id} * EVMM_STACK_BLOCK_SIZE;
    evmm_switch_stack_and_call(stack_main_top(pc.stack_block), reinterpret_cast<void (*)(u64, u64)>(&vmm_main_continue),
                               cpu_id, reinterpret_cast<uptr>(desc));
    halt_forever();
}
