// EPT exits (SDM Vol. 3C §29.3.3; qualification Table 28-7).
//
// 48 EPT violation: guest0 touched guest-physical memory its EPT does not map — the hypervisor's own region, or
// beyond the map. evmm logs one line
//     guest0: EPT violation at GPA 0x.. (GLA 0x.. | GLA none), qualification 0x.. (read|write|fetch)
// (the first 16, then only a running count at powers of two, so a looping guest cannot flood the log) and raises
// #GP(0) in the guest — what a bus with nothing behind the address looks like to guest0. RIP is not advanced: the
// access did not complete. If the violation interrupted the delivery of an event, the #GP combines with it as the
// processor would (SDM Vol. 3A §7.15, Table 7-5: #DF after a contributory exception or #PF, shutdown after #DF). If
// it interrupted an IRET that unblocked NMIs, blocking by NMI is restored first (SDM Vol. 3C §28.2.3).
// 49 EPT misconfiguration: a malformed EPT entry is a hypervisor bug: gcpu_fatal with the GPA.
#pragma once

namespace evmm {

void ept_violation_init(); // stage 3

} // namespace evmm
