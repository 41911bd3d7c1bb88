#include "lib/serial.h"

#include "arch/x86_64/io.h"

namespace evmm {
namespace {

// Register offsets from the base port (PC16550D data sheet).
enum class Reg : u16 { THR = 0, DLL = 0, IER = 1, DLM = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5, SCR = 7 };
constexpr u8 LCR_8N1 = 0x03;
constexpr u8 LCR_DLAB = 0x80;
constexpr u8 FCR_ENABLE_CLEAR = 0x07;
constexpr u8 MCR_DTR_RTS_OUT2 = 0x0B;
constexpr u8 LSR_THR_EMPTY = 0x20;
constexpr u8 LSR_TX_EMPTY = 0x40;       // TEMT: holding and shift registers both empty
constexpr u16 DIVISOR_115200 = 1;       // 1.8432 MHz / 16 / 115200
constexpr u32 TX_SPIN_LIMIT = 1u << 20; // a wedged UART costs us output, never a hang
constexpr u8 SCRATCH_PROBE = 0x5A;

void wr(u16 base, Reg r, u8 v) { io::out8(static_cast<u16>(base + static_cast<u16>(r)), v); }
u8 rd(u16 base, Reg r) { return io::in8(static_cast<u16>(base + static_cast<u16>(r))); }

} // namespace

bool Uart16550::init(u16 base) {
    flush();
    base_ = 0;
    if (base == 0) return false;
    wr(base, Reg::SCR, SCRATCH_PROBE);
    if (rd(base, Reg::SCR) != SCRATCH_PROBE) return false;
    // Whoever used this UART before us (the loader, GRUB) may still be sending: reprogramming clears the FIFO.
    for (u32 i = 0; i < TX_SPIN_LIMIT && (rd(base, Reg::LSR) & LSR_TX_EMPTY) == 0; ++i) {}
    wr(base, Reg::IER, 0);
    wr(base, Reg::LCR, LCR_DLAB);
    wr(base, Reg::DLL, DIVISOR_115200 & 0xFF);
    wr(base, Reg::DLM, DIVISOR_115200 >> 8);
    wr(base, Reg::LCR, LCR_8N1);
    wr(base, Reg::FCR, FCR_ENABLE_CLEAR);
    wr(base, Reg::MCR, MCR_DTR_RTS_OUT2);
    base_ = base;
    return true;
}

void Uart16550::put(char c) {
    if (base_ == 0) return;
    for (u32 i = 0; i < TX_SPIN_LIMIT && (rd(base_, Reg::LSR) & LSR_THR_EMPTY) == 0; ++i) {}
    wr(base_, Reg::THR, static_cast<u8>(c));
}

void Uart16550::flush() {
    if (base_ == 0) return;
    for (u32 i = 0; i < TX_SPIN_LIMIT && (rd(base_, Reg::LSR) & LSR_TX_EMPTY) == 0; ++i) {}
}

void Uart16550::write(const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (s[i] == '\n') put('\r');
        put(s[i]);
    }
}

} // namespace evmm
