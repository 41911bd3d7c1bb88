// Refused guest-physical accesses (VT-x: EPT violation, exit 48, SDM Vol. 3C §29.3.3; SVM: nested page fault).
//
// An access inside a range a module registered (vmm/guest/gpa_intercept.h, e.g. the local APIC page) goes to that
// module's handler. Anything else touched memory the guest's second-level tables do not give it — the
// hypervisor's own region, or beyond the map. evmm logs one line
//     guest0: EPT violation at GPA 0x.. (GLA 0x.. | GLA none), read|write|fetch
// (the first 16, then only a running count at powers of two, so a looping guest cannot flood the log) and raises
// #GP(0) in the guest — what a bus with nothing behind the address looks like to guest0. RIP is not advanced: the
// access did not complete. If the access interrupted the delivery of an event, the #GP combines with it as the
// processor would (SDM Vol. 3A §7.15, Table 7-5: #DF after a contributory exception or #PF, shutdown after #DF). If
// it interrupted an IRET that unblocked NMIs, blocking by NMI is restored first (SDM Vol. 3C §28.2.3).
// EPT misconfigurations are the VT-x backend's (vmm/vmx/vmx_exits.cpp): a hypervisor bug, fatal.
#pragma once

namespace evmm {

void gpa_access_init(); // stage 3

} // namespace evmm
