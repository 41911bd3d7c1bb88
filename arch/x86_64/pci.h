// PCI configuration space through configuration mechanism #1 (ports 0xCF8/0xCFC; PCI Local Bus Specification 3.0
// §3.2.2.3.2): enough for evmm's own tests to find a device on bus 0 and turn on its memory decoding and bus
// mastering. Segment 0 only.
#pragma once

#include "arch/x86_64/io.h"
#include "evmm/base.h"

namespace evmm::pci {

inline constexpr u16 CONFIG_ADDRESS = 0xCF8;
inline constexpr u16 CONFIG_DATA = 0xCFC;
inline constexpr u32 CONFIG_ENABLE = 1u << 31;

// Configuration-space offsets of the type-0 header.
inline constexpr u8 VENDOR_DEVICE = 0x00; // vendor id bits 15:0, device id 31:16 (vendor 0xFFFF: no device)
inline constexpr u8 COMMAND = 0x04;       // 16-bit
inline constexpr u8 BAR0 = 0x10;
inline constexpr u16 COMMAND_MEMORY = 1u << 1;     // memory space enable
inline constexpr u16 COMMAND_BUS_MASTER = 1u << 2; // bus master enable: the device may start DMA
inline constexpr u32 BAR_IO = 1u << 0;
inline constexpr u32 BAR_TYPE_64 = 2u << 1;
inline constexpr u32 BAR_MEM_MASK = ~u32{0xF};
inline constexpr u16 VENDOR_NONE = 0xFFFF;

constexpr u32 config_address(u8 bus, u8 dev, u8 fn, u8 off) {
    return CONFIG_ENABLE | (u32{bus} << 16) | ((u32{dev} & 0x1F) << 11) | ((u32{fn} & 0x7) << 8) | (off & 0xFC);
}

inline u32 read32(u8 bus, u8 dev, u8 fn, u8 off) {
    io::out32(CONFIG_ADDRESS, config_address(bus, dev, fn, off));
    return io::in32(CONFIG_DATA);
}
inline void write32(u8 bus, u8 dev, u8 fn, u8 off, u32 v) {
    io::out32(CONFIG_ADDRESS, config_address(bus, dev, fn, off));
    io::out32(CONFIG_DATA, v);
}

} // namespace evmm::pci
