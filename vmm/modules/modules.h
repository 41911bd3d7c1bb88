// Stage 3 ("init module"): evmm's virtualisation modules, and the small guest-state helpers they share.
//
// Each module (vmm/modules/NAME.h/.cpp) registers its VM-exit handlers (vmexit_register), asks for the VM-execution
// controls it needs (vmx_request_controls) and programs its VMCS fields from an Event::GcpuInit handler (stage 5,
// per gcpu, VMCS current). modules_init() runs them once, on the BSP, in the seed's order: CPUID, then isolation
// (MSR, CR, I/O, XCR0, TSC), then VMCALL, then the exits that only refuse or report (VMX instructions, EPT, misc).
//
//   module            exits (SDM Vol. 3C Appendix C)                     controls / VMCS fields
//   cpuid             10 CPUID                                             -
//   msr_monitor       31 RDMSR, 32 WRMSR                                   use MSR bitmaps; MSR_BITMAPS_ADDR
//   cr_access         28 control-register accesses                         CR0/CR4 guest/host masks, read shadows
//   io_monitor        30 I/O instruction                                   use I/O bitmaps; IO_BITMAP_A/B_ADDR
//   xsetbv            55 XSETBV                                            -
//   tsc               16 RDTSC, 51 RDTSCP (fallbacks: never requested)     -
//   vmcall            18 VMCALL                                            -
//   vmx_instructions  11 GETSEC, 19-27, 50 INVEPT, 53 INVVPID, 59 VMFUNC   -
//   ept_violation     48 EPT violation, 49 EPT misconfiguration            -
//   misc              2 triple fault, 12 HLT, 13 INVD                      -
#pragma once

#include "evmm/base.h"
#include "evmm_desc.h"
#include "vmm/guest/gcpu.h"
#include "vmm/host/heap.h"

namespace evmm {

// Stage 3, BSP only, once. `desc` must stay valid for the hypervisor's lifetime (it lives in the runtime region).
void modules_init(const evmm_desc_t& desc, PageHeap& heap);

// --- shared helpers for the modules' exit handlers (VMCS of the exiting gcpu current) --------------------------
const evmm_desc_t& modules_desc();

// A guest general register by its encoding (SDM Vol. 3C Table 28-3): RSP lives in the VMCS (GUEST_RSP).
u64 guest_gpr(Gcpu& g, u32 n);
void set_guest_gpr(Gcpu& g, u32 n, u64 value);
// The guest's current privilege level: SS.DPL (SDM Vol. 3C §25.4.1: "the CPL is SS.DPL" for a VMX guest).
u32 guest_cpl();
// IA32_EFER.LMA and CS.L: the guest executes 64-bit code (operands of MOV CR, VMCALL arguments are 64-bit).
bool guest_in_64bit_mode();

// [gpa, gpa + len) lies inside one usable RAM range of guest0's memory map and outside the hypervisor's runtime
// region: guest0 owns it and the hypervisor may read it (guest0 is identity mapped: gpa == hpa == VMM virtual).
bool guest0_owns_ram(u64 gpa, u64 len);
// [gpa, gpa + len) is inside the VMM's identity map and outside the runtime region: readable without faulting
// (for structures the processor itself would read from any guest-physical memory, such as PAE PDPTEs).
bool guest0_phys_readable(u64 gpa, u64 len);

} // namespace evmm
