// Panics and unexpected exceptions: print what failed, where, the values, a register dump and a backtrace with
// symbol names, then stop every CPU (final_stop). Never returns.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"

namespace evmm {

// Gives the panic path what it needs to symbolize and bound backtraces (once, on the BSP, early in stage 1).
void panic_init(const evmm_desc_t& desc);

// An NMI that reached this CPU in VMX root operation and is neither evmm's stop nor a cross-CPU call is the guest's
// (e.g. a self-NMI guest0 sent through an ICR write evmm emulated): the backend's hook hands it to the guest
// running on this CPU (vmm/vmx/vmx_exits.cpp). Set once in stage 3.
using GuestNmiHook = void (*)();
void set_guest_nmi_hook(GuestNmiHook hook);

// Makes this CPU the one that prints the panic: interrupts off; returns once per boot; a second CPU (or a fault
// inside the panic path) halts instead, so dumps never interleave.
void panic_begin();

[[noreturn]] void panic_at(const char* file, int line, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
[[noreturn]] void panic_status(const char* file, int line, const char* doing, const Status& s);

// "name+0xoff" for a VMM address, or "?". return_address: addr follows a call (look up addr - 1).
void symbolize(u64 addr, char* buf, size_t cap, bool return_address);

} // namespace evmm

#define PANIC(...) ::evmm::panic_at(__FILE__, __LINE__, __VA_ARGS__)
// Panics with the Status' text if `expr` fails; `doing` says what we were doing.
#define CHECK_OK(expr, doing)                                                                \
    do {                                                                                     \
        ::evmm::Status check_ok_s_ = (expr);                                                 \
        if (!check_ok_s_.ok()) ::evmm::panic_status(__FILE__, __LINE__, doing, check_ok_s_); \
    } while (0)
