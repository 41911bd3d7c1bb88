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
constexpr u32 APIC_REG_ALIGN = 4;       // registers are 32-bit, aligned (SDM Vol. 3A §11.4.1)
constexpr u32 APIC_SLOT = 16;           // ... each at a 16-byte aligned offset (Table 11-1)
constexpr u32 APIC_REG_BYTES = 4;       // ... 32 bits wide: bytes 4-15 of a slot are reserved
constexpr u64 LIN32_MASK = 0xFFFF'FFFF; // 32-bit addresses, registers, offsets
constexpr u64 LIN16_MASK = 0xFFFF;      // 16-bit ones
constexpr unsigned BITS_PER_BYTE = 8;

// Little-endian bytes (x86 memory order).
u32 le32(const u8* p) {
    u32 v = 0;
    for (u32 i = 0; i < sizeof v; ++i) v |= u32{p[i]} << (BITS_PER_BYTE * i);
    return v;
}
void put_le(u8* p, u64 v, u32 n) {
    for (u32 i = 0; i < n; ++i) p[i] = static_cast<u8>(v >> (BITS_PER_BYTE * i));
}
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
    if (gcpu_kick_for_init(cpu)) return; // the backend's own way (SVM)
    const Lapic l = lapic_detect();      // now: guest0 may have switched its APIC (this CPU's) to x2APIC mode
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

// Logs a refused store at powers of two (the first, the second, the fourth...): the machine keeps running.
bool log_refusal() { return ++g_refused_stores == 1 || (g_refused_stores & (g_refused_stores - 1)) == 0; }

// A store to the APIC page evmm does not perform (see on_apic_page_access for the forms it does): #GP(0) and one log
// line with the instruction's bytes.
bool refuse_store(Gcpu& g, u64 gpa, const char* why, u64 v1, u64 v2, const u8* bytes, size_t n) {
    if (log_refusal()) {
        constexpr char HEX[] = "0123456789abcdef";
        constexpr unsigned NIBBLE = 4;
        constexpr u8 NIBBLE_MASK = 0xF;
        char hex[2 * insn::MAX_LENGTH + 1] = {};
        for (size_t i = 0; i < n && i < insn::MAX_LENGTH; ++i) {
            hex[2 * i] = HEX[bytes[i] >> NIBBLE];
            hex[2 * i + 1] = HEX[bytes[i] & NIBBLE_MASK];
        }
        LOG_WARN(
            "guest0 cpu%u: store to the local APIC page (GPA 0x%lx) not emulated: %s (0x%lx, 0x%lx), bytes %s: #GP(0) "
            "(%lu so far)",
            g.cpu_id, gpa, why, v1, v2, hex, g_refused_stores);
    }
    gcpu_inject_exception(g, Vector::GP, 0);
    return true;
}

// --- the guest's XMM/YMM registers ---------------------------------------------------------------------------------
// evmm's own code has no SSE/AVX instructions (-mgeneral-regs-only, cmake/freestanding.cmake) and saves no vector
// state, so at a VM exit the guest's XMM/YMM registers are still in the CPU. Reading them takes SSE (CR4.OSFXSR, CR0.EM
// and CR0.TS clear, SDM Vol. 3A §13.1) and, for the upper YMM halves, VEX (CR4.OSXSAVE and XCR0.SSE|AVX, Vol. 1
// §14.3): the host's CR4 has OSFXSR and, with XSAVE, OSXSAVE set (vmx_on), its CR0 is changed for the read and
// restored; XCR0 is the guest's at the exit (evmm runs
// guest0's XSETBV on the CPU itself, vmm/modules/xsetbv.cpp), and a guest that executed a VEX store has both bits set.
constexpr u32 XMM_BYTES = 16;
constexpr u32 MAX_STORE_BYTES = 32; // a YMM register
constexpr u32 CPUID1_ECX_XSAVE_BIT = 1u << 26;
constexpr u32 CPUID1_ECX_AVX_BIT = 1u << 28;
constexpr u32 XCR0_SSE_AVX = (1u << 1) | (1u << 2); // XCR0 bits 1 (SSE) and 2 (AVX), SDM Vol. 1 §13.3

