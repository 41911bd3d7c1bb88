// Cross-CPU calls: run a function on every other CPU evmm runs on (the seed's ipc_init). The request travels by NMI
// (SDM Vol. 3A §11.6.1, all excluding self), so it reaches a CPU wherever it is: running guest0 (the NMI is a VM exit,
// pin-based "NMI exiting": vmm/vmx/vmx_exits.cpp), in evmm's own code or waiting for guest0's SIPI (the IDT's NMI
// handler, vmm/host/panic.cpp). Each target runs fn(arg) in that NMI context — so fn must be short, take no lock and
// not log — and acknowledges; the caller waits (bounded) for all of them.
//
// Used for EPT invalidation: after guest0's EPT changes while gcpus run, every CPU must INVEPT (SDM Vol. 3C §29.4.3.4:
// "software ... should invalidate ... on all logical processors" that may cache the mappings).
//
// An NMI that carries a request is consumed by it; a guest0 NMI arriving in the same window collapses with it
// (NMIs are edge-triggered: the hardware merges them too) and is not re-injected.
#pragma once

#include "evmm/base.h"

namespace evmm {

using IpcFn = void (*)(u64 arg);

// Runs fn(arg) on every other CPU; returns how many CPUs did not acknowledge within 100 ms (0: all did; the ones that
// did not are logged by number). One call at a time (callers are serialized by a lock).
u32 ipc_call_others(IpcFn fn, u64 arg);

// In an NMI handler: runs this CPU's pending request, if any. True when the NMI was a request (consumed).
bool ipc_handle_nmi();

} // namespace evmm
