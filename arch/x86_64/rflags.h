// RFLAGS bits evmm names (Intel SDM Vol. 1 §3.4.3, Figure 3-8): the ones guest states, the VM-entry checks and the
// instruction decoder look at.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline constexpr u64 RFLAGS_CF = bit(0);
inline constexpr u64 RFLAGS_FIXED1 = bit(1); // reserved, always 1
inline constexpr u64 RFLAGS_PF = bit(2);     // status flags (SDM Vol. 1 §3.4.3.1): parity, auxiliary carry, zero,
inline constexpr u64 RFLAGS_AF = bit(4);     // sign, overflow
inline constexpr u64 RFLAGS_ZF = bit(6);
inline constexpr u64 RFLAGS_SF = bit(7);
inline constexpr u64 RFLAGS_OF = bit(11);
inline constexpr u64 RFLAGS_TF = bit(8);
inline constexpr u64 RFLAGS_IF = bit(9);
inline constexpr u64 RFLAGS_DF = bit(10);
inline constexpr u64 RFLAGS_NT = bit(14); // nested task (SDM Vol. 3A §9.4)
inline constexpr u64 RFLAGS_RF = bit(16); // resume flag (SDM Vol. 3A §17.3.1.1)
inline constexpr u64 RFLAGS_STATUS = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF;
inline constexpr u64 RFLAGS_VM = bit(17);                                           // virtual-8086 mode
inline constexpr u64 RFLAGS_RESERVED = bit(3) | bit(5) | bit(15) | (~u64{0} << 22); // must be 0
static_assert(RFLAGS_CF == 1 && RFLAGS_FIXED1 == 2);

} // namespace evmm
