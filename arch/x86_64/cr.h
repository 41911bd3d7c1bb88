// Control registers (Intel SDM Vol. 3A §2.5, "Control Registers") and their accessors.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline constexpr u64 CR0_PE = bit(0);
inline constexpr u64 CR0_MP = bit(1);
inline constexpr u64 CR0_EM = bit(2);
inline constexpr u64 CR0_TS = bit(3);
inline constexpr u64 CR0_ET = bit(4);
inline constexpr u64 CR0_NE = bit(5);
inline constexpr u64 CR0_WP = bit(16);
inline constexpr u64 CR0_AM = bit(18);
inline constexpr u64 CR0_NW = bit(29);
inline constexpr u64 CR0_CD = bit(30);
inline constexpr u64 CR0_PG = bit(31);

inline constexpr u64 CR4_PSE = bit(4); // 4 MiB pages with 32-bit paging
inline constexpr u64 CR4_PAE = bit(5);
inline constexpr u64 CR4_PGE = bit(7);
inline constexpr u64 CR4_OSFXSR = bit(9);
inline constexpr u64 CR4_OSXMMEXCPT = bit(10);
inline constexpr u64 CR4_LA57 = bit(12); // 5-level paging
inline constexpr u64 CR4_VMXE = bit(13);
inline constexpr u64 CR4_OSXSAVE = bit(18);

#define EVMM_CR_ACCESSORS(n)                          \
    inline u64 read_cr##n() {                         \
        u64 v;                                        \
        asm volatile("mov %%cr" #n ", %0" : "=r"(v)); \
        return v;                                     \
    }                                                 \
    inline void write_cr##n(u64 v) { asm volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); }
EVMM_CR_ACCESSORS(0)
EVMM_CR_ACCESSORS(2)
EVMM_CR_ACCESSORS(3)
EVMM_CR_ACCESSORS(4)
#undef EVMM_CR_ACCESSORS

} // namespace evmm
