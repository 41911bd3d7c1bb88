#include "vmm/modules/acpi_power.h"

#include "lib/format.h"
#include "lib/formats/acpi.h"
#include "lib/log.h"
#include "vmm/guest/gcpu.h"
#include "vmm/host/platform.h"
#include "vmm/modules/io_monitor.h"

namespace evmm {
namespace {

evmm_acpi_power_t g_power{};

void on_pm1_cnt_write(Gcpu& g, u16 port, u8 size, bool, u32& value) {
    if ((value & ACPI_PM1_CNT_SLP_EN) != 0) {
        const u32 typ = (value >> ACPI_PM1_CNT_SLP_TYP_SHIFT) & ACPI_PM1_CNT_SLP_TYP_MASK;
        const u8 s5 = port == g_power.pm1a_cnt ? g_power.s5_slp_typ_a : g_power.s5_slp_typ_b;
        const char* reg = port == g_power.pm1a_cnt ? "PM1a_CNT" : "PM1b_CNT";
        if (g_power.s5_valid && typ != s5) {
            static char what[160];
            format(what, sizeof what,
                   "guest0 requested an ACPI sleep state (%s 0x%x <- 0x%x: SLP_TYP %u, S5 is %u): evmm does not "
                   "support sleep states (resuming would bypass the hypervisor)",
                   reg, port, value, typ, s5);
            gcpu_fatal(g, what);
        }
        if (g_power.s5_valid) {
            LOG_INFO("guest0 cpu%u powers the machine off (ACPI S5: %s port 0x%x <- 0x%x)", g.cpu_id, reg, port, value);
        } else {
            LOG_WARN(
                "guest0 cpu%u enters an ACPI sleep state (%s port 0x%x <- 0x%x, SLP_TYP %u; no \\_S5 known, "
                "so evmm cannot tell whether this is S5 power-off)",
                g.cpu_id, reg, port, value, typ);
        }
        exit_stats_log("guest0 power-off");
    }
    io_port_out(port, size, value);
}

} // namespace

void acpi_power_init() {
    g_power = platform().acpi_power;
    if (g_power.pm1a_cnt == 0) {
        LOG_INFO("stage 3: acpi-power: no PM1 control port known: guest0's power-off is not watched");
        return;
    }
    io_intercept(g_power.pm1a_cnt, nullptr, on_pm1_cnt_write);
    if (g_power.pm1b_cnt != 0 && g_power.pm1b_cnt != g_power.pm1a_cnt)
        io_intercept(g_power.pm1b_cnt, nullptr, on_pm1_cnt_write);
}

} // namespace evmm
