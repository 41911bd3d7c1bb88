// TSC frequency: CPUID leaf 15H (TSC/crystal ratio), else leaf 16H (base frequency), else calibrated against the
// PIT (8254 channel 2, gated through port 61h). A CPUID figure is used only if a 2 ms PIT measurement agrees
// with it (within 25 %): emulators report frequencies their TSC does not run at.
#pragma once

#include "evmm/base.h"

namespace evmm {

struct TscInfo {
    u64 khz;
    u32 source;           // EVMM_TSC_SOURCE_*
    u64 cpuid_khz_unused; // what CPUID claimed when the PIT measurement disagreed and won (0 otherwise)
};

TscInfo tsc_measure();

} // namespace evmm
