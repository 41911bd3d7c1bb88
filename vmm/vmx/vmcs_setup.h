// Stage 5 (init gcpu): one VMCS per gcpu: host state, VM-execution/exit/entry controls computed from the
// capability MSRs (allowed-0 / allowed-1 rules, SDM Vol. 3D A.3-A.5), guest state from evmm_desc_t's gcpu_state,
// EPTP, VPID. Modules then program their own fields through Event::GcpuInit.
#pragma once

#include "arch/x86_64/gdt.h"
#include "arch/x86_64/idt.h"
#include "evmm/gcpu_state.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "vmm/guest/gcpu.h"
#include "vmm/host/heap.h"

namespace evmm {

struct HostTables {
    const Gdt* gdt;
    const Tss64* tss;
    const IdtGate* idt;
    u64 gs_base; // this CPU's PerCpu
};

// activity: ACTIVE for the BSP's gcpu, WAIT_FOR_SIPI for the others (they start when guest0 sends INIT-SIPI).
Status gcpu_vmcs_init(Gcpu& g, PageHeap& heap, const HostTables& host, const evmm_gcpu_state_t& st, u64 eptp,
                      u32 activity);
// (Re)loads the whole architectural guest state of the current VMCS from `st` (registers, control registers and
// their read shadows, segments, descriptor tables, EFER with the "IA-32e mode guest" entry control).
Status gcpu_load_guest_state(Gcpu& g, const evmm_gcpu_state_t& st, u32 activity);

} // namespace evmm
