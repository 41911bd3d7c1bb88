#include "vmm/vmx/exit_stats.h"

#include "arch/x86_64/vmcs.h"
#include "lib/format.h"
#include "lib/log.h"

namespace evmm {

void exit_stats_log(const char* why) {
    const u32 n = gcpu_count();
    u64 total = 0;
    for (u32 c = 0; c < n; ++c) total += __atomic_load_n(&gcpu_of(c).exits_total, __ATOMIC_RELAXED);
    LOG_INFO("vm exits: %lu on %u CPU%s (%s), by reason:", total, n, n == 1 ? "" : "s", why);
    for (u32 r = 0; r < EXIT_COUNTERS; ++r) {
        u64 sum = 0;
        char per_cpu[160] = "";
        size_t used = 0;
        for (u32 c = 0; c < n; ++c) {
            const u64 v = __atomic_load_n(&gcpu_of(c).exits[r], __ATOMIC_RELAXED);
            sum += v;
            if (n > 1 && v != 0 && used + 1 < sizeof per_cpu)
                used += format(per_cpu + used, sizeof per_cpu - used, "%scpu%u %lu", used ? ", " : " (", c, v);
        }
        if (sum == 0) continue;
        if (used != 0 && used + 1 < sizeof per_cpu) format(per_cpu + used, sizeof per_cpu - used, ")");
        LOG_INFO("  %s (%u): %lu%s", exit_reason_name(r), r, sum, per_cpu);
    }
}

} // namespace evmm
