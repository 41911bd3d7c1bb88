// Unit tests for vmm/modules/smram_policy: the host bridges evmm knows, SMRAM locking, and the filter of guest0's
// PCI configuration writes (any width, any offset within CONFIG_DATA) that must never open or unlock SMRAM.
#include "vmm/modules/smram_policy.h"

#include <gtest/gtest.h>

#include <array>

using namespace evmm;

namespace {

// A host bridge's configuration space: 256 bytes, with a count of the bytes read.
struct Space {
    std::array<u8, 256> b{};
    int reads = 0;
    static u8 read(void* ctx, u8 off) {
        auto* s = static_cast<Space*>(ctx);
        ++s->reads;
        return s->b[off];
    }
};

constexpr u32 cf8_of(u8 reg) { return pci_config_address(0, 0, 0, reg); }

const HostBridge FX = host_bridge_from_id(0x12378086);
const HostBridge Q35 = host_bridge_from_id(0x29C08086);

ConfigWriteFilter filter(const HostBridge& hb, Space& s, u32 cf8, u16 port, u8 size, u32 value) {
    return smram_filter_config_write(hb, cf8, port, size, value, Space::read, &s);
}

} // namespace

TEST(SmramPolicy, KnownHostBridges) {
    EXPECT_EQ(FX.kind, HostBridgeKind::I440fx);
    EXPECT_EQ(FX.smram, 0x72);
    EXPECT_EQ(FX.esmramc, 0);
    EXPECT_EQ(FX.vendor, 0x8086);
    EXPECT_EQ(FX.device, 0x1237);
    EXPECT_EQ(Q35.kind, HostBridgeKind::Q35);
    EXPECT_EQ(Q35.smram, 0x9D);
    EXPECT_EQ(Q35.esmramc, 0x9E);
    for (u32 id : {0x12348086u, 0x29C01022u, 0xFFFFFFFFu, 0u, 0x808629C0u}) {
        const HostBridge hb = host_bridge_from_id(id);
        EXPECT_EQ(hb.kind, HostBridgeKind::Unknown) << std::hex << id;
        EXPECT_EQ(hb.smram, 0) << std::hex << id;
        EXPECT_EQ(hb.vendor, static_cast<u16>(id));
        EXPECT_EQ(hb.device, static_cast<u16>(id >> 16));
    }
}

TEST(SmramPolicy, BitLayout) {
    EXPECT_EQ(SMRAM_D_OPEN, 0x40);
    EXPECT_EQ(SMRAM_D_CLS, 0x20);
    EXPECT_EQ(SMRAM_D_LCK, 0x10);
    EXPECT_EQ(SMRAM_G_SMRAME, 0x08);
    EXPECT_EQ(ESMRAMC_T_EN, 0x01);
    EXPECT_EQ(pci_config_address(0, 0, 0, 0x72), 0x80000070u);
    EXPECT_EQ(pci_config_address(1, 2, 3, 0x9E), 0x8001139Cu);
}

TEST(SmramPolicy, LockValue) {
    // Bochs' BIOS leaves 0x0a (G_SMRAME, A segment, unlocked, closed); firmware that left it open: 0x4a.
    EXPECT_EQ(smram_lock_value(0x0A), 0x1A);
    EXPECT_EQ(smram_lock_value(0x4A), 0x1A);
    EXPECT_EQ(smram_lock_value(0x2A), 0x3A); // D_CLS kept
    EXPECT_EQ(smram_lock_value(0x1A), 0x1A);
    EXPECT_TRUE(smram_locked_closed(0x1A));
    EXPECT_FALSE(smram_locked_closed(0x0A));
    EXPECT_FALSE(smram_locked_closed(0x5A));
    for (u32 v = 0; v < 256; ++v) {
        const u8 l = smram_lock_value(static_cast<u8>(v));
        EXPECT_TRUE(smram_locked_closed(l)) << v;
        EXPECT_EQ(l & ~(SMRAM_D_OPEN | SMRAM_D_LCK), v & ~(SMRAM_D_OPEN | SMRAM_D_LCK)) << v;
    }
}

