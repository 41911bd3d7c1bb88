// sleep: guest0 asks for an ACPI sleep state S1-S4 (ACPI 6.5 §16.1.3: a PM1a_CNT write of SLP_TYP | SLP_EN whose
// SLP_TYP is not \_S5's). On bare metal the machine sleeps until a wake event, and comes back with WAK_STS set in
// PM1_STS (§4.8.3.1.1). evmm does not enter the sleep (the wake path would resume guest0 without the hypervisor) and
// answers as a machine that woke at once: the OS's sequence (ACPICA's legacy sleep: clear WAK_STS, write SLP_TYP,
// then SLP_TYP | SLP_EN, wait for WAK_STS) completes, WAK_STS reads as set (16-bit and byte reads) until the OS writes
// 1 to it, SLP_EN reads as 0 (a write-only bit), and a second request is answered the same way. The machine is not
// stopped: the guest goes on and finishes.
#include "lib/smp.h"

using namespace guest;

namespace {

constexpr u32 WAIT_READS = 100000; // how long the guest waits for WAK_STS (an OS waits without a bound)
constexpr u16 PM1_CNT_SCI_EN = 1;  // §4.8.3.2.1: kept as it is by the OS's read-modify-write

bool wak_sts(u16 sts) { return (inw(sts) & evmm::ACPI_PM1_STS_WAK_STS) != 0; }

// The OS's side of a sleep request; true when WAK_STS came.
bool request_sleep(const evmm::AcpiPowerInfo& p, u32 typ) {
    outw(p.pm1a_sts, evmm::ACPI_PM1_STS_WAK_STS); // clear a stale wake status (write 1)
    const u16 keep =
        static_cast<u16>(inw(p.pm1a_cnt) & ~(evmm::ACPI_PM1_CNT_SLP_TYP_MASK << evmm::ACPI_PM1_CNT_SLP_TYP_SHIFT |
                                             evmm::ACPI_PM1_CNT_SLP_EN));
    const u16 slp_typ = static_cast<u16>(typ << evmm::ACPI_PM1_CNT_SLP_TYP_SHIFT);
    outw(p.pm1a_cnt, keep | slp_typ);
    outw(p.pm1a_cnt, keep | slp_typ | evmm::ACPI_PM1_CNT_SLP_EN);
    for (u32 i = 0; i < WAIT_READS; ++i)
        if (wak_sts(p.pm1a_sts)) return true;
    return false;
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("sleep", "an ACPI S1-S4 request is answered as an immediate wake-up (WAK_STS), the machine goes on");
    evmm::AcpiPowerInfo p{};
    const evmm::Status s = acpi_find_power(p);
    if (!check(s.ok(), "the FADT is found and parsed")) note("  %s", s.what);
    if (!s.ok() || p.pm1a_cnt == 0 || p.pm1a_sts == 0 || !p.s5_valid) {
        skip("no PM1a_CNT/PM1a_STS port or no \\_S5", "the sleep request");
        guest_finish();
    }
    const u32 typ = (p.s5_slp_typ_a + 1u) & evmm::ACPI_PM1_CNT_SLP_TYP_MASK; // any SLP_TYP but S5's
    note("  PM1a_CNT 0x%x, PM1a_STS 0x%x, \\_S5 SLP_TYP %u: requesting SLP_TYP %u", p.pm1a_cnt, p.pm1a_sts,
         p.s5_slp_typ_a, typ);
    const u16 sci_en = inw(p.pm1a_cnt) & PM1_CNT_SCI_EN;

    check(request_sleep(p, typ), "the sleep request returns with WAK_STS set in PM1a_STS");
    check((inb(static_cast<u16>(p.pm1a_sts + 1)) & (evmm::ACPI_PM1_STS_WAK_STS >> 8)) != 0,
          "a byte read of PM1a_STS's high byte sees WAK_STS too");
    const u16 cnt = inw(p.pm1a_cnt);
    check((cnt & evmm::ACPI_PM1_CNT_SLP_EN) == 0, "SLP_EN reads as 0 in PM1a_CNT (0x%x)", cnt);
    check((cnt & PM1_CNT_SCI_EN) == sci_en, "SCI_EN is unchanged");
    outw(p.pm1a_sts, evmm::ACPI_PM1_STS_WAK_STS);
    check(!wak_sts(p.pm1a_sts), "writing 1 to WAK_STS clears it");
    check(request_sleep(p, typ), "a second sleep request is answered the same way");
    outw(p.pm1a_sts, evmm::ACPI_PM1_STS_WAK_STS);
    check(!wak_sts(p.pm1a_sts), "and WAK_STS clears again");
    const CpuidRegs r = cpuid(0);
    check(r.eax != 0, "the CPU still runs guest0 (CPUID leaf 0: max leaf %u)", r.eax);
    guest_finish();
}
