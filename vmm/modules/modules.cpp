#include "vmm/modules/modules.h"

#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmcs.h"
#include "arch/x86_64/vmx.h"
#include "lib/log.h"
#include "vmm/modules/acpi_power.h"
#include "vmm/modules/cpuid.h"
#include "vmm/modules/cr_access.h"
#include "vmm/modules/guest_apic.h"
#include "vmm/modules/ept_violation.h"
#include "vmm/modules/io_monitor.h"
#include "vmm/modules/misc.h"
#include "vmm/modules/smp_guest.h"
#include "vmm/modules/msr_monitor.h"
#include "vmm/modules/tsc.h"
#include "vmm/modules/vmcall.h"
#include "vmm/modules/vmx_instructions.h"
#include "vmm/modules/xsetbv.h"
#include "vmm/host/panic.h"

namespace evmm {
namespace {

const evmm_desc_t* g_desc = nullptr;
u64 g_identity_limit = 0;

constexpr u32 GPR_RSP = static_cast<u32>(Gpr::RSP);

// [base, base + len) inside [lo, hi), without wrapping.
bool inside(u64 base, u64 len, u64 lo, u64 hi) { return !add_overflows(base, len) && base >= lo && base + len <= hi; }

} // namespace

void modules_init(const evmm_desc_t& desc, PageHeap& heap) {
    if (g_desc != nullptr) PANIC("modules_init called twice");
    g_desc = &desc;
    // The VMM identity-maps [0, max(4 GiB, top of memory) rounded up to 1 GiB) (vmm/host/hmm.h, hmm_setup).
    g_identity_limit = align_up(desc.top_of_memory > 4 * GiB ? desc.top_of_memory : 4 * GiB, GiB);

    cpuid_init();
    msr_monitor_init(heap);
    guest_apic_init();
    cr_access_init();
    io_monitor_init(heap);
    acpi_power_init(desc);
    xsetbv_init();
    tsc_init();
    vmcall_init();
    vmx_instructions_init();
    ept_violation_init();
    misc_init();
    smp_guest_init();
    LOG_INFO("stage 3: modules: cpuid, msr, guest-apic, cr, io, acpi-power, xsetbv, tsc, vmcall, vmx-instructions, ept, misc, smp-guest (INIT/SIPI/NMI)");
}

const evmm_desc_t& modules_desc() { return *g_desc; }

u64 guest_gpr(Gcpu& g, u32 n) {
    n &= 15;
    return n == GPR_RSP ? vmread(VmcsField::GUEST_RSP) : g.reg(n);
}

void set_guest_gpr(Gcpu& g, u32 n, u64 value) {
    n &= 15;
    if (n == GPR_RSP)
        vmwrite(VmcsField::GUEST_RSP, value);
    else
        g.reg(n) = value;
}

u32 guest_cpl() { return vmx_ar_dpl(static_cast<u32>(vmread(VmcsField::GUEST_SS_ACCESS_RIGHTS))); }

bool guest_in_64bit_mode() {
    return (vmread(VmcsField::GUEST_IA32_EFER) & EFER_LMA) && (vmread(VmcsField::GUEST_CS_ACCESS_RIGHTS) & VMX_AR_L);
}

bool guest0_owns_ram(u64 gpa, u64 len) {
    const evmm_desc_t& d = *g_desc;
    if (add_overflows(gpa, len) || ranges_overlap(gpa, len, d.runtime_base, d.runtime_size)) return false;
    const u32 n = d.guest0_mmap_count < EVMM_MAX_MMAP ? d.guest0_mmap_count : EVMM_MAX_MMAP;
    for (u32 i = 0; i < n; ++i) {
        const evmm_mmap_entry_t& e = d.guest0_mmap[i];
        if (e.type == EVMM_MEM_USABLE && !add_overflows(e.base, e.length) &&
            inside(gpa, len, e.base, e.base + e.length))
            return true;
    }
    return false;
}

bool guest0_phys_readable(u64 gpa, u64 len) {
    return inside(gpa, len, 0, g_identity_limit) &&
           !ranges_overlap(gpa, len, g_desc->runtime_base, g_desc->runtime_size);
}

} // namespace evmm
