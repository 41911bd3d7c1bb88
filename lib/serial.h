// 16550-compatible UART (COM1..COM4) used for the log: 115200 baud, 8N1, polled, never blocks forever.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline constexpr u16 COM1_PORT = 0x3F8;

class Uart16550 {
public:
    // Programs the UART; returns false (and stays disabled) when no UART answers at `base`.
    bool init(u16 base);
    void put(char c);
    void write(const char* s, size_t n);
    // Waits (bounded) until the transmitter is empty: before re-programming the UART (which clears its FIFO)
    // and before leaving the emulator, so no byte of the log is lost.
    void flush();
    bool enabled() const { return base_ != 0; }

private:
    u16 base_ = 0;
};

} // namespace evmm
