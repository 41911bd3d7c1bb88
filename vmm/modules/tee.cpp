#include "vmm/modules/tee.h"

#include "arch/x86_64/cpu.h"
#include "evmm_tee.h"
#include "lib/log.h"
#include "vmm/guest/event.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/world.h"
#include "vmm/host/platform.h"
#include "vmm/host/smp.h"
#include "vmm/modules/tick.h"

namespace evmm {
namespace {

// Until the TEE's first SMC on a CPU: of its guest time (VT-x's preemption timer), of the CPU's time from stage 5
// (SVM's LAPIC timer, vmm/svm/svm_tick.h).
constexpr u64 BOOT_TIMEOUT_MS = 5000;

Guest* g_guest0 = nullptr;
Guest* g_tee = nullptr;
bool g_dead = false;           // written once (atomically), read on every SMC
bool g_booted[EVMM_MAX_CPUS];  // the TEE's first SMC on that CPU happened (or it died first)
bool g_serving[EVMM_MAX_CPUS]; // the TEE runs a call of guest0's on that CPU

bool dead() { return __atomic_load_n(&g_dead, __ATOMIC_ACQUIRE); }

// RDI, RSI, RDX, RCX: written out, not a loop over a table (-Os keeps such a loop, 25 instructions on every SMC).
void copy_args(Gcpu& from, Gcpu& to) {
    to.reg(Gpr::RDI) = from.reg(Gpr::RDI);
    to.reg(Gpr::RSI) = from.reg(Gpr::RSI);
    to.reg(Gpr::RDX) = from.reg(Gpr::RDX);
    to.reg(Gpr::RCX) = from.reg(Gpr::RCX);
}

void answer(Gcpu& g, u64 error) {
    g.reg(Gpr::RAX) = error;
    g.reg(Gpr::RDI) = error;
}

// The TEE's first SMC (or its death before one) on this CPU: the CPU is guest0's from now on.
[[noreturn, gnu::cold, gnu::noinline]] void hand_cpu_to_guest0(Gcpu& t) {
    g_booted[t.cpu_id] = true;
    gcpu_tick_stop(t);
    world_switch(t, g_guest0->vcpu(t.cpu_id));
}

[[noreturn, gnu::cold, gnu::noinline]] void first_smc(Gcpu& t) {
    LOG_INFO("tee: cpu%u: first SMC (the TEE booted on this CPU): %s", t.cpu_id,
             t.cpu_id == 0 ? "guest0 starts" : "the CPU waits for guest0's SIPI");
    hand_cpu_to_guest0(t);
}

[[noreturn, gnu::cold]] void on_tee_stopped(Gcpu& t, const char* why) {
    const u32 cpu = t.cpu_id;
    if (!__atomic_exchange_n(&g_dead, true, __ATOMIC_ACQ_REL))
        LOG_ERROR("tee: dead: %s on cpu%u at RIP 0x%lx; every SMC now returns EVMM_TEE_SMC_ERR_DEAD", why, cpu,
                  gcpu_rip(t));
    else
        LOG_ERROR("tee: cpu%u: %s at RIP 0x%lx (the TEE is dead already)", cpu, why, gcpu_rip(t));
    if (!g_booted[cpu]) {
        LOG_ERROR("tee: cpu%u: the TEE died before its first SMC: guest0 starts without it", cpu);
        hand_cpu_to_guest0(t);
    }
    Gcpu& n = g_guest0->vcpu(cpu);
    if (g_serving[cpu]) {
        g_serving[cpu] = false;
        answer(n, EVMM_TEE_SMC_ERR_DEAD);
    }
    world_switch(t, n);
}

[[gnu::cold]] void stopped_hook(Gcpu& g, const char* why) { on_tee_stopped(g, why); }

[[gnu::cold]] void on_tick(Gcpu& g) {
    if (g.guest->owns_platform() || g_booted[g.cpu_id]) return;
    LOG_ERROR("tee: cpu%u: the TEE did not boot: no SMC within %lu ms (RIP 0x%lx)", g.cpu_id, BOOT_TIMEOUT_MS,
              gcpu_rip(g));
    final_stop(StopReason::Fatal, "the TEE did not boot");
}

[[gnu::cold]] void on_gcpu_init(Gcpu& g) {
    world_gcpu_init(g);
    if (g.guest->owns_platform()) return;
    if (!gcpu_tick_every(g, smp_ms_to_ticks(BOOT_TIMEOUT_MS)))
        LOG_WARN("tee: no vCPU tick: a TEE that never makes its first SMC is not detected");
}

} // namespace

[[gnu::cold]] void tee_init() {
    tick_register(on_tick);
    event_register(Event::GcpuInit, on_gcpu_init);
    world_set_stop_handler(stopped_hook);
}

[[gnu::cold]] void tee_attach(Guest& guest0, Guest* tee) {
    g_guest0 = &guest0;
    g_tee = tee;
}

[[gnu::cold]] Gcpu& tee_first_vcpu(u32 cpu) { return g_tee != nullptr ? g_tee->vcpu(cpu) : g_guest0->vcpu(cpu); }

// Either world's SMC: the other world's vCPU on this CPU is the world's peer (GcpuWorld::peer).
void tee_smc(Gcpu& g) {
    if (!gcpu_hypercall_begin(g)) [[unlikely]]
        return; // CPL > 0: #UD (the existing VMCALL rule)
    const u32 cpu = g.cpu_id;
    GcpuWorld* w = g.world;
    if (w == nullptr) [[unlikely]]
        return answer(g, EVMM_TEE_SMC_ERR_NO_TEE); // one world: evmm booted without a TEE
    Gcpu& peer = *w->peer;
    if (w->normal) {
        if (dead()) [[unlikely]]
            return answer(g, EVMM_TEE_SMC_ERR_DEAD);
        copy_args(g, peer);
        g_serving[cpu] = true;
        world_switch(g, peer);
    }
    if (!g_booted[cpu]) [[unlikely]]
        first_smc(g);
    copy_args(g, peer);
    g_serving[cpu] = false;
    world_switch(g, peer);
}

} // namespace evmm
