#include "vmm/vmx/exit_stats.h"

#include "arch/x86_64/vmcs.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/host/platform.h"
#include "vmm/svm/svm_exits.h"
#include "vmm/svm/svm_setup.h"

namespace evmm {
namespace {

// Exits of CPU `cpu`'s gcpus (one per guest) with basic reason `r`, or all of them (r == EXIT_COUNTERS).
u64 exits_on(u32 cpu, u32 r) {
    u64 sum = 0;
    for (u32 i = 0; i < guest_count(); ++i) {
        Guest& guest = guest_at(i);
        if (cpu >= guest.vcpu_count()) continue;
        const Gcpu& g = guest.vcpu(cpu);
        sum += __atomic_load_n(r == EXIT_COUNTERS ? &g.exits_total : &g.exits[r], __ATOMIC_RELAXED);
    }
    return sum;
}

} // namespace

void exit_stats_log(const char* why) {
    const u32 n = platform().num_cpus;
    u64 total = 0;
    for (u32 c = 0; c < n; ++c) total += exits_on(c, EXIT_COUNTERS);
    LOG_INFO("vm exits: %lu on %u CPU%s (%s), by reason:", total, n, n == 1 ? "" : "s", why);
    for (u32 r = 0; r < EXIT_COUNTERS; ++r) {
        u64 sum = 0;
        char per_cpu[160] = "";
        size_t used = 0;
        for (u32 c = 0; c < n; ++c) {
            const u64 v = exits_on(c, r);
            sum += v;
            if (n > 1 && v != 0 && used + 1 < sizeof per_cpu)
                used += format(per_cpu + used, sizeof per_cpu - used, "%scpu%u %lu", used ? ", " : " (", c, v);
        }
        if (sum == 0) continue;
        if (used != 0 && used + 1 < sizeof per_cpu) format(per_cpu + used, sizeof per_cpu - used, ")");
        if (svm_backend()) // SVM's counters (vmm/svm/svm_exits.h): the name says the exit code
            LOG_INFO("  %s: %lu%s", svm_exit_counter_name(r), sum, per_cpu);
        else
            LOG_INFO("  %s (%u): %lu%s", exit_reason_name(r), r, sum, per_cpu);
    }
}

} // namespace evmm
