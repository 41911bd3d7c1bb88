#include "lib/log.h"

#include "arch/x86_64/cpu.h"
#include "lib/format.h"
#include "lib/serial.h"

namespace evmm {
namespace {

constexpr size_t LINE_MAX = 256;
constexpr u32 NO_OWNER = 0;

// Zero-initialised (in .bss, no file bytes in the images: P3): log_init sets the level before any line, and the
// owner is stored as CPU id + 1, 0 meaning none.
Uart16550 g_uart;
LogLevel g_level;
volatile u32 g_owner; // 1 + the CPU holding the log; lines from several CPUs never interleave
LogSink g_sink;       // the screen console, or nullptr

bool lock() {
    u32 me = this_cpu_id() + 1;
    if (g_owner == me) return false; // re-entered (fault while logging): write without the lock
    u32 expected = NO_OWNER;
    while (!__atomic_compare_exchange_n(&g_owner, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        expected = NO_OWNER;
        cpu_pause();
    }
    return true;
}

void unlock() { __atomic_store_n(&g_owner, NO_OWNER, __ATOMIC_RELEASE); }

} // namespace

// The last EVMM_LOG_RING_SIZE bytes of the log, for a debugger (tools/gdb/evmm.py: `evmm log`): evmm_log_ring_pos
// counts every byte ever written, the byte at position p is evmm_log_ring[p % EVMM_LOG_RING_SIZE]. In .bss (P3), one
// per image (the loader's and the VMM's); written under the log lock, also for lines the UART does not take.
extern "C" {
char evmm_log_ring[EVMM_LOG_RING_SIZE];
u64 evmm_log_ring_pos;
}

namespace {
void ring_append(const char* s, size_t n) {
    u64 pos = evmm_log_ring_pos;
    for (size_t i = 0; i < n; ++i) evmm_log_ring[(pos + i) % EVMM_LOG_RING_SIZE] = s[i];
    __atomic_store_n(&evmm_log_ring_pos, pos + n, __ATOMIC_RELEASE);
}
} // namespace

LogRingWindow log_ring_read(u64 cursor, volatile u8* dst, u64 len, u64& end) {
    bool locked = lock();
    end = evmm_log_ring_pos;
    const LogRingWindow w = log_ring_window(cursor, len, end, EVMM_LOG_RING_SIZE);
    if (w.ok)
        for (u64 i = 0; i < w.count; ++i) dst[i] = static_cast<u8>(evmm_log_ring[(w.first + i) % EVMM_LOG_RING_SIZE]);
    if (locked) unlock();
    return w;
}

void log_init(u16 serial_port, LogLevel level) {
    g_level = level;
    g_uart.init(serial_port);
}

void log_flush() { g_uart.flush(); }

void log_set_sink(LogSink sink) {
    bool locked = lock();
    g_sink = sink;
    if (locked) unlock();
}

LogLevel log_level() { return g_level; }
bool log_enabled(LogLevel level) { return static_cast<u8>(level) <= static_cast<u8>(g_level); }
void log_unlock_if_owner() {
    u32 me = this_cpu_id() + 1;
    __atomic_compare_exchange_n(&g_owner, &me, NO_OWNER, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

void log_break_lock() { __atomic_store_n(&g_owner, NO_OWNER, __ATOMIC_RELEASE); }

namespace {
// One line to every output; with set_sink, then `sink` replaces the current one, under the same hold of the lock.
void vlog(LogLevel level, const char* fmt, va_list ap, bool set_sink, LogSink sink) {
    const bool enabled = log_enabled(level);
    if (!enabled && !set_sink) return;
    char line[LINE_MAX + 2];
    size_t n = 0;
    if (enabled) {
        n = format(line, sizeof line, "[cpu%u] ", this_cpu_id());
        n += vformat(line + n, LINE_MAX - n, fmt, ap);
        line[n++] = '\n';
    }
    bool locked = lock();
    if (n != 0) {
        ring_append(line, n);
        g_uart.write(line, n);
        if (g_sink != nullptr) g_sink(line, n);
    }
    if (set_sink) g_sink = sink;
    if (locked) unlock();
}
} // namespace

void vlogf(LogLevel level, const char* fmt, va_list ap) { vlog(level, fmt, ap, false, nullptr); }

void logf_then_set_sink(LogSink sink, LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap, true, sink);
    va_end(ap);
}

void logf(LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlogf(level, fmt, ap);
    va_end(ap);
}

} // namespace evmm
