// bench: P1, the hypervisor's cost of one CPUID exit round trip. Bochs advances the TSC once per instruction (and
// evmm leaves RDTSC unintercepted with a TSC offset of 0), so the difference between a loop of N CPUIDs and the
// same loop with a NOP in place of CPUID, divided by N, is the number of instructions the CPUID costs beyond one:
// VM exit, evmm's exit stub and handler, VM entry. Not a test: it prints figures for `tools/evmm bench`.
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

} // namespace

extern "C" void guest_main(const void*) {
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
