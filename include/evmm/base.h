// Basic freestanding types and helpers shared by the loader, the VMM and the host unit tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace evmm {

using u8 = uint8_t;
using u16 = uint16_t;
using u32 = uint32_t;
using u64 = uint64_t;
using i32 = int32_t;
using i64 = int64_t;
using uptr = uintptr_t;

inline constexpr u64 KiB = 1024;
inline constexpr u64 MiB = 1024 * KiB;
inline constexpr u64 GiB = 1024 * MiB;
inline constexpr u64 PAGE_SIZE = 4 * KiB;

constexpr bool is_pow2(u64 v) { return v != 0 && (v & (v - 1)) == 0; }
constexpr u64 align_down(u64 v, u64 a) { return v & ~(a - 1); }
constexpr u64 align_up(u64 v, u64 a) { return (v + a - 1) & ~(a - 1); }
constexpr bool is_aligned(u64 v, u64 a) { return (v & (a - 1)) == 0; }
constexpr u64 bit(unsigned n) { return u64{1} << n; }

// [base, base+len) overlaps [b2, b2+l2)? Lengths of zero never overlap.
constexpr bool ranges_overlap(u64 base, u64 len, u64 b2, u64 l2) {
    return len != 0 && l2 != 0 && base < b2 + l2 && b2 < base + len;
}

// a + b without wrapping past 2^64; false when it would wrap.
constexpr bool add_overflows(u64 a, u64 b) { return a + b < a; }

template <typename T, size_t N>
constexpr size_t array_size(const T (&)[N]) {
    return N;
}

} // namespace evmm
