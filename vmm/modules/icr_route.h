// Where an IPI that guest0 writes into its local APIC's Interrupt Command Register goes (pure, host-tested).
//
// evmm sees every ICR write (the xAPIC page is write-protected, the x2APIC ICR MSR hooked) and decides by delivery
// mode (SDM Vol. 3A §11.6.1, Figure 11-12 / 11-28):
//   Fixed, Lowest priority, NMI   sent as written (the hardware delivers them; an NMI for a CPU in VMX non-root
//                                 becomes an NMI exit that evmm re-injects, vmm/vmx/vmx_exits.cpp)
//   SMI                           dropped: guest0 must not make other CPUs enter SMM (issue 10, SMM isolation)
//   INIT, Start-up                virtualized: evmm's APs wait for guest0 in VMX root, where INIT is blocked and
//                                 SIPIs are ignored (SDM Vol. 3C §26.2, §33.5)
//   the two reserved modes        dropped (011b, 111b: not an IPI the APIC defines)
// and, for INIT/SIPI, the target CPUs by destination shorthand, destination mode and destination: physical (the APIC
// ID, or the broadcast ID), logical in the xAPIC's flat or cluster model (LDR and DFR, §11.6.2.2) or the x2APIC's
// cluster form (§11.12.10.2: logical ID = cluster << 16 | 1 << (x2APIC ID & 15), cluster = x2APIC ID >> 4).
#pragma once

#include "evmm/base.h"
#include "evmm_desc.h"

namespace evmm::virt {

enum class IcrAction : u8 { Send, Drop, Init, Startup };

struct IcrRoute {
    IcrAction action;
    u64 targets;     // Init / Startup: bit c = CPU number c
    u32 vector;      // Startup: the SIPI vector
    const char* why; // Drop: the reason, for the log
};

// The APICs of the CPUs evmm runs on, as guest0 programmed them.
struct ApicView {
    u32 ncpus;
    const u32* apic_id; // APIC ID (xAPIC) / x2APIC ID of each CPU
    const u32* ldr;     // xAPIC Logical Destination Register of each CPU (bits 31:24 logical APIC ID)
    const u32* dfr;     // xAPIC Destination Format Register of each CPU (bits 31:28: 1111b flat, 0000b cluster)
};

inline constexpr u32 XAPIC_DFR_MODEL_SHIFT = 28;
inline constexpr u32 XAPIC_DFR_MODEL_FLAT = 0xF;
inline constexpr u32 XAPIC_DFR_RESET = 0xFFFFFFFF; // flat model (SDM Vol. 3A §11.6.2.2)
inline constexpr u32 XAPIC_LDR_SHIFT = 24;

// `icr`: the 64-bit ICR value (xAPIC: destination in bits 63:56, x2APIC: 63:32); `self`: the sending CPU.
IcrRoute icr_route(u64 icr, bool x2apic, u32 self, const ApicView& v);

} // namespace evmm::virt
