// Every CPU walks the six stages together, the BSP opening each one (evmm-boot-flow: vmm_main "started in
// parallel for all available processors"), and a CPU that stops for good stops all the others.
//
// Stage protocol, for stage k: the BSP does the stage's BSP-only work and opens it (release store); each AP waits
// for the opening (acquire), does its per-CPU part and arrives; the BSP waits (bounded) until every CPU arrived
// before it starts stage k + 1. No locks: one writer per flag, counters with atomic adds.
#pragma once

#include "arch/x86_64/cpu.h"
#include "evmm/base.h"

namespace evmm {

void smp_init(u32 num_cpus, u64 tsc_khz); // BSP, before opening stage 1
u32 smp_num_cpus();
u64 smp_ms_to_ticks(u64 ms); // TSC ticks in ms milliseconds (the loader's TSC frequency; 1 GHz if unknown)

// Spins (PAUSE) until done() is true; false once `ticks` TSC ticks have passed without it. The bounded wait for a
// device (an IOMMU command, a DMA) that must never hang the hypervisor.
template <typename Done>
bool spin_until(Done done, u64 ticks) {
    const u64 start = rdtsc();
    while (!done()) {
        if (rdtsc() - start > ticks) return false;
        cpu_pause();
    }
    return true;
}

void stage_open(u32 stage);      // BSP
void stage_wait_open(u32 stage); // AP
void stage_arrive(u32 stage);    // every CPU, after its per-CPU part of the stage
void stage_wait_all(u32 stage);  // BSP: every CPU arrived (panics, naming the stragglers, after a timeout)

// Final stop: ask every other CPU to stop (NMI to all but self), wait (bounded) until each printed its state.
void smp_stop_others();
bool smp_stop_requested();
// This CPU is already printing its stop line (the stop NMI may arrive in the middle of it: the NMI then returns).
bool smp_this_cpu_stopping();
// Called on a CPU that received the stop NMI (in VMX root from the IDT, or from an NMI VM exit): prints one line
// with where it was (and rip, unless 0), acknowledges and halts.
[[noreturn]] void smp_stopped(const char* where, u64 rip);

} // namespace evmm
