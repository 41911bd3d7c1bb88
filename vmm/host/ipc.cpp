#include "vmm/host/ipc.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "evmm/spinlock.h"
#include "lib/log.h"
#include "vmm/host/percpu.h"
#include "vmm/host/smp.h"

namespace evmm {
namespace {

constexpr u64 IPC_TIMEOUT_MS = 100;

SpinLock g_lock;
IpcFn g_fn = nullptr;
u64 g_arg = 0;
u64 g_seq = 0;                // number of the current request (written under g_lock)
u64 g_pending[EVMM_MAX_CPUS]; // per target: the request it must run
u64 g_done[EVMM_MAX_CPUS];    // per target: the last request it ran

} // namespace

u32 ipc_call_others(IpcFn fn, u64 arg) {
    const u32 n = smp_num_cpus();
    if (n <= 1) return 0;
    LockGuard guard(g_lock);
    const u32 me = this_cpu().cpu_id;
    g_fn = fn;
    g_arg = arg;
    const u64 seq = ++g_seq;
    for (u32 c = 0; c < n; ++c)
        if (c != me) __atomic_store_n(&g_pending[c], seq, __ATOMIC_RELEASE); // after fn/arg (release)
    const u64 limit = smp_ms_to_ticks(IPC_TIMEOUT_MS);
    if (!lapic_send(lapic_detect(), ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT | ICR_SHORTHAND_ALL_BUT_SELF, limit))
        LOG_ERROR("ipc: the local APIC did not send the NMI");
    const u64 start = rdtsc();
    u32 missing = 0;
    for (u32 c = 0; c < n; ++c) {
        if (c == me) continue;
        while (__atomic_load_n(&g_done[c], __ATOMIC_ACQUIRE) != seq && rdtsc() - start < limit) cpu_pause();
        if (__atomic_load_n(&g_done[c], __ATOMIC_ACQUIRE) != seq) {
            LOG_ERROR("ipc: cpu%u did not run request %lu within %lu ms", c, seq, IPC_TIMEOUT_MS);
            ++missing;
        }
    }
    return missing;
}

bool ipc_handle_nmi() {
    const u32 me = this_cpu().cpu_id;
    if (me >= EVMM_MAX_CPUS) return false;
    const u64 seq = __atomic_load_n(&g_pending[me], __ATOMIC_ACQUIRE);
    if (seq == __atomic_load_n(&g_done[me], __ATOMIC_RELAXED)) return false;
    g_fn(g_arg);
    __atomic_store_n(&g_done[me], seq, __ATOMIC_RELEASE);
    return true;
}

} // namespace evmm
