#include "vmm/modules/ept_violation.h"

#include "arch/x86_64/vmx.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/modules/guest_apic.h"
#include "vmm/vmx/vmexit.h"

namespace evmm {
namespace {

constexpr u64 LOGGED_VIOLATIONS = 16;
u64 g_violations = 0; // guest0 runs on one CPU; a count that races on SMP only misplaces a log line

// Contributory exceptions (SDM Vol. 3A §7.15, Table 7-4) and #PF: a second contributory fault during their
// delivery becomes #DF.
bool contributory_or_pf(u8 v) {
    const Vector x = static_cast<Vector>(v);
    return x == Vector::DE || x == Vector::TS || x == Vector::NP || x == Vector::SS || x == Vector::GP ||
           x == Vector::PF;
}

void log_violation(u64 gpa, u64 qual) {
    ++g_violations;
    if (g_violations > LOGGED_VIOLATIONS) {
        if ((g_violations & (g_violations - 1)) == 0)
            LOG_WARN("guest0: %lu EPT violations so far (only the first %lu are logged)", g_violations,
                     LOGGED_VIOLATIONS);
        return;
    }
    char gla[32];
    if (qual & EPT_QUAL_LINEAR_VALID)
        format(gla, sizeof gla, "GLA 0x%lx", vmread(VmcsField::GUEST_LINEAR_ADDR));
    else
        format(gla, sizeof gla, "GLA none");
    char access[24];
    format(access, sizeof access, "%s%s%s%s%s", (qual & EPT_QUAL_READ) ? "read" : "",
           (qual & EPT_QUAL_READ) && (qual & (EPT_QUAL_WRITE | EPT_QUAL_FETCH)) ? "/" : "",
           (qual & EPT_QUAL_WRITE) ? "write" : "", (qual & EPT_QUAL_WRITE) && (qual & EPT_QUAL_FETCH) ? "/" : "",
           (qual & EPT_QUAL_FETCH) ? "fetch" : "");
    LOG_WARN("guest0: EPT violation at GPA 0x%lx (%s), qualification 0x%lx (%s)%s", gpa, gla, qual,
             access[0] != '\0' ? access : "no access bits",
             g_violations == LOGGED_VIOLATIONS ? "; further ones are only counted" : "");
}

void on_ept_violation(Gcpu& g) {
    const u64 qual = vmread(VmcsField::EXIT_QUALIFICATION);
    const u64 gpa = vmread(VmcsField::GUEST_PHYSICAL_ADDR);
    if (guest_apic_ept_violation(g, gpa, qual)) return;  // a write to the local APIC, emulated
    log_violation(gpa, qual);

    Vector inject = Vector::GP;
    const u32 idt = static_cast<u32>(vmread(VmcsField::IDT_VECTORING_INFO));
    if (idt & INTR_INFO_VALID) {
        // The access was part of delivering an event (a stack push, an IDT or TSS read): the event is lost and
        // the #GP takes its place, combined per Table 7-5.
        if (intr_info_type(idt) == InterruptionType::HARDWARE_EXCEPTION) {
            const u8 v = intr_info_vector(idt);
            if (static_cast<Vector>(v) == Vector::DF) {
                static char what[96];
                format(what, sizeof what, "triple fault (EPT violation at GPA 0x%lx while delivering #DF)", gpa);
                gcpu_guest_stopped(g, what);
            }
            if (contributory_or_pf(v)) inject = Vector::DF;
        }
    } else if (qual & EPT_QUAL_NMI_UNBLOCKING) {
        // The faulting IRET did not complete, so NMIs stay blocked (SDM Vol. 3C §28.2.3).
        vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE,
                vmread(VmcsField::GUEST_INTERRUPTIBILITY_STATE) | INTERRUPTIBILITY_NMI);
    }
    gcpu_inject_exception(g, inject, 0);
}

void on_ept_misconfig(Gcpu& g) {
    static char what[112];
    format(what, sizeof what, "EPT misconfiguration at GPA 0x%lx (a malformed EPT entry: hypervisor bug)",
           vmread(VmcsField::GUEST_PHYSICAL_ADDR));
    gcpu_fatal(g, what);
}

} // namespace

void ept_violation_init() {
    vmexit_register(ExitReason::EPT_VIOLATION, on_ept_violation);
    vmexit_register(ExitReason::EPT_MISCONFIG, on_ept_misconfig);
}

} // namespace evmm
