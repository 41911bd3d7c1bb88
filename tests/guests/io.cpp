// io: pass-through I/O ports behave as on bare metal: CMOS RTC seconds (0x70/0x71) twice, the keyboard
// controller status (0x64), the COM1 scratch register (0x3FF), the PIT counter, port 0x80 (also rep outsb).
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
}
