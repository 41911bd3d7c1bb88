#include "vmm/debug/crashtest.h"

#include "arch/x86_64/msr_selftest.h"
#include "lib/log.h"
#include "vmm/host/panic.h"
#include "vmm/host/percpu.h"

namespace evmm {
namespace {

// --- deliberate faults (crashtest=...) to test the panic path from outside -----------------------------------
volatile u64 g_recursion_limit = ~u64{0}; // never reached: the guard page stops the recursion first

[[gnu::noinline]] u64 recurse_forever(u64 depth) {
    if (depth >= g_recursion_limit) return 0;
    volatile u8 pad[256];
    pad[depth & 0xFF] = static_cast<u8>(depth);
    return recurse_forever(depth + 1) + pad[0];
}

} // namespace

[[gnu::noinline]] void crash_test(u8 kind) {
    switch (kind) {
    case EVMM_CRASHTEST_UD:
        LOG_INFO("crashtest: executing ud2");
        asm volatile("ud2");
        break;
    case EVMM_CRASHTEST_PF: {
        LOG_INFO("crashtest: reading a stack guard page");
        volatile const u64* guard = reinterpret_cast<const u64*>(stack_guard(this_cpu().stack_block, 0));
        (void)*guard;
        break;
    }
    case EVMM_CRASHTEST_STACK:
        LOG_INFO("crashtest: unbounded recursion");
        recurse_forever(0);
        break;
    case EVMM_CRASHTEST_PANIC: PANIC("crashtest: deliberate panic (value 0x%x)", 0xE7); break;
    case EVMM_CRASHTEST_MSR: msr_fixup_selftest(""); break;
    default: break;
    }
}

} // namespace evmm
