#include "vmm/vmx/forced_exits.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/debugreg.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/vmx.h"
#include "arch/x86_64/vmx_controls.h"
#include "lib/log.h"
#include "vmm/guest/intercept.h"
#include "vmm/guest/world.h"
#include "vmm/vmx/vmexit.h"
#include "vmm/vmx/vmx_setup.h"

namespace evmm {
namespace {

// IA32_VMX_EPT_VPID_CAP INVVPID types (SDM Vol. 3D A.10).
constexpr u64 VPID_CAP_INVVPID_SINGLE = bit(41);
constexpr u64 VPID_CAP_INVVPID_ALL = bit(42);

// CPUID leaf 0AH, architectural performance monitoring (SDM Vol. 3B §20.2.1, §20.2.2).
constexpr u32 CPUID_PERFMON = 0x0A;
constexpr unsigned PERFMON_EAX_GP_COUNTERS_SHIFT = 8; // EAX[15:8]: general-purpose counters per logical processor
constexpr u32 PERFMON_EAX_GP_COUNTERS_MASK = 0xFF;
constexpr u32 PERFMON_EAX_VERSION_MASK = 0xFF;        // EAX[7:0]: version; fixed counters from version 2
constexpr u32 PERFMON_EDX_FIXED_COUNTERS_MASK = 0x1F; // EDX[4:0]
constexpr u32 PERFMON_FIXED_VERSION = 2;
// RDPMC's ECX (SDM Vol. 2B RDPMC): bit 30 selects the fixed-function counters, bits 29:0 the index.
constexpr u32 RDPMC_ECX_FIXED = 1u << 30;
constexpr u32 RDPMC_ECX_INDEX_MASK = (1u << 30) - 1;

// Debug registers (SDM Vol. 3B §18.2).
constexpr u64 DR6_BD = bit(13);                 // debug register access detected
constexpr u64 DR7_GD = bit(13);                 // general detect enable
constexpr u64 DR_UPPER_HALF = ~u64{0xFFFFFFFF}; // bits 63:32 of DR6/DR7: MOV to DR with one of them set -> #GP(0)

u64 g_vpid_cap;

void skip(Gcpu& g) { gcpu_skip_instruction(g); }

void on_invalidate(Gcpu& g) {
    if (g.arch.vpid != 0) {
        if (g_vpid_cap & VPID_CAP_INVVPID_SINGLE)
            (void)invvpid(InvvpidType::SingleContext, static_cast<u16>(g.arch.vpid));
        else if (g_vpid_cap & VPID_CAP_INVVPID_ALL)
            (void)invvpid(InvvpidType::AllContexts, 0);
    } // without VPIDs every VM entry flushes the guest's translations (SDM Vol. 3C §29.4.3.1)
    gcpu_skip_instruction(g);
}

void on_wbinvd(Gcpu& g) {
    asm volatile("wbinvd" ::: "memory");
    gcpu_skip_instruction(g);
}

bool rdpmc_index_valid(u32 ecx) {
    const CpuidRegs p = cpuid(0).eax >= CPUID_PERFMON ? cpuid(CPUID_PERFMON) : CpuidRegs{};
    const u32 index = ecx & RDPMC_ECX_INDEX_MASK;
    if (ecx & ~(RDPMC_ECX_FIXED | RDPMC_ECX_INDEX_MASK)) return false;
    if (ecx & RDPMC_ECX_FIXED)
        return (p.eax & PERFMON_EAX_VERSION_MASK) >= PERFMON_FIXED_VERSION &&
               index < (p.edx & PERFMON_EDX_FIXED_COUNTERS_MASK);
    return index < ((p.eax >> PERFMON_EAX_GP_COUNTERS_SHIFT) & PERFMON_EAX_GP_COUNTERS_MASK);
}

void on_rdpmc(Gcpu& g) {
    // CPL and CR4.PCE are checked by the CPU before the exit (SDM Vol. 3C §26.1.1); the counter index is not.
    const u32 ecx = static_cast<u32>(g.reg(Gpr::RCX));
    if (!rdpmc_index_valid(ecx)) return gcpu_inject_exception(g, Vector::GP, 0);
    u32 lo, hi;
    asm volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(ecx));
    g.reg(Gpr::RAX) = lo;
    g.reg(Gpr::RDX) = hi;
    gcpu_skip_instruction(g);
}

// RDRAND/RDSEED (SDM Vol. 2B): the destination gets the value (a 16-bit one keeps bits 63:16, a 32-bit one zeroes
// them), CF = 1 when a value was returned, OF/SF/ZF/AF/PF = 0.
template <bool SEED>
void on_random(Gcpu& g) {
    const RdrandInfo info = decode_rdrand_info(static_cast<u32>(vmread(VmcsField::VM_EXIT_INSTRUCTION_INFO)));
    u64 value;
    u8 ok;
    if constexpr (SEED)
        asm volatile("rdseed %0; setc %1" : "=r"(value), "=qm"(ok)::"cc");
    else
        asm volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok)::"cc");
    const u64 old = gcpu_gpr(g, info.reg);
    u64 out = value;
    if (info.size == sizeof(u16))
        out = (old & ~u64{0xFFFF}) | (value & 0xFFFF);
    else if (info.size == sizeof(u32))
        out = value & 0xFFFFFFFF;
    gcpu_set_gpr(g, info.reg, out);
    gcpu_set_rflags(g, (gcpu_rflags(g) & ~RFLAGS_STATUS) | (ok ? RFLAGS_CF : 0));
    gcpu_skip_instruction(g);
}

// DR0-3 and DR6 on the CPU (arch/x86_64/debugreg.h); DR7 is the guest's in the VMCS.
u64 read_dr(u8 n) { return n == DR7_NUMBER ? vmread(VmcsField::GUEST_DR7) : dr_read(n); }

