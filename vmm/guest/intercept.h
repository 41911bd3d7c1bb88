// Intercept registration: what the modules ask the virtualisation backend to hand them, in vendor-neutral terms.
//
// A module registers a handler for a kind of guest action (CPUID, an MSR access, an I/O instruction, a refused
// guest-physical access, ...). The backend maps the kind to its own exits (VT-x: exit reasons, SDM Vol. 3C
// Appendix C; AMD SVM: intercept codes) and turns on what the kind needs (MSR / I/O bitmaps, NMI exiting). Which
// MSRs and ports exit is said with intercept_msr() / intercept_io_port(); the bitmaps' format is the backend's.
// Registration happens in stage 3 on the BSP, before any guest runs; exits then only read the tables (no lock).
//
// The handler gets the exiting vCPU; it reads the exit's facts and ends through vmm/guest/gcpu.h.
#pragma once

#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

enum class Intercept : u8 {
    Cpuid,
    Rdmsr, // only the MSRs intercept_msr() selects
    Wrmsr,
    Io, // only the ports intercept_io_port() selects
    Xsetbv,
    Rdtsc, // fallbacks: the backend lets RDTSC/RDTSCP run unless a module asks otherwise
    Rdtscp,
    Hypercall,       // VMCALL (VT-x) / VMMCALL (SVM): evmm's ABI, docs/vmcall.md
    VirtInstruction, // the CPU's own virtualisation instructions (VMX: VMXON, VMREAD, INVEPT, ...; GETSEC)
    GpaAccess,       // an access the guest's second-level tables refuse (EPT violation / nested page fault)
    TripleFault,     // shutdown
    Hlt,
    Invd,
    Init,       // an INIT signal arrived for the vCPU's CPU
    TaskSwitch, // a hardware task switch (CALL/JMP to a TSS or task gate, IRET with NT, a task gate in the IDT)
    Tick,       // the vCPU's periodic tick (gcpu_tick_every) expired
    Count,
};

using InterceptHandler = void (*)(Gcpu& g);

void intercept_register(Intercept kind, InterceptHandler h); // stage 3, BSP only; panics when taken twice
void intercept_msr(u32 msr, bool read, bool write);
// The handler registered for kind (nullptr: none): how a second backend (vmm/svm/) dispatches to the same modules.
InterceptHandler intercept_handler(Intercept kind); // which MSR accesses exit (Rdmsr/Wrmsr handlers)
void intercept_io_port(u16 port);                   // which I/O ports exit (the Io handler)

// The module whose init is running (modules_init sets it): registrations are attributed to it in the exit table
// the boot log prints at loglevel=debug.
void intercept_set_owner(const char* module);
// Logs the backend's exit table: each exit it handles, with the module (or the backend itself) behind it.
void intercept_log_table();

const char* intercept_name(Intercept kind);

} // namespace evmm
