// bench: P1, the hypervisor's cost of one CPUID exit round trip. Bochs advances the TSC once per instruction (and
// evmm leaves RDTSC unintercepted with a TSC offset of 0), so the difference between a loop of N CPUIDs and the
// same loop with a NOP in place of CPUID, divided by N, is the number of instructions the CPUID costs beyond one:
// VM exit, evmm's exit stub and handler, VM entry. Not a test: it prints figures for `tools/evmm bench`.
//
// With `p5=1` on its command line (and the test TEE as the `tee` module): P5, the cost of one world-switch round trip
// guest0 -> TEE -> guest0: a loop of N SMC VMCALLs calling the TEE's echo service against the same loop with a NOP.
// The figure includes the test TEE's few instructions between its two VMCALLs (its echo dispatch).
#include "evmm_tee.h"
#include "guest.h"

using namespace guest;

namespace {

constexpr u32 ITERATIONS = 1000;

u64 tsc() {
    u32 lo, hi;
    asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
    return (u64{hi} << 32) | lo;
}

[[gnu::noinline]] u64 loop_cpuid(u32 n) {
    const u64 t0 = tsc();
    for (u32 i = 0; i < n; ++i) {
        u32 a = 0, b, c = 0, d;
        asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    }
    return tsc() - t0;
}

[[gnu::noinline]] u64 loop_nop(u32 n) {
    const u64 t0 = tsc();
    for (u32 i = 0; i < n; ++i) {
        u32 a = 0, b = 0, c = 0, d = 0;
        asm volatile("nop" : "+a"(a), "+b"(b), "+c"(c), "+d"(d));
    }
    return tsc() - t0;
}

[[gnu::noinline]] u64 loop_smc(u32 n) {
    const u64 t0 = tsc();
    for (u32 i = 0; i < n; ++i) {
        u64 a = EVMM_TEE_VMCALL_SMC, di = EVMM_TEE_SVC_ECHO, si = i, dx = 0, cx = 0;
        asm volatile("vmcall" : "+a"(a), "+D"(di), "+S"(si), "+d"(dx), "+c"(cx)::"memory");
    }
    return tsc() - t0;
}

[[gnu::noinline]] u64 loop_smc_nop(u32 n) {
    const u64 t0 = tsc();
    for (u32 i = 0; i < n; ++i) {
        u64 a = EVMM_TEE_VMCALL_SMC, di = EVMM_TEE_SVC_ECHO, si = i, dx = 0, cx = 0;
        asm volatile("nop" : "+a"(a), "+D"(di), "+S"(si), "+d"(dx), "+c"(cx)::"memory");
    }
    return tsc() - t0;
}

void bench_p5() {
    banner("bench", "P5: instructions per world-switch round trip guest0 -> TEE -> guest0 (Bochs TSC)");
    u64 a = EVMM_TEE_VMCALL_SMC, di = EVMM_TEE_SVC_ECHO, si = 0x1234, dx = 0, cx = 0;
    asm volatile("vmcall" : "+a"(a), "+D"(di), "+S"(si), "+d"(dx), "+c"(cx)::"memory");
    if (!check(di == 0 && si == 0x1234, "the TEE answers the echo service")) guest_finish();
    loop_smc(16); // warm up
    const u64 with = loop_smc(ITERATIONS);
    const u64 without = loop_smc_nop(ITERATIONS);
    const u64 per = with > without ? (with - without) / ITERATIONS : 0;
    print("bench: smc loop %lu, nop loop %lu ticks for %u iterations\n", with, without, ITERATIONS);
    print("bench: P5 = %lu instructions per world-switch round trip\n", per);
    guest_finish();
}

} // namespace

extern "C" void guest_main(const void*) {
    if (cmdline_u64("p5", 0) != 0) bench_p5();
    banner("bench", "P1: instructions per CPUID exit round trip (Bochs TSC = instruction count)");
    loop_cpuid(16); // warm up
    const u64 with = loop_cpuid(ITERATIONS);
    const u64 without = loop_nop(ITERATIONS);
    const u64 per = with > without ? (with - without) / ITERATIONS : 0;
    print("bench: cpuid loop %lu, nop loop %lu ticks for %u iterations\n", with, without, ITERATIONS);
    print("bench: P1 = %lu instructions per CPUID exit round trip\n", per);
    check(with > without, "a CPUID costs more than a NOP");
    guest_finish();
}