TEST(SmramPolicy, FilterByteNeverOpensOrUnlocks) {
    for (u32 cur = 0; cur < 256; ++cur)
        for (u32 w = 0; w < 256; ++w) {
            const u8 out = smram_filter_byte(static_cast<u8>(cur), static_cast<u8>(w));
            ASSERT_TRUE(smram_locked_closed(out)) << cur << " " << w;
            ASSERT_EQ(out & SMRAM_G_SMRAME, cur & SMRAM_G_SMRAME) << cur << " " << w;
            // D_CLS, C_BASE_SEG and the reserved bit pass as written.
            ASSERT_EQ(out & 0xA7, w & 0xA7) << cur << " " << w;
            const u8 e = esmramc_filter_byte(static_cast<u8>(cur), static_cast<u8>(w));
            ASSERT_EQ(e & ESMRAMC_PINNED, cur & ESMRAMC_PINNED);
            ASSERT_EQ(e & ~ESMRAMC_PINNED & 0xFF, w & ~ESMRAMC_PINNED & 0xFF);
        }
    // A write that keeps the register as it is passes unchanged.
    EXPECT_EQ(smram_filter_byte(0x1A, 0x1A), 0x1A);
    EXPECT_EQ(smram_filter_byte(0x1A, 0x5A), 0x1A); // D_OPEN dropped
    EXPECT_EQ(smram_filter_byte(0x1A, 0x0A), 0x1A); // D_LCK kept
    EXPECT_EQ(smram_filter_byte(0x1A, 0x12), 0x1A); // G_SMRAME kept
    EXPECT_EQ(smram_filter_byte(0x1A, 0x3A), 0x3A); // D_CLS passes
    EXPECT_EQ(esmramc_filter_byte(0x07, 0x00), 0x07);
    EXPECT_EQ(esmramc_filter_byte(0x07, 0x47), 0x47); // E_SMERR (write 1 to clear) passes
}

TEST(SmramPolicy, ConfigOffsetOfEachByte) {
    const u32 a = cf8_of(0x70);
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFC, 4, 0), 0x70);
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFC, 4, 2), 0x72);
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFC, 4, 4), -1); // past the access
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFE, 1, 0), 0x72);
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFE, 2, 1), 0x73);
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFE, 4, 2), -1); // port 0xD00
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFA, 4, 0), -1); // port 0xCFA
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCFA, 4, 2), 0x70);
    EXPECT_EQ(pci_host_bridge_config_offset(a, 0xCF8, 4, 0), -1); // CONFIG_ADDRESS itself
    EXPECT_EQ(pci_host_bridge_config_offset(a & ~PCI_CONFIG_ENABLE, 0xCFE, 1, 0), -1);
    EXPECT_EQ(pci_host_bridge_config_offset(pci_config_address(0, 1, 0, 0x70), 0xCFE, 1, 0), -1);
    EXPECT_EQ(pci_host_bridge_config_offset(pci_config_address(0, 0, 1, 0x70), 0xCFE, 1, 0), -1);
    EXPECT_EQ(pci_host_bridge_config_offset(pci_config_address(1, 0, 0, 0x70), 0xCFE, 1, 0), -1);
    // Reserved bits 30:24 and the low two bits do not hide the host bridge.
    EXPECT_EQ(pci_host_bridge_config_offset(a | 0x7F000003u, 0xCFE, 1, 0), 0x72);
}

