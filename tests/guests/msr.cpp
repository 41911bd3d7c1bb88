// msr: MSR virtualisation: VMX capability MSRs and IA32_FEATURE_CONTROL hide VMX (#GP / locked without VMX),
// pass-through MSRs (TSC_AUX, SYSENTER_ESP, PAT, APIC_BASE) behave as on bare metal, unknown MSRs raise #GP.
#include "guest.h"

using namespace guest;

namespace {

// Writes `value` to `msr`, reads it back, restores `orig`; one check.
void write_read_back(u32 msr, const char* name, u64 value) {
    u8 vec = 0;
    u64 orig = 0;
    if (!probe_rdmsr(msr, orig, vec)) {
        check_no_fault(false, vec, "%s (0x%x): rdmsr", name, msr);
        return;
    }
    u64 got = 0;
    bool w = probe_wrmsr(msr, value, vec);
    if (!w) {
        check_no_fault(false, vec, "%s (0x%x): wrmsr 0x%llx", name, msr, static_cast<unsigned long long>(value));
        return;
    }
    bool r = probe_rdmsr(msr, got, vec);
    u8 vec2 = 0;
    bool restored = probe_wrmsr(msr, orig, vec2);
    if (!r) {
        check_no_fault(false, vec, "%s (0x%x): rdmsr after wrmsr", name, msr);
        return;
    }
    check_eq(got, value, "%s (0x%x): wrmsr 0x%llx reads back", name, msr, static_cast<unsigned long long>(value));
    u64 now = 0;
    check(restored && probe_rdmsr(msr, now, vec2) && now == orig, "%s (0x%x): original value 0x%llx restored", name,
          msr, static_cast<unsigned long long>(orig));
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("msr", "VMX MSRs hidden, FEATURE_CONTROL locked without VMX, pass-through MSRs, unknown MSR #GP");
    u8 vec = 0;
    u64 v = 0;

    bool done = probe_rdmsr(MSR_IA32_VMX_BASIC, v, vec);
    check_fault(done, vec, VEC_GP, "rdmsr IA32_VMX_BASIC (0x480) raises #GP");
    if (done) note("  read 0x%llx", static_cast<unsigned long long>(v));
    done = probe_rdmsr(0x48B, v, vec);
    check_fault(done, vec, VEC_GP, "rdmsr IA32_VMX_PROCBASED_CTLS2 (0x48B) raises #GP");

    u64 fc = 0;
    done = probe_rdmsr(MSR_IA32_FEATURE_CONTROL, fc, vec);
    if (check_no_fault(done, vec, "rdmsr IA32_FEATURE_CONTROL (0x3A) works")) {
        note("  IA32_FEATURE_CONTROL = 0x%llx", static_cast<unsigned long long>(fc));
        check((fc & 1) != 0, "IA32_FEATURE_CONTROL.lock (bit 0) is set");
        check((fc & 4) == 0, "IA32_FEATURE_CONTROL.VMX outside SMX (bit 2) is clear");
        check((fc & 2) == 0, "IA32_FEATURE_CONTROL.VMX inside SMX (bit 1) is clear");
    } else {
        skip("rdmsr failed", "IA32_FEATURE_CONTROL.lock (bit 0) is set");
        skip("rdmsr failed", "IA32_FEATURE_CONTROL.VMX outside SMX (bit 2) is clear");
        skip("rdmsr failed", "IA32_FEATURE_CONTROL.VMX inside SMX (bit 1) is clear");
    }
    done = probe_wrmsr(MSR_IA32_FEATURE_CONTROL, fc | 5, vec);
    check_fault(done, vec, VEC_GP, "wrmsr IA32_FEATURE_CONTROL (lock + VMX outside SMX) raises #GP");

    // RDTSCP (and so IA32_TSC_AUX) per CPUID.80000001H:EDX[27].
    bool rdtscp = cpuid(0x80000000).eax >= 0x80000001 && (cpuid(0x80000001).edx & (1u << 27)) != 0;
    if (rdtscp) {
        write_read_back(MSR_IA32_TSC_AUX, "IA32_TSC_AUX", 0x5a5);
        u64 orig = rdmsr(MSR_IA32_TSC_AUX);
        wrmsr(MSR_IA32_TSC_AUX, 0x1234);
        u32 aux = 0;
        asm volatile("rdtscp" : "=c"(aux) : : "rax", "rdx");
        wrmsr(MSR_IA32_TSC_AUX, orig);
        check_eq(aux, 0x1234, "rdtscp returns IA32_TSC_AUX in ECX");
    } else {
        skip("no RDTSCP (CPUID.80000001H:EDX[27] = 0)", "IA32_TSC_AUX (0xc0000103): wrmsr reads back");
        skip("no RDTSCP (CPUID.80000001H:EDX[27] = 0)", "IA32_TSC_AUX (0xc0000103): original value restored");
        skip("no RDTSCP (CPUID.80000001H:EDX[27] = 0)", "rdtscp returns IA32_TSC_AUX in ECX");
    }

    write_read_back(MSR_IA32_SYSENTER_ESP, "IA32_SYSENTER_ESP", 0xffff800012345678ull);

    // PAT: change PA7 only (the identity map uses PA0), read back, restore.
    u64 pat = 0;
    if (probe_rdmsr(MSR_IA32_PAT, pat, vec)) {
        note("  IA32_PAT = 0x%llx", static_cast<unsigned long long>(pat));
        u64 pa7 = (pat >> 56) & 0x7;
        u64 new_pa7 = pa7 == 1 ? 0 : 1; // UC <-> WC
        write_read_back(MSR_IA32_PAT, "IA32_PAT", (pat & ~(u64{0xFF} << 56)) | (new_pa7 << 56));
    } else {
        check_no_fault(false, vec, "IA32_PAT (0x277): rdmsr");
    }

    u64 apic = 0;
    done = probe_rdmsr(MSR_IA32_APIC_BASE, apic, vec);
    if (check_no_fault(done, vec, "rdmsr IA32_APIC_BASE (0x1B) works")) {
        note("  IA32_APIC_BASE = 0x%llx", static_cast<unsigned long long>(apic));
        check((apic & evmm::bit(8)) != 0, "IA32_APIC_BASE.BSP (bit 8) is set");
    } else {
        skip("rdmsr failed", "IA32_APIC_BASE.BSP (bit 8) is set");
    }

    u64 efer = 0;
    done = probe_rdmsr(MSR_IA32_EFER, efer, vec);
    check(done && (efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA), "IA32_EFER reads LME and LMA set");

    done = probe_rdmsr(0x12345678, v, vec);
    check_fault(done, vec, VEC_GP, "rdmsr of a non-existent MSR (0x12345678) raises #GP");
    done = probe_wrmsr(0x12345678, 0, vec);
    if (check_fault(done, vec, VEC_GP, "wrmsr of a non-existent MSR (0x12345678) raises #GP"))
        check_eq(probe_error_code(), 0, "wrmsr of a non-existent MSR: #GP error code is 0");
}
