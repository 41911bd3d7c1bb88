// Little-endian values at any byte offset of a buffer (boot information, firmware tables, kernel images): one
// memcpy, which the compiler turns into a single move on x86, and no alignment or aliasing assumptions.
#pragma once

#include "evmm/base.h"

namespace evmm {

template <typename T>
inline T load_unaligned(const void* p) {
    T v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

template <typename T>
inline void store_unaligned(void* p, T v) {
    __builtin_memcpy(p, &v, sizeof v);
}

inline u16 rd16(const void* p) { return load_unaligned<u16>(p); }
inline u32 rd32(const void* p) { return load_unaligned<u32>(p); }
inline u64 rd64(const void* p) { return load_unaligned<u64>(p); }
inline void wr32(void* p, u32 v) { store_unaligned(p, v); }
inline void wr64(void* p, u64 v) { store_unaligned(p, v); }

} // namespace evmm
