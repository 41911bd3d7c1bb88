// Control-register virtualisation (exit 28, SDM Vol. 3C §26.1.3, qualification Table 28-3).
//
// CR0/CR4 guest/host masks (§25.6.6): the host owns the bits VMX fixes (IA32_VMX_CR0_FIXED0/1 and CR4_FIXED0/1,
// SDM Vol. 3D A.7/A.8) — but CR0.PE and CR0.PG, which unrestricted guest frees — and CR4.VMXE. guest0 reads those
// bits from the read shadows, i.e. its own values (CR4.VMXE always 0), and writes that would change one exit:
//   MOV to CR0 / CLTS / LMSW   the write is checked as the processor would (vmm/modules/virt_policy.h, cr0_write),
//                              the shadow takes the guest's value, GUEST_CR0 the value with the fixed bits applied;
//                              CR0.PG changes with EFER.LME = 1 switch EFER.LMA and the "IA-32e mode guest" entry
//                              control (§27.3.1.1, Vol. 3A §10.8.5); PAE paging reloads the PDPTEs into the VMCS
//                              (§27.3.2.4: with EPT, VM entry takes them from GUEST_PDPTE0-3).
//   MOV to CR4                 VMXE or a bit IA32_VMX_CR4_FIXED1 forbids: #GP(0); otherwise as for CR0.
// A refused write raises #GP(0) and changes nothing. Emulated writes that change paging bits invalidate the
// guest's TLBs (INVVPID single context of its VPID).
// CR3 and CR8 accesses exit only on CPUs whose controls force CR3/CR8 exiting (no TRUE controls): they are then
// emulated too (CR3 through GUEST_CR3 with the same checks, CR8 on the host's TPR, which is the guest's).
#pragma once

#include "evmm/base.h"

namespace evmm {

struct Gcpu;

void cr_access_init(); // stage 3, after vmx_capabilities_init (stage 2)
// GUEST_CR3 as the processor loads CR3 outside MOV to CR3 (a task switch): with PAE paging the PDPTEs (false,
// nothing changed: one is invalid or unreadable), then the guest's TLB (INVVPID). gcpu_load_cr3 (gcpu.h).
bool cr_load_cr3(Gcpu& g, u64 cr3);

} // namespace evmm
