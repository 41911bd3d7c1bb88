// SMRAM control of the host bridge: the pure decisions of vmm/modules/smm_guard (host-tested, tests/unit).
//
// SMRAM is the memory that holds the firmware's SMM code. The host bridge decides who sees it through one byte of its
// PCI configuration space (bus 0, device 0, function 0), the same bit layout on both chipsets evmm knows:
//
//   chipset (vendor:device)           SMRAM control   extended SMRAM control
//   Intel 440FX PMC (8086:1237)       0x72 "SMRAM"    none
//   Intel Q35 / 3 Series MCH (8086:29C0)  0x9D "SMRAM"    0x9E "ESMRAMC" (TSEG)
//
//   SMRAM:   bit 7 reserved, 6 D_OPEN (SMRAM visible outside SMM), 5 D_CLS (no data accesses to SMRAM in SMM),
//            4 D_LCK (lock: D_OPEN reads 0 and cannot be set again; only a reset clears D_LCK), 3 G_SMRAME
//            (SMRAM enabled at all), 2:0 C_BASE_SEG (0b010: the A segment, 0xA0000-0xBFFFF).
//   ESMRAMC: bit 7 H_SMRAME, 6 E_SMERR (write 1 to clear), 5-3 SM_CACHE/SM_L1/SM_L2 (read-only), 2:1 TSEG_SZ,
//            0 T_EN (TSEG enabled).
// (Intel 82441FX PMC datasheet, register SMRAM 72h: with D_LCK set, D_OPEN reads 0 and D_LCK/D_OPEN are read-only;
// Intel 3 Series Express Chipset Family datasheet 316966, device 0 registers SMRAM 9Dh and ESMRAMC 9Eh: D_OPEN,
// G_SMRAME, H_SMRAME, TSEG_SZ and T_EN are "R/W/L", locked by D_LCK.)
//
// What evmm does with it: at boot (stage 3) it closes and locks SMRAM when the firmware left it unlocked
// (smram_lock_value); afterwards it filters guest0's configuration writes through ports 0xCF8/0xCFC-0xCFF
// (PCI configuration mechanism #1) that reach those bytes (smram_filter_config_write): D_OPEN can never be set,
// D_LCK never cleared, and the other bits the datasheets lock with D_LCK (G_SMRAME; ESMRAMC's H_SMRAME, TSEG_SZ,
// T_EN) keep their value, whatever the hardware (or an emulator) would do. Every other bit and byte passes.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline constexpr u16 PCI_VENDOR_INTEL = 0x8086;
inline constexpr u16 PCI_DEVICE_I440FX_PMC = 0x1237;
inline constexpr u16 PCI_DEVICE_Q35_MCH = 0x29C0;

// PCI configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2): CONFIG_ADDRESS (dword at 0xCF8), CONFIG_DATA
// (0xCFC-0xCFF, any width).
inline constexpr u16 PCI_CONFIG_ADDRESS_PORT = 0xCF8;
inline constexpr u16 PCI_CONFIG_DATA_PORT = 0xCFC;
inline constexpr u32 PCI_CONFIG_ENABLE = 1u << 31;
// CONFIG_ADDRESS of a function's dword at `reg` (bits 7:2).
constexpr u32 pci_config_address(u8 bus, u8 dev, u8 fn, u8 reg) {
    return PCI_CONFIG_ENABLE | u32{bus} << 16 | u32{dev & 0x1Fu} << 11 | u32{fn & 0x7u} << 8 | (reg & 0xFCu);
}

inline constexpr u8 SMRAM_D_OPEN = 1u << 6;
inline constexpr u8 SMRAM_D_CLS = 1u << 5;
inline constexpr u8 SMRAM_D_LCK = 1u << 4;
inline constexpr u8 SMRAM_G_SMRAME = 1u << 3;
inline constexpr u8 SMRAM_C_BASE_SEG = 0x7;
inline constexpr u8 ESMRAMC_H_SMRAME = 1u << 7;
inline constexpr u8 ESMRAMC_E_SMERR = 1u << 6;
inline constexpr u8 ESMRAMC_TSEG_SZ = 3u << 1;
inline constexpr u8 ESMRAMC_T_EN = 1u << 0;

