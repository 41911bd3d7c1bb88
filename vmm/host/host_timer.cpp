// The hypervisor's one-shot LAPIC timer. See host_timer.h; SDM Vol. 3A §11.5.4 "APIC Timer", §11.8.3 "Interrupt,
// Task, and Processor Priority".
#include "vmm/host/host_timer.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "evmm_desc.h"
#include "lib/log.h"
#include "vmm/host/platform.h"

namespace evmm {
namespace {

constexpr u32 MAX_COUNT = 0xFFFF'FFFFu;
constexpr u32 TPR_BLOCK_BELOW_CLASS_15 = 0xEu << TPR_CLASS_SHIFT; // classes 0-14 blocked (§11.8.3.1)

struct TimerCpu {
    bool saved;        // the APIC's state below is the firmware's, to restore
    bool armed;        // a deadline is set
    u64 deadline;      // TSC
    u64 counts_per_ms; // the timer's rate at divide-by-16, measured once
    Lapic apic;
    u32 lvt_timer, divide, initial, tpr, lint0, svr;
};

TimerCpu g_cpu[EVMM_MAX_CPUS];

TimerCpu& mine() { return g_cpu[this_cpu_id() % EVMM_MAX_CPUS]; }
u64 tsc_per_ms() { return platform().tsc_khz != 0 ? platform().tsc_khz : 1'000'000; }

// The timer's counts in 1 ms of TSC time, counting down from the maximum with its interrupt masked.
u64 measure(const Lapic& a) {
    lapic_write(a, XApicReg::LVT_TIMER, LVT_MASKED | HOST_TIMER_VECTOR);
    lapic_write(a, XApicReg::TIMER_DIVIDE_CONFIG, TIMER_DIVIDE_BY_16);
    lapic_write(a, XApicReg::TIMER_INITIAL_COUNT, MAX_COUNT);
    const u64 start = rdtsc();
    while (rdtsc() - start < tsc_per_ms()) cpu_pause();
    const u32 left = lapic_read(a, XApicReg::TIMER_CURRENT_COUNT);
    lapic_write(a, XApicReg::TIMER_INITIAL_COUNT, 0);
    return MAX_COUNT - left;
}

// Interrupts on for one instruction (STI's shadow covers the NOP): a pending interrupt of class 15 (the TPR blocks
// the rest, LINT0 is masked) goes through evmm's IDT to host_timer_take_interrupt.
void take_pending() { asm volatile("sti; nop; cli" ::: "memory"); }

// At most one second per count (the product below stays far from overflowing; a later deadline is reached by
// host_timer_on_interrupt arming the timer again for the rest).
constexpr u64 MAX_CHUNK_MS = 1000;

void program(TimerCpu& t) {
    const u64 now = rdtsc();
    u64 left = t.deadline > now ? t.deadline - now : 1;
    if (left > MAX_CHUNK_MS * tsc_per_ms()) left = MAX_CHUNK_MS * tsc_per_ms();
    u64 count = left * t.counts_per_ms / tsc_per_ms();
    if (count == 0) count = 1;
    if (count > MAX_COUNT) count = MAX_COUNT; // early: host_timer_on_interrupt arms it again for the rest
    lapic_write(t.apic, XApicReg::LVT_TIMER, HOST_TIMER_VECTOR); // one-shot, not masked
    lapic_write(t.apic, XApicReg::TIMER_INITIAL_COUNT, static_cast<u32>(count));
}

} // namespace

bool host_timer_arm(u64 deadline) {
    TimerCpu& t = mine();
    if (!t.saved) {
        const Lapic a = lapic_detect();
        if (a.mode == ApicMode::Disabled) return false;
        t.apic = a;
        t.lvt_timer = lapic_read(a, XApicReg::LVT_TIMER);
        t.divide = lapic_read(a, XApicReg::TIMER_DIVIDE_CONFIG);
        t.initial = lapic_read(a, XApicReg::TIMER_INITIAL_COUNT);
        t.tpr = lapic_read(a, XApicReg::TPR);
        t.lint0 = lapic_read(a, XApicReg::LVT_LINT0);
        t.svr = lapic_read(a, XApicReg::SVR);
        t.saved = true;
        // §11.4.7.2: a software-disabled APIC keeps every LVT entry masked.
        if ((t.svr & SVR_APIC_ENABLE) == 0) lapic_write(a, XApicReg::SVR, t.svr | SVR_APIC_ENABLE);
        lapic_write(a, XApicReg::LVT_LINT0, t.lint0 | LVT_MASKED);
        lapic_write(a, XApicReg::TPR, TPR_BLOCK_BELOW_CLASS_15);
        t.counts_per_ms = measure(a);
        LOG_INFO("host timer: cpu%u: LAPIC timer %lu counts/ms at divide 16 (TSC %lu kHz), vector 0x%x", this_cpu_id(),
                 t.counts_per_ms, tsc_per_ms(), HOST_TIMER_VECTOR);
    }
    if (t.counts_per_ms == 0) {
        host_timer_release();
        return false;
    }
    t.deadline = deadline;
    t.armed = true;
    program(t);
    return true;
}

void host_timer_on_interrupt() {
    TimerCpu& t = mine();
    take_pending();
    if (!t.armed) return;
    if (rdtsc() >= t.deadline) {
        t.armed = false;
        lapic_write(t.apic, XApicReg::TIMER_INITIAL_COUNT, 0);
        return;
    }
    program(t); // early (the count's cap, or another class-15 interrupt): the rest
}

void host_timer_release() {
    TimerCpu& t = mine();
    if (!t.saved) return;
    const Lapic& a = t.apic;
    lapic_write(a, XApicReg::LVT_TIMER, LVT_MASKED | HOST_TIMER_VECTOR);
    lapic_write(a, XApicReg::TIMER_INITIAL_COUNT, 0); // stops the count (§11.5.4)
    take_pending();                                   // a timer interrupt already in the IRR: EOI'd here
    lapic_write(a, XApicReg::TIMER_DIVIDE_CONFIG, t.divide);
    lapic_write(a, XApicReg::LVT_TIMER, t.lvt_timer);
    if (t.initial != 0) lapic_write(a, XApicReg::TIMER_INITIAL_COUNT, t.initial); // restarts it from the top
    lapic_write(a, XApicReg::LVT_LINT0, t.lint0);
    lapic_write(a, XApicReg::TPR, t.tpr);
    lapic_write(a, XApicReg::SVR, t.svr);
    t.saved = false;
    t.armed = false;
}

bool host_timer_take_interrupt(u64 vector) {
    TimerCpu& t = mine();
    if (!t.saved) return false;
    if (vector == (t.svr & SVR_VECTOR_MASK)) return true; // spurious: no EOI (§11.9)
    if (vector != HOST_TIMER_VECTOR)
        LOG_WARN("host timer: cpu%u: interrupt vector 0x%lx while evmm's timer was armed: acknowledged (EOI)",
                 this_cpu_id(), vector);
    lapic_write(t.apic, XApicReg::EOI, 0);
    return true;
}

} // namespace evmm
