#include "vmm/host/smp.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "evmm_desc.h"
#include "lib/log.h"
#include "vmm/host/panic.h"

namespace evmm {
namespace {

constexpr u32 STAGES = 6;
constexpr u64 STAGE_TIMEOUT_MS = 20000; // generous: Bochs runs several CPUs in one host thread
constexpr u64 STOP_TIMEOUT_MS = 200;
constexpr u32 NOBODY = ~0u;

u32 g_num_cpus = 1;
u64 g_tsc_khz = 0;
volatile u32 g_open = 0;                 // highest stage opened by the BSP
volatile u32 g_arrived[STAGES + 1];      // CPUs done with stage k
volatile u64 g_arrived_mask[STAGES + 1]; // which ones (for the straggler report)
volatile u32 g_stopper = NOBODY;         // CPU that called smp_stop_others
volatile u32 g_stopped = 0;              // CPUs that acknowledged

volatile bool g_stopping[EVMM_MAX_CPUS]; // this CPU is already in smp_stopped

} // namespace

u64 smp_ms_to_ticks(u64 ms) { return g_tsc_khz != 0 ? g_tsc_khz * ms : ms * 1000000; }

void smp_init(u32 num_cpus, u64 tsc_khz) {
    g_num_cpus = num_cpus;
    g_tsc_khz = tsc_khz;
}

u32 smp_num_cpus() { return g_num_cpus; }

void stage_open(u32 stage) { __atomic_store_n(&g_open, stage, __ATOMIC_RELEASE); }

void stage_wait_open(u32 stage) {
    while (__atomic_load_n(&g_open, __ATOMIC_ACQUIRE) < stage) {
        if (smp_stop_requested())
            smp_stopped("waiting for a stage", reinterpret_cast<u64>(__builtin_return_address(0)));
        cpu_pause();
    }
}

void stage_arrive(u32 stage) {
    __atomic_fetch_or(&g_arrived_mask[stage], bit(this_cpu_id()), __ATOMIC_RELAXED);
    __atomic_fetch_add(&g_arrived[stage], 1, __ATOMIC_RELEASE);
}

void stage_wait_all(u32 stage) {
    const u64 start = rdtsc(), limit = smp_ms_to_ticks(STAGE_TIMEOUT_MS);
    while (__atomic_load_n(&g_arrived[stage], __ATOMIC_ACQUIRE) < g_num_cpus) {
        if (rdtsc() - start > limit) {
            const u64 missing = ~g_arrived_mask[stage] & (g_num_cpus >= 64 ? ~u64{0} : bit(g_num_cpus) - 1);
            PANIC("stage %u: CPUs did not finish it within %lu ms (mask of missing CPUs 0x%lx)", stage,
                  STAGE_TIMEOUT_MS, missing);
        }
        cpu_pause();
    }
}

bool smp_this_cpu_stopping() {
    const u32 me = this_cpu_id();
    return me < EVMM_MAX_CPUS && g_stopping[me];
}

bool smp_stop_requested() { return __atomic_load_n(&g_stopper, __ATOMIC_ACQUIRE) != NOBODY; }

void smp_stop_others() {
    u32 expected = NOBODY;
    if (!__atomic_compare_exchange_n(&g_stopper, &expected, this_cpu_id(), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return; // someone else is stopping everybody (and will stop us too)
    if (g_num_cpus <= 1) return;
    // SDM Vol. 3A §11.6.1: NMI delivery to all excluding self. In VMX non-root mode an NMI causes a VM exit
    // (pin-based "NMI exiting"); in VMX root (evmm's code, an AP waiting for guest0's SIPI) the IDT's NMI handler
    // takes it.
    const u64 limit = smp_ms_to_ticks(STOP_TIMEOUT_MS);
    if (!lapic_send(lapic_detect(), ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT | ICR_SHORTHAND_ALL_BUT_SELF, limit))
        LOG_ERROR("evmm: the local APIC did not send the stop NMI");
    const u64 start = rdtsc();
    while (__atomic_load_n(&g_stopped, __ATOMIC_ACQUIRE) < g_num_cpus - 1 && rdtsc() - start < limit) cpu_pause();
    const u32 n = __atomic_load_n(&g_stopped, __ATOMIC_ACQUIRE);
    if (n < g_num_cpus - 1)
        LOG_ERROR("evmm: %u of %u other CPUs acknowledged the stop (the rest are unresponsive)", n, g_num_cpus - 1);
}

[[noreturn]] void smp_stopped(const char* where, u64 rip) {
    cpu_cli();
    const u32 me = this_cpu_id();
    if (me >= EVMM_MAX_CPUS || g_stopping[me]) halt_forever();
    g_stopping[me] = true; // one line and one acknowledgement per CPU
    if (rip == 0) {        // nowhere in particular (a wait loop)
        LOG_ERROR("evmm: stopped by cpu%u while %s", g_stopper, where);
    } else {
        char sym[96];
        symbolize(rip, sym, sizeof sym, false);
        LOG_ERROR("evmm: stopped by cpu%u while %s (rip %016lx %s)", g_stopper, where, rip, sym);
    }
    log_unlock_if_owner(); // the NMI may have come in the middle of one of our own lines
    __atomic_fetch_add(&g_stopped, 1, __ATOMIC_RELEASE);
    halt_forever();
}

} // namespace evmm
