// VM-exit statistics: every gcpu counts its exits per basic exit reason (Gcpu::exits, vmm/vmx/vmexit.cpp's fast path
// increments them). exit_stats_log() prints the totals over all gcpus, one line per reason that occurred; evmm
// calls it when guest0 ends (ACPI power-off, triple fault, the test kit's VMCALL EXIT) so a run's exit profile is
// in its log (docs/performance.md, P4).
#pragma once

#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

// Logs (level info) "vm exits: N on C CPU(s) (why)" and then "  REASON (n): count [per CPU]" per reason.
// Counters of other CPUs are read without stopping them: a total can be a few exits behind.
void exit_stats_log(const char* why);

} // namespace evmm
