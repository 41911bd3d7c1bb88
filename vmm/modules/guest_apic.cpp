#include "vmm/modules/guest_apic.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/insn.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/rflags.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/boot/entry_state.h"
#include "vmm/guest/event.h"
#include "vmm/guest/gpa_intercept.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/guest_paging.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/panic.h"
#include "vmm/host/platform.h"
#include "vmm/host/smp.h"
#include "vmm/modules/apic_base.h"
#include "vmm/modules/icr_route.h"
#include "vmm/modules/msr_monitor.h"

namespace evmm {
namespace {

// A gcpu's start-up state, one word so that state and SIPI vector change together (compare-and-swap).
enum ApState : u32 {
    AP_WAIT_SIPI = 0,    // after INIT (where every AP begins): a SIPI starts it
    AP_SIPI_PENDING = 1, // a SIPI arrived (vector in bits 15:8); the gcpu has not taken it yet
    AP_RUNNING = 2,
};
constexpr u32 AP_STATE_MASK = 0xFF;
constexpr unsigned AP_VECTOR_SHIFT = 8;

struct alignas(64) VirtAp { // a cache line each: the word MONITOR watches
    u32 word;
};
VirtAp g_ap[EVMM_MAX_CPUS];

constexpr u64 APIC_PAGE_OFFSET_MASK = PAGE_4K - 1;
constexpr u32 APIC_REG_ALIGN = 4;           // registers are 32-bit, aligned (SDM Vol. 3A §11.4.1)
constexpr unsigned SIPI_SELECTOR_SHIFT = 8; // CS = vector << 8, base = vector << 12, IP = 0 (SDM Vol. 3A §9.4.4)
constexpr unsigned SIPI_BASE_SHIFT = 12;
constexpr u64 IPI_TIMEOUT_MS = 100;

Lapic g_lapic{};
bool g_x2apic_supported = false;
u8 g_maxphyaddr = 36;
u64 g_apic_page = 0; // xAPIC page write-protected in guest0's EPT (0: none)
bool g_mwait = false;

u32 load_word(u32 cpu) { return __atomic_load_n(&g_ap[cpu].word, __ATOMIC_ACQUIRE); }
bool cas_word(u32 cpu, u32 expected, u32 desired) {
    return __atomic_compare_exchange_n(&g_ap[cpu].word, &expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

// The hardware INIT for a running gcpu's CPU (it then takes an INIT VM exit). The guest's ICR_HIGH is restored:
// guest0 may have programmed it for its next IPI.
void send_hardware_init(u32 cpu) {
    const Lapic l = lapic_detect(); // now: guest0 may have switched its APIC (this CPU's) to x2APIC mode
    const u32 apic_id = platform().apic_ids[cpu];
    const u64 dest =
        l.mode == ApicMode::X2Apic ? u64{apic_id} << ICR_X2APIC_DEST_SHIFT : u64{apic_id} << ICR_XAPIC_DEST_SHIFT;
    volatile u32* high = l.mode == ApicMode::XApic
                             ? reinterpret_cast<volatile u32*>(l.mmio_base + static_cast<u32>(XApicReg::ICR_HIGH))
                             : nullptr;
    const u32 saved = high != nullptr ? *high : 0;
    if (!lapic_send(l, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | dest, smp_ms_to_ticks(IPI_TIMEOUT_MS)))
        LOG_WARN("guest_apic: INIT for cpu%u (APIC ID %u) still pending after %lu ms", cpu, apic_id, IPI_TIMEOUT_MS);
    if (high != nullptr) *high = saved;
}

void virtual_init(u32 from, u32 cpu) {
    for (;;) {
        const u32 w = load_word(cpu);
        switch (w & AP_STATE_MASK) {
        case AP_WAIT_SIPI: return; // already reset and waiting
        case AP_SIPI_PENDING:      // not started yet: the INIT cancels the start
            if (cas_word(cpu, w, AP_WAIT_SIPI)) return;
            break;
        default: // running: it must leave guest0 to be reset
            if (cas_word(cpu, w, AP_WAIT_SIPI)) {
                LOG_DEBUG("gcpu%u: INIT from guest0 (cpu%u): reset, waits for a SIPI", cpu, from);
                send_hardware_init(cpu);
                return;
            }
            break;
        }
    }
}

void virtual_sipi(u32 from, u32 cpu, u32 vector) {
    const u32 w = load_word(cpu);
    // SDM Vol. 3A §9.4.4: a SIPI that finds the processor not waiting for one is ignored.
    if ((w & AP_STATE_MASK) != AP_WAIT_SIPI || !cas_word(cpu, w, AP_SIPI_PENDING | (vector << AP_VECTOR_SHIFT))) {
        LOG_DEBUG("gcpu%u: SIPI 0x%x from guest0 (cpu%u) ignored: not waiting for one", cpu, vector, from);
        return;
    }
    LOG_DEBUG("gcpu%u: SIPI 0x%x from guest0 (cpu%u)", cpu, vector, from);
}

// guest0's logical-destination setup of each CPU (xAPIC LDR and DFR: evmm sees every write to them), for INIT/SIPI
// in logical destination mode.
u32 g_ldr[EVMM_MAX_CPUS];
u32 g_dfr[EVMM_MAX_CPUS];
u64 g_dropped_ipis = 0;

// An IPI guest0 wrote into its ICR (virt::icr_route decides): sent as written (`send` does it), dropped (logged at
// powers of two), or an INIT / Start-up IPI delivered to the target gcpus by evmm (the sender included).
template <class Send>
void guest_ipi(Gcpu& g, u64 icr, bool x2apic, Send send) {
    const virt::ApicView view{platform().num_cpus, platform().apic_ids, g_ldr, g_dfr};
    const virt::IcrRoute r = virt::icr_route(icr, x2apic, g.cpu_id, view);
    switch (r.action) {
    case virt::IcrAction::Send: send(); return;
    case virt::IcrAction::Drop:
        if (++g_dropped_ipis == 1 || (g_dropped_ipis & (g_dropped_ipis - 1)) == 0)
            LOG_WARN("guest0 cpu%u: ICR 0x%lx dropped: %s (%lu so far)", g.cpu_id, icr, r.why, g_dropped_ipis);
        return;
    case virt::IcrAction::Init:
    case virt::IcrAction::Startup: break;
    }
    if (r.targets == 0)
        LOG_WARN("guest0 cpu%u: %s (ICR 0x%lx) reaches no CPU evmm runs on: dropped", g.cpu_id,
                 r.action == virt::IcrAction::Init ? "INIT" : "SIPI", icr);
    for (u32 c = 0; c < platform().num_cpus; ++c) {
        if ((r.targets & (u64{1} << c)) == 0) continue;
        if (r.action == virt::IcrAction::Init)
            virtual_init(g.cpu_id, c); // the sender too: its hardware INIT exits right after this VM entry
        else
            virtual_sipi(g.cpu_id, c, r.vector);
    }
}

// WRMSR to the x2APIC ICR.
bool on_x2apic_icr_write(Gcpu& g, u32 msr, u64 value) {
    if ((rdmsr(Msr::IA32_APIC_BASE) & APIC_BASE_X2APIC_ENABLE) == 0) return false; // xAPIC mode: #GP(0)
    guest_ipi(g, value, true, [&] { wrmsr(static_cast<Msr>(msr), value); });
    return true;
}

u64 g_refused_stores = 0;

// A store to the APIC page evmm does not perform: the APIC defines only aligned 32-bit accesses to its registers
// (SDM Vol. 3A §11.4.1: anything else is model specific, not guaranteed), and evmm emulates the plain store forms
// (MOV, XCHG). What is left — another size or alignment, string, read-modify-write, SSE or stack stores — gets #GP(0),
// logged at powers of two; the machine keeps running.
bool refuse_store(Gcpu& g, u64 gpa, const char* why, u64 v1, u64 v2) {
    if (++g_refused_stores == 1 || (g_refused_stores & (g_refused_stores - 1)) == 0)
        LOG_WARN(
            "guest0 cpu%u: store to the local APIC page (GPA 0x%lx) not emulated: %s (0x%lx, 0x%lx): #GP(0) "
            "(%lu so far)",
            g.cpu_id, gpa, why, v1, v2, g_refused_stores);
    gcpu_inject_exception(g, Vector::GP, 0);
    return true;
}

void start_state(Gcpu& g, u32 vector) {
    evmm_gcpu_state_t s;
    gcpu_init_state(s, cpuid(CpuidLeaf::FEATURES).eax);
    s.seg[EVMM_SEG_CS].selector = static_cast<u16>(vector << SIPI_SELECTOR_SHIFT);
    s.seg[EVMM_SEG_CS].base = u64{vector} << SIPI_BASE_SHIFT;
    s.rip = 0;
    CHECK_OK(gcpu_load_state(g, s), "SIPI: guest start state");
}

// A refused guest-physical access inside a page that is, or was, some CPU's xAPIC page (writes: read-only for the
// guest). On the CPU whose APIC is there now the store goes to its APIC (ICR writes routed by guest_ipi); on any other
// CPU the page is plain memory and the store is performed on it.
bool on_apic_page_access(Gcpu& g, const GpaExit& e) {
    if (!e.write) return false;
    const u64 gpa = e.gpa;
    const u64 apic_base = rdmsr(Msr::IA32_APIC_BASE);
    const u64 page = gpa & ~APIC_PAGE_OFFSET_MASK;
    const bool is_apic = (apic_base & (APIC_BASE_GLOBAL_ENABLE | APIC_BASE_X2APIC_ENABLE)) == APIC_BASE_GLOBAL_ENABLE &&
                         (apic_base & APIC_BASE_ADDR_MASK) == page;
    // The faulting instruction (SDM Vol. 3C §28.2.1: EPT violations are faults, RIP is still on it).
    const u64 cr0 = gcpu_cr0(g), efer = gcpu_efer(g);
    const CodeSize cs = code_size(cr0 & CR0_PE, gcpu_rflags(g) & RFLAGS_VM, efer & EFER_LMA, gcpu_in_64bit_mode(g),
                                  gcpu_cs_default_32(g));
    const u64 rip = gcpu_rip(g);
    const u64 lin = cs == CodeSize::Bits64 ? rip : gcpu_cs_base(g) + rip;
    const GuestPagingRegs regs{cr0, gcpu_cr3(g), gcpu_cr4(g), efer};
    const GuestPhys mem(*g.guest);
    u8 bytes[insn::MAX_LENGTH];
    size_t n = PAGE_4K - (lin & APIC_PAGE_OFFSET_MASK); // what is left of the first page...
    if (n > sizeof bytes) n = sizeof bytes;
    Status s = guest_read_linear(mem, regs, lin, bytes, n);
    if (!s.ok()) return refuse_store(g, gpa, s.what, s.value, s.value2);
    if (n < sizeof bytes && guest_read_linear(mem, regs, lin + n, bytes + n, sizeof bytes - n).ok())
        n = sizeof bytes; // ...and the next page when it is mapped (an instruction may straddle the two)
    MmioStore st{};
    s = decode_mmio_store(bytes, n, cs, st);
    if (!s.ok()) return refuse_store(g, gpa, s.what, s.value, s.value2);
    const u32 off = static_cast<u32>(gpa & APIC_PAGE_OFFSET_MASK);
    if (st.size != sizeof(u32) || off % APIC_REG_ALIGN != 0)
        return refuse_store(g, gpa, "not an aligned 32-bit store", st.size, off);

    // One 32-bit register (or RAM word) write: ICR_LOW routed by guest_ipi, LDR/DFR remembered for logical IPIs.
    auto write = [&](u64 at, u32 v) {
        volatile u32* reg = reinterpret_cast<volatile u32*>(at); // identity mapped: the APIC register or the RAM word
        const u32 o = static_cast<u32>(at & APIC_PAGE_OFFSET_MASK);
        if (!is_apic) {
            *reg = v;
        } else if (o == static_cast<u32>(XApicReg::ICR_LOW)) {
            const u32 high = *reinterpret_cast<volatile u32*>(page + static_cast<u32>(XApicReg::ICR_HIGH));
            guest_ipi(g, (u64{high} << 32) | v, false, [&] { *reg = v; });
        } else {
            if (o == static_cast<u32>(XApicReg::LDR)) g_ldr[g.cpu_id] = v;
            if (o == static_cast<u32>(XApicReg::DFR)) g_dfr[g.cpu_id] = v;
            *reg = v;
        }
    };
    // A 32-bit register load: zero-extends in 64-bit mode; elsewhere bits 63:32 are left alone (SDM Vol. 1 §3.4.1.1).
    auto load_reg32 = [&](u32 n, u32 v) {
        const u64 r = gcpu_gpr(g, n);
        gcpu_set_gpr(g, n, cs == CodeSize::Bits64 ? u64{v} : (r & ~u64{0xFFFF'FFFF}) | v);
    };
    auto set_flags = [&](u64 flags) { gcpu_set_rflags(g, (gcpu_rflags(g) & ~RFLAGS_STATUS) | flags); };

    u64 value = st.from_reg ? gcpu_gpr(g, st.reg) : st.imm;
    if (st.high_byte) value >>= 8;
    const u32 v = static_cast<u32>(value);
    volatile u32* reg = reinterpret_cast<volatile u32*>(gpa);
    switch (st.kind) {
    case StoreKind::Mov: write(gpa, v); break;
    case StoreKind::Xchg: {
        const u32 old = *reg;
        write(gpa, v);
        load_reg32(st.reg, old);
        break;
    }
    case StoreKind::Alu: { // read-modify-write: the register read, then written (SDM Vol. 3A §11.4.1 accesses)
        const AluResult r = alu_apply(st.alu, sizeof(u32), *reg, v, (gcpu_rflags(g) & RFLAGS_CF) != 0);
        write(gpa, static_cast<u32>(r.value));
        set_flags(r.flags);
        break;
    }
    case StoreKind::Xadd: {
        const u32 old = *reg;
        const AluResult r = alu_apply(AluOp::Add, sizeof(u32), old, v, false);
        write(gpa, static_cast<u32>(r.value));
        load_reg32(st.reg, old);
        set_flags(r.flags);
        break;
    }
    case StoreKind::Stos: {
        // Elements inside this page are written here; when (E/R)DI leaves it, RIP stays on the instruction and the
        // guest goes on with the remaining count itself (memory outside the page needs no emulation), as after an
        // interrupted REP STOS.
        const u64 amask = st.addr_size == 8 ? ~u64{0} : st.addr_size == 4 ? 0xFFFFFFFF : 0xFFFF;
        const u32 rdi = static_cast<u32>(Gpr::RDI), rcx = static_cast<u32>(Gpr::RCX);
        const bool down = (gcpu_rflags(g) & RFLAGS_DF) != 0;
        u64 di = gcpu_gpr(g, rdi), count = st.rep ? gcpu_gpr(g, rcx) & amask : 1;
        u64 at = gpa;
        while (count != 0 && (at & ~APIC_PAGE_OFFSET_MASK) == page) {
            write(at, v);
            at = down ? at - sizeof(u32) : at + sizeof(u32);
            di = (di & ~amask) | ((down ? di - sizeof(u32) : di + sizeof(u32)) & amask);
            --count;
        }
        gcpu_set_gpr(g, rdi, st.addr_size == 4 && cs == CodeSize::Bits64 ? di & amask : di);
        if (st.rep) {
            const u64 c = gcpu_gpr(g, rcx);
            gcpu_set_gpr(g, rcx, st.addr_size == 4 && cs == CodeSize::Bits64 ? count : (c & ~amask) | count);
        }
        if (count != 0) return true; // the rest runs in the guest (RIP unchanged)
        break;
    }
    }
    gcpu_advance_rip(g, st.length);
    return true;
}

void wait_for_sipi(Gcpu& g) {
    const u32 cpu = g.cpu_id;
    u32 vector = 0;
    for (;;) {
        const u32 w = load_word(cpu);
        if ((w & AP_STATE_MASK) == AP_SIPI_PENDING && cas_word(cpu, w, AP_RUNNING)) {
            vector = w >> AP_VECTOR_SHIFT;
            break;
        }
        if (smp_stop_requested()) smp_stopped("waiting for guest0's SIPI", 0);
        if (g_mwait) {
            // Armed before the re-check, so a SIPI written in between still wakes the MWAIT (SDM Vol. 2 MWAIT);
            // an NMI (the stop NMI) wakes it too.
            asm volatile("monitor" : : "a"(&g_ap[cpu].word), "c"(0), "d"(0));
            if (load_word(cpu) == w) asm volatile("mwait" : : "a"(0), "c"(0));
        } else {
            cpu_pause();
        }
    }
    start_state(g, vector);
    LOG_INFO("gcpu%u: started by guest0's SIPI at 0x%x", cpu, vector << SIPI_BASE_SHIFT);
}

// INIT VM exit: the gcpu is reset and waits for a SIPI.
void on_init(Gcpu& g) {
    LOG_DEBUG("gcpu%u: INIT (was at %lx:%lx, %lu exits): reset", g.cpu_id, gcpu_cs_base(g), gcpu_rip(g), g.exits_total);
    if (g.index == 0) {
        // The BSP does not wait for a SIPI: after INIT it runs from the reset vector, F000:FFF0 (SDM Vol. 3A §9.1.1,
        // §9.4.1: only APs enter wait-for-SIPI).
        __atomic_store_n(&g_ap[g.cpu_id].word, AP_RUNNING, __ATOMIC_RELEASE);
        evmm_gcpu_state_t s;
        gcpu_init_state(s, cpuid(CpuidLeaf::FEATURES).eax);
        CHECK_OK(gcpu_load_state(g, s), "INIT: the BSP's reset state");
        return;
    }
    // An INIT evmm sent (the word already says AP_WAIT_SIPI), or one from elsewhere: either way, wait.
    for (;;) {
        const u32 w = load_word(g.cpu_id);
        if ((w & AP_STATE_MASK) != AP_RUNNING || cas_word(g.cpu_id, w, AP_WAIT_SIPI)) break;
    }
    wait_for_sipi(g);
}

// Makes `page` (a new xAPIC base) read-only for the guest, like the page stage 4 protected.
bool protect_apic_page(Gcpu& g, u64 page) {
    if (gpa_intercept_find(page) != nullptr) return true; // protected already (the default page, or relocated before)
    if (!gpa_intercept_add(page, PAGE_4K, MemPerms{true, false, false}, on_apic_page_access, "guest-apic")) {
        LOG_WARN("guest0 cpu%u: no room to protect a relocated APIC page 0x%lx", g.cpu_id, page);
        return false;
    }
    const Status s = g.guest->set_page_rights(page, true, false, false);
    if (!s.ok()) LOG_WARN("guest0 cpu%u: APIC page 0x%lx not protected: %s (0x%lx)", g.cpu_id, page, s.what, s.value);
    return s.ok();
}

// WRMSR IA32_APIC_BASE: checked (vmm/modules/apic_base.h), then performed; a relocated xAPIC page is protected like
// the first one, so INIT/SIPI through it stay virtualized. evmm's own APIC accesses read this MSR (arch/x86_64/lapic),
// which therefore never names a page over the hypervisor.
bool on_apic_base_write(Gcpu& g, u32, u64 value) {
    const u64 old = rdmsr(Msr::IA32_APIC_BASE);
    // What the hypervisor keeps: the guest's holes (runtime region, hidden device registers) and the AP start page.
    const Platform& p = platform();
    MemoryMap::Range kept[PLATFORM_MAX_GUEST_HOLES + 1];
    u32 nkept = 0;
    for (u32 i = 0; i < g.guest->hole_count() && nkept < PLATFORM_MAX_GUEST_HOLES; ++i)
        kept[nkept++] = g.guest->holes()[i];
    if (p.trampoline_base != 0) kept[nkept++] = {p.trampoline_base, PAGE_4K};
    const virt::ApicBaseCheck c =
        virt::apic_base_check(old, value, g_maxphyaddr, g_x2apic_supported, g.guest->phys_limit(), kept, nkept);
    if (!c.ok) {
        LOG_WARN("guest0 cpu%u: WRMSR IA32_APIC_BASE 0x%lx (was 0x%lx) refused with #GP(0): %s", g.cpu_id, value, old,
                 c.why);
        return false;
    }
    const u64 write = (value & ~APIC_BASE_BSP) | (old & APIC_BASE_BSP); // the BSP flag is the processor's
    wrmsr(Msr::IA32_APIC_BASE, write);
    const bool xapic = (write & (APIC_BASE_GLOBAL_ENABLE | APIC_BASE_X2APIC_ENABLE)) == APIC_BASE_GLOBAL_ENABLE;
    if (xapic && (write & APIC_BASE_ADDR_MASK) != (old & APIC_BASE_ADDR_MASK)) {
        LOG_INFO("guest0 cpu%u: local APIC moved to 0x%lx", g.cpu_id, write & APIC_BASE_ADDR_MASK);
        protect_apic_page(g, write & APIC_BASE_ADDR_MASK);
    }
    return true;
}

// Stage 6, before a gcpu's first entry: guest0's APs (every vCPU but the first) wait for guest0's SIPI.
void on_guest_launch(Gcpu& g) {
    if (g.guest->owns_platform() && g.index != 0) wait_for_sipi(g);
}

} // namespace

void guest_apic_init() {
    g_lapic = lapic_detect();
    g_mwait = (cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_MONITOR) != 0;
    for (u32& d : g_dfr) d = virt::XAPIC_DFR_RESET;
    __atomic_store_n(&g_ap[0].word, AP_RUNNING, __ATOMIC_RELEASE); // guest0's BSP runs from its entry point
    msr_hook(MSR_X2APIC_ICR, nullptr, on_x2apic_icr_write);
    msr_hook(static_cast<u32>(Msr::IA32_APIC_BASE), nullptr, on_apic_base_write);
    g_x2apic_supported = (cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_X2APIC) != 0;
    g_maxphyaddr = cpu_phys_addr_bits();
    intercept_register(Intercept::Init, on_init);
    event_register(Event::GuestLaunch, on_guest_launch);
    if (g_lapic.mode != ApicMode::XApic) return; // x2APIC: the MSR hook does it all
    // xAPIC: the page read-only in every guest's second-level tables (writes emulated; INIT/SIPI virtualized).
    g_apic_page = g_lapic.mmio_base & ~APIC_PAGE_OFFSET_MASK;
    gpa_intercept(g_apic_page, PAGE_4K, MemPerms{true, false, false}, on_apic_page_access, "guest-apic");
}

} // namespace evmm
