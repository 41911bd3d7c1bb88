// io: pass-through I/O ports behave as on bare metal: CMOS RTC seconds (0x70/0x71) twice, the keyboard
// controller status (0x64), the COM1 scratch register (0x3FF), the PIT counter, port 0x80 (also rep outsb). And string
// I/O on ports evmm intercepts (the PCI configuration ports 0xCF8/0xCFC, which its SMM guard watches): OUTSD, INSD,
// REP INSB with the direction flag clear and set, an INSB into an unmapped page (#PF with CR2 on it), and an OUTSD
// whose source is the hypervisor's memory (#GP, as any access there).
#include "guest.h"

using namespace guest;

namespace {

constexpr u16 CMOS_INDEX = 0x70, CMOS_DATA = 0x71;

u8 cmos_read(u8 reg) {
    outb(CMOS_INDEX, reg);
    return inb(CMOS_DATA);
}

// Reads RTC seconds once the update-in-progress flag (register A bit 7) is clear; false if it never clears.
bool rtc_seconds(u8& raw) {
    for (int i = 0; i < 1000000; ++i) {
        if ((cmos_read(0x0A) & 0x80) == 0) {
            raw = cmos_read(0x00);
            return true;
        }
    }
    return false;
}

bool seconds_valid(u8 raw, bool bcd) {
    if (!bcd) return raw < 60;
    return (raw & 0x0F) <= 9 && (raw >> 4) <= 5;
}

u16 pit_latch0() {
    outb(0x43, 0x00); // counter 0, latch
    u8 lo = inb(0x40);
    u8 hi = inb(0x40);
    return static_cast<u16>(lo | (hi << 8));
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("io", "pass-through ports: CMOS RTC, keyboard status 0x64, COM1 scratch 0x3FF, PIT, port 0x80");

    u8 regb = cmos_read(0x0B);
    bool bcd = (regb & 0x04) == 0;
    note("  CMOS register B 0x%02x (%s)", regb, bcd ? "BCD" : "binary");
    for (int round = 1; round <= 2; ++round) {
        u8 s = 0xFF;
        bool got = rtc_seconds(s);
        if (!check(got && seconds_valid(s, bcd), "CMOS RTC seconds read %d is a valid seconds value", round))
            note("  %s, value 0x%02x", got ? "read" : "update-in-progress never cleared", s);
    }
    u8 diag = cmos_read(0x0E); // diagnostic status: any value but the floating-bus 0xFF
    check(regb != 0xFF && diag != 0xFF, "CMOS registers 0x0B/0x0E do not float (0xFF)");

    u8 kbd = inb(0x64);
    if (!check(kbd != 0xFF, "keyboard controller status (port 0x64) reads (not 0xFF)")) note("  0x%02x", kbd);

    u8 scratch = inb(0x3FF);
    outb(0x3FF, 0x5A);
    u8 a = inb(0x3FF);
    outb(0x3FF, 0xA5);
    u8 b = inb(0x3FF);
    outb(0x3FF, scratch);
    check(a == 0x5A && b == 0xA5, "COM1 scratch register (0x3FF) reads back 0x5A and 0xA5");
    check_eq(inb(0x3FF), scratch, "COM1 scratch register restored");

    // PIT counter 0 (the BIOS programs it for the 18.2 Hz tick): two latched reads some time apart differ.
    u16 c0 = pit_latch0();
    u16 c1 = c0;
    for (int i = 0; i < 100000 && c1 == c0; ++i) c1 = pit_latch0();
    if (!check(c1 != c0, "PIT counter 0 (ports 0x43/0x40) counts")) note("  stuck at 0x%04x", c0);

    outb(0x80, 0x42);
    outb(0x80, 0x43);
    check(true, "outb to port 0x80 completes");
    static const char bytes[] = "evmm-io";
    const char* p = bytes;
    size_t n = sizeof bytes - 1;
    asm volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(u16{0x80}) : "memory");
    check(n == 0 && p == bytes + sizeof bytes - 1, "rep outsb (7 bytes) to port 0x80 completes, RSI/RCX advanced");
    u8 buf[4] = {0, 0, 0, 0};
    u8* q = buf;
    size_t m = sizeof buf;
    asm volatile("rep insb" : "+D"(q), "+c"(m) : "d"(u16{0x3FF}) : "memory");
    check(m == 0 && q == buf + 4 && buf[0] == scratch && buf[3] == scratch,
          "rep insb (4 bytes) from the COM1 scratch register reads it 4 times");

