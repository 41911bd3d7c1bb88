// A small typed hook mechanism: modules register at stage 3 (init module) on the BSP, before any guest runs, so
// raising an event needs no locking (the seed's event_raise).
#pragma once

#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

enum class Event : u8 {
    GcpuInit,    // stage 5, per gcpu, with its VMCS current: modules program their VMCS fields
    GuestLaunch, // stage 6, per gcpu, just before the first VM entry
    Count,
};

using EventHandler = void (*)(Gcpu&);
inline constexpr u32 EVENT_MAX_HANDLERS = 16;

void event_register(Event e, EventHandler h); // panics when full (a build-time mistake)
void event_raise(Event e, Gcpu& g);

} // namespace evmm
