// The debug registers (Intel SDM Vol. 3B §18.2; AMD APM Vol. 2 §13.1): numbers and the MOV DR forms evmm performs
// for a guest (VT-x's forced MOV-DR exits, SVM's DR intercepts). DR7 is the guest's in the VMCS/VMCB, not here.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline constexpr u8 DR4_NUMBER = 4, DR5_NUMBER = 5, DR6_NUMBER = 6, DR7_NUMBER = 7; // DR4/5 alias DR6/7 (CR4.DE = 0)

// DR0-DR3 by number, DR6 for 6 (any other number reads DR3's slot: callers pass 0-3 or 6).
inline u64 dr_read(u8 n) {
    u64 v = 0;
    switch (n) {
    case 0: asm volatile("mov %%db0, %0" : "=r"(v)); break;
    case 1: asm volatile("mov %%db1, %0" : "=r"(v)); break;
    case 2: asm volatile("mov %%db2, %0" : "=r"(v)); break;
    case DR6_NUMBER: asm volatile("mov %%db6, %0" : "=r"(v)); break;
    default: asm volatile("mov %%db3, %0" : "=r"(v)); break;
    }
    return v;
}

inline void dr_write(u8 n, u64 v) {
    switch (n) {
    case 0: asm volatile("mov %0, %%db0" ::"r"(v)); break;
    case 1: asm volatile("mov %0, %%db1" ::"r"(v)); break;
    case 2: asm volatile("mov %0, %%db2" ::"r"(v)); break;
    case DR6_NUMBER: asm volatile("mov %0, %%db6" ::"r"(v)); break;
    default: asm volatile("mov %0, %%db3" ::"r"(v)); break;
    }
}

} // namespace evmm
