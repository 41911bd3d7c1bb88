// crashtest=msr (docs/options.md): proves on the machine that a faulting RDMSR/WRMSR is caught by the exception table
// (arch/x86_64/extable.h) and reported, in the loader and in the VMM. The accesses (MSR_FAULT_PROBES): the x2APIC ID
// and EOI registers while the local APIC is in xAPIC mode (SDM Vol. 3A §11.12.1.2: x2APIC MSR accesses in xAPIC mode
// are #GP), and writes of reserved bits. Then IA32_EFER, which must read. Header only: both images use it.
#pragma once

#include "arch/x86_64/lapic.h"
#include "arch/x86_64/msr.h"
#include "lib/log.h"

namespace evmm {

inline constexpr u32 MSR_X2APIC_ID = 0x802;  // SDM Vol. 3A Table 11-6: local APIC ID, read only
inline constexpr u32 MSR_X2APIC_EOI = 0x80B; // SDM Vol. 3A Table 11-6: EOI, write only
// IA32_PKRS (SDM Vol. 4 Table 2-2): bits 63:32 reserved, a write with one set is #GP (absent MSR: #GP too).
inline constexpr u32 MSR_IA32_PKRS = 0x6E1;
inline constexpr u64 PKRS_RESERVED_BIT = bit(32);
// VM_HSAVE_PA (AMD APM Vol. 2 §15.30.4): 4 KiB aligned, a write with bits 11:0 set is #GP (absent MSR: #GP too).
inline constexpr u32 MSR_VM_HSAVE_PA_PROBE = 0xC0010117;
inline constexpr u64 HSAVE_MISALIGNED = 1;

// Writes that every CPU must refuse. Emulators differ on which they refuse (Bochs ignores unknown MSRs by default,
// QEMU 7.2 TCG has no x2APIC and reads 0 for MSRs it does not know), so all are tried and each outcome reported; a
// fault that slipped past the table would be a panic, never a line.
struct MsrFaultProbe {
    u32 msr;
    bool write;
    u64 value;
};
inline constexpr MsrFaultProbe MSR_FAULT_PROBES[] = {
    {MSR_X2APIC_ID, false, 0},
    {MSR_X2APIC_EOI, true, 0},
    {MSR_IA32_PKRS, true, PKRS_RESERVED_BIT},
    {MSR_VM_HSAVE_PA_PROBE, true, HSAVE_MISALIGNED},
};

inline void msr_fixup_selftest(const char* who) {
    const bool x2apic = (rdmsr(Msr::IA32_APIC_BASE) & APIC_BASE_X2APIC_ENABLE) != 0;
    unsigned tried = 0, faulted = 0;
    for (const MsrFaultProbe& p : MSR_FAULT_PROBES) {
        // In x2APIC mode the x2APIC registers exist: an EOI write would acknowledge an interrupt.
        if (x2apic && (p.msr == MSR_X2APIC_ID || p.msr == MSR_X2APIC_EOI)) continue;
        ++tried;
        u64 value = 0;
        const bool ok = p.write ? wrmsr_safe(p.msr, p.value) : rdmsr_safe(p.msr, value);
        if (!ok) {
            ++faulted;
            LOG_INFO("%smsr 0x%x not %s on this CPU: #GP caught by the exception table, evmm goes on (crashtest=msr)",
                     who, p.msr, p.write ? "writable" : "readable");
        } else {
            LOG_INFO("%scrashtest=msr: msr 0x%x %s without a fault here (the CPU or emulator ignores it)", who, p.msr,
                     p.write ? "written" : "read");
        }
    }
    u64 efer = 0;
    const bool efer_ok = rdmsr_safe(Msr::IA32_EFER, efer);
    LOG_INFO("%scrashtest=msr: %u of %u accesses faulted and were caught, rdmsr_safe(IA32_EFER) %s (0x%lx)", who,
             faulted, tried, efer_ok ? "reads" : "FAILED", efer);
}

} // namespace evmm
