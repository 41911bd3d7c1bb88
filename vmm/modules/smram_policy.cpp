#include "vmm/modules/smram_policy.h"

namespace evmm {

HostBridge host_bridge_from_id(u32 id) {
    HostBridge hb;
    hb.vendor = static_cast<u16>(id);
    hb.device = static_cast<u16>(id >> 16);
    if (hb.vendor != PCI_VENDOR_INTEL) return hb;
    if (hb.device == PCI_DEVICE_I440FX_PMC) {
        hb.kind = HostBridgeKind::I440fx;
        hb.smram = 0x72;
        hb.name = "Intel 440FX PMC";
    } else if (hb.device == PCI_DEVICE_Q35_MCH) {
        hb.kind = HostBridgeKind::Q35;
        hb.smram = 0x9D;
        hb.esmramc = 0x9E;
        hb.name = "Intel Q35 MCH";
    }
    return hb;
}

int pci_host_bridge_config_offset(u32 cf8, u16 port, u8 size, u8 i) {
    constexpr u32 BUS_DEV_FN = 0x00FFFF00u; // bus 23:16, device 15:11, function 10:8
    if (i >= size) return -1;
    const u32 p = u32{port} + i;
    if (p < PCI_CONFIG_DATA_PORT || p > PCI_CONFIG_DATA_PORT + 3u) return -1;
    if ((cf8 & PCI_CONFIG_ENABLE) == 0 || (cf8 & BUS_DEV_FN) != 0) return -1;
    return static_cast<int>((cf8 & 0xFCu) + (p - PCI_CONFIG_DATA_PORT));
}

ConfigWriteFilter smram_filter_config_write(const HostBridge& hb, u32 cf8, u16 port, u8 size, u32 value,
                                            ConfigByteReader read, void* ctx) {
    ConfigWriteFilter f;
    f.value = value;
    if (hb.smram == 0 || (size != 1 && size != 2 && size != 4)) return f;
    for (u8 i = 0; i < size; ++i) {
        const int off = pci_host_bridge_config_offset(cf8, port, size, i);
        if (off < 0 || (off != hb.smram && (hb.esmramc == 0 || off != hb.esmramc))) continue;
        const u32 shift = 8u * i;
        const u8 written = static_cast<u8>(value >> shift);
        const u8 current = read(ctx, static_cast<u8>(off));
        const u8 out = off == hb.smram ? smram_filter_byte(current, written) : esmramc_filter_byte(current, written);
        f.guarded = static_cast<u8>(f.guarded | (1u << i));
        if (out != written) f.changed = static_cast<u8>(f.changed | (1u << i));
        f.value = (f.value & ~(0xFFu << shift)) | (u32{out} << shift);
    }
    return f;
}

} // namespace evmm
