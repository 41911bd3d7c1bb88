// Starting the application processors (the hardware side; the pure parts are in loader/smp_boot.h).
//
// The contract with the VMM (docs/evmm_desc.md, num_cpus / apic_ids / trampoline_base):
//  - smp_start_aps(), on the BSP before vmm_main: for each APIC ID in apic_ids[1..count), in order, the next
//    cpu id, INIT-SIPI-SIPI through the trampoline, and a wait of at most 100 ms for the AP to reach 64-bit mode.
//    An AP that does not answer is reported by APIC ID, left out (parked again with an INIT), and the next AP
//    reuses its cpu id. A started AP spins in the loader (PAUSE loop) on its own VMM stack (the stack block of its
//    cpu id) with the loader's IDT loaded and interrupts off.
//  - Then the descriptor says what really started: num_cpus (BSP included), apic_ids[] in cpu id order; the
//    runtime region keeps the size planned for the MADT count. One log line: "loader: cpus: N started (APIC IDs
//    a, b, ...)".
//  - smp_release_aps(), just before the BSP's vmm_main(0, desc): a release store the APs acquire; each AP then
//    calls vmm_main(cpu_id, desc) (desc->vmm_file.entry) in long mode on the loader's identity page tables, with
//    the trampoline's flat GDT (selectors 0x08 code, 0x10 data, as the loader's), the loader's IDT, interrupts off,
//    on its VMM main stack.
//  - AP code in the loader never logs (the loader's log prefix is always cpu0).
#pragma once

#include "arch/x86_64/idt.h"
#include "evmm/base.h"
#include "evmm_desc.h"

namespace evmm {

struct ApStartInputs {
    u64 trampoline_base; // 0: no trampoline page (then only the BSP runs)
    const u32* apic_ids; // count entries, [0] = the BSP (as in the MADT, BSP first)
    u32 count;
    evmm_desc_t* desc;            // built already; num_cpus/apic_ids are rewritten here
    u64 tsc_khz;                  // for the delays (0: unknown, delays then assume a 10 GHz TSC)
    DescriptorTableRegister idtr; // the loader's IDT, loaded on every AP
};

// Starts the APs, finalizes desc (num_cpus, apic_ids), logs the result. Returns the number of CPUs started
// (BSP included). Never fails: a problem leaves APs out with a warning.
u32 smp_start_aps(const ApStartInputs& in);

// Lets the started APs go on to vmm_main(cpu_id, desc).
void smp_release_aps();

} // namespace evmm