void write_dr(u8 n, u64 v) {
    if (n == DR7_NUMBER)
        vmwrite(VmcsField::GUEST_DR7, v);
    else
        dr_write(n, v);
}

bool g_mov_dr_exiting_kept = false; // the CPU forces MOV-DR exiting, or forceexits=1 asked for it

void on_mov_dr(Gcpu& g) {
    // A world's first DR access (the lazy DR0-3 switch, vmm/guest/world.h): its registers are live now; where
    // nothing else needs the exits, they stop and the instruction runs again on the CPU (RIP not advanced).
    if (world_dr_claim(g) && !g_mov_dr_exiting_kept) {
        const u64 proc = vmread(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS);
        vmwrite(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, proc & ~u64{PROC_MOV_DR_EXITING});
        return;
    }
    const MovDrQual q = decode_mov_dr_qual(vmread(VmcsField::EXIT_QUALIFICATION));
    u8 dr = q.dr;
    if (dr == DR4_NUMBER) dr = DR6_NUMBER; // CR4.DE = 0 (else #UD before the exit): DR4/DR5 alias DR6/DR7
    if (dr == DR5_NUMBER) dr = DR7_NUMBER;
    const u64 dr7 = vmread(VmcsField::GUEST_DR7);
    if (dr7 & DR7_GD) { // general detect: a #DB fault before the access, GD cleared, DR6.BD set (§18.2.4, §18.3.1.2)
        write_dr(DR7_NUMBER, dr7 & ~DR7_GD);
        write_dr(DR6_NUMBER, read_dr(DR6_NUMBER) | DR6_BD);
        return gcpu_inject_exception(g, Vector::DB);
    }
    if (q.from_dr) {
        u64 v = read_dr(dr);
        if (!gcpu_in_64bit_mode(g)) v &= 0xFFFFFFFF;
        gcpu_set_gpr(g, q.gpr, v);
        return gcpu_skip_instruction(g);
    }
    u64 v = gcpu_gpr(g, q.gpr);
    if (!gcpu_in_64bit_mode(g)) v &= 0xFFFFFFFF; // outside 64-bit mode the operand is 32 bits
    if ((dr == DR6_NUMBER || dr == DR7_NUMBER) && (v & DR_UPPER_HALF)) return gcpu_inject_exception(g, Vector::GP, 0);
    write_dr(dr, v);
    gcpu_skip_instruction(g);
}

struct Forced {
    u32 proc;  // the primary control, or 0
    u32 proc2; // the secondary control, or 0
    ExitReason reason;
    ExitHandler handler;
    const char* name;
};

constexpr Forced FORCED[] = {
    {PROC_HLT_EXITING, 0, ExitReason::HLT, nullptr, "HLT"}, // the misc module's
    {PROC_INVLPG_EXITING, 0, ExitReason::INVLPG, on_invalidate, "INVLPG"},
    {PROC_INVLPG_EXITING, 0, ExitReason::INVPCID, on_invalidate, "INVPCID"}, // with "enable INVPCID" (§26.1.3)
    {PROC_MWAIT_EXITING, 0, ExitReason::MWAIT, skip, "MWAIT"},
    {PROC_RDPMC_EXITING, 0, ExitReason::RDPMC, on_rdpmc, "RDPMC"},
    {PROC_MOV_DR_EXITING, 0, ExitReason::MOV_DR, on_mov_dr, "MOV DR"},
    {PROC_MONITOR_EXITING, 0, ExitReason::MONITOR, skip, "MONITOR"},
    {PROC_PAUSE_EXITING, 0, ExitReason::PAUSE, skip, "PAUSE"},
    {0, PROC2_WBINVD_EXITING, ExitReason::WBINVD_WBNOINVD, on_wbinvd, "WBINVD"},
    {0, PROC2_RDRAND_EXITING, ExitReason::RDRAND, on_random<false>, "RDRAND"},
    {0, PROC2_RDSEED_EXITING, ExitReason::RDSEED, on_random<true>, "RDSEED"},
};

} // namespace

void forced_exits_init(bool force) {
    const VmxCapMsrs& c = vmx_state().caps;
    g_vpid_cap = c.ept_vpid_cap;
    const u32 forced_proc = vmx_allowed0(c.procbased), forced_proc2 = vmx_allowed0(c.procbased2);
    const u32 can_proc = allowed1(c.procbased), can_proc2 = allowed1(c.procbased2);
    ControlRequest rq{};
    intercept_set_owner("vmx-forced");
    // MOV DR: handled even when not forced, for the lazy DR switch of two worlds (gcpu_trap_dr_access).
    if (!vmexit_handled(ExitReason::MOV_DR)) vmexit_register(ExitReason::MOV_DR, on_mov_dr);
    for (const Forced& f : FORCED) {
        const bool forced = (f.proc & forced_proc) || (f.proc2 & forced_proc2);
        const bool wanted = force && ((f.proc & can_proc) || (f.proc2 & can_proc2));
        if (!forced && !wanted) continue;
        if (f.reason == ExitReason::MOV_DR) g_mov_dr_exiting_kept = true;
        rq.proc |= wanted ? f.proc : 0;
        rq.proc2 |= wanted ? f.proc2 : 0;
        if (f.handler != nullptr && !vmexit_handled(f.reason)) vmexit_register(f.reason, f.handler);
        LOG_INFO("stage 3: vmx: %s exiting %s: performed for the guest", f.name,
                 forced ? "forced on by the CPU" : "on (forceexits=1)");
    }
    intercept_set_owner(nullptr);
    if (force) vmx_request_controls(rq);
}

} // namespace evmm
