// guest0's ACPI sleep requests (ACPI 6.5 §4.8.3.2.1 PM1 Control, §7.4.2 \_Sx, §16.1 sleeping states).
//
// The loader found the PM1a/PM1b control ports in the FADT and S5's SLP_TYP values in the DSDT
// (evmm_desc_t.acpi_power). This module intercepts those ports (vmm/modules/io_monitor.h): reads and writes without
// SLP_EN pass through; a write with SLP_EN set is a sleep request:
//   - SLP_TYP = S5 (soft off): guest0 powers the machine off. evmm logs it with the VM-exit statistics of the run
//     (vmm/vmx/exit_stats.h) and performs the write: the machine goes off as it would without a hypervisor.
//   - any other SLP_TYP (S1-S4): not entered. Sleeping would lose the VMX/SVM state, and the firmware's wake path
//     would resume guest0 without the hypervisor (no isolation). evmm answers as a machine that woke up at once: the
//     write goes to the hardware without SLP_EN, and WAK_STS (bit 15 of the PM1 status register, whose port the
//     loader took from the FADT's PM1a_EVT_BLK) reads as set until guest0 writes 1 to it; the OS's wait for WAK_STS
//     ends and it resumes as after a wake event (Linux: "suspend" returns at once). Without a PM1a status port
//     that answer cannot be given: a final stop names the request.
//   - \_S5 unknown (no DSDT, or none in it): evmm cannot tell S5 from the others; it logs the statistics and a
//     warning, then performs the write.
// Without a usable PM1a_CNT port (hardware-reduced ACPI, memory-mapped PM1 control) nothing is intercepted.
#pragma once

#include "evmm_desc.h"

namespace evmm {

void acpi_power_init(); // stage 3, after io_monitor_init

} // namespace evmm
