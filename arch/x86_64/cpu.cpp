#include "arch/x86_64/cpu.h"

#include "arch/x86_64/io.h"
#include "lib/log.h"

namespace evmm {
namespace {

// QEMU's isa-debug-exit device (-device isa-debug-exit,iobase=0xf4,iosize=1).
constexpr u16 QEMU_DEBUG_EXIT_PORT = 0xF4;
// Bochs leaves the simulation when "Shutdown" is written byte by byte to this port.
constexpr u16 BOCHS_SHUTDOWN_PORT = 0x8900;
constexpr char BOCHS_SHUTDOWN[] = "Shutdown";

TestExit g_test_exit = TestExit::None;
StopOthersHook g_stop_others = nullptr;

const char* reason_text(StopReason r) {
    switch (r) {
    case StopReason::Done: return "work done";
    case StopReason::NoVtx: return "VT-x not available";
    case StopReason::Fatal: return "fatal error";
    }
    return "?";
}

} // namespace

void set_test_exit(TestExit how) { g_test_exit = how; }
void set_stop_others_hook(StopOthersHook hook) { g_stop_others = hook; }

[[noreturn]] void halt_forever() {
    for (;;) asm volatile("cli; hlt" ::: "memory");
}

[[noreturn]] void final_stop(StopReason reason, const char* why) {
    cpu_cli();
    if (g_stop_others != nullptr) g_stop_others();
    LOG_ERROR("evmm: final stop: %s (%s)", why, reason_text(reason));
    switch (g_test_exit) {
    case TestExit::Qemu:
        LOG_ERROR("evmm: testexit=qemu: leaving QEMU with status %u", (static_cast<unsigned>(reason) << 1) | 1);
        log_flush();
        io::out8(QEMU_DEBUG_EXIT_PORT, static_cast<u8>(reason));
        break;
    case TestExit::Bochs:
        LOG_ERROR("evmm: testexit=bochs: leaving Bochs");
        log_flush();
        for (char c : BOCHS_SHUTDOWN)
            if (c != '\0') io::out8(BOCHS_SHUTDOWN_PORT, static_cast<u8>(c));
        break;
    case TestExit::None: LOG_ERROR("evmm: all CPUs halted"); break;
    }
    halt_forever();
}

} // namespace evmm