using Vec16 = u8[XMM_BYTES];
#define EVMM_XMM_CASE(n)                                                   \
    case n:                                                                \
        if (high)                                                          \
            asm volatile("vextractf128 $1, %%ymm" #n ", %0" : "=m"(*out)); \
        else                                                               \
            asm volatile("movdqu %%xmm" #n ", %0" : "=m"(*out));           \
        break;
void read_vec(u32 n, bool high, Vec16* out) {
    switch (n) {
        EVMM_XMM_CASE(0)
        EVMM_XMM_CASE(1)
        EVMM_XMM_CASE(2)
        EVMM_XMM_CASE(3)
        EVMM_XMM_CASE(4)
        EVMM_XMM_CASE(5)
        EVMM_XMM_CASE(6)
        EVMM_XMM_CASE(7)
        EVMM_XMM_CASE(8)
        EVMM_XMM_CASE(9)
        EVMM_XMM_CASE(10)
        EVMM_XMM_CASE(11)
        EVMM_XMM_CASE(12)
        EVMM_XMM_CASE(13)
        EVMM_XMM_CASE(14)
        EVMM_XMM_CASE(15)
    default: break;
    }
}
#undef EVMM_XMM_CASE

// The low `size` bytes of XMM/YMM register n (size > 16: a YMM register); false when the CPU cannot give them.
bool read_simd_reg(u32 n, u32 size, u8* out) {
    const bool ymm = size > XMM_BYTES;
    if (ymm && (cpuid(CpuidLeaf::FEATURES).ecx & (CPUID1_ECX_XSAVE_BIT | CPUID1_ECX_AVX_BIT)) !=
                   (CPUID1_ECX_XSAVE_BIT | CPUID1_ECX_AVX_BIT))
        return false;
    const u64 cr0 = read_cr0();
    write_cr0(cr0 & ~(CR0_TS | CR0_EM));
    bool ok = true;
    if (ymm) {
        u32 lo = 0, hi = 0;
        asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0u));
        ok = (lo & XCR0_SSE_AVX) == XCR0_SSE_AVX;
    }
    Vec16 v[2];
    if (ok) {
        read_vec(n, false, &v[0]);
        if (ymm) read_vec(n, true, &v[1]);
    }
    write_cr0(cr0);
    for (u32 i = 0; ok && i < size; ++i) out[i] = v[i / XMM_BYTES][i % XMM_BYTES];
    return ok;
}

void start_state(Gcpu& g, u32 vector) {
    evmm_gcpu_state_t s;
    gcpu_init_state(s, cpuid(CpuidLeaf::FEATURES).eax);
    s.seg[EVMM_SEG_CS].selector = static_cast<u16>(vector << SIPI_SELECTOR_SHIFT);
    s.seg[EVMM_SEG_CS].base = u64{vector} << SIPI_BASE_SHIFT;
    s.rip = 0;
    CHECK_OK(gcpu_load_state(g, s), "SIPI: guest start state");
}

// `len` bytes (a MOVS element) at guest-linear `lin`: bytes in `apic_page` by aligned 32-bit reads (the only reads
// the APIC defines; reads have no side effects), other memory through the guest's mapping. False when a byte is not
// mapped (the guest then takes the fault itself when it runs the instruction).
bool read_source(const GuestPhys& mem, const GuestPagingRegs& regs, u64 lin, u8* out, u32 len, u64 apic_page) {
    for (u32 i = 0; i < len; ++i) {
        u64 pa = 0;
        if (!guest_linear_to_phys(mem, regs, lin + i, pa).ok()) return false;
        if ((pa & ~APIC_PAGE_OFFSET_MASK) == apic_page) {
            const u32 w = *reinterpret_cast<volatile u32*>(pa & ~u64{APIC_REG_ALIGN - 1});
            out[i] = static_cast<u8>(w >> (BITS_PER_BYTE * (pa & (APIC_REG_ALIGN - 1))));
            continue;
        }
        const u8* p = static_cast<const u8*>(mem.map(pa, 1));
        if (p == nullptr) return false;
        out[i] = *p;
    }
    return true;
}

