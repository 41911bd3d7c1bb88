#include "arch/x86_64/lapic.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/msr.h"

namespace evmm {
namespace {

constexpr Msr X2APIC_ICR = static_cast<Msr>(MSR_X2APIC_ICR);

volatile u32* xapic_reg(const Lapic& l, XApicReg r) {
    return reinterpret_cast<volatile u32*>(l.mmio_base + static_cast<u32>(r));
}

} // namespace

Lapic lapic_detect() {
    const u64 v = rdmsr(Msr::IA32_APIC_BASE);
    if ((v & APIC_BASE_GLOBAL_ENABLE) == 0) return {ApicMode::Disabled, 0};
    if (v & APIC_BASE_X2APIC_ENABLE) return {ApicMode::X2Apic, 0};
    return {ApicMode::XApic, v & APIC_BASE_ADDR_MASK};
}

bool lapic_send(const Lapic& l, u64 icr, u64 timeout_ticks) {
    // The trampoline data must be globally visible before the IPI: a WRMSR to an x2APIC register is not
    // serializing (SDM Vol. 3A §11.12.3), so fence explicitly (harmless before the UC MMIO writes of the xAPIC).
    asm volatile("mfence" ::: "memory");
    switch (l.mode) {
    case ApicMode::X2Apic: wrmsr(X2APIC_ICR, icr); return true;
    case ApicMode::XApic: {
        *xapic_reg(l, XApicReg::ICR_HIGH) = static_cast<u32>(icr >> 32);
        *xapic_reg(l, XApicReg::ICR_LOW) = static_cast<u32>(icr);
        const u64 start = rdtsc();
        while (*xapic_reg(l, XApicReg::ICR_LOW) & ICR_DELIVERY_STATUS) {
            if (rdtsc() - start > timeout_ticks) return false;
            cpu_pause();
        }
        return true;
    }
    case ApicMode::Disabled: break;
    }
    return false;
}

u32 lapic_read(const Lapic& l, XApicReg r) {
    switch (l.mode) {
    case ApicMode::X2Apic: return static_cast<u32>(rdmsr(static_cast<Msr>(X2APIC_MSR_BASE + static_cast<u32>(r) / 16)));
    case ApicMode::XApic: return *xapic_reg(l, r);
    case ApicMode::Disabled: break;
    }
    return 0;
}

void lapic_write(const Lapic& l, XApicReg r, u32 v) {
    switch (l.mode) {
    case ApicMode::X2Apic: wrmsr(static_cast<Msr>(X2APIC_MSR_BASE + static_cast<u32>(r) / 16), v); return;
    case ApicMode::XApic: *xapic_reg(l, r) = v; return;
    case ApicMode::Disabled: break;
    }
}

} // namespace evmm
