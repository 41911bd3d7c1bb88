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
    bool enabled() const { return base_ != 0; }

private:
    u16 base_ = 0;
};

} // namespace evmm