// A refused guest-physical access inside a page that is, or was, some CPU's xAPIC page (writes: read-only for the
// guest). On the CPU whose APIC is there now the store goes to its APIC (ICR writes routed by guest_ipi); on any other
// CPU the page is plain memory and the store is performed on it byte for byte.
//
// The APIC's registers are 32 bits wide at 16-byte aligned offsets, and only aligned 32-bit accesses are defined
// (SDM Vol. 3A §11.4.1 / Table 11-1; wider or narrower ones are model specific). evmm's rule for every store form:
// each register slot whose bytes 0-3 the store covers receives the store's dword at that position (one 32-bit write
// through the same path as a MOV); the store's bytes at offsets 4-15 of a slot (reserved) are dropped. A store that
// covers only part of a register's bytes 0-3 (a byte or word store, a misaligned dword), or that runs past the page,
// gets #GP(0). So a 64-bit store at the TPR writes its low dword into the TPR, a 128-bit store at 0x300 writes ICR_LOW
// only, a 256-bit store at 0x300 writes ICR_LOW, then ICR_HIGH with its dword at +16 (what KVM, Xen and Bochs do with
// aligned 32-bit accesses; they drop (KVM), or stop on (Bochs: a panic), the others).
bool on_apic_page_access(Gcpu& g, const GpaExit& e) {
    if (!e.write) return false;
    const u64 gpa = e.gpa;
    const u64 apic_base = rdmsr(Msr::IA32_APIC_BASE);
    const u64 page = gpa & ~APIC_PAGE_OFFSET_MASK;
    const bool is_apic = (apic_base & (APIC_BASE_GLOBAL_ENABLE | APIC_BASE_X2APIC_ENABLE)) == APIC_BASE_GLOBAL_ENABLE &&
                         (apic_base & APIC_BASE_ADDR_MASK) == page;
    // A write the CPU made while delivering an event (an exception or interrupt frame pushed onto a stack in this
    // page): no instruction to decode, and evmm does not emulate event delivery. The event is lost and #GP(0) takes its
    // place, combined per SDM Vol. 3A §7.15 Table 7-5 (#DF when the event was a contributory exception or a #PF; a
    // triple fault, the guest stops, when it was a #DF).
    if (gcpu_exit_in_event_delivery(g)) {
        if (log_refusal())
            LOG_WARN(
                "guest0 cpu%u: event delivery wrote to the local APIC page (GPA 0x%lx): #GP(0) instead (%lu so far)",
                g.cpu_id, gpa, g_refused_stores);
        gcpu_inject_exception_for_access(g, Vector::GP, 0, "event delivery onto the local APIC page");
        return true;
    }
    // The faulting instruction (SDM Vol. 3C §28.2.1: EPT violations are faults, RIP is still on it).
    const u64 cr0 = gcpu_cr0(g), efer = gcpu_efer(g);
    const CodeSize cs = code_size(cr0 & CR0_PE, gcpu_rflags(g) & RFLAGS_VM, efer & EFER_LMA, gcpu_in_64bit_mode(g),
                                  gcpu_cs_default_32(g));
    const bool long64 = cs == CodeSize::Bits64;
    const u64 lin_mask = long64 ? ~u64{0} : LIN32_MASK; // linear addresses wrap at 4 GiB outside 64-bit mode
    const u64 rip = gcpu_rip(g);
    const u64 lin = long64 ? rip : (gcpu_cs_base(g) + rip) & lin_mask;
    const GuestPagingRegs regs{cr0, gcpu_cr3(g), gcpu_cr4(g), efer};
    const GuestPhys mem(*g.guest);
    u8 bytes[insn::MAX_LENGTH] = {};
    size_t n = PAGE_4K - (lin & APIC_PAGE_OFFSET_MASK); // what is left of the first page...
    if (n > sizeof bytes) n = sizeof bytes;
    Status s = guest_read_linear(mem, regs, lin, bytes, n);
    if (!s.ok()) return refuse_store(g, gpa, s.what, s.value, s.value2, bytes, 0);
    if (n < sizeof bytes && guest_read_linear(mem, regs, lin + n, bytes + n, sizeof bytes - n).ok())
        n = sizeof bytes; // ...and the next page when it is mapped (an instruction may straddle the two)
    MmioStore st{};
    s = decode_mmio_store(bytes, n, cs, st);
    if (!s.ok()) return refuse_store(g, gpa, s.what, s.value, s.value2, bytes, n);
    const u32 off = static_cast<u32>(gpa & APIC_PAGE_OFFSET_MASK);
    auto refuse = [&](const char* why) { return refuse_store(g, gpa, why, st.size, off, bytes, st.length); };

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
    // A store of `size` bytes at `at` by the rule above; false (nothing written) when it is refused.
    auto store = [&](u64 at, const u8* d, u32 size) {
        const u32 o = static_cast<u32>(at & APIC_PAGE_OFFSET_MASK);
        if (o + size > PAGE_4K) return false;
        if (!is_apic) {
            for (u32 i = 0; i < size; ++i) reinterpret_cast<volatile u8*>(at)[i] = d[i];
            return true;
        }
        const u32 first = o % APIC_SLOT, end = (o + size) % APIC_SLOT;
        if ((first != 0 && first < APIC_REG_BYTES) || (end != 0 && end < APIC_REG_BYTES)) return false;
        for (u32 slot = static_cast<u32>(align_up(o, APIC_SLOT)); slot + APIC_REG_BYTES <= o + size; slot += APIC_SLOT)
            write(page + slot, le32(d + (slot - o)));
        return true;
    };
    // A 32-bit register load: zero-extends in 64-bit mode; elsewhere bits 63:32 are left alone (SDM Vol. 1 §3.4.1.1).
    auto load_reg32 = [&](u32 r, u32 v) {
        const u64 old = gcpu_gpr(g, r);
        gcpu_set_gpr(g, r, long64 ? u64{v} : (old & ~u64{LIN32_MASK}) | v);
    };
    auto set_flags = [&](u64 flags) { gcpu_set_rflags(g, (gcpu_rflags(g) & ~RFLAGS_STATUS) | flags); };

    u64 value = st.from_reg ? gcpu_gpr(g, st.reg) : st.imm;
    if (st.high_byte) value >>= 8;
    u8 data[MAX_STORE_BYTES] = {};
    put_le(data, value, sizeof value);
    const u32 v = static_cast<u32>(value);
    volatile u32* reg = reinterpret_cast<volatile u32*>(gpa);
    const bool rmw = st.kind == StoreKind::Xchg || st.kind == StoreKind::Alu || st.kind == StoreKind::Xadd;
    if (rmw && (st.size != sizeof(u32) || off % APIC_REG_ALIGN != 0))
        return refuse("a read-modify-write that is not an aligned 32-bit access");
    switch (st.kind) {
    case StoreKind::Mov:
        if (!store(gpa, data, st.size)) return refuse("covers part of an APIC register, or runs past the page");
        break;
    case StoreKind::Simd:
        if (!read_simd_reg(st.reg, st.size, data)) return refuse("the XMM/YMM register cannot be read");
        if (!store(gpa, data, st.size)) return refuse("covers part of an APIC register, or runs past the page");
        break;
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
    case StoreKind::Stos:
    case StoreKind::Movs: {
        // Elements inside this page are written here; when (E/R)DI leaves it (or an element is refused after the
        // first, or a MOVS source cannot be read), RIP stays on the instruction and the guest goes on with the
        // remaining count itself, as after an interrupted REP STOS/MOVS: it then faults, or needs no emulation, on its
        // own.
        const u64 amask = st.addr_size == sizeof(u64) ? ~u64{0} : st.addr_size == sizeof(u32) ? LIN32_MASK : LIN16_MASK;
        const u32 rdi = static_cast<u32>(Gpr::RDI), rsi = static_cast<u32>(Gpr::RSI), rcx = static_cast<u32>(Gpr::RCX);
        const bool down = (gcpu_rflags(g) & RFLAGS_DF) != 0;
        const bool movs = st.kind == StoreKind::Movs;
        // The source's segment base: in 64-bit mode only FS and GS have one (SDM Vol. 1 §3.3.7.1).
        const u32 sreg = static_cast<u32>(st.src_seg);
        const u64 src_base =
            !movs || (long64 && sreg != EVMM_SEG_FS && sreg != EVMM_SEG_GS) ? 0 : gcpu_seg_base(g, sreg);
        auto step = [&](u64 r) { return (r & ~amask) | ((down ? r - st.size : r + st.size) & amask); };
        u64 di = gcpu_gpr(g, rdi), si = gcpu_gpr(g, rsi), count = st.rep ? gcpu_gpr(g, rcx) & amask : 1;
        const u64 count0 = count;
        u64 at = gpa;
        while (count != 0 && (at & ~APIC_PAGE_OFFSET_MASK) == page) {
            if (movs && !read_source(mem, regs, (src_base + (si & amask)) & lin_mask, data, st.size, page)) {
                if (count == count0) return refuse("the MOVS source cannot be read");
                break;
            }
            if (!store(at, data, st.size)) {
                if (count == count0) return refuse("covers part of an APIC register, or runs past the page");
                break;
            }
            at = down ? at - st.size : at + st.size;
            di = step(di);
            si = step(si);
            --count;
        }
        // A 32-bit address-size update in 64-bit mode zero-extends the register (SDM Vol. 1 §3.4.1.1).
        const bool zext = st.addr_size == sizeof(u32) && long64;
        gcpu_set_gpr(g, rdi, zext ? di & amask : di);
        if (movs) gcpu_set_gpr(g, rsi, zext ? si & amask : si);
        if (st.rep) {
            const u64 c = gcpu_gpr(g, rcx);
            gcpu_set_gpr(g, rcx, zext ? count : (c & ~amask) | count);
        }
        if (count != 0) return true; // the rest runs in the guest (RIP unchanged)
        break;
    }
    case StoreKind::Push:
    case StoreKind::Pushf:
    case StoreKind::Call: {
        // The stack store at SS:(rSP - size); the stack-address size is 64 bits in 64-bit mode, else SS.B's.
        const u32 rsp = static_cast<u32>(Gpr::RSP);
        const u64 smask = long64 ? ~u64{0} : gcpu_ss_big(g) ? LIN32_MASK : LIN16_MASK;
        const u64 sp = gcpu_gpr(g, rsp);
        const u64 new_sp = (sp & ~smask) | ((sp - st.size) & smask);
        const u64 slin = ((long64 ? 0 : gcpu_seg_base(g, EVMM_SEG_SS)) + (new_sp & smask)) & lin_mask;
        if ((slin & APIC_PAGE_OFFSET_MASK) != off) return refuse("a stack store that starts before the page");
        const u64 next = rip + st.length;
        u64 target = next + st.imm;
        if (st.from_mem) {
            // PUSH m / CALL m: the operand's address from the registers before RSP changes (the PUSH page), its
            // segment's base (64-bit mode: FS and GS only), read through the guest's paging.
            u64 gpr[16];
            for (u32 i = 0; i < 16; ++i) gpr[i] = gcpu_gpr(g, i);
            const u32 sreg = static_cast<u32>(st.src.seg);
            const u64 sbase = long64 && sreg != EVMM_SEG_FS && sreg != EVMM_SEG_GS ? 0 : gcpu_seg_base(g, sreg);
            const u64 src = (sbase + effective_address(st.src, st.addr_size, next, gpr)) & lin_mask;
            if (!read_source(mem, regs, src, data, st.size, page))
                return refuse("the PUSH/CALL operand cannot be read");
            u64 m = 0;
            for (u32 i = st.size; i-- > 0;) m = (m << 8) | data[i];
            value = m;
            target = m;
        }
        if (st.kind == StoreKind::Pushf) value = gcpu_rflags(g) & ~(RFLAGS_RF | RFLAGS_VM); // the PUSHF page
        if (st.kind == StoreKind::Call) value = next;
        put_le(data, value, sizeof value);
        if (!store(gpa, data, st.size)) return refuse("covers part of an APIC register, or runs past the page");
        gcpu_set_gpr(g, rsp, new_sp);
        if (st.kind == StoreKind::Call) {
            // The CALL page: the target is truncated to the operand size (EIP / IP) outside 64-bit mode.
            const u64 omask = st.size == sizeof(u64) ? ~u64{0} : st.size == sizeof(u32) ? LIN32_MASK : LIN16_MASK;
            const u64 to = (st.from_reg ? gcpu_gpr(g, st.reg) : target) & omask;
            gcpu_advance_rip(g, to - rip);
            return true;
        }
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
    if (!g.guest->owns_platform()) return; // guest0's INIT for this CPU reached the TEE's vCPU: not the TEE's to take
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
