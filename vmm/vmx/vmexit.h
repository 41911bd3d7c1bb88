// VM-exit dispatch of the VT-x backend: table driven, exit reason -> handler. Modules register vendor-neutral
// intercepts (vmm/guest/intercept.h), which this backend maps to exit reasons; the backend's own exits (control
// registers, EPT misconfiguration, NMIs) register here directly. An exit without a handler: an instruction that
// exits only under an enable control evmm leaves 0 (ENCLS, PCONFIG, UMWAIT, XSAVES, RSM, ...) gets #UD, as that
// instruction without its feature would (logged once per reason); anything else is an unexpected exit: named,
// dumped, stopped (never a hang).
//
// The fast path (evmm_vmexit_handler) does no logging, takes no lock and allocates nothing.
#pragma once

#include "arch/x86_64/exception.h"
#include "arch/x86_64/vmcs.h"
#include "evmm/base.h"
#include "vmm/guest/gcpu.h"
#include "vmm/host/heap.h"

namespace evmm {

using ExitHandler = void (*)(Gcpu&);
inline constexpr u32 EXIT_HANDLER_TABLE_SIZE = EXIT_COUNTERS;

void vmexit_register(ExitReason reason, ExitHandler handler); // stage 3, BSP only
bool vmexit_handled(ExitReason reason);                       // a handler is registered for it

// VM-execution controls modules need (OR-ed in at stage 3, adjusted to the CPU's capabilities at stage 5).
struct ControlRequest {
    u32 pin, proc, proc2, exit, entry;
    u32 exception_bitmap;
};
void vmx_request_controls(const ControlRequest& r);
const ControlRequest& vmx_requested_controls();

// The guest's registers and control registers on the log (fatal paths).
void vmx_dump_guest(Gcpu& g);
// Every VMCS field with its name and value (used by the fatal paths).
void vmcs_dump();

// The VT-x backend's own exit handlers (the exits that are the backend's business, not a module's: EPT
// misconfigurations, NMIs): stage 3, before the modules.
void vmx_exits_init(PageHeap& heap);

} // namespace evmm

extern "C" void evmm_vmexit_handler(evmm::Gcpu* g);
extern "C" [[noreturn]] void evmm_vmentry_failed(evmm::Gcpu* g, evmm::u64 rflags, evmm::u64 resume);
extern "C" [[noreturn]] void evmm_vmx_launch(evmm::Gcpu* g);
extern "C" [[noreturn]] void evmm_vmx_enter_at(evmm::Gcpu* g, evmm::u64 slot, evmm::u64 launched);
