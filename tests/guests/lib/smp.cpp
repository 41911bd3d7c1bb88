// Guest test kit, multiprocessor part: TSC calibration, local APIC, MADT, AP start-up. See smp.h.
#include "smp.h"

extern "C" {
extern const evmm::u8 smp_ap_trampoline[], smp_ap_trampoline_end[];
extern evmm::u64 guest_gdt[];
extern evmm::u64 guest_pd[];
[[noreturn]] void smp_ap_entry(evmm::u32 slot);
}

namespace guest {
namespace {

using evmm::i64;

// ---- time -------------------------------------------------------------------------------------------------------

constexpr u16 PIT_CH2 = 0x42, PIT_CMD = 0x43, PORT_61 = 0x61;
constexpr u8 PORT_61_GATE2 = 0x01, PORT_61_SPEAKER = 0x02, PORT_61_OUT2 = 0x20;
constexpr u32 PIT_HZ = 1193182;
constexpr u32 CALIBRATE_MS = 10;
constexpr u32 CALIBRATE_COUNT = PIT_HZ * CALIBRATE_MS / 1000; // 11931 ticks: 10 ms
constexpr u64 CALIBRATE_SPIN_LIMIT = 50000000;                // OUT2 polls before giving up (no PIT)
constexpr u64 TSC_KHZ_FALLBACK = 1000000;                     // 1 GHz when calibration failed

u64 g_tsc_khz = TSC_KHZ_FALLBACK;
bool g_tsc_calibrated;

// ---- APIC ---------------------------------------------------------------------------------------------------------

constexpr u32 MSR_X2APIC_BASE = 0x800;
constexpr u32 MSR_X2APIC_ICR = 0x830;
constexpr u64 APIC_BASE_ADDR_MASK = 0x000FFFFFFFFFF000ull;
constexpr u32 APIC_SVR_ENABLE = 0x100;
constexpr u32 APIC_SPURIOUS_VECTOR = 0xFF;
constexpr u64 ICR_IDLE_TIMEOUT_US = 10000;
constexpr u64 PTE_PWT = 0x8, PTE_PCD = 0x10;

// ---- AP start -----------------------------------------------------------------------------------------------------

constexpr u64 INIT_DELAY_US = 10000; // SDM §9.4.4.1: INIT, wait 10 ms
constexpr u64 SIPI_DELAY_US = 200;   //                SIPI, wait 200 us, SIPI
constexpr u64 IST_STACK_SIZE = 4096;

struct SmpTrampData { // naturally aligned: no padding beyond the explicit pads
    u64 gdt[4];
    u16 pad0;
    u16 gdtr_limit;
    u32 gdtr_base;
    u32 far32_offset;
    u16 far32_selector;
    u16 pad1;
    u32 far64_offset;
    u16 far64_selector;
    u16 pad2;
    u32 efer_set;
    u32 cr0;
    u64 cr3;
    u64 cr4;
    u64 target;
    u64 stack_top;
    u32 slot;
    u32 state;
    u32 progress;
    u32 pad3;
};
static_assert(sizeof(SmpTrampData) == SMP_TD_SIZE);
static_assert(offsetof(SmpTrampData, gdt) == SMP_TD_GDT);
static_assert(offsetof(SmpTrampData, gdtr_limit) == SMP_TD_GDTR);
static_assert(offsetof(SmpTrampData, far32_offset) == SMP_TD_FAR32);
static_assert(offsetof(SmpTrampData, far64_offset) == SMP_TD_FAR64);
static_assert(offsetof(SmpTrampData, efer_set) == SMP_TD_EFER_SET);
static_assert(offsetof(SmpTrampData, cr0) == SMP_TD_CR0);
static_assert(offsetof(SmpTrampData, cr3) == SMP_TD_CR3);
static_assert(offsetof(SmpTrampData, cr4) == SMP_TD_CR4);
static_assert(offsetof(SmpTrampData, target) == SMP_TD_TARGET);
static_assert(offsetof(SmpTrampData, stack_top) == SMP_TD_STACK);
static_assert(offsetof(SmpTrampData, slot) == SMP_TD_SLOT);
static_assert(offsetof(SmpTrampData, state) == SMP_TD_STATE);
static_assert(offsetof(SmpTrampData, progress) == SMP_TD_PROGRESS);

struct [[gnu::packed]] Tss64 {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iopb_offset;
};
static_assert(sizeof(Tss64) == 104);

struct [[gnu::packed]] DescPtr {
    u16 limit;
    u64 base;
};

// Everything one AP owns: its GDT (a copy of the kit's: 0x08 code, 0x10 data, 0x18 its own TSS), its TSS with one
// IST stack (the kit's IDT sends #DF, NMI and #MC to IST 1-3: all three point at it), its stack.
struct alignas(16) ApEnv {
    u64 gdt[6];
    Tss64 tss;
    alignas(16) u8 ist[IST_STACK_SIZE];
    alignas(16) u8 stack[SMP_AP_STACK_SIZE];
};

ApEnv g_env[SMP_MAX_CPUS]; // [0] unused (the BSP runs on the kit's stack)

struct ApSlot {
    SmpApFn fn;
    void* arg;
    u32 checked_in; // written by the AP (atomic)
};
ApSlot g_slot[SMP_MAX_CPUS];

u64 g_page;     // the trampoline page (0: smp_prepare not called)
DescPtr g_idtr; // the kit's IDT, as the BSP has it loaded
u32 g_started;  // APs that checked in

SmpTrampData* tramp() { return reinterpret_cast<SmpTrampData*>(g_page + SMP_TRAMP_DATA); }

template <typename T>
T load_acquire(const T& v) {
    return __atomic_load_n(&v, __ATOMIC_ACQUIRE);
}
template <typename T>
void store_release(T& v, T x) {
    __atomic_store_n(&v, x, __ATOMIC_RELEASE);
}

class IdentityMem final : public evmm::PhysMem {
public:
    // The kit identity-maps the first 4 GiB.
    const void* map(u64 pa, size_t len) const override {
        constexpr u64 limit = 4 * evmm::GiB;
        if (pa == 0 || pa >= limit || len > limit - pa) return nullptr;
        return reinterpret_cast<const void*>(pa);
    }
};

bool ranges_overlap(u64 a, u64 alen, u64 b, u64 blen) { return a < b + blen && b < a + alen; }

} // namespace

// ---- time -------------------------------------------------------------------------------------------------------

bool tsc_calibrate() {
    const u8 saved = inb(PORT_61);
    outb(PORT_61, static_cast<u8>((saved & ~PORT_61_SPEAKER) | PORT_61_GATE2)); // gate on, speaker off
    outb(PIT_CMD, 0xB0); // channel 2, lobyte/hibyte, mode 0 (OUT2 rises at terminal count), binary
    outb(PIT_CH2, CALIBRATE_COUNT & 0xFF);
    outb(PIT_CH2, CALIBRATE_COUNT >> 8);
    const u64 t0 = rdtsc();
    u64 spins = 0;
    while ((inb(PORT_61) & PORT_61_OUT2) == 0 && ++spins < CALIBRATE_SPIN_LIMIT) {}
    const u64 t1 = rdtsc();
    outb(PORT_61, saved);
    const u64 khz = (t1 - t0) * PIT_HZ / (u64{CALIBRATE_COUNT} * 1000);
    // Plausible: 1 MHz (Bochs counts instructions) .. 100 GHz.
    g_tsc_calibrated = spins < CALIBRATE_SPIN_LIMIT && khz >= 1000 && khz <= 100000000;
    g_tsc_khz = g_tsc_calibrated ? khz : TSC_KHZ_FALLBACK;
    return g_tsc_calibrated;
}

bool tsc_calibrated() { return g_tsc_calibrated; }
u64 tsc_khz() { return g_tsc_khz; }
u64 tsc_to_us(u64 ticks) { return ticks / g_tsc_khz * 1000 + ticks % g_tsc_khz * 1000 / g_tsc_khz; }
u64 tsc_deadline_us(u64 us) { return rdtsc() + us * g_tsc_khz / 1000; }

void delay_us(u64 us) {
    const u64 end = tsc_deadline_us(us);
    while (!tsc_past(end)) asm volatile("pause");
}

// ---- local APIC ---------------------------------------------------------------------------------------------------

u64 apic_base_msr() { return rdmsr(MSR_IA32_APIC_BASE); }
bool apic_x2apic() { return (apic_base_msr() & APIC_BASE_EXTD) != 0; }

bool apic_enable_x2apic() {
    constexpr u32 CPUID1_ECX_X2APIC = 1u << 21;
    if ((cpuid(1).ecx & CPUID1_ECX_X2APIC) == 0) return false;
    if (!apic_x2apic()) wrmsr(MSR_IA32_APIC_BASE, apic_base_msr() | APIC_BASE_EXTD); // EN stays set: xAPIC -> x2APIC
    return apic_x2apic();
}
u64 apic_mmio_base() { return apic_base_msr() & APIC_BASE_ADDR_MASK; }

u32 apic_read(u32 reg) {
    if (apic_x2apic()) return static_cast<u32>(rdmsr(MSR_X2APIC_BASE + reg / 16));
    return *reinterpret_cast<volatile u32*>(apic_mmio_base() + reg);
}

void apic_write(u32 reg, u32 val) {
    if (apic_x2apic()) {
        wrmsr(MSR_X2APIC_BASE + reg / 16, val);
        return;
    }
    *reinterpret_cast<volatile u32*>(apic_mmio_base() + reg) = val;
}

u32 apic_id() {
    const u32 id = apic_read(APIC_REG_ID);
    return apic_x2apic() ? id : id >> 24;
}

u32 cpuid_initial_apic_id() { return cpuid(1).ebx >> 24; }

u32 cpuid_x2apic_id() {
    if (cpuid(0).eax >= 0xB) {
        CpuidRegs r = cpuid(0xB, 0);
        if (r.ebx != 0) return r.edx;
    }
    return cpuid_initial_apic_id();
}

bool apic_send_ipi(u32 dest, u32 icr_lo) {
    if (apic_x2apic()) {
        wrmsr(MSR_X2APIC_ICR, (u64{dest} << 32) | icr_lo); // no delivery status in x2APIC mode
        return true;
    }
    auto idle = [] {
        const u64 end = tsc_deadline_us(ICR_IDLE_TIMEOUT_US);
        while ((apic_read(APIC_REG_ICR_LO) & APIC_ICR_BUSY) != 0)
            if (tsc_past(end)) return false;
        return true;
    };
    bool ok = idle();
    apic_write(APIC_REG_ICR_HI, dest << 24);
    apic_write(APIC_REG_ICR_LO, icr_lo);
    return idle() && ok;
}

// ---- ACPI ---------------------------------------------------------------------------------------------------------

namespace {

const IdentityMem g_mem;

// The RSDP of the Multiboot2 information (tags 14/15) or, without one, of the legacy BIOS search.
evmm::Status find_rsdp(const u8*& rsdp, size_t& rsdp_len, bool& from_mb2) {
    from_mb2 = false;
    if (const evmm::Mb2Info* m = mb2(); m != nullptr && m->rsdp() != nullptr) {
        rsdp = m->rsdp();
        rsdp_len = m->rsdp_len();
        from_mb2 = true;
        return evmm::Status::success();
    }
    u64 pa = 0;
    EVMM_TRY(evmm::acpi_find_rsdp_bios(g_mem, pa));
    rsdp = static_cast<const u8*>(g_mem.map(pa, evmm::ACPI_RSDP_V2_SIZE));
    if (rsdp == nullptr) return evmm::Status::error("RSDP not readable", "BIOS search", pa);
    rsdp_len = rsdp[15] >= evmm::ACPI_RSDP_REVISION_2 ? evmm::ACPI_RSDP_V2_SIZE : evmm::ACPI_RSDP_V1_SIZE;
    return evmm::Status::success();
}

} // namespace

evmm::Status smp_find_cpus(SmpTopology& out) {
    out = SmpTopology{};
    const u8* rsdp = nullptr;
    size_t rsdp_len = 0;
    EVMM_TRY(find_rsdp(rsdp, rsdp_len, out.rsdp_from_mb2));
    out.rsdp_pa = reinterpret_cast<u64>(rsdp);
    EVMM_TRY(evmm::acpi_find_table(g_mem, rsdp, rsdp_len, evmm::ACPI_SIG_MADT, out.madt_pa));
    return evmm::acpi_parse_madt(g_mem, out.madt_pa, out.madt);
}

evmm::Status acpi_find_power(evmm::AcpiPowerInfo& out) {
    const u8* rsdp = nullptr;
    size_t rsdp_len = 0;
    bool from_mb2 = false;
    EVMM_TRY(find_rsdp(rsdp, rsdp_len, from_mb2));
    u64 fadt = 0;
    EVMM_TRY(evmm::acpi_find_table(g_mem, rsdp, rsdp_len, evmm::ACPI_SIG_FADT, fadt));
    return evmm::acpi_parse_fadt(g_mem, fadt, out);
}

// ---- AP start -----------------------------------------------------------------------------------------------------

u64 smp_choose_trampoline() {
    const evmm::Mb2Info* m = mb2();
    if (m == nullptr || !m->has_mmap) return 0;
    const u64 info = reinterpret_cast<u64>(mb2_info_address());
    for (u64 p = SMP_TRAMPOLINE_LIMIT - evmm::PAGE_SIZE; p >= evmm::PAGE_SIZE; p -= evmm::PAGE_SIZE) {
        bool usable = false;
        for (u32 i = 0; i < m->mmap_count && !usable; ++i) {
            const evmm_mmap_entry_t& e = m->mmap[i];
            usable = e.type == EVMM_MEM_USABLE && e.base <= p && p + evmm::PAGE_SIZE <= e.base + e.length;
        }
        // A usable page is free unless something else lives there; a reserved entry overlapping a usable one
        // (a malformed map) also disqualifies the page.
        for (u32 i = 0; i < m->mmap_count && usable; ++i) {
            const evmm_mmap_entry_t& e = m->mmap[i];
            if (e.type != EVMM_MEM_USABLE && ranges_overlap(p, evmm::PAGE_SIZE, e.base, e.length)) usable = false;
        }
        if (!usable) continue;
        if (ranges_overlap(p, evmm::PAGE_SIZE, info, m->total_size)) continue;
        if (ranges_overlap(p, evmm::PAGE_SIZE, image_start(), image_end() - image_start())) continue;
        bool module = false;
        for (u32 i = 0; i < m->module_count; ++i) {
            const evmm::Mb2Module& mod = m->modules[i];
            if (ranges_overlap(p, evmm::PAGE_SIZE, mod.mod_start, mod.mod_end - mod.mod_start)) module = true;
        }
        if (!module) return p;
    }
    return 0;
}

void smp_prepare(u64 page) {
    g_page = page;
    const size_t size = static_cast<size_t>(smp_ap_trampoline_end - smp_ap_trampoline);
    __builtin_memcpy(reinterpret_cast<void*>(page), smp_ap_trampoline, size);

    SmpTrampData* d = tramp();
    d->gdtr_limit = sizeof d->gdt - 1;
    d->gdtr_base = static_cast<u32>(page + SMP_TRAMP_DATA + SMP_TD_GDT);
    d->far32_offset = static_cast<u32>(page + SMP_TRAMP_ENTRY32);
    d->far32_selector = SMP_TRAMP_GDT_CODE32;
    d->far64_offset = static_cast<u32>(page + SMP_TRAMP_ENTRY64);
    d->far64_selector = SMP_TRAMP_GDT_CODE64;
    d->efer_set = static_cast<u32>(EFER_LME | (rdmsr(MSR_IA32_EFER) & EFER_NXE));
    d->cr0 = static_cast<u32>(read_cr0());
    d->cr3 = read_cr3();
    d->cr4 = read_cr4();
    d->target = reinterpret_cast<u64>(&smp_ap_entry);
    d->state = SMP_TS_IDLE;
    d->progress = SMP_PROGRESS_NONE;

    asm volatile("sidt %0" : "=m"(g_idtr));

    // The local APIC page is MMIO: map its 2 MiB page uncached (the MTRRs normally make it UC already).
    if (!apic_x2apic()) {
        const u64 base = apic_mmio_base();
        if (base < 4 * evmm::GiB) {
            guest_pd[base >> 21] |= PTE_PCD | PTE_PWT;
            asm volatile("invlpg (%0)" : : "r"(base) : "memory");
        }
    }
    // Sending IPIs needs no software-enabled APIC on most parts, but an OS enables it; do the same.
    const u32 svr = apic_read(APIC_REG_SVR);
    if ((svr & APIC_SVR_ENABLE) == 0) apic_write(APIC_REG_SVR, svr | APIC_SVR_ENABLE | APIC_SPURIOUS_VECTOR);
}

u64 smp_trampoline_page() { return g_page; }

bool smp_start_ap(u32 apic_id, u32 slot, SmpApFn fn, void* arg, u64 timeout_us, SmpStartResult& r, u32 icr_extra) {
    r = SmpStartResult{};
    if (g_page == 0 || slot == 0 || slot >= SMP_MAX_CPUS || (!apic_x2apic() && apic_id > 0xFF)) return false;
    SmpTrampData* d = tramp();
    g_slot[slot].fn = fn;
    g_slot[slot].arg = arg;
    store_release(g_slot[slot].checked_in, 0u);
    d->stack_top = reinterpret_cast<u64>(&g_env[slot].stack[SMP_AP_STACK_SIZE]);
    d->slot = slot;
    d->progress = SMP_PROGRESS_NONE;
    store_release(d->state, static_cast<u32>(SMP_TS_ARMED));

    const u32 vector = static_cast<u32>(g_page >> 12);
    const u64 t0 = rdtsc();
    r.ipi_ok &= apic_send_ipi(apic_id, APIC_ICR_INIT | APIC_ICR_LEVEL_ASSERT | icr_extra);
    delay_us(INIT_DELAY_US);
    r.ipi_ok &= apic_send_ipi(apic_id, APIC_ICR_STARTUP | APIC_ICR_LEVEL_ASSERT | icr_extra | vector);
    delay_us(SIPI_DELAY_US);
    r.ipi_ok &= apic_send_ipi(apic_id, APIC_ICR_STARTUP | APIC_ICR_LEVEL_ASSERT | icr_extra | vector);

    const u64 end = tsc_deadline_us(timeout_us);
    while (load_acquire(g_slot[slot].checked_in) == 0 && !tsc_past(end)) asm volatile("pause");
    r.started = load_acquire(g_slot[slot].checked_in) != 0;
    r.us = tsc_to_us(rdtsc() - t0);
    r.progress = load_acquire(d->progress);
    if (!r.started) {
        // Park it (wait-for-SIPI) so that it cannot wake up later and run into the next start's data; a claim it
        // might still make of this start is withdrawn first.
        store_release(d->state, static_cast<u32>(SMP_TS_IDLE));
        apic_send_ipi(apic_id, APIC_ICR_INIT | APIC_ICR_LEVEL_ASSERT);
    } else {
        // The AP said RUNNING before it reached C; the block is free again.
        store_release(d->state, static_cast<u32>(SMP_TS_IDLE));
        ++g_started;
    }
    return r.started;
}

u32 smp_started_count() { return g_started; }
bool smp_slot_started(u32 slot) { return slot < SMP_MAX_CPUS && load_acquire(g_slot[slot].checked_in) != 0; }

const char* smp_progress_name(u32 progress) {
    switch (progress) {
    case SMP_PROGRESS_NONE: return "nothing (no trampoline code ran)";
    case SMP_PROGRESS_REAL: return "real mode";
    case SMP_PROGRESS_PROTECTED: return "32-bit protected mode";
    case SMP_PROGRESS_LONG: return "64-bit mode on the trampoline page";
    case SMP_PROGRESS_C: return "smp_ap_entry on its own stack";
    case SMP_PROGRESS_READY: return "GDT/TSS/IDT loaded";
    default: return "?";
    }
}

} // namespace guest

