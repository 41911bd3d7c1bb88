#include "vmm/modules/tick.h"

#include "vmm/guest/intercept.h"
#include "vmm/host/panic.h"

namespace evmm {
namespace {

TickHandler g_handlers[TICK_MAX_HANDLERS];
u32 g_count = 0;

void on_tick(Gcpu& g) {
    for (u32 i = 0; i < g_count; ++i) g_handlers[i](g);
}

} // namespace

void tick_init() { intercept_register(Intercept::Tick, on_tick); }

void tick_register(TickHandler h) {
    if (g_count == TICK_MAX_HANDLERS) PANIC("more than %u tick handlers", TICK_MAX_HANDLERS);
    g_handlers[g_count++] = h;
}

} // namespace evmm
