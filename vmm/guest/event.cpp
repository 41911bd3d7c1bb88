#include "vmm/guest/event.h"

#include "vmm/host/panic.h"

namespace evmm {
namespace {

struct Slots {
    EventHandler h[EVENT_MAX_HANDLERS];
    u32 n;
};
Slots g_events[static_cast<u8>(Event::Count)];

} // namespace

void event_register(Event e, EventHandler h) {
    Slots& s = g_events[static_cast<u8>(e)];
    if (s.n == EVENT_MAX_HANDLERS)
        PANIC("event %u: more than %u handlers", static_cast<unsigned>(e), EVENT_MAX_HANDLERS);
    s.h[s.n++] = h;
}

void event_raise(Event e, Gcpu& g) {
    const Slots& s = g_events[static_cast<u8>(e)];
    for (u32 i = 0; i < s.n; ++i) s.h[i](g);
}

} // namespace evmm
