// Model-specific registers used by evmm, named as in the Intel SDM Vol. 4 ("Model-Specific Registers"), and the
// RDMSR/WRMSR accessors.
#pragma once

#include "arch/x86_64/extable.h"
#include "evmm/base.h"

namespace evmm {

enum class Msr : u32 {
    IA32_FEATURE_CONTROL = 0x3A,
    IA32_MTRRCAP = 0xFE,
    IA32_SYSENTER_CS = 0x174,
    IA32_PAT = 0x277,
    IA32_MTRR_DEF_TYPE = 0x2FF,
    IA32_VMX_BASIC = 0x480,
    IA32_VMX_PINBASED_CTLS = 0x481,
    IA32_VMX_PROCBASED_CTLS = 0x482,
    IA32_VMX_EXIT_CTLS = 0x483,
    IA32_VMX_ENTRY_CTLS = 0x484,
    IA32_VMX_MISC = 0x485,
    IA32_VMX_CR0_FIXED0 = 0x486,
    IA32_VMX_CR0_FIXED1 = 0x487,
    IA32_VMX_CR4_FIXED0 = 0x488,
    IA32_VMX_CR4_FIXED1 = 0x489,
    IA32_VMX_PROCBASED_CTLS2 = 0x48B,
    IA32_VMX_EPT_VPID_CAP = 0x48C,
    IA32_VMX_TRUE_PINBASED_CTLS = 0x48D,
    IA32_VMX_TRUE_PROCBASED_CTLS = 0x48E,
    IA32_VMX_TRUE_EXIT_CTLS = 0x48F,
    IA32_VMX_TRUE_ENTRY_CTLS = 0x490,
    IA32_VMX_VMFUNC = 0x491,
    IA32_TSC_AUX = 0xC0000103,
    IA32_TSC = 0x10,
    IA32_APIC_BASE = 0x1B,
    IA32_EFER = 0xC0000080,
    IA32_FS_BASE = 0xC0000100,
    IA32_GS_BASE = 0xC0000101,
    IA32_KERNEL_GS_BASE = 0xC0000102,
    // SDM Vol. 4 Table 2-2; the speculation controls: Intel's "Speculative Execution Side Channel Mitigations".
    IA32_SPEC_CTRL = 0x48,   // if CPUID.(EAX=07H,ECX=0):EDX[26] (IBRS/IBPB) or [27] (STIBP) or [31] (SSBD)
    IA32_PRED_CMD = 0x49,    // if CPUID.(EAX=07H,ECX=0):EDX[26]: bit 0 = IBPB
    IA32_FLUSH_CMD = 0x10B,  // if CPUID.(EAX=07H,ECX=0):EDX[28]: bit 0 = L1D_FLUSH
    IA32_STAR = 0xC0000081,  // SYSCALL: segment selectors (SDM Vol. 2B SYSCALL)
    IA32_LSTAR = 0xC0000082, // SYSCALL: 64-bit target RIP
    IA32_FMASK = 0xC0000084, // SYSCALL: RFLAGS mask
};

// IA32_FEATURE_CONTROL bits (SDM Vol. 3C §24.7, "Enabling and Entering VMX Operation").
inline constexpr u64 FEATURE_CONTROL_LOCK = bit(0);
inline constexpr u64 FEATURE_CONTROL_VMX_IN_SMX = bit(1);
inline constexpr u64 FEATURE_CONTROL_VMX_OUTSIDE_SMX = bit(2);

// IA32_EFER bits (SDM Vol. 3A §2.2.1).
inline constexpr u64 EFER_SCE = bit(0);
inline constexpr u64 EFER_LME = bit(8);
inline constexpr u64 EFER_LMA = bit(10);
inline constexpr u64 EFER_NXE = bit(11);

inline u64 rdmsr(Msr msr) {
    u32 lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(static_cast<u32>(msr)));
    return (u64{hi} << 32) | lo;
}

inline void wrmsr(Msr msr, u64 v) {
    asm volatile("wrmsr"
                 :
                 : "c"(static_cast<u32>(msr)), "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32))
                 : "memory");
}

// RDMSR/WRMSR of an MSR the CPU may not have: #GP(0) when the MSR is not implemented or the value is reserved (SDM
// Vol. 2B "RDMSR"/"WRMSR": "If ECX specifies a reserved or unimplemented MSR address, #GP(0)") is caught through
// the exception table (arch/x86_64/extable.h) and becomes `false`, the value 0. Always inlined: an out-of-line copy
// would be a COMDAT function whose duplicates the linker discards, leaving their table entries pointing nowhere. Use
// these for every MSR whose presence no CPUID bit evmm checked guarantees; a plain rdmsr/wrmsr of such an MSR would
// stop evmm on the fault.
[[gnu::always_inline]] inline bool rdmsr_safe(u32 msr, u64& value) {
    u32 lo, hi, fault;
    asm volatile(
        "xorl %[fault], %[fault]\n\t"
        "1: rdmsr\n\t"
        "jmp 3f\n"
        "2:\tmovl $1, %[fault]\n\t"
        "xorl %%eax, %%eax\n\t"
        "xorl %%edx, %%edx\n"
        "3:\n\t" EVMM_EXTABLE_ENTRY(1b, 2b)
        : "=a"(lo), "=d"(hi), [fault] "=&r"(fault)
        : "c"(msr));
    value = (u64{hi} << 32) | lo;
    return fault == 0;
}

[[gnu::always_inline]] inline bool wrmsr_safe(u32 msr, u64 v) {
    u32 fault;
    asm volatile(
        "xorl %[fault], %[fault]\n\t"
        "1: wrmsr\n\t"
        "jmp 3f\n"
        "2:\tmovl $1, %[fault]\n"
        "3:\n\t" EVMM_EXTABLE_ENTRY(1b, 2b)
        : [fault] "=&r"(fault)
        : "c"(msr), "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32))
        : "memory");
    return fault == 0;
}
[[gnu::always_inline]] inline bool rdmsr_safe(Msr msr, u64& value) { return rdmsr_safe(static_cast<u32>(msr), value); }
[[gnu::always_inline]] inline bool wrmsr_safe(Msr msr, u64 v) { return wrmsr_safe(static_cast<u32>(msr), v); }

} // namespace evmm
