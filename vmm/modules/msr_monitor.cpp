#include "vmm/modules/msr_monitor.h"

#include "arch/x86_64/msr.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/panic.h"
#include "vmm/modules/virt_policy.h"

namespace evmm {
namespace {

struct Hook {
    u32 msr;
    MsrReadHandler rd;
    MsrWriteHandler wr;
};
constexpr u32 MAX_HOOKS = 16;

Hook g_hooks[MAX_HOOKS];
u32 g_hook_count = 0;

const Hook* find_hook(u32 msr) {
    for (u32 i = 0; i < g_hook_count; ++i)
        if (g_hooks[i].msr == msr) return &g_hooks[i];
    return nullptr;
}

[[noreturn]] void intercepted_without_handler(Gcpu& g, const char* insn, u32 msr) {
    static char what[96];
    format(what, sizeof what, "%s of MSR 0x%x exited (intercepted in the MSR bitmap) but has no handler", insn, msr);
    gcpu_fatal(g, what);
}

// IA32_FEATURE_CONTROL: VT-x looks disabled and locked (virt::feature_control_for_guest); writes fault, as they
// do on a locked MSR (SDM Vol. 3C §24.7).
// On a CPU without the MSR (SVM: AMD has no IA32_FEATURE_CONTROL; SDM Vol. 4 Table 2-2 lists it only with VMX, SMX
// or SGX), the guest reads what a locked, all-off register would give, and evmm says so once.
bool feature_control_read(Gcpu&, u32, u64& value) {
    static bool reported = false;
    u64 host = 0;
    if (!rdmsr_safe(Msr::IA32_FEATURE_CONTROL, host) && !reported) {
        reported = true;
        LOG_WARN("msr 0x%x not readable on this CPU: guest0 reads it as locked with VMX off",
                 static_cast<u32>(Msr::IA32_FEATURE_CONTROL));
    }
    value = virt::feature_control_for_guest(host);
    return true;
}
bool refuse_read(Gcpu&, u32, u64&) { return false; }
bool refuse_write(Gcpu&, u32, u64) { return false; }

void on_rdmsr(Gcpu& g) {
    const u32 msr = static_cast<u32>(g.reg(Gpr::RCX));
    u64 value = 0;
    bool ok = false;
    if (virt::msr_is_vmx_capability(msr)) {
        ok = false;
    } else if (const Hook* h = find_hook(msr); h != nullptr && h->rd != nullptr) {
        ok = h->rd(g, msr, value);
    } else if (virt::msr_bitmap_pos(msr, false).valid) {
        intercepted_without_handler(g, "RDMSR", msr);
    }
    if (!ok) {
        gcpu_inject_exception(g, Vector::GP, 0);
        return;
    }
    g.reg(Gpr::RAX) = static_cast<u32>(value);
    g.reg(Gpr::RDX) = value >> 32;
    gcpu_skip_instruction(g);
}

void on_wrmsr(Gcpu& g) {
    const u32 msr = static_cast<u32>(g.reg(Gpr::RCX));
    const u64 value = (u64{static_cast<u32>(g.reg(Gpr::RDX))} << 32) | static_cast<u32>(g.reg(Gpr::RAX));
    bool ok = false;
    if (virt::msr_is_vmx_capability(msr)) {
        ok = false;
    } else if (const Hook* h = find_hook(msr); h != nullptr && h->wr != nullptr) {
        ok = h->wr(g, msr, value);
    } else if (virt::msr_bitmap_pos(msr, true).valid) {
        intercepted_without_handler(g, "WRMSR", msr);
    }
    if (!ok) {
        gcpu_inject_exception(g, Vector::GP, 0);
        return;
    }
    gcpu_skip_instruction(g);
}

} // namespace

void msr_monitor_init() {
    msr_hook(static_cast<u32>(Msr::IA32_FEATURE_CONTROL), feature_control_read, refuse_write);
    msr_hook(virt::MSR_IA32_SMM_MONITOR_CTL, refuse_read, refuse_write);
    for (u32 msr = virt::MSR_IA32_VMX_FIRST; msr <= virt::MSR_IA32_VMX_LAST; ++msr) intercept_msr(msr, true, true);

    intercept_register(Intercept::Rdmsr, on_rdmsr);
    intercept_register(Intercept::Wrmsr, on_wrmsr);
}

void msr_hook(u32 msr, MsrReadHandler rd, MsrWriteHandler wr) {
    if (find_hook(msr) != nullptr) PANIC("msr_hook: MSR 0x%x hooked twice", msr);
    if (g_hook_count == MAX_HOOKS) PANIC("msr_hook: more than %u hooked MSRs", MAX_HOOKS);
    g_hooks[g_hook_count++] = Hook{msr, rd, wr};
    intercept_msr(msr, rd != nullptr, wr != nullptr);
}

} // namespace evmm