TEST(SmramPolicy, I440fxWritesOfEveryWidthAndOffset) {
    Space s;
    s.b[0x70] = 0x11, s.b[0x71] = 0x22, s.b[0x72] = 0x1A, s.b[0x73] = 0x44;
    const u32 a = cf8_of(0x70);
    // Byte at 0xCFE = 0x72: set D_OPEN, clear D_LCK, clear G_SMRAME -> locked, closed, G_SMRAME kept.
    ConfigWriteFilter f = filter(FX, s, a, 0xCFE, 1, 0x42);
    EXPECT_EQ(f.value, 0x1Au);
    EXPECT_EQ(f.guarded, 1);
    EXPECT_EQ(f.changed, 1);
    // Word at 0xCFE: 0x72 in the low byte (C_BASE_SEG and D_CLS pass as written: read-only or harmless), 0x73 passes.
    f = filter(FX, s, a, 0xCFE, 2, 0x9955);
    EXPECT_EQ(f.value, 0x991Du);
    EXPECT_EQ(f.guarded, 1);
    // Word at 0xCFC: 0x70-0x71 only, nothing guarded, nothing read.
    s.reads = 0;
    f = filter(FX, s, a, 0xCFC, 2, 0xBEEF);
    EXPECT_EQ(f.value, 0xBEEFu);
    EXPECT_EQ(f.guarded, 0);
    EXPECT_EQ(s.reads, 0);
    // Word at 0xCFD (unaligned): 0x71 and 0x72.
    f = filter(FX, s, a, 0xCFD, 2, 0x4A33);
    EXPECT_EQ(f.value, 0x1A33u);
    EXPECT_EQ(f.guarded, 2);
    // Dword at 0xCFC: only byte 2.
    f = filter(FX, s, a, 0xCFC, 4, 0x44402211);
    EXPECT_EQ(f.value, 0x44182211u);
    EXPECT_EQ(f.guarded, 4);
    EXPECT_EQ(f.changed, 4);
    // The same dword written back unchanged: nothing changed.
    f = filter(FX, s, a, 0xCFC, 4, 0x441A2211);
    EXPECT_EQ(f.value, 0x441A2211u);
    EXPECT_EQ(f.changed, 0);
    // D_CLS may be set while locked.
    EXPECT_EQ(filter(FX, s, a, 0xCFE, 1, 0x3A).value, 0x3Au);
    // Dword at 0xCFB (CFB..CFE): byte 3 reaches 0x72.
    f = filter(FX, s, a, 0xCFB, 4, 0x4A000000);
    EXPECT_EQ(f.value, 0x1A000000u);
    // Dword at 0xCFE (CFE, CFF, D00, D01): byte 0 reaches 0x72, bytes 2-3 are other ports.
    f = filter(FX, s, a, 0xCFE, 4, 0x4040404A);
    EXPECT_EQ(f.value, 0x4040401Au);
    // Another dword of the bridge, another device, the enable bit clear, CONFIG_ADDRESS itself: untouched.
    for (u32 cf8 : {cf8_of(0x6C), cf8_of(0x74), pci_config_address(0, 1, 0, 0x70), a & ~PCI_CONFIG_ENABLE}) {
        f = filter(FX, s, cf8, 0xCFC, 4, 0x40404040);
        EXPECT_EQ(f.value, 0x40404040u) << std::hex << cf8;
        EXPECT_EQ(f.guarded, 0);
    }
    EXPECT_EQ(filter(FX, s, a, 0xCF8, 4, 0x80000070).value, 0x80000070u);
    // An i440FX has no ESMRAMC: 0x9E passes there.
    EXPECT_EQ(filter(FX, s, cf8_of(0x9C), 0xCFE, 1, 0x00).value, 0x00u);
}

TEST(SmramPolicy, Q35SmramAndEsmramc) {
    Space s;
    s.b[0x9C] = 0x00, s.b[0x9D] = 0x1A, s.b[0x9E] = 0x07, s.b[0x9F] = 0x00;
    const u32 a = cf8_of(0x9C);
    // Dword at 0x9C: SMRAM open+unlocked and ESMRAMC T_EN/TSEG_SZ cleared -> both kept.
    ConfigWriteFilter f = filter(Q35, s, a, 0xCFC, 4, 0x55004A00);
    EXPECT_EQ(f.value, 0x55071A00u);
    EXPECT_EQ(f.guarded, 0x6);
    EXPECT_EQ(f.changed, 0x6);
    // Byte writes at 0xCFD / 0xCFE.
    EXPECT_EQ(filter(Q35, s, a, 0xCFD, 1, 0x4A).value, 0x1Au);
    EXPECT_EQ(filter(Q35, s, a, 0xCFE, 1, 0x00).value, 0x07u);
    // Word at 0xCFD covers both.
    EXPECT_EQ(filter(Q35, s, a, 0xCFD, 2, 0x000A).value, 0x071Au);
    // The i440FX's 0x72 is nothing special on a Q35.
    EXPECT_EQ(filter(Q35, s, cf8_of(0x70), 0xCFE, 1, 0x4A).value, 0x4Au);
}

TEST(SmramPolicy, UnknownBridgeAndBadSizesPassEverything) {
    Space s;
    const HostBridge none = host_bridge_from_id(0x00011234);
    ConfigWriteFilter f = filter(none, s, cf8_of(0x70), 0xCFE, 1, 0x4A);
    EXPECT_EQ(f.value, 0x4Au);
    EXPECT_EQ(f.guarded, 0);
    EXPECT_EQ(s.reads, 0);
    f = filter(FX, s, cf8_of(0x70), 0xCFE, 3, 0x4A);
    EXPECT_EQ(f.value, 0x4Au);
}
