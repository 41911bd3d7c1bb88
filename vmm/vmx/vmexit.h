// VM-exit dispatch: table driven, exit reason -> handler. Modules register handlers at stage 3; anything without a
// handler is an unexpected exit: named, dumped, stopped (never a hang).
//
// The fast path (evmm_vmexit_handler) does no logging, takes no lock and allocates nothing.
#pragma once

#include "arch/x86_64/exception.h"
#include "arch/x86_64/vmcs.h"
#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

using ExitHandler = void (*)(Gcpu&);
inline constexpr u32 EXIT_HANDLER_TABLE_SIZE = EXIT_COUNTERS;

void vmexit_register(ExitReason reason, ExitHandler handler);  // stage 3, BSP only

// VM-execution controls modules need (OR-ed in at stage 3, adjusted to the CPU's capabilities at stage 5).
struct ControlRequest {
    u32 pin, proc, proc2, exit, entry;
    u32 exception_bitmap;
};
void vmx_request_controls(const ControlRequest& r);
const ControlRequest& vmx_requested_controls();

// --- helpers for handlers --------------------------------------------------------------------------------------
// Advance the guest past the exiting instruction (SDM Vol. 3C §28.2.4: VM-exit instruction length), and drop
// blocking by STI / MOV SS, which ends with that instruction.
void gcpu_skip_instruction(Gcpu& g);
// The same with a length evmm decoded itself (exits that report none, e.g. an emulated EPT-violation store).
void gcpu_advance_rip(Gcpu& g, u64 length);
// Event injection at the next VM entry (SDM Vol. 3C §27.6): a hardware exception, with an error code when the
// vector has one. The guest's RIP stays on the faulting instruction (faults).
void gcpu_inject_exception(Gcpu& g, Vector v, u32 error_code = 0);
// Print the guest's state and the whole VMCS, then stop every CPU.
[[noreturn]] void gcpu_fatal(Gcpu& g, const char* what);
// Every VMCS field with its name and value (used by the fatal paths).
void vmcs_dump();

// The guest stopped for good (triple fault, guest-requested exit): log, then final stop (reason: work done).
[[noreturn]] void gcpu_guest_stopped(Gcpu& g, const char* what);

} // namespace evmm

extern "C" void evmm_vmexit_handler(evmm::Gcpu* g);
extern "C" [[noreturn]] void evmm_vmentry_failed(evmm::Gcpu* g, evmm::u64 rflags, evmm::u64 resume);
extern "C" [[noreturn]] void evmm_vmx_launch(evmm::Gcpu* g);