// The SMRAM bits a write can never change while evmm guards SMRAM (D_OPEN stays 0 and D_LCK 1 on top of these).
inline constexpr u8 SMRAM_PINNED = SMRAM_G_SMRAME;
inline constexpr u8 ESMRAMC_PINNED = ESMRAMC_H_SMRAME | ESMRAMC_TSEG_SZ | ESMRAMC_T_EN;

enum class HostBridgeKind : u8 { Unknown, I440fx, Q35 };

struct HostBridge {
    HostBridgeKind kind = HostBridgeKind::Unknown;
    u16 vendor = 0, device = 0;
    u8 smram = 0;   // configuration offset of SMRAM (0: unknown bridge)
    u8 esmramc = 0; // of ESMRAMC (0: none)
    const char* name = "unknown host bridge";
};

// The host bridge from the dword at its configuration offset 0 (device ID << 16 | vendor ID).
HostBridge host_bridge_from_id(u32 id);

// SMRAM closed (D_OPEN clear) and locked (D_LCK set).
constexpr bool smram_locked_closed(u8 smram) { return (smram & SMRAM_D_LCK) != 0 && (smram & SMRAM_D_OPEN) == 0; }

// The value evmm writes to lock SMRAM found unlocked: D_OPEN cleared, D_LCK set, everything else kept. (Neither
// chipset lets D_OPEN and D_CLS both be set; clearing D_OPEN keeps that rule.)
constexpr u8 smram_lock_value(u8 smram) { return static_cast<u8>((smram & ~SMRAM_D_OPEN) | SMRAM_D_LCK); }

// One byte written to SMRAM / ESMRAMC by guest0, given the register's current value: what reaches the hardware.
constexpr u8 smram_filter_byte(u8 current, u8 written) {
    const u8 v = static_cast<u8>((written & ~SMRAM_PINNED) | (current & SMRAM_PINNED));
    return static_cast<u8>((v & ~SMRAM_D_OPEN) | SMRAM_D_LCK);
}
constexpr u8 esmramc_filter_byte(u8 current, u8 written) {
    return static_cast<u8>((written & ~ESMRAMC_PINNED) | (current & ESMRAMC_PINNED));
}

// The configuration offset that byte `i` of an I/O access of `size` bytes at `port` reaches, with CONFIG_ADDRESS =
// `cf8`, on bus 0 device 0 function 0; -1 when that byte is not a configuration access to the host bridge (another
// port than 0xCFC-0xCFF, the enable bit clear, another function). CONFIG_ADDRESS bits 30:24 (reserved) and 1:0 are
// ignored, as hardware that does not decode them would.
int pci_host_bridge_config_offset(u32 cf8, u16 port, u8 size, u8 i);

// Reads the current value of one configuration byte of the host bridge (the hardware, or a test's array).
using ConfigByteReader = u8 (*)(void* ctx, u8 offset);

struct ConfigWriteFilter {
    u32 value = 0;  // what to write instead (same port, same size)
    u8 guarded = 0; // bit i: byte i of the access reaches SMRAM or ESMRAMC
    u8 changed = 0; // bit i: byte i differs from what guest0 wrote
};

// Filters an OUT of `size` (1, 2, 4) bytes at `port` carrying `value`, CONFIG_ADDRESS being `cf8`: the bytes that
// reach the bridge's SMRAM or ESMRAMC get smram_filter_byte / esmramc_filter_byte against their current value (read
// only for those bytes); every other byte, and every access for an unknown bridge, is passed as written.
ConfigWriteFilter smram_filter_config_write(const HostBridge& hb, u32 cf8, u16 port, u8 size, u32 value,
                                            ConfigByteReader read, void* ctx);

} // namespace evmm