// ---- the AP's C entry (called by the trampoline on the AP's stack) --------------------------------------------------

extern "C" [[noreturn]] void smp_ap_entry(evmm::u32 slot) {
    using namespace guest;
    SmpTrampData* d = tramp();
    store_release(d->progress, static_cast<u32>(SMP_PROGRESS_C));

    ApEnv& e = g_env[slot];
    // GDT: the kit's code and data descriptors, then this AP's TSS (SDM Vol. 3A §8.2.3: type 9, P, DPL 0).
    e.gdt[0] = 0;
    e.gdt[1] = guest_gdt[1];
    e.gdt[2] = guest_gdt[2];
    for (unsigned i = 0; i < 3; ++i) e.tss.ist[i] = reinterpret_cast<u64>(&e.ist[IST_STACK_SIZE]);
    e.tss.iopb_offset = sizeof(Tss64);
    const u64 base = reinterpret_cast<u64>(&e.tss);
    const u64 limit = sizeof(Tss64) - 1;
    e.gdt[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (u64{0x89} << 40) | (((limit >> 16) & 0xF) << 48) |
               (((base >> 24) & 0xFF) << 56);
    e.gdt[4] = base >> 32;
    e.gdt[5] = 0;
    DescPtr gdtr{sizeof e.gdt - 1, reinterpret_cast<u64>(e.gdt)};
    asm volatile(
        "lgdt %0\n\t"
        "pushq $0x08\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "movl $0x10, %%eax\n\t"
        "movw %%ax, %%ds\n\t"
        "movw %%ax, %%es\n\t"
        "movw %%ax, %%ss\n\t"
        "movw $0x18, %%ax\n\t"
        "ltr %%ax\n\t"
        "lidt %1"
        :
        : "m"(gdtr), "m"(g_idtr)
        : "rax", "memory");
    store_release(d->progress, static_cast<u32>(SMP_PROGRESS_READY));

    ApSlot& s = g_slot[slot];
    SmpApFn fn = s.fn;
    void* arg = s.arg;
    store_release(s.checked_in, 1u);
    if (fn != nullptr) fn(slot, arg);
    for (;;) asm volatile("cli; hlt");
}
