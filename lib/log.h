// The serial log. Every line is prefixed with the CPU number: "[cpu0] stage 1: setup host".
#pragma once

#include <stdarg.h>

#include "evmm/base.h"

namespace evmm {

enum class LogLevel : u8 { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void log_init(u16 serial_port, LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);

// One line (a trailing newline is added); long lines are cut at 256 characters.
void logf(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vlogf(LogLevel level, const char* fmt, va_list ap);

// A second output for every line besides the UART and the ring (the screen console, lib/console.h), called under the
// log lock, so its lines never interleave either. Set and cleared under the lock: once log_set_sink(nullptr) returns,
// no line reaches the old sink.
using LogSink = void (*)(const char* s, size_t n);
void log_set_sink(LogSink sink);
// One line (as logf, when `level` is enabled), then `sink` replaces the current sink, under one hold of the lock: no
// other CPU's line comes between them (the screen console's last line, lib/console.h).
void logf_then_set_sink(LogSink sink, LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// Waits until the UART has sent everything (before leaving the emulator).
void log_flush();

// Panic path: take the log even if this CPU holds it (a fault inside the logger) or another CPU died holding it.
void log_break_lock();
// Releases the log if this CPU holds it (a CPU that halts for good must not keep it).
void log_unlock_if_owner();

// The log ring (lib/log.cpp): the last bytes of the log in memory, for a debugger.
inline constexpr size_t EVMM_LOG_RING_SIZE = 16384; // a power of two
extern "C" char evmm_log_ring[EVMM_LOG_RING_SIZE];
extern "C" u64 evmm_log_ring_pos;

// A read of the ring as a stream: position p is the p-th byte ever logged (0 = the first), the ring holds
// [end - min(end, ring_size), end). log_ring_window says which bytes a reader asking for up to `len` bytes from
// `cursor` gets: from `first` (cursor, or the oldest byte still held when the ring has overwritten the ones asked
// for), `count` bytes. A cursor past the end is invalid (ok = false). Pure, so the host tests check the arithmetic.
struct LogRingWindow {
    bool ok = false;
    u64 first = 0; // stream position of the first byte read
    u64 count = 0; // bytes read: first + count is the next cursor
};
constexpr LogRingWindow log_ring_window(u64 cursor, u64 len, u64 end, u64 ring_size) {
    if (cursor > end) return {};
    const u64 oldest = end > ring_size ? end - ring_size : 0;
    const u64 first = cursor < oldest ? oldest : cursor;
    const u64 avail = end - first;
    return {true, first, avail < len ? avail : len};
}

// Copies up to `len` bytes of this image's ring from stream position `cursor` to `dst` (byte stores: dst may be a
// guest's memory) under the log lock, so no CPU appends meanwhile. `end` receives the stream's end (bytes logged so
// far). Returns the window read (ok = false, nothing copied, when cursor > end).
LogRingWindow log_ring_read(u64 cursor, volatile u8* dst, u64 len, u64& end);

// Provided by each image (loader: always 0; VMM: from its per-CPU data).
u32 this_cpu_id();

} // namespace evmm

// Printed at every log level (the lowest, `error`, included): results asked for, such as the perf lines.
#define LOG_ALWAYS(...) ::evmm::logf(::evmm::LogLevel::Error, __VA_ARGS__)
#define LOG_ERROR(...) ::evmm::logf(::evmm::LogLevel::Error, __VA_ARGS__)
#define LOG_WARN(...) ::evmm::logf(::evmm::LogLevel::Warn, __VA_ARGS__)
#define LOG_INFO(...) ::evmm::logf(::evmm::LogLevel::Info, __VA_ARGS__)
#define LOG_DEBUG(...) ::evmm::logf(::evmm::LogLevel::Debug, __VA_ARGS__)
