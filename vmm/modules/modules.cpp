#include "vmm/modules/modules.h"

#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/panic.h"
#include "vmm/modules/acpi_power.h"
#include "vmm/modules/cpuid.h"
#include "vmm/modules/dma_faults.h"
#include "vmm/modules/gpa_access.h"
#include "vmm/modules/guest_apic.h"
#include "vmm/modules/io_monitor.h"
#include "vmm/modules/misc.h"
#include "vmm/modules/msr_monitor.h"
#include "vmm/modules/smm_guard.h"
#include "vmm/modules/task_switch_exit.h"
#include "vmm/modules/tee.h"
#include "vmm/modules/tick.h"
#include "vmm/modules/tsc.h"
#include "vmm/modules/vmcall.h"
#include "vmm/modules/vmx_instructions.h"
#include "vmm/modules/xsetbv.h"

namespace evmm {
namespace {

struct Module {
    const char* name;
    void (*init)();
};

// The modules, in the seed's order: CPUID, then isolation (MSR, APIC, I/O, XCR0, TSC), then VMCALL, then the exits
// that only refuse or report. msr and io come before the modules that hook MSRs and ports.
constexpr Module MODULES[] = {
    {"cpuid", cpuid_init},
    {"msr", msr_monitor_init},
    {"guest-apic", guest_apic_init},
    {"io", io_monitor_init},
    {"acpi-power", acpi_power_init},
    {"smm-guard", smm_guard_init},
    {"xsetbv", xsetbv_init},
    {"tsc", tsc_init},
    {"vmcall", vmcall_init},
    {"tick", tick_init},
    {"tee", tee_init},
    {"virt-instructions", vmx_instructions_init},
    {"gpa-access", gpa_access_init},
    {"dma-faults", dma_faults_init},
    {"task-switch", task_switch_exit_init},
    {"misc", misc_init},
};

bool g_done = false;

} // namespace

void modules_init() {
    if (g_done) PANIC("modules_init called twice");
    g_done = true;
    char names[200];
    size_t used = 0;
    for (const Module& m : MODULES) {
        intercept_set_owner(m.name);
        m.init();
        if (used + 1 < sizeof names)
            used += format(names + used, sizeof names - used, "%s%s", used ? ", " : "", m.name);
    }
    intercept_set_owner(nullptr);
    LOG_INFO("stage 3: modules: %s", names);
    intercept_log_table();
}

} // namespace evmm
