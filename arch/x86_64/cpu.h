// CPU control: halting, interrupts, the final stop of the hypervisor.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline void cpu_pause() { asm volatile("pause"); }
inline void cpu_cli() { asm volatile("cli" ::: "memory"); }
inline u64 rdtsc() {
    u32 lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (u64{hi} << 32) | lo;
}
inline u64 read_rflags() {
    u64 v;
    asm volatile("pushfq; popq %0" : "=r"(v));
    return v;
}

// An IRET to the next instruction, which ends the blocking of NMIs (SDM Vol. 3A §6.7.1: NMIs stay blocked from
// an NMI's delivery until the next IRET). After a VM exit caused by an NMI the processor holds NMIs blocked in
// VMX root (Bochs 2.7 even across the next VM entry), so evmm's NMI-exit handler ends with this, as KVM does.
inline void cpu_unblock_nmi() {
    u64 scratch;
    asm volatile(
        "mov %%ss, %0\n\t"
        "pushq %0\n\t"
        "pushq %%rsp\n\t"
        "addq $8, (%%rsp)\n\t"
        "pushfq\n\t"
        "mov %%cs, %0\n\t"
        "pushq %0\n\t"
        "leaq 1f(%%rip), %0\n\t"
        "pushq %0\n\t"
        "iretq\n"
        "1:"
        : "=&r"(scratch)
        :
        : "memory", "cc");
}

// Interrupts off and HLT forever (an NMI may wake HLT: loop).
[[noreturn]] void halt_forever();

// Why the hypervisor stopped for good. The value is what `testexit=qemu` writes to isa-debug-exit (QEMU then
// exits with status (value << 1) | 1); documented in docs/testing.md and docs/debugging.md.
enum class StopReason : u8 {
    Done = 0x10,  // all implemented work finished (QEMU status 33)
    NoVtx = 0x11, // VT-x not available on this CPU (QEMU status 35)
    Fatal = 0x12, // panic, fault, bad input (QEMU status 37)
};

enum class TestExit : u8 { None = 0, Qemu = 1, Bochs = 2 };

// Set once, early, from evmm's command line (options.testexit).
void set_test_exit(TestExit how);

// The end of the road: print why, stop the other CPUs (hook), leave the emulator if asked, else halt forever.
[[noreturn]] void final_stop(StopReason reason, const char* why);

// Called by final_stop before halting; the VMM installs one that stops every other CPU.
using StopOthersHook = void (*)();
void set_stop_others_hook(StopOthersHook hook);

} // namespace evmm
