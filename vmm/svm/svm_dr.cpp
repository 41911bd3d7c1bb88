#include "vmm/svm/svm_dr.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/debugreg.h"
#include "arch/x86_64/svm.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/svm/gcpu_svm.h"
#include "vmm/svm/svm_cr.h"
#include "vmm/svm/svm_setup.h"
#include "vmm/svm/vmcb_setup.h"

namespace evmm {
namespace {

// Debug registers (APM Vol. 2 §13.1.1; SDM Vol. 3B §18.2).
constexpr u64 DR6_BD = bit(13);                 // debug register access detected
constexpr u64 DR7_GD = bit(13);                 // general detect enable
constexpr u64 DR_UPPER_HALF = ~u64{0xFFFFFFFF}; // DR6/DR7 bits 63:32: MOV to DR with one of them set -> #GP(0)
constexpr u8 DR_COUNT = 8;
constexpr u64 CR4_DE = bit(3);  // debugging extensions: DR4/DR5 are #UD instead of aliases of DR6/DR7
constexpr u64 CR4_PCE = bit(8); // RDPMC at CPL > 0
constexpr u64 LIN32_MASK = 0xFFFF'FFFF;

// RDPMC counters: Intel's architectural performance monitoring (CPUID 0Ah, SDM Vol. 3B §20.2: EAX[15:8]
// general-purpose counters, EAX[7:0] version, EDX[4:0] fixed counters from version 2, ECX bit 30 selects them) and
// AMD's core counters (APM Vol. 2 §13.2: with CPUID Fn8000_0001 ECX[23] PerfCtrExtCore, six; ECX = 0-5).
constexpr u32 CPUID_PERFMON = 0x0A;
constexpr unsigned PERFMON_EAX_GP_COUNTERS_SHIFT = 8;
constexpr u32 PERFMON_EAX_GP_COUNTERS_MASK = 0xFF, PERFMON_EAX_VERSION_MASK = 0xFF;
constexpr u32 PERFMON_EDX_FIXED_COUNTERS_MASK = 0x1F;
constexpr u32 PERFMON_FIXED_VERSION = 2;
constexpr u32 RDPMC_ECX_FIXED = 1u << 30;
constexpr u32 RDPMC_ECX_INDEX_MASK = (1u << 30) - 1;
constexpr u32 CPUID80000001_ECX_PERFCTR_CORE = 1u << 23;
constexpr u32 AMD_CORE_COUNTERS = 6;
constexpr u32 CPUID_EXT_MAX = 0x80000000, CPUID_HV_BASE = 0x40000000;
constexpr u32 TCG_SIGNATURE_EBX = 0x54474354, TCG_SIGNATURE_ECX = 0x43544743, TCG_SIGNATURE_EDX = 0x47435447;

u32 g_gp_counters, g_fixed_counters;
bool g_qemu_tcg;

bool rdpmc_index_valid(u32 ecx) {
    if (ecx & ~(RDPMC_ECX_FIXED | RDPMC_ECX_INDEX_MASK)) return false;
    const u32 index = ecx & RDPMC_ECX_INDEX_MASK;
    return (ecx & RDPMC_ECX_FIXED) ? index < g_fixed_counters : index < g_gp_counters;
}

} // namespace

void svm_dr_init() {
    const CpuidRegs p = cpuid(0).eax >= CPUID_PERFMON ? cpuid(CPUID_PERFMON) : CpuidRegs{};
    g_gp_counters = (p.eax >> PERFMON_EAX_GP_COUNTERS_SHIFT) & PERFMON_EAX_GP_COUNTERS_MASK;
    g_fixed_counters =
        (p.eax & PERFMON_EAX_VERSION_MASK) >= PERFMON_FIXED_VERSION ? p.edx & PERFMON_EDX_FIXED_COUNTERS_MASK : 0;
    if (cpuid(CPUID_EXT_MAX).eax >= CPUID_EXT_FEATURES &&
        (cpuid(CPUID_EXT_FEATURES).ecx & CPUID80000001_ECX_PERFCTR_CORE) && g_gp_counters < AMD_CORE_COUNTERS)
        g_gp_counters = AMD_CORE_COUNTERS;
    const CpuidRegs hv = cpuid(CPUID_HV_BASE);
    g_qemu_tcg = hv.ebx == TCG_SIGNATURE_EBX && hv.ecx == TCG_SIGNATURE_ECX && hv.edx == TCG_SIGNATURE_EDX;
    if (g_qemu_tcg)
        LOG_INFO(
            "stage 3: svm: QEMU TCG: its own #UD/#GP re-injected, MWAIT returns at once, CR3 writes checked "
            "(docs/svm.md)");
}

bool svm_qemu_tcg() { return g_qemu_tcg; }

u32 svm_dr_intercepts(u64 dr7) {
    if (!(dr7 & DR7_GD)) return svm_intercept_dr_write(DR7_NUMBER);
    u32 all = 0;
    for (u32 dr = 0; dr < DR_COUNT; ++dr) all |= svm_intercept_dr_read(dr) | svm_intercept_dr_write(dr);
    return all;
}

u32 svm_exception_intercepts() {
    return g_qemu_tcg ? (1u << static_cast<u32>(Vector::UD)) | (1u << static_cast<u32>(Vector::GP)) : 0;
}

u32 svm_quirk_intercepts2() { return g_qemu_tcg ? SvmIntercept2::MWAIT | SvmIntercept2::MWAIT_CONDITIONAL : 0; }

// MWAIT returns at once (SDM Vol. 2B "MWAIT": it may return for any reason; a NOP is a correct implementation). QEMU's
// TCG with one CPU halts in MWAIT until an interrupt even after a store to the monitored line.
void svm_mwait_exit(Gcpu& g) { svm::gcpu_skip_instruction(g); }

// §15.12: MOV DRn intercepts, 20h + n (reads), 30h + n (writes). With decode assists and NRIP save EXITINFO1[3:0]
// is the GPR and nRIP the next instruction (§15.33.4); otherwise the instruction is decoded.
void svm_dr_exit(Gcpu& g) {
    Vmcb& v = vmcb_of(g);
    const u64 code = v.control.exitcode;
    const bool write = code >= static_cast<u64>(SvmExit::DR0_WRITE);
    u8 dr = static_cast<u8>(code - static_cast<u64>(write ? SvmExit::DR0_WRITE : SvmExit::DR0_READ));
    CrDrInsn d{};
    if (svm_features().decode_assists && svm_features().nrips && v.control.nrip != 0) {
        d.gpr = static_cast<u8>(v.control.exitinfo1 & EXITINFO1_GPR_MASK);
        d.length = static_cast<u8>(v.control.nrip - v.save.rip);
    } else if (!svm_decode_at_rip(g, d)) [[unlikely]] {
        return; // the CPU fetches it again
    } else if (d.op != (write ? CrDrOp::MovToDr : CrDrOp::MovFromDr) || d.reg != dr) [[unlikely]] {
        if (svm_fetch_again(g)) return; // rewritten by another CPU since the intercept?
        static char what[120];
        format(what, sizeof what, "svm: DR%u %s intercept for another instruction (op %u, reg %u) at RIP 0x%lx", dr,
               write ? "write" : "read", static_cast<unsigned>(d.op), d.reg, v.save.rip);
        gcpu_fatal(g, what);
    }
    // The CPU's checks, in its order (SDM Vol. 2B "MOV—Move to/from Debug Registers"): #UD for DR4/DR5 with
    // CR4.DE, #GP(0) at CPL > 0, then general detect (a #DB fault: DR6.BD set, DR7.GD cleared, Vol. 3B §18.2.4).
    if ((dr == DR4_NUMBER || dr == DR5_NUMBER) && (v.save.cr4 & CR4_DE))
        return svm::gcpu_inject_exception(g, Vector::UD, 0);
    if (dr == DR4_NUMBER) dr = DR6_NUMBER;
    if (dr == DR5_NUMBER) dr = DR7_NUMBER;
    if (v.save.cpl != 0) return svm::gcpu_inject_exception(g, Vector::GP, 0);
    if (v.save.dr7 & DR7_GD) {
        v.save.dr7 &= ~DR7_GD;
        v.save.dr6 |= DR6_BD;
        v.control.intercept_dr = svm_dr_intercepts(v.save.dr7);
        return svm::gcpu_inject_exception(g, Vector::DB, 0);
    }
    const bool long64 = svm::gcpu_in_64bit_mode(g);
    if (!write) {
        u64 value = dr == DR6_NUMBER ? v.save.dr6 : dr == DR7_NUMBER ? v.save.dr7 : dr_read(dr);
        if (!long64) value &= LIN32_MASK;
        g.reg(d.gpr) = value;
        return svm::gcpu_advance_rip(g, d.length);
    }
    u64 value = g.reg(d.gpr);
    if (!long64) value &= LIN32_MASK; // outside 64-bit mode the operand is 32 bits
    if ((dr == DR6_NUMBER || dr == DR7_NUMBER) && (value & DR_UPPER_HALF))
        return svm::gcpu_inject_exception(g, Vector::GP, 0);
    if (dr == DR6_NUMBER) {
        v.save.dr6 = value;
    } else if (dr == DR7_NUMBER) {
        v.save.dr7 = value;
        v.control.intercept_dr = svm_dr_intercepts(value);
    } else {
        dr_write(dr, value);
    }
    svm::gcpu_advance_rip(g, d.length);
}

// Vol. 3 "RDPMC": #GP(0) at CPL > 0 without CR4.PCE, or for a counter the CPU does not have.
void svm_rdpmc_exit(Gcpu& g) {
    const VmcbSave& s = vmcb_of(g).save;
    const u32 ecx = static_cast<u32>(g.reg(Gpr::RCX));
    if ((s.cpl != 0 && !(s.cr4 & CR4_PCE)) || !rdpmc_index_valid(ecx))
        return svm::gcpu_inject_exception(g, Vector::GP, 0);
    u32 lo, hi;
    asm volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(ecx));
    g.reg(Gpr::RAX) = lo;
    g.reg(Gpr::RDX) = hi;
    svm::gcpu_skip_instruction(g);
}

// §15.12: an intercepted exception (EXITINFO1: its error code) is delivered again through EVENTINJ, combined with an
// event being delivered when it happened (EXITINTINFO, §15.7.2). QEMU's TCG pushes its own faults' RFLAGS without RF
// (SDM Vol. 3B §18.3.1.1: faults push RF = 1); an injected fault gets it (gcpu_inject_exception).
void svm_exception_exit(Gcpu& g) {
    const VmcbControl& c = vmcb_of(g).control;
    const auto v = static_cast<Vector>(c.exitcode - static_cast<u64>(SvmExit::EXCP_BASE));
    svm::gcpu_inject_exception_for_access(g, v, static_cast<u32>(c.exitinfo1), "an intercepted exception");
}

} // namespace evmm
