// cpuid: CPUID as guest0 sees it: hypervisor bit and the evmm signature leaf 0x40000000, VMX hidden, the real
// vendor/family/model passed through, and 1000 repeated CPUIDs returning the same values.
#include "guest.h"

using namespace guest;

namespace {

void regs_note(const char* what, const CpuidRegs& r) {
    note("  %s: eax 0x%08x ebx 0x%08x ecx 0x%08x edx 0x%08x", what, r.eax, r.ebx, r.ecx, r.edx);
}

// The 12 ASCII bytes of three little-endian registers, NUL-terminated; non-printable bytes become '.'.
void regs_text(u32 a, u32 b, u32 c, char out[13]) {
    u32 w[3] = {a, b, c};
    for (int i = 0; i < 12; ++i) {
        char ch = static_cast<char>((w[i / 4] >> (8 * (i % 4))) & 0xFF);
        out[i] = ch >= 0x20 && ch < 0x7F ? ch : '.';
    }
    out[12] = '\0';
}

bool text_eq(const char* a, const char* b) {
    for (; *a != '\0' || *b != '\0'; ++a, ++b)
        if (*a != *b) return false;
    return true;
}

bool same(const CpuidRegs& a, const CpuidRegs& b) {
    return a.eax == b.eax && a.ebx == b.ebx && a.ecx == b.ecx && a.edx == b.edx;
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("cpuid", "hypervisor bit, leaf 0x40000000 = \"evmmevmmevmm\", VMX hidden, vendor/family/model, stability");

    CpuidRegs l0 = cpuid(0);
    CpuidRegs l1 = cpuid(1);
    CpuidRegs hv = cpuid(0x40000000);

    if (!check((l1.ecx & (1u << 31)) != 0, "CPUID.1:ECX.hypervisor (bit 31) is set")) regs_note("leaf 1", l1);

    char sig[13];
    regs_text(hv.ebx, hv.ecx, hv.edx, sig);
    if (!check(text_eq(sig, "evmmevmmevmm"), "CPUID.0x40000000 EBX:ECX:EDX = \"evmmevmmevmm\""))
        note("  got \"%s\"", sig);
    if (!check(hv.eax >= 0x40000000u && hv.eax < 0x40000100u, "CPUID.0x40000000 EAX (max leaf) is 0x400000xx"))
        regs_note("leaf 0x40000000", hv);

    if (!check((l1.ecx & (1u << 5)) == 0, "CPUID.1:ECX.VMX (bit 5) is clear")) regs_note("leaf 1", l1);
    const CpuidRegs ext1 = cpuid(0x80000000).eax >= 0x80000001 ? cpuid(0x80000001) : CpuidRegs{};
    if (!check((ext1.ecx & (1u << 2)) == 0, "CPUID.80000001:ECX.SVM (bit 2) is clear"))
        regs_note("leaf 0x80000001", ext1);

    char vendor[13];
    regs_text(l0.ebx, l0.edx, l0.ecx, vendor);
    // Passed through: Intel under VT-x (Bochs), AMD (or Hygon) under the SVM backend (QEMU TCG -cpu max).
    const bool known =
        text_eq(vendor, "GenuineIntel") || text_eq(vendor, "AuthenticAMD") || text_eq(vendor, "HygonGenuine");
    if (!check(known, "CPUID.0 vendor is the CPU's (GenuineIntel, AuthenticAMD or HygonGenuine)"))
        note("  got \"%s\"", vendor);
    check(l0.eax >= 1, "CPUID.0 EAX (max basic leaf) >= 1");

    u32 family = (l1.eax >> 8) & 0xF;
    u32 model = (l1.eax >> 4) & 0xF;
    if (family == 0xF) family += (l1.eax >> 20) & 0xFF;
    if (family == 0x6 || family >= 0xF) model |= ((l1.eax >> 16) & 0xF) << 4;
    if (!check(family != 0 && model != 0, "CPUID.1 family and model are nonzero")) regs_note("leaf 1", l1);
    note("  family 0x%x model 0x%x stepping 0x%x", family, model, l1.eax & 0xF);

    // The same leaves, 1000 times each: a hypervisor that handles CPUID exits must answer consistently.
    const u32 leaves[] = {0, 1, 0x80000000, 0x40000000};
    for (u32 leaf : leaves) {
        CpuidRegs first = cpuid(leaf);
        unsigned bad = 0;
        CpuidRegs last_bad;
        for (int i = 0; i < 1000; ++i) {
            CpuidRegs r = cpuid(leaf);
            if (!same(r, first)) {
                ++bad;
                last_bad = r;
            }
        }
        if (!check(bad == 0, "1000 x CPUID.0x%x return the same values", leaf)) {
            note("  %u of 1000 differed", bad);
            regs_note("first", first);
            regs_note("differing", last_bad);
        }
    }
}
