#include "vmm/svm/svm_exits.h"

#include "arch/x86_64/svm.h"
#include "evmm_desc.h"
#include "lib/format.h"
#include "vmm/guest/intercept.h"
#include "vmm/svm/gcpu_svm.h"
#include "vmm/svm/npt.h"
#include "vmm/svm/svm_cr.h"
#include "vmm/svm/svm_dr.h"
#include "vmm/svm/svm_nmi.h"
#include "vmm/svm/svm_tick.h"
#include "vmm/svm/vmcb_setup.h"

namespace evmm {

// vmm/svm/svm_entry.S hard-codes where a Gcpu keeps its VMCB's address.
static_assert(offsetof(Gcpu, arch) + offsetof(GcpuArch, vmcs_pa) == 144);

namespace {

// The exit codes (Appendix C) behind each vendor-neutral intercept kind; the VMCB intercepts them
// (vmm/svm/vmcb_setup.cpp). SVMs own instructions are the VirtInstruction kind (#UD for the guest).
struct ExitKind {
    SvmExit code;
    Intercept kind;
};
constexpr ExitKind EXIT_KINDS[] = {
    {SvmExit::CPUID, Intercept::Cpuid},
    {SvmExit::IOIO, Intercept::Io},
    {SvmExit::XSETBV, Intercept::Xsetbv},
    {SvmExit::RDTSC, Intercept::Rdtsc},
    {SvmExit::RDTSCP, Intercept::Rdtscp},
    {SvmExit::VMMCALL, Intercept::Hypercall},
    {SvmExit::VMRUN, Intercept::VirtInstruction},
    {SvmExit::VMLOAD, Intercept::VirtInstruction},
    {SvmExit::VMSAVE, Intercept::VirtInstruction},
    {SvmExit::STGI, Intercept::VirtInstruction},
    {SvmExit::CLGI, Intercept::VirtInstruction},
    {SvmExit::SKINIT, Intercept::VirtInstruction},
    {SvmExit::INVLPGA, Intercept::VirtInstruction},
    {SvmExit::SHUTDOWN, Intercept::TripleFault},
    {SvmExit::INVD, Intercept::Invd},
    {SvmExit::INIT, Intercept::Init},
};
// Appendix C, Table C-1: the names of exit codes 60h-8Fh, then the grouped counters (svm_exit_counter).
constexpr const char* COUNTER_NAMES[SVM_EXIT_COUNTERS] = {
    "INTR (60h)",
    "NMI (61h)",
    "SMI (62h)",
    "INIT (63h)",
    "VINTR (64h)",
    "CR0_SEL_WRITE (65h)",
    "IDTR_READ (66h)",
    "GDTR_READ (67h)",
    "LDTR_READ (68h)",
    "TR_READ (69h)",
    "IDTR_WRITE (6Ah)",
    "GDTR_WRITE (6Bh)",
    "LDTR_WRITE (6Ch)",
    "TR_WRITE (6Dh)",
    "RDTSC (6Eh)",
    "RDPMC (6Fh)",
    "PUSHF (70h)",
    "POPF (71h)",
    "CPUID (72h)",
    "RSM (73h)",
    "IRET (74h)",
    "SWINT (75h)",
    "INVD (76h)",
    "PAUSE (77h)",
    "HLT (78h)",
    "INVLPG (79h)",
    "INVLPGA (7Ah)",
    "IOIO (7Bh)",
    "MSR (7Ch)",
    "TASK_SWITCH (7Dh)",
    "FERR_FREEZE (7Eh)",
    "SHUTDOWN (7Fh)",
    "VMRUN (80h)",
    "VMMCALL (81h)",
    "VMLOAD (82h)",
    "VMSAVE (83h)",
    "STGI (84h)",
    "CLGI (85h)",
    "SKINIT (86h)",
    "RDTSCP (87h)",
    "ICEBP (88h)",
    "WBINVD (89h)",
    "MONITOR (8Ah)",
    "MWAIT (8Bh)",
    "MWAIT_CONDITIONAL (8Ch)",
    "XSETBV (8Dh)",
    "RDPRU (8Eh)",
    "EFER_WRITE_TRAP (8Fh)",
    "CR access (00h-1Fh)",
    "DR access (20h-3Fh)",
    "exception (40h-5Fh)",
    "NPF (400h)",
    "other",
};
constexpr u64 COUNTED_FIRST = static_cast<u64>(SvmExit::INTR); // 60h
constexpr u32 COUNTER_CR = 48, COUNTER_DR = 49, COUNTER_EXCEPTION = 50, COUNTER_NPF = 51, COUNTER_OTHER = 52;
static_assert(SVM_EXIT_COUNTERS <= EXIT_COUNTERS);

constexpr u32 TABLE_SIZE = 0x90; // exit codes 00h-8Fh; NPF (400h) and MSR (7Ch: RDMSR or WRMSR) apart

InterceptHandler g_table[TABLE_SIZE];
u64 g_loop_rsp[EVMM_MAX_CPUS];
InterceptHandler g_npf, g_rdmsr, g_wrmsr;

// §15.7.2: an intercept that happened while the CPU delivered an event (EXITINTINFO valid) leaves that event
// undelivered; unless the handler injected something in its place (an exception combined with it, or an intercepted
// exception re-injected), it is delivered again at the next VMRUN. Software interrupts and INT3/INTO are not: RIP
// is still on their instruction, which executes again.
void redeliver(Vmcb& v) {
    const u64 info = v.control.exitintinfo;
    const u64 type = (info >> EVENT_TYPE_SHIFT) & EVENT_TYPE_MASK;
    const auto vector = static_cast<Vector>(info & EVENT_VECTOR_MASK);
    if (type == EVENT_TYPE_SOFT_INT) return;
    if (type == EVENT_TYPE_EXCEPTION && (vector == Vector::BP || vector == Vector::OF)) return;
    v.control.eventinj = info;
}

// VMEXIT_INVALID: which consistency check (§15.5.1) the VMCB fails, where known.
[[noreturn]] void invalid_state(Gcpu& g) {
    static char what[160];
    u64 value = 0;
    const char* why = svm_vmcb_invalid_reason(g, value);
    if (why != nullptr)
        format(what, sizeof what, "VMRUN failed: invalid guest state (VMEXIT_INVALID): %s (0x%lx)", why, value);
    else
        format(what, sizeof what,
               "VMRUN failed: invalid guest state (VMEXIT_INVALID): no rule evmm checks is broken (an emulator's "
               "answer to the guest instruction at RIP?)");
    gcpu_fatal(g, what);
}

// svm_before_vmrun with the VMCB the exit handler holds already (P1 on SVM).
[[gnu::always_inline]] inline void before_vmrun(Gcpu& g, Vmcb& v) {
    svm_nmi_before_vmrun(g); // GIF cleared from here on
    npt_flush_before_vmrun(g);
    v.save.rax = g.reg(Gpr::RAX);
    v.save.rsp = g.reg(Gpr::RSP);
}

[[noreturn]] void unexpected(Gcpu& g, u64 code) {
    static char what[96];
    format(what, sizeof what, "unexpected #VMEXIT: code 0x%lx", code);
    gcpu_fatal(g, what);
}

} // namespace

u32 svm_exit_counter(u64 code) {
    if (code >= COUNTED_FIRST && code < TABLE_SIZE) return static_cast<u32>(code - COUNTED_FIRST);
    if (code < static_cast<u64>(SvmExit::DR0_READ)) return COUNTER_CR;
    if (code < static_cast<u64>(SvmExit::EXCP_BASE)) return COUNTER_DR;
    if (code < COUNTED_FIRST) return COUNTER_EXCEPTION;
    return code == static_cast<u64>(SvmExit::NPF) ? COUNTER_NPF : COUNTER_OTHER;
}

u64* svm_loop_rsp_slot(u32 cpu) { return &g_loop_rsp[cpu % EVMM_MAX_CPUS]; }

void svm_before_vmrun(Gcpu& g) { before_vmrun(g, vmcb_of(g)); }

const char* svm_exit_counter_name(u32 counter) { return counter < SVM_EXIT_COUNTERS ? COUNTER_NAMES[counter] : "?"; }

void svm_exits_init() {
    for (const ExitKind& e : EXIT_KINDS) g_table[static_cast<u64>(e.code)] = intercept_handler(e.kind);
    svm_cr_init();
    g_table[static_cast<u64>(SvmExit::CR0_WRITE)] = svm_cr_write_exit;
    g_table[static_cast<u64>(SvmExit::CR4_WRITE)] = svm_cr_write_exit;
    g_table[static_cast<u64>(SvmExit::CR3_WRITE)] = svm_cr_write_exit;
    svm_dr_init();
    for (u64 dr = 0; dr < 8; ++dr) {
        g_table[static_cast<u64>(SvmExit::DR0_READ) + dr] = svm_dr_exit;
        g_table[static_cast<u64>(SvmExit::DR0_WRITE) + dr] = svm_dr_exit;
    }
    g_table[static_cast<u64>(SvmExit::RDPMC)] = svm_rdpmc_exit;
    // An NMI that exits is taken by evmm's NMI handler after STGI (a stop, a cross-CPU call, or the guest's).
    svm_nmi_init();
    g_table[static_cast<u64>(SvmExit::NMI)] = svm_nmi_exit;
    g_table[static_cast<u64>(SvmExit::IRET)] = svm_iret_exit;
    g_table[static_cast<u64>(SvmExit::VINTR)] = svm_vintr_exit;
    g_table[static_cast<u64>(SvmExit::INTR)] = svm_intr_exit; // the vCPU tick (svm_tick.h)
    g_table[static_cast<u64>(SvmExit::EXCP_BASE) + static_cast<u64>(Vector::DB)] = svm_db_exit;
    g_table[static_cast<u64>(SvmExit::MWAIT)] = svm_mwait_exit;
    g_table[static_cast<u64>(SvmExit::MWAIT_CONDITIONAL)] = svm_mwait_exit;
    g_table[static_cast<u64>(SvmExit::EXCP_BASE) + static_cast<u64>(Vector::UD)] = svm_exception_exit;
    g_table[static_cast<u64>(SvmExit::EXCP_BASE) + static_cast<u64>(Vector::GP)] = svm_exception_exit;
    g_npf = intercept_handler(Intercept::GpaAccess);
    g_rdmsr = intercept_handler(Intercept::Rdmsr);
    g_wrmsr = intercept_handler(Intercept::Wrmsr);
}

} // namespace evmm

