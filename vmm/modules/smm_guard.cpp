#include "vmm/modules/smm_guard.h"

#include "evmm/spinlock.h"
#include "lib/log.h"
#include "vmm/guest/gcpu.h"
#include "vmm/modules/io_monitor.h"
#include "vmm/modules/smram_policy.h"

namespace evmm {
namespace {

HostBridge g_bridge;
SpinLock g_config_lock; // CONFIG_ADDRESS and the CONFIG_DATA access that follows it, as one step
bool g_reported_filter = false;

constexpr u32 HOST_BRIDGE = pci_config_address(0, 0, 0, 0);

u16 data_port(u8 offset) { return static_cast<u16>(PCI_CONFIG_DATA_PORT + (offset & 3u)); }

u8 config_read8(u8 offset) {
    io_port_out(PCI_CONFIG_ADDRESS_PORT, 4, HOST_BRIDGE | (offset & 0xFCu));
    return static_cast<u8>(io_port_in(data_port(offset), 1));
}

void config_write8(u8 offset, u8 v) {
    io_port_out(PCI_CONFIG_ADDRESS_PORT, 4, HOST_BRIDGE | (offset & 0xFCu));
    io_port_out(data_port(offset), 1, v);
}

// The current value of a host-bridge byte while CONFIG_ADDRESS already selects its dword (the lock is held).
u8 read_selected(void*, u8 offset) { return static_cast<u8>(io_port_in(data_port(offset), 1)); }

// Every access to 0xCF8 (CONFIG_ADDRESS: dword only; a byte or word at 0xCF8-0xCFB is another register) and to
// 0xCFC-0xCFF, done for guest0 as it asked. Bytes of an access that lie outside these ports (an unaligned access)
// go to the hardware with it, unchanged.
void on_config_in(Gcpu&, u16 port, u8 size, bool, u32& value) {
    LockGuard l(g_config_lock);
    value = io_port_in(port, size);
}

void on_config_out(Gcpu& g, u16 port, u8 size, bool, u32& value) {
    LockGuard l(g_config_lock);
    const u32 cf8 = io_port_in(PCI_CONFIG_ADDRESS_PORT, 4);
    const ConfigWriteFilter f = smram_filter_config_write(g_bridge, cf8, port, size, value, read_selected, nullptr);
    if (f.changed != 0 && !g_reported_filter) {
        g_reported_filter = true;
        LOG_WARN(
            "guest0 cpu%u: PCI configuration write to the %s's SMRAM control (port 0x%x, %u bytes, 0x%x) "
            "would open or unlock SMRAM: written as 0x%x (reported once)",
            g.cpu_id, g_bridge.name, port, size, value, f.value);
    }
    io_port_out(port, size, f.value);
}

} // namespace

void smm_guard_init() {
    const u32 saved = io_port_in(PCI_CONFIG_ADDRESS_PORT, 4);
    io_port_out(PCI_CONFIG_ADDRESS_PORT, 4, HOST_BRIDGE);
    const u32 id = io_port_in(PCI_CONFIG_DATA_PORT, 4);
    g_bridge = host_bridge_from_id(id);
    if (g_bridge.kind == HostBridgeKind::Unknown) {
        io_port_out(PCI_CONFIG_ADDRESS_PORT, 4, saved);
        LOG_WARN("SMRAM: unknown host bridge %04x:%04x: not locked", g_bridge.vendor, g_bridge.device);
        return;
    }
    const u8 found = config_read8(g_bridge.smram);
    u8 now = found;
    const char* what = "locked by the firmware";
    if ((found & SMRAM_D_LCK) == 0) {
        config_write8(g_bridge.smram, smram_lock_value(found));
        now = config_read8(g_bridge.smram);
        what = smram_locked_closed(now) ? "unlocked (D_LCK clear): locked now" : "unlocked (D_LCK clear): lock failed";
    }
    const u8 esmramc = g_bridge.esmramc != 0 ? config_read8(g_bridge.esmramc) : 0;
    io_port_out(PCI_CONFIG_ADDRESS_PORT, 4, saved);
    LOG_INFO("stage 3: smm-guard: %s (%04x:%04x): SMRAM 0x%02x (D_OPEN %u, D_LCK %u, G_SMRAME %u): %s (SMRAM 0x%02x)",
             g_bridge.name, g_bridge.vendor, g_bridge.device, found, (found & SMRAM_D_OPEN) != 0 ? 1u : 0u,
             (found & SMRAM_D_LCK) != 0 ? 1u : 0u, (found & SMRAM_G_SMRAME) != 0 ? 1u : 0u, what, now);
    if (g_bridge.esmramc != 0)
        LOG_INFO("stage 3: smm-guard: ESMRAMC 0x%02x (T_EN %u)", esmramc, (esmramc & ESMRAMC_T_EN) != 0 ? 1u : 0u);
    if (!smram_locked_closed(now))
        LOG_WARN(
            "SMRAM: the %s does not keep SMRAM locked (SMRAM 0x%02x): evmm's filter of guest0's writes is all "
            "that guards it",
            g_bridge.name, now);

    io_intercept(PCI_CONFIG_ADDRESS_PORT, on_config_in, on_config_out);
    for (u16 p = PCI_CONFIG_DATA_PORT; p < PCI_CONFIG_DATA_PORT + 4; ++p) io_intercept(p, on_config_in, on_config_out);
}

} // namespace evmm
