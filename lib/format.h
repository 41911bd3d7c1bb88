// printf-style formatting into a caller's buffer: the only formatter in evmm (no libc).
// Supported: %% %c %s %.*s %d %i %u %x %X %p, length modifiers l ll z, flags '0' '-', field width (or *).
// Output is always NUL-terminated (when cap > 0) and truncated to fit; the return value is the length written.
#pragma once

#include <stdarg.h>

#include "evmm/base.h"

namespace evmm {

size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap);
size_t format(char* buf, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

} // namespace evmm
