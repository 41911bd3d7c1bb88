// The vCPU tick shared by several modules (docs/architecture.md): one Intercept::Tick handler (this module's)
// calls every handler registered here. Each handler looks only at the vCPUs it armed the tick for
// (gcpu_tick_every) and re-arms or stops it itself.
#pragma once

#include "vmm/guest/gcpu.h"

namespace evmm {

using TickHandler = void (*)(Gcpu& g);
inline constexpr u32 TICK_MAX_HANDLERS = 4;

void tick_init();                  // stage 3 (MODULES), before the modules that register
void tick_register(TickHandler h); // stage 3, BSP; panics past TICK_MAX_HANDLERS

} // namespace evmm
