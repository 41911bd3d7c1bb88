// CPUID virtualisation (exit 10, unconditional: SDM Vol. 3C §26.1.2). The fast path: no logging, no locks, no
// allocation, one VMREAD for leaves 1 and 7 (the bits that mirror the guest's CR4) and none for the others.
//
// guest0 sees the host's CPUID (vmm/modules/virt_policy.h, cpuid_adjust) except:
//   leaf 1       ECX.VMX (5) and ECX.SMX (6) cleared, ECX.hypervisor (31) set, ECX.OSXSAVE (27) = guest CR4.OSXSAVE
//   leaf 7.0     ECX.OSPKE (4) = guest CR4.PKE
//   0x40000000   EAX = 0x40000000 (highest hypervisor leaf), EBX:ECX:EDX = "evmmevmmevmm"
//   0x40000001-0x400000FF   all zero
#pragma once

namespace evmm {

void cpuid_init(); // stage 3

} // namespace evmm
