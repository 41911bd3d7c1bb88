// SMRAM stays closed and locked while guest0 runs (docs/security.md, "SMM").
//
// Stage 3 (BSP, before any guest code runs): the host bridge is identified through PCI configuration mechanism #1
// (bus 0, device 0, function 0: vendor/device ID) and its SMRAM control register read (vmm/modules/smram_policy.h:
// Intel 440FX PMC 0x72, Q35 MCH 0x9D). Firmware should have locked it (D_LCK); if it did not, evmm clears D_OPEN
// and sets D_LCK itself, and logs what it found and did:
//   stage 3: smm-guard: Intel 440FX PMC (8086:1237): SMRAM 0x0a: unlocked (D_LCK clear), closed: locked now (0x1a)
//   stage 3: smm-guard: Intel Q35 MCH (8086:29c0): SMRAM 0x1a: locked by the firmware, closed
// An unknown host bridge is logged ("SMRAM: unknown host bridge VVVV:DDDD: not locked") and nothing is intercepted.
//
// Then, for a known bridge, the ports of mechanism #1 are intercepted through io_monitor (CONFIG_ADDRESS 0xCF8,
// CONFIG_DATA 0xCFC-0xCFF): every access is done on the hardware on guest0's behalf, with the same port, width and
// value, under one lock (so that no other CPU of guest0 moves CONFIG_ADDRESS between evmm's check and the access),
// except that the bytes of a write that reach SMRAM or ESMRAMC are filtered: D_OPEN is never set, D_LCK never
// cleared, G_SMRAME and ESMRAMC's H_SMRAME/TSEG_SZ/T_EN keep their values (what the datasheets promise with D_LCK
// set; evmm does not rely on the chipset, or an emulator, honouring it). A filtered write is logged once.
//
// Not here: SMIs that guest0 sends itself through its local APIC (ICR delivery mode SMI) are refused by guest-apic.
#pragma once

namespace evmm {

void smm_guard_init(); // stage 3, after io_monitor_init

} // namespace evmm
