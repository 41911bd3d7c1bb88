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
u16 g_pm1_sts[2]; // the PM1a/PM1b status ports (0: none)
// A sleep request was answered: WAK_STS reads as set until guest0 clears it (any CPU may read or clear it).
bool g_woke = false;

bool woke() { return __atomic_load_n(&g_woke, __ATOMIC_ACQUIRE); }
void set_woke(bool v) { __atomic_store_n(&g_woke, v, __ATOMIC_RELEASE); }

// The bit of WAK_STS in an access of `size` bytes at `port`, one of the status register's two bytes (0: not in it).
u32 wak_sts_bit(u16 port, u8 size, u16 sts) {
    const u32 shift = port == sts ? 0 : 8; // port is sts or sts + 1 (the intercepted ones)
    if (shift == 0 && size < sizeof(u16)) return 0;
    return u32{ACPI_PM1_STS_WAK_STS} >> shift;
}

u16 sts_of(u16 port) { return port == g_pm1_sts[0] || port == g_pm1_sts[0] + 1 ? g_pm1_sts[0] : g_pm1_sts[1]; }

// ACPI 6.5 §4.8.3.1.1: WAK_STS is set by the hardware when the system wakes, cleared by writing 1.
void on_pm1_sts_read(Gcpu&, u16 port, u8 size, bool, u32& value) {
    value = io_port_in(port, size);
    if (woke() && sts_of(port) == g_pm1_sts[0]) value |= wak_sts_bit(port, size, g_pm1_sts[0]);
}

void on_pm1_sts_write(Gcpu&, u16 port, u8 size, bool, u32& value) {
    if (value & wak_sts_bit(port, size, sts_of(port))) set_woke(false);
    io_port_out(port, size, value);
}

void on_pm1_cnt_write(Gcpu& g, u16 port, u8 size, bool, u32& value) {
    if ((value & ACPI_PM1_CNT_SLP_EN) != 0) {
        const u32 typ = (value >> ACPI_PM1_CNT_SLP_TYP_SHIFT) & ACPI_PM1_CNT_SLP_TYP_MASK;
        const u8 s5 = port == g_power.pm1a_cnt ? g_power.s5_slp_typ_a : g_power.s5_slp_typ_b;
        const char* reg = port == g_power.pm1a_cnt ? "PM1a_CNT" : "PM1b_CNT";
        if (g_power.s5_valid && typ != s5) {
            if (g_pm1_sts[0] == 0) {
                static char what[200];
                format(what, sizeof what,
                       "guest0 requested an ACPI sleep state (%s 0x%x <- 0x%x: SLP_TYP %u, S5 is %u): evmm does not "
                       "enter sleep states (resuming would bypass the hypervisor) and, without the PM1 status port, "
                       "cannot answer it as a wake-up",
                       reg, port, value, typ, s5);
                gcpu_fatal(g, what);
            }
            // The sleep is not entered (the CPUs' VMX/SVM state would be lost and the firmware's wake path would
            // resume guest0 without the hypervisor): the machine answers as one that woke up at once. The write
            // goes to the hardware without SLP_EN, WAK_STS reads as set (the OS's wait for it ends at once) until
            // guest0 clears it, and the OS resumes as after a wake event.
            LOG_WARN(
                "acpi-power: guest0 cpu%u requested an ACPI sleep state (%s 0x%x <- 0x%x: SLP_TYP %u, S5 is %u): not "
                "entered (it would resume without the hypervisor); answered as an immediate wake-up (WAK_STS set)",
                g.cpu_id, reg, port, value, typ, s5);
            set_woke(true);
            io_port_out(port, size, value & ~u32{ACPI_PM1_CNT_SLP_EN});
            return;
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
    // The status registers (both bytes: WAK_STS is bit 15), for the answer to a sleep request.
    const Platform& p = platform();
    g_pm1_sts[0] = p.acpi_pm1a_sts;
    g_pm1_sts[1] = p.acpi_pm1b_sts != p.acpi_pm1a_sts ? p.acpi_pm1b_sts : 0;
    for (u16 sts : g_pm1_sts) {
        if (sts == 0 || sts == X86_IO_PORT_MAX) continue;
        io_intercept(sts, on_pm1_sts_read, on_pm1_sts_write);
        io_intercept(static_cast<u16>(sts + 1), on_pm1_sts_read, on_pm1_sts_write);
    }
    LOG_INFO(
        "stage 3: acpi-power: PM1a_CNT 0x%x, PM1b_CNT 0x%x, PM1a_STS 0x%x, PM1b_STS 0x%x watched: S5 powers off, "
        "S1-S4 answered as an immediate wake-up%s",
        g_power.pm1a_cnt, g_power.pm1b_cnt, g_pm1_sts[0], g_pm1_sts[1],
        g_pm1_sts[0] == 0 ? " (no PM1a_STS port: refused with a final stop)" : "");
}

} // namespace evmm
