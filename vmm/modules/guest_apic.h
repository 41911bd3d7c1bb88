// guest0's local APIC: its writes are checked so that guest0 starts its own APs through evmm, not the hardware.
//
// Why (SDM Vol. 3C §26.2, §33.5 / §25.5): a CPU in VMX root operation blocks INIT and ignores SIPIs, and evmm's
// APs wait for guest0 in VMX root. So guest0's INIT-SIPI-SIPI (the MP initialization protocol, SDM Vol. 3A §9.4)
// is virtualized: evmm sees every write to the local APIC's Interrupt Command Register, and an INIT or Start-up
// IPI for another CPU goes to that CPU's gcpu, never to the hardware. Everything else passes through.
//
//   - xAPIC: the local APIC's 4 KiB page is read-only in guest0's EPT (reads go to the hardware). A write is an
//     EPT violation: evmm reads the faulting instruction through guest0's page tables (vmm/guest/guest_paging.h),
//     decodes the store (arch/x86_64/insn.h: MOV/XCHG forms), performs it on the real APIC unless it is an
//     INIT/SIPI in ICR_LOW, and advances RIP by the instruction's length. An access it cannot decode, or not a
//     32-bit aligned one, gets #GP(0) and a log line (the APIC only defines aligned 32-bit accesses, SDM Vol. 3A
//     §11.4.1); the machine keeps running. A relocated APIC page (IA32_APIC_BASE, vmm/modules/apic_base.h) is
//     protected the same way; a store to a page that is not this CPU's APIC is performed as a plain store.
//   - x2APIC: WRMSR to the ICR (MSR 0x830) is intercepted the same way (SDM Vol. 3A §11.12.9).
//
// guest0's APs (gcpu 1..n-1) start in the state INIT leaves a CPU in, waiting for a SIPI in VMX root (MONITOR/
// MWAIT on their own state word where the CPU has it, else PAUSE; the stop NMI ends the wait). Per target:
//   INIT (level assert)  to a waiting gcpu: nothing changes. To a running one: it is marked waiting and the
//                        hardware INIT is sent to its CPU: its INIT VM exit (exit 3) resets the gcpu and waits.
//   INIT level de-assert ignored (no effect since the Pentium 4, SDM Vol. 3A §11.6.1).
//   SIPI (vector V)      to a waiting gcpu: it starts in real mode at V * 4 KiB (CS = V << 8, IP = 0).
//                        To any other: ignored, as the hardware ignores a SIPI outside wait-for-SIPI.
// Which IPIs are sent, dropped or virtualized, and to which CPUs in every shorthand and destination mode:
// vmm/modules/icr_route.h. An INIT to the BSP restarts it at the reset vector (no SIPI wait); SMI IPIs are dropped.
// Wiring (vmm/guest/intercept.h, vmm/guest/gpa_intercept.h, vmm/guest/event.h): the xAPIC page is a guest-physical
// intercept (read-only), the x2APIC ICR an MSR hook, the INIT exit an intercept, and the APs' wait for their SIPI
// an Event::GuestLaunch handler. No other code calls this module.
#pragma once

namespace evmm {

void guest_apic_init(); // stage 3 (BSP): APIC mode and base, the intercepts above

} // namespace evmm
