#include "vmm/modules/msr_monitor.h"

#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmx.h"
#include "lib/format.h"
#include "vmm/modules/event.h"
#include "vmm/modules/virt_policy.h"
#include "vmm/host/panic.h"
#include "vmm/vmx/vmexit.h"

namespace evmm {
namespace {

struct Hook {
    u32 msr;
    MsrReadHandler rd;
    MsrWriteHandler wr;
};
constexpr u32 MAX_HOOKS = 16;

u8* g_bitmap = nullptr; // 4 KiB, zeroed by PageHeap
u64 g_bitmap_pa = 0;
Hook g_hooks[MAX_HOOKS];
u32 g_hook_count = 0;

void set_bit(u32 msr, bool write, bool on) {
    const virt::BitmapPos p = virt::msr_bitmap_pos(msr, write);
    if (!p.valid) return;
    const u8 m = static_cast<u8>(1u << p.bit);
    g_bitmap[p.byte] = static_cast<u8>(on ? (g_bitmap[p.byte] | m) : (g_bitmap[p.byte] & ~m));
}

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
bool feature_control_read(Gcpu&, u32, u64& value) {
    value = virt::feature_control_for_guest(rdmsr(Msr::IA32_FEATURE_CONTROL));
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

void on_gcpu_init(Gcpu&) { vmwrite(VmcsField::MSR_BITMAPS_ADDR, g_bitmap_pa); }

} // namespace

void msr_monitor_init(PageHeap& heap) {
    g_bitmap = static_cast<u8*>(heap.alloc_pages(1));
    if (g_bitmap == nullptr) PANIC("msr_monitor: out of heap pages for the MSR bitmap");
    g_bitmap_pa = heap.virt_to_phys(g_bitmap);

    msr_hook(static_cast<u32>(Msr::IA32_FEATURE_CONTROL), feature_control_read, refuse_write);
    msr_hook(virt::MSR_IA32_SMM_MONITOR_CTL, refuse_read, refuse_write);
    for (u32 msr = virt::MSR_IA32_VMX_FIRST; msr <= virt::MSR_IA32_VMX_LAST; ++msr) msr_intercept(msr, true, true);

    vmexit_register(ExitReason::RDMSR, on_rdmsr);
    vmexit_register(ExitReason::WRMSR, on_wrmsr);
    vmx_request_controls(ControlRequest{.proc = PROC_USE_MSR_BITMAPS});
    event_register(Event::GcpuInit, on_gcpu_init);
}

void msr_intercept(u32 msr, bool read, bool write) {
    if (g_bitmap == nullptr) PANIC("msr_intercept(0x%x) before msr_monitor_init", msr);
    set_bit(msr, false, read);
    set_bit(msr, true, write);
}

void msr_hook(u32 msr, MsrReadHandler rd, MsrWriteHandler wr) {
    if (find_hook(msr) != nullptr) PANIC("msr_hook: MSR 0x%x hooked twice", msr);
    if (g_hook_count == MAX_HOOKS) PANIC("msr_hook: more than %u hooked MSRs", MAX_HOOKS);
    g_hooks[g_hook_count++] = Hook{msr, rd, wr};
    msr_intercept(msr, rd != nullptr, wr != nullptr);
}

} // namespace evmm
