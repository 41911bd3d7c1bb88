#include "vmm/modules/dma_faults.h"

#include "lib/log.h"
#include "vmm/guest/event.h"
#include "vmm/guest/guest.h"
#include "vmm/host/platform.h"
#include "vmm/iommu/iommu.h"
#include "vmm/modules/tick.h"

namespace evmm {
namespace {

constexpr u64 POLL_PERIOD_MS = 100;
constexpr u32 POLL_CPU = 0; // the BSP: one poller for every unit
bool g_force = false;
bool g_first_tick_logged = false;

u64 period_ticks() { return platform().tsc_khz * POLL_PERIOD_MS; }

void on_tick(Gcpu& g) {
    if (g.cpu_id != POLL_CPU || !g.guest->owns_platform()) return; // another module's tick
    if (!g_first_tick_logged) {
        g_first_tick_logged = true;
        LOG_INFO("dma-faults: first poll on cpu%u", g.cpu_id);
    }
    if (iommu_enabled()) iommu_poll_faults(); // logs each fault and clears it
    (void)gcpu_tick_every(g, period_ticks());
}

void on_gcpu_init(Gcpu& g) {
    if (g.cpu_id != POLL_CPU || !g.guest->owns_platform() || !(iommu_enabled() || g_force)) return;
    if (gcpu_tick_every(g, period_ticks()))
        LOG_INFO("stage 5: dma-faults: fault records polled every %lu ms of cpu%u's guest time%s", POLL_PERIOD_MS,
                 g.cpu_id, iommu_enabled() ? "" : " (forceexits=1: no DMA remapping, the tick alone)");
    else
        LOG_WARN("dma-faults: no vCPU tick: DMA faults are recorded by the IOMMU but not logged");
}

} // namespace

void dma_faults_init() {
    tick_register(on_tick);
    event_register(Event::GcpuInit, on_gcpu_init);
}

void dma_faults_force_tick() { g_force = true; }

} // namespace evmm
