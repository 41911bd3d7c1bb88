#include "vmm/modules/smp_guest.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/vmx.h"
#include "loader/desc_builder.h"
#include "lib/log.h"
#include "vmm/panic.h"
#include "vmm/smp.h"
#include "vmm/vmcs_setup.h"
#include "vmm/vmexit.h"

namespace evmm {
namespace {

constexpr u64 SIPI_VECTOR_MASK = 0xFF;  // SIPI exit qualification bits 7:0: the vector (SDM Vol. 3C §28.2.1)
constexpr unsigned SIPI_SELECTOR_SHIFT = 8;
constexpr unsigned SIPI_BASE_SHIFT = 12;

void on_exception_or_nmi(Gcpu& g) {
    const u32 info = static_cast<u32>(vmread(VmcsField::VM_EXIT_INTERRUPTION_INFO));
    if (intr_info_type(info) != InterruptionType::NMI) {
        gcpu_fatal(g, "unexpected exception VM exit (the exception bitmap is 0)");
    }
    if (smp_stop_requested()) smp_stopped("running guest0", vmread(VmcsField::GUEST_RIP));
    // Not ours: deliver it to guest0 at the next entry (SDM Vol. 3C §27.6.1).
    vmwrite(VmcsField::VM_ENTRY_INTERRUPTION_INFO, intr_info_make(InterruptionType::NMI, static_cast<u8>(Vector::NMI), false));
}

void on_init(Gcpu& g) {
    LOG_DEBUG("gcpu%u: INIT from guest0 (was at %lx:%lx, activity %lu, %lu exits): reset, waiting for SIPI",
              g.cpu_id, vmread(VmcsField::GUEST_CS_BASE), vmread(VmcsField::GUEST_RIP),
              vmread(VmcsField::GUEST_ACTIVITY_STATE), g.exits_total);
    evmm_gcpu_state_t s;
    gcpu_init_state(s, cpuid(CpuidLeaf::FEATURES).eax);
    CHECK_OK(gcpu_load_guest_state(g, s, static_cast<u32>(ActivityState::WAIT_FOR_SIPI)), "INIT: guest state reset");
}

void on_sipi(Gcpu& g) {
    (void)g;
    const u64 vector = vmread(VmcsField::EXIT_QUALIFICATION) & SIPI_VECTOR_MASK;
    LOG_DEBUG("gcpu%u: SIPI from guest0: starting at 0x%lx", g.cpu_id, vector << SIPI_BASE_SHIFT);
    vmwrite(VmcsField::GUEST_CS_SELECTOR, vector << SIPI_SELECTOR_SHIFT);
    vmwrite(VmcsField::GUEST_CS_BASE, vector << SIPI_BASE_SHIFT);
    vmwrite(VmcsField::GUEST_RIP, 0);
    vmwrite(VmcsField::GUEST_ACTIVITY_STATE, static_cast<u32>(ActivityState::ACTIVE));
    // The state after INIT has no blocking and no pending debug exceptions (SDM Vol. 3A Table 10-1); what the
    // exit saved for a CPU in wait-for-SIPI must not survive into real mode.
    vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE, 0);
    vmwrite(VmcsField::GUEST_PENDING_DEBUG_EXCEPTIONS, 0);
}

} // namespace

void smp_guest_init() {
    vmx_request_controls(ControlRequest{.pin = PIN_NMI_EXITING});
    vmexit_register(ExitReason::EXCEPTION_OR_NMI, on_exception_or_nmi);
    vmexit_register(ExitReason::INIT_SIGNAL, on_init);
    vmexit_register(ExitReason::STARTUP_IPI, on_sipi);
}

} // namespace evmm