using namespace evmm;

// Called by svm_entry.S after each #VMEXIT with GIF set again and the host's VMLOAD state back.
extern "C" void evmm_svm_exit_handler(Gcpu* gp) {
    Gcpu& g = *gp;
    Vmcb& v = vmcb_of(g);
    g.reg(Gpr::RAX) = v.save.rax;
    g.reg(Gpr::RSP) = v.save.rsp;
    ++g.exits_total;
    v.control.tlb_control = TLB_CONTROL_DO_NOTHING;
    v.control.eventinj = 0;
    const u64 code = v.control.exitcode;
    ++g.exits[svm_exit_counter(code)];
    InterceptHandler h = nullptr;
    if (code < TABLE_SIZE)
        h = g_table[code];
    else if (code == static_cast<u64>(SvmExit::NPF))
        h = g_npf;
    if (code == static_cast<u64>(SvmExit::MSR)) { // §15.11: EXITINFO1 0 = RDMSR, 1 = WRMSR
        const bool efer = svm_msr_is_efer(static_cast<u32>(g.reg(Gpr::RCX)));
        h = v.control.exitinfo1 ? (efer ? svm_efer_write_exit : g_wrmsr) : (efer ? svm_efer_read_exit : g_rdmsr);
    }
    // VMEXIT_INVALID is -1 (Appendix C); QEMU stores it as a 32-bit -1.
    if (static_cast<u32>(code) == static_cast<u32>(SvmExit::INVALID)) invalid_state(g);
    if (h == nullptr) [[unlikely]]
        unexpected(g, code);
    h(g);
    if (g.arch.tick_deadline != 0) [[unlikely]]
        svm_tick_check(g);
    if (svm::take_init_request(g)) {
        // reset by a virtual INIT (and started again by a SIPI): nothing of the old state is delivered
    } else if ((v.control.exitintinfo & EVENT_VALID) && !(v.control.eventinj & EVENT_VALID)) [[unlikely]] {
        redeliver(v);
    }
    before_vmrun(g, v);
}
