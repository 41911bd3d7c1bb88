// TSC frequency: CPUID leaf 15H (TSC/crystal ratio), else leaf 16H (base frequency), else calibrated against the
// PIT (8254 channel 2, gated through port 61h).
#pragma once

#include "evmm/base.h"

namespace evmm {

struct TscInfo {
    u64 khz;
    u32 source;  // EVMM_TSC_SOURCE_*
};

TscInfo tsc_measure();

} // namespace evmm
