#include "arch/x86_64/lapic.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/msr.h"

namespace evmm {
namespace {

// xAPIC register offsets in the 4 KiB MMIO page (SDM Vol. 3A Table 11-1).
constexpr u64 XAPIC_ID = 0x20;
constexpr u64 XAPIC_ICR_LOW = 0x300;
constexpr u64 XAPIC_ICR_HIGH = 0x310;
constexpr unsigned XAPIC_ID_SHIFT = 24;
constexpr unsigned XAPIC_DEST_SHIFT = 24;
// x2APIC MSRs (SDM Vol. 3A §11.12.1, Table 11-6): ID 0x802, ICR 0x830 (64-bit, destination in bits 63:32).
constexpr u32 X2APIC_MSR_ID = 0x802;
constexpr u32 X2APIC_MSR_ICR = 0x830;
constexpr unsigned X2APIC_DEST_SHIFT = 32;
constexpr u32 SEND_SPIN_LIMIT = 1u << 20;

volatile u32& xapic_reg(u64 base, u64 off) { return *reinterpret_cast<volatile u32*>(base + off); }

} // namespace

bool lapic_send_ipi(u32 dest, u32 icr_low) {
    const u64 apic_base = rdmsr(Msr::IA32_APIC_BASE);
    if (apic_base & APIC_BASE_X2APIC_ENABLE) {
        wrmsr(static_cast<Msr>(X2APIC_MSR_ICR), (u64{dest} << X2APIC_DEST_SHIFT) | icr_low);
        return true;
    }
    const u64 base = apic_base & APIC_BASE_ADDR_MASK;
    xapic_reg(base, XAPIC_ICR_HIGH) = dest << XAPIC_DEST_SHIFT;
    xapic_reg(base, XAPIC_ICR_LOW) = icr_low;
    for (u32 i = 0; i < SEND_SPIN_LIMIT; ++i) {
        if ((xapic_reg(base, XAPIC_ICR_LOW) & ICR_DELIVERY_STATUS_PENDING) == 0) return true;
        cpu_pause();
    }
    return false;
}

u32 lapic_id() {
    const u64 apic_base = rdmsr(Msr::IA32_APIC_BASE);
    if (apic_base & APIC_BASE_X2APIC_ENABLE) return static_cast<u32>(rdmsr(static_cast<Msr>(X2APIC_MSR_ID)));
    return xapic_reg(apic_base & APIC_BASE_ADDR_MASK, XAPIC_ID) >> XAPIC_ID_SHIFT;
}

} // namespace evmm
