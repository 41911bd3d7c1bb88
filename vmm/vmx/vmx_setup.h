// Stage 2 (setup vmx): the VT-x check, every IA32_VMX_* capability snapshot, CR0/CR4 fixed bits, VMXON.
#pragma once

#include "arch/x86_64/vmx_caps.h"
#include "evmm/status.h"
#include "vmm/host/heap.h"
#include "vmm/vmx/vmentry_check.h"

namespace evmm {

struct VmxState {
    VmxCapsSnapshot snap;
    VmxFeatures features;
    VmxCapMsrs caps; // the (true) control capabilities, fixed bits, EPT/VPID, MISC
};

// BSP: probe and snapshot (once). Returns the "VT-x not available" reason on failure.
Status vmx_capabilities_init();
const VmxState& vmx_state();

// Every CPU: fixed CR0/CR4 bits, CR4.VMXE, a VMXON region from `heap`, VMXON.
Status vmx_on(PageHeap& heap);

} // namespace evmm
