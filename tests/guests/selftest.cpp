// selftest: checks the guest test kit itself, on bare metal as under evmm: probes recover from #UD, #GP, #PF,
// #DE and #BP with the right vector/error code/CR2, the report helpers count correctly; with the command line
// "crash" it ends in an unexpected #PF to show that a crash is reported (not ok + summary), never a silent hang.
#include "guest.h"

using namespace guest;

extern "C" void guest_main(const void*) {
    banner("selftest", "the kit's probes and reporting (command line \"crash\": an unexpected #PF at the end)");
    u8 vec = 0;
    u64 v = 0;

    bool done = probe_ud2(vec);
    check_fault(done, vec, VEC_UD, "probe: ud2 -> #UD");

    // A selector beyond the GDT limit (lib/entry.S: 5 descriptors, limit 0x27): #GP with the selector as error
    // code. (Not an unknown MSR: QEMU's TCG reads those as 0 instead of raising #GP.)
    done = probe_fn([] { asm volatile("movw %w0, %%fs" : : "r"(0x28) : "memory"); }, vec);
    check_fault(done, vec, VEC_GP, "probe: mov to FS of selector 0x28 (beyond the GDT) -> #GP");
    check_eq(probe_error_code(), 0x28, "probe: #GP error code is the selector (0x28)");

    // Beyond the 4 GiB identity map: not present -> #PF, error code 0 (read, supervisor, not present).
    const u64 unmapped = 0x8000000000ull;
    done = probe_read64(unmapped, v, vec);
    check_fault(done, vec, VEC_PF, "probe: read of unmapped 0x8000000000 -> #PF");
    check_eq(probe_cr2(), unmapped, "probe: CR2 is the faulting address");
    check_eq(probe_error_code(), 0, "probe: #PF error code 0 (read, not present)");
    done = probe_write64(unmapped + 8, 1, vec);
    check_fault(done, vec, VEC_PF, "probe: write of unmapped 0x8000000008 -> #PF");
    check_eq(probe_error_code(), 2, "probe: #PF error code 2 (write, not present)");

    volatile u64 zero = 0;
    u64 q = 0;
    done = probe_fn([&] { q = 100 / zero; }, vec);
    check_fault(done, vec, VEC_DE, "probe: divide by zero -> #DE");

    done = probe_fn([] { asm volatile("int3"); }, vec);
    check_fault(done, vec, VEC_BP, "probe: int3 -> #BP");

    // Non-canonical address: #GP (not #PF).
    done = probe_read64(0x8000000000000000ull, v, vec);
    check_fault(done, vec, VEC_GP, "probe: non-canonical read -> #GP");

    // A probe that completes, and a callable with state.
    u64 counter = 0;
    done = probe_fn(
        [&] {
            counter += 41;
            ++counter;
        },
        vec);
    check(done && vec == NO_VECTOR && counter == 42, "probe: a completing callable returns true, NO_VECTOR");
    done = probe_read64(reinterpret_cast<u64>(&counter), v, vec);
    check(done && v == 42, "probe: read64 of mapped memory returns its value");

    // Callee-saved registers survive a fault (the compiler keeps values in them across the probe).
    u64 a = 0x0123456789abcdefull ^ read_cr3(), b = a * 3, c = b ^ 0x5555;
    for (int i = 0; i < 3; ++i) {
        done = probe_ud2(vec);
        a += b;
        b ^= c;
        c += a;
    }
    u64 a2 = 0x0123456789abcdefull ^ read_cr3(), b2 = a2 * 3, c2 = b2 ^ 0x5555;
    for (int i = 0; i < 3; ++i) {
        a2 += b2;
        b2 ^= c2;
        c2 += a2;
    }
    check(a == a2 && b == b2 && c == c2, "probe: live values survive recovered faults");

    unsigned passed = tests_passed(), failed = tests_failed();
    check(passed + failed == 14 && failed == 0, "report: counts %u passed, %u failed so far (want 14, 0)", passed,
          failed);

    const evmm::Mb2Info* mb = mb2();
    bool crash = mb != nullptr && mb->cmdline.str != nullptr && mb->cmdline.len == 5 && mb->cmdline.str[0] == 'c' &&
                 mb->cmdline.str[1] == 'r' && mb->cmdline.str[2] == 'a' && mb->cmdline.str[3] == 's' &&
                 mb->cmdline.str[4] == 'h';
    if (crash) {
        note("selftest: crashing on purpose: an unexpected #PF must be reported as not ok");
        v = *reinterpret_cast<volatile u64*>(unmapped);
        print("selftest: still running after the crash (0x%llx)\n", static_cast<unsigned long long>(v));
    }
}
