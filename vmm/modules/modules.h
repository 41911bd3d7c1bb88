// Stage 3 ("init module"): evmm's virtualisation modules, declared in one list (vmm/modules/modules.cpp, MODULES).
//
// A module is a name and an init function. Its init registers what it handles, only through registries:
//   - intercepts (vmm/guest/intercept.h): a kind of guest action -> its handler, plus which MSRs / I/O ports exit;
//   - guest-physical ranges (vmm/guest/gpa_intercept.h): pages mapped with reduced rights in every guest, their
//     refused accesses -> the module's handler;
//   - MSR hooks (msr_monitor) and I/O port hooks (io_monitor) for one MSR / port;
//   - vCPU events (vmm/guest/event.h): GcpuInit (stage 5), GuestLaunch (stage 6).
// Modules never call each other's handlers, and never touch a VMCS: they see a vCPU through vmm/guest/gcpu.h, so an
// AMD SVM backend runs them unchanged. The backend's own exits (VT-x: control registers, NMIs, EPT
// misconfiguration; vmm/vmx/vmx_exits.cpp) are registered before the modules. At loglevel=debug the boot log
// prints the resulting exit table (reason -> module).
//
//   module            handles
//   cpuid             CPUID (hypervisor leaves, hidden features)
//   msr               RDMSR/WRMSR of hooked MSRs (IA32_FEATURE_CONTROL, SMM monitor, VMX capabilities)
//   guest-apic        local APIC writes (xAPIC page read-only), the x2APIC ICR, INIT, guest0's APs waiting for SIPI
//   io                IN/OUT of hooked ports
//   acpi-power        guest0's writes to PM1a/PM1b_CNT (power-off, refused sleep states)
//   smm-guard         SMRAM closed and locked at boot; guest0's PCI configuration writes cannot reopen it
//   xsetbv            XSETBV (XCR0 checks)
//   tsc               RDTSC/RDTSCP (fallbacks, never requested)
//   vmcall            VMCALL: evmm's hypercall ABI (docs/vmcall.md)
//   virt-instructions VMX instructions, GETSEC: #UD
//   gpa-access        refused guest-physical accesses: registered ranges, else logged + #GP
//   misc              triple fault (clean stop), HLT, INVD
#pragma once

namespace evmm {

// Stage 3, BSP only, once, after the platform (vmm/host/platform.h) and the backend's bitmaps exist.
void modules_init();

} // namespace evmm
