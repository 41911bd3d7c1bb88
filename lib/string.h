// Small string helpers for freestanding code (no libc). Memory functions: use __builtin_memcpy & co; the images
// provide memcpy/memset/memmove/memcmp (lib/libc.cpp) for the calls GCC emits.
#pragma once

#include "evmm/base.h"

namespace evmm {

size_t str_len(const char* s, size_t max);              // length up to max
bool str_eq(const char* a, size_t alen, const char* b); // a[0..alen) equals NUL-terminated b
// Copies at most cap-1 bytes of [s, s+len) and NUL-terminates; returns false if it had to truncate.
bool str_copy(char* dst, size_t cap, const char* s, size_t len);
// Parses an unsigned number: decimal, or hex with 0x prefix. Whole token must be consumed.
bool parse_u64(const char* s, size_t len, u64& out);
constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

} // namespace evmm
