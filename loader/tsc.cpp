#include "loader/tsc.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/io.h"
#include "evmm_desc.h"

namespace evmm {
namespace {

// 8254 PIT (Intel 8254 data sheet; PC/AT port assignments).
constexpr u64 PIT_HZ = 1193182;
constexpr u16 PIT_CH2_DATA = 0x42;
constexpr u16 PIT_COMMAND = 0x43;
constexpr u16 NMI_SC_PORT = 0x61; // NMI status and control: bit 0 gate 2, bit 1 speaker, bit 5 OUT2
constexpr u8 NMI_SC_GATE2 = 1u << 0;
constexpr u8 NMI_SC_SPEAKER = 1u << 1;
constexpr u8 NMI_SC_OUT2 = 1u << 5;
constexpr u8 PIT_CMD_CH2_LOHI_MODE0 = 0xB0; // channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count)
constexpr u64 CALIBRATION_MS = 10;
constexpr u64 CROSS_CHECK_MS = 2;        // a short PIT measurement to sanity-check what CPUID claims
constexpr u64 CROSS_CHECK_TOLERANCE = 4; // CPUID's rate may be off by 1/4 of the measured one at most
constexpr u64 SPIN_LIMIT = u64{1} << 32; // OUT2 never rising (no PIT) must not hang us

u64 pit_calibrate_khz(u64 ms = CALIBRATION_MS) {
    const u64 count = PIT_HZ * ms / 1000;
    u8 sc = io::in8(NMI_SC_PORT);
    io::out8(NMI_SC_PORT, static_cast<u8>((sc & ~NMI_SC_SPEAKER) & ~NMI_SC_GATE2));
    io::out8(PIT_COMMAND, PIT_CMD_CH2_LOHI_MODE0);
    io::out8(PIT_CH2_DATA, static_cast<u8>(count & 0xFF));
    io::out8(PIT_CH2_DATA, static_cast<u8>(count >> 8));
    sc = io::in8(NMI_SC_PORT);
    io::out8(NMI_SC_PORT, static_cast<u8>((sc & ~NMI_SC_SPEAKER) | NMI_SC_GATE2)); // start counting
    const u64 start = rdtsc();
    u64 spins = 0;
    while ((io::in8(NMI_SC_PORT) & NMI_SC_OUT2) == 0 && ++spins < SPIN_LIMIT) {}
    const u64 end = rdtsc();
    if (spins >= SPIN_LIMIT) return 0;
    return (end - start) / ms;
}

// Emulators (Bochs: one TSC tick per instruction) report a CPUID frequency the TSC does not run at; every delay
// computed from it would be off by that factor. Trust CPUID only when a short PIT measurement agrees.
TscInfo checked(TscInfo claimed) {
    const u64 measured = pit_calibrate_khz(CROSS_CHECK_MS);
    if (measured == 0) return claimed; // no PIT answer: CPUID is all we have
    const u64 diff = claimed.khz > measured ? claimed.khz - measured : measured - claimed.khz;
    if (diff * CROSS_CHECK_TOLERANCE <= measured) return claimed;
    return {measured, EVMM_TSC_SOURCE_PIT, claimed.khz}; // 2 ms of PIT: within 0.1 %, good enough for delays
}

} // namespace

TscInfo tsc_measure() {
    const u32 max_leaf = cpuid(CpuidLeaf::BASIC).eax;
    if (max_leaf >= static_cast<u32>(CpuidLeaf::TSC_CRYSTAL)) {
        // SDM Vol. 2A CPUID leaf 15H: TSC Hz = ECX (crystal Hz) * EBX / EAX.
        const CpuidRegs r = cpuid(CpuidLeaf::TSC_CRYSTAL);
        if (r.eax != 0 && r.ebx != 0 && r.ecx != 0)
            return checked({u64{r.ecx} * r.ebx / r.eax / 1000, EVMM_TSC_SOURCE_CPUID15, 0});
    }
    if (max_leaf >= static_cast<u32>(CpuidLeaf::FREQUENCY)) {
        const CpuidRegs r = cpuid(CpuidLeaf::FREQUENCY); // EAX[15:0]: base frequency in MHz
        if ((r.eax & 0xFFFF) != 0) return checked({u64{r.eax & 0xFFFF} * 1000, EVMM_TSC_SOURCE_CPUID16, 0});
    }
    return {pit_calibrate_khz(), EVMM_TSC_SOURCE_PIT, 0};
}

} // namespace evmm
