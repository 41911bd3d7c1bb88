// CPUID (Intel SDM Vol. 2A, "CPUID—CPU Identification") and the feature bits evmm reads.
#pragma once

#include "evmm/base.h"

namespace evmm {

struct CpuidRegs {
    u32 eax, ebx, ecx, edx;
};

inline CpuidRegs cpuid(u32 leaf, u32 subleaf = 0) {
    CpuidRegs r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

enum class CpuidLeaf : u32 {
    BASIC = 0x0,
    FEATURES = 0x1,
    TSC_CRYSTAL = 0x15, // TSC / core crystal clock ratio
    FREQUENCY = 0x16,   // processor base frequency (MHz)
    EXT_MAX = 0x80000000,
    EXT_FEATURES = 0x80000001,
    ADDRESS_SIZES = 0x80000008,
};

inline CpuidRegs cpuid(CpuidLeaf leaf, u32 subleaf = 0) { return cpuid(static_cast<u32>(leaf), subleaf); }

// MAXPHYADDR: CPUID.80000008H:EAX[7:0], or 36 when that leaf does not exist (SDM Vol. 3A §4.1.4).
inline u8 cpu_phys_addr_bits() {
    constexpr u8 DEFAULT_MAXPHYADDR = 36;
    constexpr u32 MAXPHYADDR_MASK = 0xFF;
    if (cpuid(CpuidLeaf::EXT_MAX).eax >= static_cast<u32>(CpuidLeaf::ADDRESS_SIZES))
        return static_cast<u8>(cpuid(CpuidLeaf::ADDRESS_SIZES).eax & MAXPHYADDR_MASK);
    return DEFAULT_MAXPHYADDR;
}

// CPUID.1 (Table 3-19/3-20 of the CPUID reference).
inline constexpr u32 CPUID1_ECX_MONITOR = 1u << 3; // MONITOR/MWAIT
inline constexpr u32 CPUID1_ECX_VMX = 1u << 5;
inline constexpr u32 CPUID1_ECX_SMX = 1u << 6;
inline constexpr u32 CPUID1_ECX_X2APIC = 1u << 21;
inline constexpr u32 CPUID1_ECX_HYPERVISOR = 1u << 31;
inline constexpr u32 CPUID1_EDX_MSR = 1u << 5;
inline constexpr u32 CPUID1_EDX_APIC = 1u << 9;
inline constexpr u32 CPUID1_EDX_MTRR = 1u << 12;
// CPUID.80000001H.
inline constexpr u32 CPUID80000001_EDX_NX = 1u << 20;
inline constexpr u32 CPUID80000001_EDX_PAGE1GB = 1u << 26;
inline constexpr u32 CPUID80000001_EDX_LM = 1u << 29;

} // namespace evmm
