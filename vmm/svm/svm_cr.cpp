#include "vmm/svm/svm_cr.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/insn.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/svm.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/guest_paging.h"
#include "vmm/modules/virt_policy.h"
#include "vmm/svm/gcpu_svm.h"
#include "vmm/svm/svm_dr.h"
#include "vmm/svm/svm_setup.h"
#include "vmm/svm/vmcb_setup.h"

namespace evmm {
namespace {

// CR4 bits (AMD APM Vol. 2 §3.1.3, Figure 3-7) and the CPUID bits that say the CPU implements them (Vol. 3
// Appendix E; the same rule as the CPU's own reserved-bit check of MOV to CR4).
constexpr u64 CR4_VME = bit(0), CR4_PVI = bit(1), CR4_TSD = bit(2), CR4_DE = bit(3), CR4_MCE = bit(6);
constexpr u64 CR4_PCE = bit(8), CR4_UMIP = bit(11); // CR4_OSFXSR, CR4_OSXMMEXCPT: arch/x86_64/cr.h
constexpr u64 CR4_FSGSBASE = bit(16);
constexpr u32 CPUID1_EDX_VME = 1u << 1, CPUID1_EDX_DE = 1u << 2, CPUID1_EDX_PSE = 1u << 3, CPUID1_EDX_TSC = 1u << 4;
constexpr u32 CPUID1_EDX_PAE = 1u << 6, CPUID1_EDX_MCE = 1u << 7, CPUID1_EDX_PGE = 1u << 13;
constexpr u32 CPUID1_EDX_FXSR = 1u << 24, CPUID1_EDX_SSE = 1u << 25;
constexpr u32 CPUID1_ECX_PCID = 1u << 17, CPUID1_ECX_XSAVE = 1u << 26;
constexpr u32 CPUID7_EBX_FSGSBASE = 1u << 0, CPUID7_EBX_SMEP = 1u << 7, CPUID7_EBX_SMAP = 1u << 20;
constexpr u32 CPUID7_ECX_UMIP = 1u << 2, CPUID7_ECX_PKU = 1u << 3, CPUID7_ECX_CET_SS = 1u << 7;
constexpr u32 CPUID7_ECX_LA57 = 1u << 16;
// EFER bits (Vol. 2 §3.1.7, Figure 3-9) and their CPUID bits (Fn8000_0001).
constexpr u64 EFER_FFXSR = bit(14), EFER_TCE = bit(15);
constexpr u32 CPUID80000001_EDX_SYSCALL = 1u << 11, CPUID80000001_EDX_FFXSR = 1u << 25;
constexpr u32 CPUID80000001_ECX_TCE = 1u << 17;
constexpr u32 CPUID_EXT_MAX = 0x80000000;
constexpr u32 CPUID_ADDRESS_SIZES = 0x80000008; // EAX[7:0]: MAXPHYADDR
constexpr u32 ADDRESS_SIZES_PHYS_MASK = 0xFF;
constexpr u8 MAXPHYADDR_DEFAULT = 36;

constexpr u64 LIN32_MASK = 0xFFFF'FFFF; // outside 64-bit mode: 32-bit operands and linear addresses
constexpr u16 ATTR_L = 1u << 9;         // VMCB CS attribute: descriptor bit 53 (Table B-2)
constexpr u8 USER_CPL = 3;
constexpr u32 PF_ERROR_USER = 1u << 2; // #PF error code U/S (APM Vol. 2 §8.4.2)

u64 g_cr4_allowed;
u8 g_maxphyaddr; // the CR4 bits this CPU implements, VMXE and SMXE never (guest0 has neither)
u64 g_efer_allowed;

VmcbSave& save(Gcpu& g) { return vmcb_of(g).save; }

// The guest-visible state a CR write is judged against: the VMCB's (SVM has no fixed CR bits), EFER without SVME.
virt::CrState guest_state(Gcpu& g) {
    const VmcbSave& s = save(g);
    return virt::CrState{s.cr0, s.cr3, s.cr4, s.efer & ~EFER_SVME, (s.cs.attrib & ATTR_L) != 0};
}

} // namespace

// Cross-modifying code: between the intercept and evmm's read of the instruction's bytes, another CPU of guest0 may
// have rewritten them. The CPU would run whatever is there now, so the first time the bytes do not explain the
// intercept the guest resumes unchanged and the CPU fetches the instruction again; the next unexplained intercept at
// the same RIP (no other unexplained one between) is evmm's own failure (resuming again would loop forever), and
// stops it. The RIP is kept + 1: 0 is "none".
namespace {
u64 g_unexplained_rip[EVMM_MAX_CPUS];
} // namespace

bool svm_fetch_again(Gcpu& g) {
    u64& last = g_unexplained_rip[g.cpu_id % EVMM_MAX_CPUS];
    const u64 rip = save(g).rip + 1;
    if (last == rip) {
        last = 0;
        return false;
    }
    last = rip;
    return true;
}

// The intercepted instruction, decoded from its bytes at CS:RIP (the CPU has no decode assists, or they do not
// cover CLTS/LMSW): the guest's own paging translates, as it just fetched them.
bool svm_decode_at_rip(Gcpu& g, CrDrInsn& d) {
    const u64 cr0 = save(g).cr0, efer = save(g).efer;
    const CodeSize cs = code_size(cr0 & CR0_PE, save(g).rflags & RFLAGS_VM, efer & EFER_LMA, svm::gcpu_in_64bit_mode(g),
                                  svm::gcpu_cs_default_32(g));
    const bool long64 = cs == CodeSize::Bits64;
    const u64 rip = save(g).rip;
    const u64 lin = long64 ? rip : (save(g).cs.base + rip) & LIN32_MASK;
    const GuestPagingRegs regs{cr0, save(g).cr3, save(g).cr4, efer};
    const GuestPhys mem(*g.guest);
    u8 bytes[insn::MAX_LENGTH] = {};
    size_t n = PAGE_SIZE - (lin & (PAGE_SIZE - 1)); // what is left of the first page...
    if (n > sizeof bytes) n = sizeof bytes;
    Status s = guest_read_linear(mem, regs, lin, bytes, n);
    if (!s.ok()) [[unlikely]]
        return false; // unmapped since the fetch: the CPU fetches it again
    if (n < sizeof bytes && guest_read_linear(mem, regs, lin + n, bytes + n, sizeof bytes - n).ok())
        n = sizeof bytes; // ...and the next page when it is mapped
    s = decode_cr_dr_insn(bytes, n, cs, d);
    if (!s.ok() && n < sizeof bytes) [[unlikely]]
        return false; // it may run onto the next page, unmapped since the fetch: the CPU fetches it again
    if (!s.ok() && svm_fetch_again(g)) [[unlikely]]
        return false; // rewritten by another CPU since the intercept?
    if (!s.ok()) [[unlikely]] {
        static char what[160];
        format(what, sizeof what, "svm: CR/DR intercept at RIP 0x%lx (linear 0x%lx): %s (0x%lx, 0x%lx)", rip, lin,
               s.what, s.value, s.value2);
        gcpu_fatal(g, what);
    }
    return true;
}

namespace {

// LMSW's 16-bit memory source; false when the guest's paging does not map it: the #PF the CPU raises (not present,
// a read, U/S from CPL 3) is injected.
bool read_lmsw_source(Gcpu& g, const CrDrInsn& d, u16& out) {
    const bool long64 = svm::gcpu_in_64bit_mode(g);
    const u64 next = save(g).rip + d.length;
    const u32 seg = static_cast<u32>(d.mem.seg);
    const bool has_base = !long64 || seg == EVMM_SEG_FS || seg == EVMM_SEG_GS; // Vol. 2 §4.5.3
    u64 lin = effective_address(d.mem, d.addr_size, next, g.regs.gpr) + (has_base ? svm::gcpu_seg_base(g, seg) : 0);
    if (!long64) lin &= LIN32_MASK;
    const GuestPagingRegs regs{save(g).cr0, save(g).cr3, save(g).cr4, save(g).efer};
    const GuestPhys mem(*g.guest);
    u8 b[2] = {};
    const Status s = guest_read_linear(mem, regs, lin, b, sizeof b);
    if (!s.ok()) {
        LOG_DEBUG("guest0 cpu%u: LMSW source at 0x%lx not mapped (%s): #PF", g.cpu_id, lin, s.what);
        svm::gcpu_inject_page_fault(g, lin, save(g).cpl == USER_CPL ? PF_ERROR_USER : 0);
        return false;
    }
    out = static_cast<u16>(b[0] | (b[1] << 8));
    return true;
}

void refuse(Gcpu& g, u32 cr, const char* why) {
    LOG_DEBUG("guest0: MOV to CR%u refused with #GP(0): %s", cr, why);
    svm::gcpu_inject_exception(g, Vector::GP, 0);
}

} // namespace

void svm_cr_init() {
    const CpuidRegs l1 = cpuid(1);
    const CpuidRegs l7 = cpuid(0).eax >= virt::CPUID7_LEAF ? cpuid(virt::CPUID7_LEAF, 0) : CpuidRegs{};
    const CpuidRegs e1 = cpuid(CPUID_EXT_MAX).eax >= CPUID_EXT_FEATURES ? cpuid(CPUID_EXT_FEATURES) : CpuidRegs{};
    struct Feature {
        u32 reg, mask;
        u64 cr4;
    };
    const Feature features[] = {
        {l1.edx, CPUID1_EDX_VME, CR4_VME | CR4_PVI},
        {l1.edx, CPUID1_EDX_TSC, CR4_TSD},
        {l1.edx, CPUID1_EDX_DE, CR4_DE},
        {l1.edx, CPUID1_EDX_PSE, virt::CR4_PSE_BIT},
        {l1.edx, CPUID1_EDX_PAE, virt::CR4_PAE_BIT},
        {l1.edx, CPUID1_EDX_MCE, CR4_MCE},
        {l1.edx, CPUID1_EDX_PGE, virt::CR4_PGE_BIT},
        {l1.edx, CPUID1_EDX_FXSR, CR4_OSFXSR},
        {l1.edx, CPUID1_EDX_SSE, CR4_OSXMMEXCPT},
        {l1.ecx, CPUID1_ECX_PCID, virt::CR4_PCIDE_BIT},
        {l1.ecx, CPUID1_ECX_XSAVE, virt::CR4_OSXSAVE_BIT},
        {l7.ebx, CPUID7_EBX_FSGSBASE, CR4_FSGSBASE},
        {l7.ebx, CPUID7_EBX_SMEP, virt::CR4_SMEP_BIT},
        {l7.ebx, CPUID7_EBX_SMAP, virt::CR4_SMAP_BIT},
        {l7.ecx, CPUID7_ECX_UMIP, CR4_UMIP},
        {l7.ecx, CPUID7_ECX_PKU, virt::CR4_PKE_BIT},
        {l7.ecx, CPUID7_ECX_CET_SS, virt::CR4_CET_BIT},
        {l7.ecx, CPUID7_ECX_LA57, virt::CR4_LA57_BIT},
    };
    g_cr4_allowed = CR4_PCE;
    for (const Feature& f : features)
        if (f.reg & f.mask) g_cr4_allowed |= f.cr4;
    g_maxphyaddr = cpuid(CPUID_EXT_MAX).eax >= CPUID_ADDRESS_SIZES
                       ? static_cast<u8>(cpuid(CPUID_ADDRESS_SIZES).eax & ADDRESS_SIZES_PHYS_MASK)
                       : MAXPHYADDR_DEFAULT;
    g_efer_allowed = 0;
    if (e1.edx & CPUID80000001_EDX_SYSCALL) g_efer_allowed |= EFER_SCE;
    if (e1.edx & CPUID80000001_EDX_LM) g_efer_allowed |= EFER_LME | EFER_LMA;
    if (e1.edx & CPUID80000001_EDX_NX) g_efer_allowed |= EFER_NXE;
    if (e1.edx & CPUID80000001_EDX_FFXSR) g_efer_allowed |= EFER_FFXSR;
    if (e1.ecx & CPUID80000001_ECX_TCE) g_efer_allowed |= EFER_TCE;
}

// CR3 writes only under QEMU's TCG, which answers a guest's MOV to CR3 with a bit above MAXPHYADDR (long mode) with
// #VMEXIT(VMEXIT_INVALID) instead of #GP (docs/svm.md, quirks); a CPU raises the #GP itself.
u32 svm_cr_intercepts() {
    return svm_intercept_cr_write(0) | svm_intercept_cr_write(4) | (svm_qemu_tcg() ? svm_intercept_cr_write(3) : 0);
}

bool svm_msr_is_efer(u32 msr) { return msr == static_cast<u32>(Msr::IA32_EFER); }

void svm_flush_guest_tlb(Gcpu& g) {
    vmcb_of(g).control.tlb_control = svm_features().flush_by_asid ? TLB_CONTROL_FLUSH_GUEST : TLB_CONTROL_FLUSH_ALL;
}

// §15.9: CR0 (10h), CR3 (13h, QEMU TCG only) and CR4 (14h) write intercepts: MOV to CRn, and for CR0 also CLTS and
// LMSW. With decode assists
// and NRIP save a MOV is read from EXITINFO1 and nRIP (§15.33.4); otherwise from the instruction bytes.
void svm_cr_write_exit(Gcpu& g) {
    VmcbControl& c = vmcb_of(g).control;
    const u32 cr = static_cast<u32>(c.exitcode - static_cast<u64>(SvmExit::CR0_WRITE));
    CrDrInsn d{};
    if (svm_features().decode_assists && svm_features().nrips && (c.exitinfo1 & EXITINFO1_MOV_CR) && c.nrip != 0) {
        d.op = CrDrOp::MovToCr;
        d.reg = static_cast<u8>(cr);
        d.gpr = static_cast<u8>(c.exitinfo1 & EXITINFO1_GPR_MASK);
        d.length = static_cast<u8>(c.nrip - save(g).rip);
    } else if (!svm_decode_at_rip(g, d)) [[unlikely]] {
        return; // the CPU fetches it again
    }
    const virt::CrState s = guest_state(g);
    virt::CrWrite w{};
    if (d.op == CrDrOp::MovToCr && d.reg == cr) {
        u64 value = g.reg(d.gpr);
        if (!virt::cr_state_64bit_mode(s)) value &= LIN32_MASK; // outside 64-bit mode the operand is 32-bit
        w = cr == 0   ? virt::cr0_write(s, value)
            : cr == 3 ? virt::cr3_write(s, value, g_maxphyaddr)
                      : virt::cr4_write(s, value, g_cr4_allowed);
    } else if (d.op == CrDrOp::Clts && cr == 0) {
        w = virt::cr0_write(s, s.cr0 & ~CR0_TS);
    } else if (d.op == CrDrOp::Lmsw && cr == 0) {
        u16 src = static_cast<u16>(g.reg(d.gpr));
        if (d.memory && !read_lmsw_source(g, d, src)) return; // #PF injected

        w = virt::cr0_write(s, virt::lmsw_value(s.cr0, src));
    } else if (svm_fetch_again(g)) [[unlikely]] {
        return; // rewritten by another CPU since the intercept?
    } else [[unlikely]] {
        static char what[120];
        format(what, sizeof what, "svm: CR%u write intercept for another instruction (op %u, CR%u) at RIP 0x%lx", cr,
               static_cast<unsigned>(d.op), d.reg, save(g).rip);
        gcpu_fatal(g, what);
    }
    if (w.gp != nullptr) return refuse(g, cr, w.gp);
    // No PDPTE loading (w.load_pdptes): with nested paging the CPU reads the guest's PAE PDPTEs itself (§15.25.10).
    if (cr == 0) {
        save(g).cr0 = w.value;
        g.cr0_shadow = w.value;
    } else if (cr == 3) {
        save(g).cr3 = w.value; // the flush below drops global translations too (more than MOV to CR3 does)
    } else {
        save(g).cr4 = w.value;
        g.cr4_shadow = w.value;
    }
    save(g).efer = w.efer | EFER_SVME; // §15.5.1: VMRUN needs it; EFER.LMA follows CR0.PG as the CPU sets it
    if (w.flush_tlb) svm_flush_guest_tlb(g);
    svm::gcpu_advance_rip(g, d.length);
}

// §15.5.1 "Canonicalization and Consistency Checks", in the APM's order (the ones about guest state evmm writes).
const char* svm_vmcb_invalid_reason(Gcpu& g, u64& value) {
    const Vmcb& v = vmcb_of(g);
    const VmcbSave& s = v.save;
    constexpr u64 UPPER_HALF = ~u64{0xFFFFFFFF};
    constexpr u16 ATTR_DB = 1u << 10;
    const bool lme_pg = (s.efer & EFER_LME) && (s.cr0 & CR0_PG);
    struct Rule {
        bool broken;
        const char* what;
        u64 value;
    };
    const Rule rules[] = {
        {!(s.efer & EFER_SVME), "EFER.SVME = 0", s.efer},
        {!(s.cr0 & CR0_CD) && (s.cr0 & CR0_NW), "CR0.CD = 0 with CR0.NW = 1", s.cr0},
        {(s.cr0 & UPPER_HALF) != 0, "CR0[63:32] not zero", s.cr0},
        {(s.cr4 & ~g_cr4_allowed) != 0, "CR4 reserved or unsupported bit set", s.cr4},
        {(s.dr6 & UPPER_HALF) != 0, "DR6[63:32] not zero", s.dr6},
        {(s.dr7 & UPPER_HALF) != 0, "DR7[63:32] not zero", s.dr7},
        {(s.efer & ~(g_efer_allowed | EFER_SVME)) != 0, "EFER reserved bit set", s.efer},
        {lme_pg && !(s.cr4 & virt::CR4_PAE_BIT), "EFER.LME and CR0.PG with CR4.PAE = 0", s.cr4},
        {lme_pg && !(s.cr0 & CR0_PE), "EFER.LME and CR0.PG with CR0.PE = 0", s.cr0},
        {lme_pg && (s.cr4 & virt::CR4_PAE_BIT) && (s.cs.attrib & ATTR_L) && (s.cs.attrib & ATTR_DB),
         "EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D all set", s.cs.attrib},
        {!(v.control.intercept_svm & static_cast<u32>(SvmIntercept2::VMRUN)), "VMRUN intercept clear",
         v.control.intercept_svm},
        {v.control.guest_asid == 0, "ASID 0", 0},
    };
    for (const Rule& r : rules) {
        if (!r.broken) continue;
        value = r.value;
        return r.what;
    }
    return nullptr;
}

// RDMSR of EFER: the guest's view, SVME clear (CPUID hides SVM from guest0).
void svm_efer_read_exit(Gcpu& g) {
    const u64 v = save(g).efer & ~EFER_SVME;
    g.reg(Gpr::RAX) = v & LIN32_MASK;
    g.reg(Gpr::RDX) = v >> 32;
    svm::gcpu_skip_instruction(g);
}

// WRMSR of EFER (Vol. 2 §3.1.7; "WRMSR" in Vol. 3): a reserved bit set (SVME included: the guest has no SVM) or LME
// changed while paging is on (§14.6.1) is #GP(0); LMA is the CPU's (writes leave it). The VMCB keeps SVME.
void svm_efer_write_exit(Gcpu& g) {
    const u64 v = (g.reg(Gpr::RDX) << 32) | (g.reg(Gpr::RAX) & LIN32_MASK);
    const u64 cur = save(g).efer;
    const char* gp = nullptr;
    if (v & ~g_efer_allowed)
        gp = "reserved bit (SVME included: guest0 has no SVM)";
    else if (((v ^ cur) & EFER_LME) && (save(g).cr0 & CR0_PG))
        gp = "EFER.LME changed with CR0.PG = 1";
    if (gp != nullptr) {
        LOG_DEBUG("guest0: WRMSR EFER 0x%lx refused with #GP(0): %s", v, gp);
        return svm::gcpu_inject_exception(g, Vector::GP, 0);
    }
    const u64 next = (v & ~EFER_LMA) | (cur & EFER_LMA) | EFER_SVME;
    if (next != cur) svm_flush_guest_tlb(g);
    save(g).efer = next;
    svm::gcpu_skip_instruction(g);
}

} // namespace evmm