    // ---- string I/O on intercepted ports: PCI configuration mechanism #1 (bus 0, device 0, function 0) ----
    constexpr u16 PCI_ADDR = 0xCF8, PCI_DATA = 0xCFC;
    constexpr u32 HOST_BRIDGE_ID = 0x80000000; // enable bit, bus 0 dev 0 fn 0, register 0 (vendor/device ID)
    outl(PCI_ADDR, HOST_BRIDGE_ID);
    const u32 id = inl(PCI_DATA);
    outl(PCI_ADDR, 0);
    static const u32 addr_word = HOST_BRIDGE_ID;
    const u32* ap = &addr_word;
    asm volatile("outsl" : "+S"(ap) : "d"(PCI_ADDR) : "memory");
    u32 got = 0;
    u32* gp = &got;
    asm volatile("insl" : "+D"(gp) : "d"(PCI_DATA) : "memory");
    check(ap == &addr_word + 1 && gp == &got + 1, "outsd to 0xCF8 / insd from 0xCFC advance RSI / RDI by 4");
    check_eq(got, id, "outsd + insd read the host bridge's vendor/device ID, as outl + inl do");
    u8 fwd[4] = {0, 0, 0, 0}, back[4] = {0, 0, 0, 0};
    u8* fp = fwd;
    size_t fc = 4;
    outl(PCI_ADDR, HOST_BRIDGE_ID);
    asm volatile("rep insb" : "+D"(fp), "+c"(fc) : "d"(PCI_DATA) : "memory");
    u8* bp = back + 3;
    size_t bc = 4;
    asm volatile("std; rep insb; cld" : "+D"(bp), "+c"(bc) : "d"(PCI_DATA) : "memory");
    const u8 lo = static_cast<u8>(id);
    check(fc == 0 && fp == fwd + 4 && fwd[0] == lo && fwd[3] == lo, "rep insb (DF = 0) from 0xCFC: 4 bytes, RDI up");
    check(bc == 0 && reinterpret_cast<u64>(bp) == reinterpret_cast<u64>(back) - 1 && back[0] == lo && back[3] == lo,
          "rep insb (DF = 1) from 0xCFC: 4 bytes, RDI down");
    // Into a page the guest's page tables do not map (the kit maps the first 4 GiB): #PF, CR2 = that address.
    u8 vec = 0;
    const u64 unmapped = 0x100000000ull + 0x123;
    const bool done = probe_fn(
        [&] {
            u64 di = unmapped;
            asm volatile("insb" : "+D"(di) : "d"(PCI_DATA) : "memory");
        },
        vec);
    check_fault(done, vec, VEC_PF, "insb into an unmapped page raises #PF");
    check_eq(probe_cr2(), unmapped, "... with CR2 = the element's address");
    check((probe_error_code() & 2) != 0, "... and a write error code");
    // From the hypervisor's memory (its runtime region, mapped by the guest's own page tables): the element's read
    // must fail as any access there does (#GP(0)), not carry evmm's bytes out through the port.
    VmcallResult hv;
    if (probe_vmcall(EVMM_VMCALL_DEBUG_HV_REGION, 0, 0, 0, hv, vec) && hv.rax == 0) {
        const bool sent = probe_fn(
            [&] {
                u64 si = hv.rbx + 0x1000;
                asm volatile("outsl" : "+S"(si) : "d"(PCI_ADDR) : "memory");
            },
            vec);
        check_fault(sent, vec, VEC_GP,
                    "outsd from the hypervisor's region raises #GP (nothing leaves through the port)");
    } else {
        skip("not under evmm", "outsd from the hypervisor's region raises #GP");
    }
    outl(PCI_ADDR, 0);
}
