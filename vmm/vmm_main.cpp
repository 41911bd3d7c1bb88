// vmm_main: the hypervisor's entry on every CPU (evmm-boot-flow: "started in parallel for all available
// processors"). The loader calls vmm_main(cpu_id, desc) on its own stack; vmm_main moves to this CPU's VMM stack
// and continues with the six stages, the BSP opening each one.
//
// Implemented so far: stage 1 (setup host) completely, and the VT-x check that opens stage 2.
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/exception.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/idt.h"
#include "lib/log.h"
#include "lib/serial.h"
#include "vmm/heap.h"
#include "vmm/hmm.h"
#include "vmm/panic.h"
#include "vmm/percpu.h"
#include "vmm/vmx_probe.h"

extern "C" void evmm_switch_stack_and_call(evmm::u64 stack_top, void (*fn)(evmm::u64, evmm::u64), evmm::u64 a0,
                                           evmm::u64 a1);
extern "C" [[noreturn]] void vmm_main(evmm::u32 cpu_id, const evmm_desc_t* desc);

namespace evmm {
namespace {

constexpr u32 BSP = 0;

const evmm_desc_t* g_desc = nullptr;
PageHeap g_heap;
alignas(16) IdtGate g_idt[IDT_VECTORS];
evmm_gcpu_state_t g_guest0_initial;

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

// --- deliberate faults (crashtest=...) to test the panic path from outside -----------------------------------
volatile u64 g_recursion_limit = ~u64{0};  // never reached: the guard page stops the recursion first

[[gnu::noinline]] u64 recurse_forever(u64 depth) {
    if (depth >= g_recursion_limit) return 0;
    volatile u8 pad[256];
    pad[depth & 0xFF] = static_cast<u8>(depth);
    return recurse_forever(depth + 1) + pad[0];
}

[[gnu::noinline]] void crash_test(u8 kind) {
    switch (kind) {
    case EVMM_CRASHTEST_UD: LOG_INFO("crashtest: executing ud2"); asm volatile("ud2"); break;
    case EVMM_CRASHTEST_PF: {
        LOG_INFO("crashtest: reading a stack guard page");
        volatile const u64* guard = reinterpret_cast<const u64*>(stack_guard(this_cpu().stack_block, 0));
        (void)*guard;
        break;
    }
    case EVMM_CRASHTEST_STACK: LOG_INFO("crashtest: unbounded recursion"); recurse_forever(0); break;
    case EVMM_CRASHTEST_PANIC: PANIC("crashtest: deliberate panic (value 0x%x)", 0xE7); break;
    default: break;
    }
}

// --- stage 1: setup host --------------------------------------------------------------------------------------
void stage1_setup_host(u32 cpu, const evmm_desc_t& d) {
    PerCpu& pc = this_cpu();
    if (cpu == BSP) {
        log_init(d.options.serial_port, static_cast<LogLevel>(d.options.log_level));
        set_test_exit(static_cast<TestExit>(d.options.testexit));
    }
    LOG_INFO("stage 1: setup host");
    if (cpu == BSP)
        LOG_INFO("desc: cpus=%u top_of_memory=0x%lx tsc_khz=%lu runtime=0x%lx+0x%lx modules=%u guest0_mmap=%u",
                 d.num_cpus, d.top_of_memory, d.tsc_khz, d.runtime_base, d.runtime_size, d.module_count,
                 d.guest0_mmap_count);

    // (1) stacks
    LOG_INFO("stage 1: (1) stacks: block 0x%lx-0x%lx, stack top 0x%lx, IST #DF/NMI/#MC tops 0x%lx/0x%lx/0x%lx",
             pc.stack_block, pc.stack_block + EVMM_STACK_BLOCK_SIZE, stack_main_top(pc.stack_block),
             stack_ist_top(pc.stack_block, 1), stack_ist_top(pc.stack_block, 2), stack_ist_top(pc.stack_block, 3));

    if (cpu == BSP) {
        // (2) heap
        CHECK_OK(g_heap.init(reinterpret_cast<void*>(d.heap_base), d.heap_base, d.heap_size), "heap init");
        const PageHeap::Stats hs = g_heap.stats();
        LOG_INFO("stage 1: (2) heap: 0x%lx-0x%lx, %lu pages free", d.heap_base, d.heap_base + d.heap_size,
                 hs.free_pages);
        // (3) guest0's initial CPU state
        g_guest0_initial = d.guest0_gcpu;
        LOG_INFO("stage 1: (3) guest0 initial state: cr0=0x%lx rflags=0x%lx cs.attr=0x%x", g_guest0_initial.cr0,
                 g_guest0_initial.rflags, g_guest0_initial.seg[EVMM_SEG_CS].attributes);
    }

    // (4) GDT + TSS with IST stacks
    pc.tss.ist[static_cast<u8>(IstSlot::DoubleFault) - 1] = stack_ist_top(pc.stack_block, 1);
    pc.tss.ist[static_cast<u8>(IstSlot::Nmi) - 1] = stack_ist_top(pc.stack_block, 2);
    pc.tss.ist[static_cast<u8>(IstSlot::MachineCheck) - 1] = stack_ist_top(pc.stack_block, 3);
    pc.tss.iomap_base = sizeof(Tss64);  // no I/O permission bitmap
    gdt_build(pc.gdt, pc.tss);
    LOG_INFO("stage 1: (4) gdt: %u entries at %p, tss at %p", GDT_ENTRIES, static_cast<void*>(&pc.gdt),
             static_cast<void*>(&pc.tss));

    if (cpu == BSP) {
        // (5) IDT, shared by all CPUs (per-CPU IST stacks come from each CPU's TSS)
        idt_fill(g_idt, static_cast<u16>(Selector::Code64), ist_for);
        LOG_INFO("stage 1: (5) idt: %u vectors, #DF/NMI/#MC on IST 1/2/3", IDT_VECTORS);
        // (6) ISRs: exception names, symbols for backtraces
        panic_init(d);
        LOG_INFO("stage 1: (6) isr: handlers for %u exceptions, symbol table %s (%lu bytes)", EXCEPTION_VECTORS,
                 d.symtab_addr ? "loaded" : "absent", d.symtab_size);
        // (7) host memory manager
        HmmInfo hi{};
        CHECK_OK(hmm_setup(d, g_heap, hi), "host memory manager");
        const MtrrState& m = hmm_mtrrs();
        LOG_INFO("stage 1: (7) hmm: identity map 0-0x%lx (%s pages), runtime region W^X, cr3=0x%lx", hi.identity_limit,
                 hi.used_1g_pages ? "1 GiB" : "2 MiB", hi.cr3);
        LOG_INFO("stage 1: (7) mtrr: %s, default type %lu, %u variable ranges, fixed ranges %s",
                 (m.def_type & MTRR_DEF_TYPE_E) ? "enabled" : "disabled", m.def_type & MTRR_DEF_TYPE_TYPE_MASK,
                 m.var_count, (m.def_type & MTRR_DEF_TYPE_FE) ? "on" : "off");
    }

    // (8) load GDT, IDT, page tables on this CPU
    gdt_load(pc.gdt);
    percpu_install(pc);  // loading GS may have cleared the GS base
    lidt(DescriptorTableRegister{sizeof(g_idt) - 1, reinterpret_cast<uptr>(&g_idt[0])});
    hmm_enable();
    LOG_INFO("stage 1: (8) gdt, idt and host page tables loaded");

#ifdef EVMM_DEBUG_CHECKS
    // Self-check of the live tables: nothing may be both writable and executable; guard pages are absent.
    const u64 cr3 = read_cr3() & pte::ADDR_4K;
    const WxReport wx = check_wx_raw(cr3, g_heap);
    LOG_INFO("hmm: W^X check: %lu leaves, %lu MiB mapped, %lu writable+executable, %lu bad entries", wx.leaves,
             wx.bytes_mapped / MiB, wx.violations, wx.bad_entries);
    if (!wx.clean()) PANIC("W^X violated: first writable+executable page at 0x%lx", wx.first_violation_va);
    const auto guard = hmm_tables().walk(stack_guard(pc.stack_block, 0));
    if (guard.present) PANIC("stack guard page 0x%lx is mapped", stack_guard(pc.stack_block, 0));
    LOG_INFO("hmm: stack guard page 0x%lx not present: ok", stack_guard(pc.stack_block, 0));
#endif
    crash_test(d.options.crashtest);
}

// --- stage 2: setup vmx (the VT-x check so far) ---------------------------------------------------------------
[[noreturn]] void stage2_setup_vmx() {
    LOG_INFO("stage 2: setup vmx");
    VmxCapsSnapshot snap;
    VmxFeatures f;
    Status s = vmx_probe(snap, f);
    if (!s.ok()) {
        if (s.where != nullptr) LOG_ERROR("VT-x not available: %s (%s = 0x%lx)", s.what, s.where, s.value);
        else LOG_ERROR("VT-x not available: %s", s.what);
        final_stop(StopReason::NoVtx, "VT-x is required");
    }
    LOG_INFO("VT-x present: VMCS revision 0x%x, region %u bytes, %s controls, EPT yes (2M %s, 1G %s), VPID %s, "
             "unrestricted guest yes",
             f.revision, f.region_size, f.true_ctls ? "true" : "default", yes_no(f.ept_2m), yes_no(f.ept_1g),
             yes_no(f.vpid));
    if (f.feature_control_needs_lock) LOG_INFO("VT-x: IA32_FEATURE_CONTROL was unlocked: enabled VMX and locked it");
    LOG_ALWAYS("perf: %lu TSC ticks from the loader's entry to the end of the VT-x check", rdtsc() - g_desc->loader_entry_tsc);
    LOG_INFO("stage 2: VMXON and stages 3-6 are not implemented yet: stopping here");
    final_stop(StopReason::Done, "VT-x check complete");
}

[[noreturn]] void vmm_main_continue(u64 cpu_id, u64 desc_addr) {
    const u32 cpu = static_cast<u32>(cpu_id);
    const evmm_desc_t& d = *reinterpret_cast<const evmm_desc_t*>(desc_addr);
    stage1_setup_host(cpu, d);
    stage2_setup_vmx();
}

} // namespace
} // namespace evmm

extern "C" [[noreturn]] void vmm_main(evmm::u32 cpu_id, const evmm_desc_t* desc) {
    using namespace evmm;
    if (cpu_id >= EVMM_MAX_CPUS) halt_forever();  // cannot even pick per-CPU data; the loader never does this
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
