#include "vmm/modules/vmcall.h"

#include "evmm_tee.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/panic.h"
#include "vmm/host/platform.h"
#include "vmm/modules/tee.h"
#include "vmm/modules/virt_policy.h"

namespace evmm {
namespace {

struct Call {
    u64 a1, a2, a3; // RBX, RCX, RDX
};

void ret(Gcpu& g, i64 rax) { g.reg(Gpr::RAX) = static_cast<u64>(rax); }

// LOG: one line "guest0: <text>" at every log level (the guest asked for it).
i64 vmcall_log(Gcpu& g, const Call& c) {
    if (c.a2 > virt::VMCALL_LOG_MAX) return VMCALL_EINVAL;
    if (!g.guest->owns_ram(c.a1, c.a2)) return VMCALL_EFAULT;
    char line[virt::VMCALL_LOG_MAX + 1];
    virt::log_sanitize(reinterpret_cast<const volatile u8*>(static_cast<uptr>(c.a1)), c.a2, line);
    LOG_ALWAYS("guest0: %s", line);
    return VMCALL_OK;
}

// LOG_READ: up to RCX bytes of evmm's log ring from stream position RDX into guest0's buffer at RBX (docs/vmcall.md).
// The buffer is checked as LOG's text is (wholly inside one usable range of guest0's map, hence outside evmm's and the
// TEE's memory) and written through the identity map, byte by byte, under the log lock (lib/log.cpp: no CPU appends
// while it is copied). Results: RBX = bytes copied, RCX = the next cursor, RDX = the log's end (bytes logged so far).
i64 vmcall_log_read(Gcpu& g, const Call& c) {
    if (c.a2 > VMCALL_LOG_READ_MAX) return VMCALL_EINVAL;
    if (!g.guest->owns_ram(c.a1, c.a2)) return VMCALL_EFAULT;
    u64 end = 0;
    const LogRingWindow w = log_ring_read(c.a3, reinterpret_cast<volatile u8*>(static_cast<uptr>(c.a1)), c.a2, end);
    if (!w.ok) return VMCALL_EINVAL; // a cursor past the end of the log
    g.reg(Gpr::RBX) = w.count;
    g.reg(Gpr::RCX) = w.first + w.count;
    g.reg(Gpr::RDX) = end;
    return VMCALL_OK;
}

// Every hypercall but the 64-bit form of the SMC, from the exit (gcpu_hypercall_begin here, or in tee_smc). Out of
// line: its frame (the LOG line buffer) stays off the SMC's path (P5).
[[gnu::noinline]] void vmcall_other(Gcpu& g) {
    u64 nr = g.reg(Gpr::RAX);
    Call c{g.reg(Gpr::RBX), g.reg(Gpr::RCX), g.reg(Gpr::RDX)};
    if (!gcpu_in_64bit_mode(g)) { // a 32-bit caller's registers are EAX..EDX: ignore stale upper halves
        nr &= 0xFFFFFFFF;
        c.a1 &= 0xFFFFFFFF;
        c.a2 &= 0xFFFFFFFF;
        c.a3 &= 0xFFFFFFFF;
    }
    if (nr == EVMM_TEE_VMCALL_SMC) return tee_smc(g); // a 32-bit caller's SMC: a world switch, or an error answer
    if (!gcpu_hypercall_begin(g)) return;             // every path below resumes after the VMCALL (or never resumes)
    switch (nr) {
    case EVMM_VMCALL_PING: g.reg(Gpr::RBX) = VMCALL_PING_MAGIC; return ret(g, VMCALL_OK);
    case EVMM_VMCALL_VERSION: g.reg(Gpr::RBX) = VMCALL_ABI_VERSION; return ret(g, VMCALL_OK);
    case EVMM_VMCALL_LOG: return ret(g, vmcall_log(g, c));
    case EVMM_VMCALL_LOG_READ: return ret(g, vmcall_log_read(g, c));
    case EVMM_VMCALL_EXIT: {
        static char what[64];
        format(what, sizeof what, "guest0 requested exit, status %ld", static_cast<i64>(c.a1));
        gcpu_guest_stopped(g, what);
    }
#ifdef EVMM_DEBUG_CHECKS
    case EVMM_VMCALL_DEBUG_PANIC: PANIC("guest0 asked for a panic (debug VMCALL)");
    case EVMM_VMCALL_DEBUG_HV_REGION:
        g.reg(Gpr::RBX) = platform().runtime_base;
        g.reg(Gpr::RCX) = platform().runtime_size;
        return ret(g, VMCALL_OK);
    case EVMM_VMCALL_DEBUG_EPT_REMAP: {
        // Both pages must be guest0's own RAM: evmm never maps anything else under guest0 this way.
        if (!is_aligned(c.a1, PAGE_4K) || !is_aligned(c.a2, PAGE_4K) || !g.guest->owns_ram(c.a1, PAGE_4K) ||
            !g.guest->owns_ram(c.a2, PAGE_4K))
            return ret(g, VMCALL_EINVAL);
        const Status s = g.guest->remap_page(c.a1, c.a2);
        if (!s.ok())
            LOG_WARN("guest0: vmcall EPT remap 0x%lx -> 0x%lx failed: %s (0x%lx)", c.a1, c.a2, s.what, s.value);
        return ret(g, s.ok() ? VMCALL_OK : VMCALL_EFAULT);
    }
#endif
    default: return ret(g, VMCALL_ENOSYS);
    }
}

// SDM Vol. 2C "VMCALL": outside VMX it is #UD; guest0 sees the same at CPL > 0, where the ABI refuses it
// (gcpu_hypercall_begin, in tee_smc or vmcall_other, injects it). The SMC first (docs/tee.md "Cost (P5)"): RAX equal to
// it in full is the SMC in either mode, so the mode need not be read; a 32-bit caller with stale upper bits reaches it
// in vmcall_other.
void on_vmcall(Gcpu& g) {
    if (g.reg(Gpr::RAX) == EVMM_TEE_VMCALL_SMC) [[likely]]
        return tee_smc(g);
    vmcall_other(g);
}

} // namespace

void vmcall_init() { intercept_register(Intercept::Hypercall, on_vmcall); }

} // namespace evmm
