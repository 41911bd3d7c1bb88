// Start of stage 2 (setup vmx): is VT-x usable on this CPU? Reads the capability MSRs (only when CPUID says VMX
// exists: they #GP otherwise) and applies arch/x86_64/vmx_caps.h's check.
#pragma once

#include "arch/x86_64/vmx_caps.h"

namespace evmm {

Status vmx_probe(VmxCapsSnapshot& snap, VmxFeatures& features);

} // namespace evmm
