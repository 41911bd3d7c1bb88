// smm: guest0 cannot open or unlock SMRAM through the host bridge's SMRAM control register (vmm/modules/smm_guard.h,
// docs/security.md "SMM"). Through PCI configuration mechanism #1 (0xCF8/0xCFC-0xCFF) it finds the host bridge
// (Intel 440FX 8086:1237: SMRAM at 0x72; Q35 8086:29C0: SMRAM 0x9D, ESMRAMC 0x9E), reads SMRAM, then tries to set
// D_OPEN and clear D_LCK (and G_SMRAME, and on a Q35 ESMRAMC's T_EN) with byte, word, unaligned word and dword
// writes, and checks after each that SMRAM still reads locked and closed. After each try it writes the value it
// found back.
//
// Under evmm every check passes: evmm locked SMRAM at boot and drops the writes of the guarded bits. Booted bare
// (tools/run-bare.sh build/guests/smm.elf, Bochs): Bochs' BIOS leaves SMRAM unlocked (0x0a: G_SMRAME, closed,
// D_LCK clear), so the "locked" check fails and the writes that set D_OPEN do open SMRAM (0x4a): without a
// hypervisor (or firmware) locking it, any kernel can open SMRAM and rewrite the SMM handler (docs/security.md).
#include "guest.h"

using namespace guest;

namespace {

constexpr u16 CONFIG_ADDRESS = 0xCF8, CONFIG_DATA = 0xCFC;
constexpr u8 D_OPEN = 1u << 6, D_CLS = 1u << 5, D_LCK = 1u << 4, G_SMRAME = 1u << 3, T_EN = 1u << 0;

u32 address(u8 reg) { return 0x80000000u | (reg & 0xFCu); } // bus 0, device 0, function 0
u8 read8(u8 reg) {
    outl(CONFIG_ADDRESS, address(reg));
    return inb(static_cast<u16>(CONFIG_DATA + (reg & 3u)));
}
u32 read32(u8 reg) {
    outl(CONFIG_ADDRESS, address(reg));
    return inl(CONFIG_DATA);
}
void write8(u8 reg, u8 v) {
    outl(CONFIG_ADDRESS, address(reg));
    outb(static_cast<u16>(CONFIG_DATA + (reg & 3u)), v);
}
// A word at CONFIG_DATA + (reg & 3): aligned for reg & 3 in {0, 2}, unaligned (0xCFD) for 1.
void write16(u8 reg, u16 v) {
    outl(CONFIG_ADDRESS, address(reg));
    outw(static_cast<u16>(CONFIG_DATA + (reg & 3u)), v);
}
void write32(u8 reg, u32 v) {
    outl(CONFIG_ADDRESS, address(reg));
    outl(CONFIG_DATA, v);
}

// What guest0 tries to write: D_OPEN set (D_CLS cleared: the two together are invalid), D_LCK cleared.
u8 opening(u8 v) { return static_cast<u8>((v | D_OPEN) & ~(D_CLS | D_LCK)); }

bool locked_closed(u8 v) { return (v & D_LCK) != 0 && (v & D_OPEN) == 0; }

} // namespace

extern "C" void guest_main(const void*) {
    banner("smm", "SMRAM stays locked and closed: guest0's PCI configuration writes cannot open it");

    const u32 id = read32(0x00);
    const u16 vendor = static_cast<u16>(id), device = static_cast<u16>(id >> 16);
    u8 smram = 0, esmramc = 0;
    if (vendor == 0x8086 && device == 0x1237) smram = 0x72;
    if (vendor == 0x8086 && device == 0x29C0) smram = 0x9D, esmramc = 0x9E;
    note("host bridge %04x:%04x, SMRAM control at 0x%02x", vendor, device, smram);
    if (smram == 0) {
        skip("unknown host bridge", "SMRAM control register checks");
        return;
    }

    // Plain accesses pass through as on the hardware.
    outl(CONFIG_ADDRESS, address(0x00));
    check_eq(inl(CONFIG_ADDRESS), address(0x00), "CONFIG_ADDRESS reads back what was written");
    check_eq(inb(CONFIG_DATA), 0x86, "byte read of the vendor ID's low byte (0xCFC)");
    outl(CONFIG_ADDRESS, address(0x00));
    check_eq(inw(CONFIG_DATA + 2), device, "word read of the device ID (0xCFE)");

    const u8 found = read8(smram);
    const u32 dword = read32(smram);
    note("SMRAM 0x%02x (D_OPEN %u, D_CLS %u, D_LCK %u, G_SMRAME %u); its dword 0x%08x", found, (found & D_OPEN) != 0,
         (found & D_CLS) != 0, (found & D_LCK) != 0, (found & G_SMRAME) != 0, dword);
    check(locked_closed(found), "SMRAM reads locked (D_LCK) and closed (no D_OPEN): 0x%02x", found);

    const u32 shift = 8u * (smram & 3u);
    const auto after = [&](const char* how) {
        const u8 v = read8(smram);
        const bool ok = locked_closed(v) && v == found;
        check(ok, "%s: SMRAM still 0x%02x (locked, closed)", how, found);
        if (!ok) note("  read 0x%02x", v);
        write8(smram, found); // bare: close it again
    };

    write8(smram, opening(found));
    after("byte write setting D_OPEN, clearing D_LCK");
    write8(smram, static_cast<u8>(found | D_OPEN));
    after("byte write setting D_OPEN");
    write8(smram, static_cast<u8>(found & ~D_LCK));
    after("byte write clearing D_LCK");
    write8(smram, static_cast<u8>(found & ~G_SMRAME));
    after("byte write clearing G_SMRAME");

    // A word holding SMRAM: 0xCFE on the 440FX (0x72-0x73), 0xCFC on the Q35 (0x9C-0x9D); then the unaligned word
    // at 0xCFD (0x71-0x72 / 0x9D-0x9E) on the 440FX.
    const u8 wreg = static_cast<u8>(smram & ~1u);
    const u32 wshift = 8u * (smram & 1u);
    const u16 word = static_cast<u16>(dword >> (8u * (wreg & 3u)));
    write16(wreg, static_cast<u16>((word & ~(0xFFu << wshift)) | (u32{opening(found)} << wshift)));
    after("word write setting D_OPEN, clearing D_LCK");
    if ((smram & 3u) == 2) {
        const u16 unaligned = static_cast<u16>(dword >> 8); // 0x71, 0x72
        write16(static_cast<u8>(smram - 1), static_cast<u16>((unaligned & 0x00FF) | (u32{opening(found)} << 8)));
        after("unaligned word write (0xCFD) setting D_OPEN, clearing D_LCK");
    }

    write32(smram, (dword & ~(0xFFu << shift)) | (u32{opening(found)} << shift));
    after("dword write setting D_OPEN, clearing D_LCK");
    const u32 dword_after = read32(smram);
    check_eq(dword_after, dword, "the SMRAM dword's other bytes are as they were");

    if (esmramc != 0) {
        const u8 e = read8(esmramc);
        note("ESMRAMC 0x%02x (T_EN %u)", e, (e & T_EN) != 0);
        write8(esmramc, static_cast<u8>(e & ~T_EN));
        const u8 e2 = read8(esmramc);
        check_eq(e2, e, "byte write clearing ESMRAMC.T_EN: ESMRAMC unchanged");
        write8(esmramc, e);
    }
    check_eq(read8(smram), found, "SMRAM reads as at the start");
}
