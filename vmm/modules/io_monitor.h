// I/O isolation through the I/O bitmaps (SDM Vol. 3C §25.6.4; exit 30, §26.1.3; qualification Table 28-5).
//
// Bitmap A (ports 0x0000-0x7FFF) and B (0x8000-0xFFFF), one 4 KiB page each, shared by every gcpu, all zero: every
// port passes through to the hardware (guest0 owns the platform). Nothing is intercepted by default — in particular
// the guest test kit's exits (0x8900 Bochs "Shutdown", 0xf4 QEMU isa-debug-exit) and COM1 reach the emulator.
//
// A module intercepts a port with io_intercept(); the IN/OUT that touches it (an access of N bytes at port P exits
// when any of P..P+N-1 is intercepted) calls that port's handler. IN/OUT and INS/OUTS (with or without REP, either
// direction flag, 16/32/64-bit address size) are all emulated: string I/O moves each element between the port's
// handler (or the hardware port) and guest memory through the guest's page tables, raising #PF where a page does not
// translate, as the processor would.
#pragma once

#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

// One intercepted access: port (the first port accessed), size (1, 2 or 4 bytes), in (IN: set `value`; OUT:
// `value` holds the guest's AL/AX/EAX). evmm merges an IN's value into RAX as the instruction would.
using IoHandler = void (*)(Gcpu& g, u16 port, u8 size, bool in, u32& value);

void io_monitor_init(); // stage 3
// Intercepts `port` (both directions: the bitmaps do not tell IN from OUT). A nullptr handler makes that direction
// go to the hardware port on the guest's behalf. Stage 3 only.
void io_intercept(u16 port, IoHandler in, IoHandler out);

// The hardware access itself, for handlers that pass an access on after looking at it.
u32 io_port_in(u16 port, u8 size);
void io_port_out(u16 port, u8 size, u32 value);

} // namespace evmm
