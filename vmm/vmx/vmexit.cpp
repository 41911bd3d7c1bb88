#include "vmm/vmx/vmexit.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/vmx.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/intercept.h"
#include "vmm/guest/world.h"
#include "vmm/host/panic.h"
#include "vmm/vmx/vmentry_check.h"
#include "vmm/vmx/vmx_setup.h"

namespace evmm {

// vmm/vmx/vmx_entry.S hard-codes these encodings.
static_assert(static_cast<u32>(VmcsField::HOST_RSP) == 0x6C14);
static_assert(static_cast<u32>(VmcsField::HOST_RIP) == 0x6C16);

namespace {

[[noreturn]] void unexpected_exit(Gcpu& g);
// Out of line: inlined, its stack frame and saved registers would be set up on every exit (P1, P5).
[[gnu::cold, gnu::noinline]] void unknown_exit(Gcpu& g, u32 basic);

ExitHandler g_table[EXIT_HANDLER_TABLE_SIZE];
const char* g_owner[EXIT_HANDLER_TABLE_SIZE];
const char* g_current_owner = "vmx";
ControlRequest g_requested;
constexpr u32 MAX_VIOLATIONS = 32;

// The VMX exits behind each vendor-neutral intercept kind (SDM Vol. 3C Appendix C).
struct ExitList {
    const ExitReason* first;
    u32 count;
    const ExitReason* begin() const { return first; }
    const ExitReason* end() const { return first + count; }
};
constexpr ExitReason EXITS_CPUID[] = {ExitReason::CPUID};
constexpr ExitReason EXITS_RDMSR[] = {ExitReason::RDMSR};
constexpr ExitReason EXITS_WRMSR[] = {ExitReason::WRMSR};
constexpr ExitReason EXITS_IO[] = {ExitReason::IO_INSTRUCTION};
constexpr ExitReason EXITS_XSETBV[] = {ExitReason::XSETBV};
constexpr ExitReason EXITS_RDTSC[] = {ExitReason::RDTSC};
constexpr ExitReason EXITS_RDTSCP[] = {ExitReason::RDTSCP};
constexpr ExitReason EXITS_HYPERCALL[] = {ExitReason::VMCALL};
// GETSEC exits unconditionally, so do the VMX instructions (§26.1.2); INVEPT, INVVPID, VMFUNC (§26.1.3).
constexpr ExitReason EXITS_VIRT_INSN[] = {
    ExitReason::GETSEC, ExitReason::VMCLEAR,  ExitReason::VMLAUNCH, ExitReason::VMPTRLD, ExitReason::VMPTRST,
    ExitReason::VMREAD, ExitReason::VMRESUME, ExitReason::VMWRITE,  ExitReason::VMXOFF,  ExitReason::VMXON,
    ExitReason::INVEPT, ExitReason::INVVPID,  ExitReason::VMFUNC,
};
constexpr ExitReason EXITS_GPA[] = {ExitReason::EPT_VIOLATION};
constexpr ExitReason EXITS_TRIPLE_FAULT[] = {ExitReason::TRIPLE_FAULT};
constexpr ExitReason EXITS_HLT[] = {ExitReason::HLT};
constexpr ExitReason EXITS_INVD[] = {ExitReason::INVD};
constexpr ExitReason EXITS_INIT[] = {ExitReason::INIT_SIGNAL};
constexpr ExitReason EXITS_TICK[] = {ExitReason::PREEMPTION_TIMER_EXPIRED};
// Every task switch exits in VMX non-root operation (§26.4.2).
constexpr ExitReason EXITS_TASK_SWITCH[] = {ExitReason::TASK_SWITCH};

template <u32 N>
constexpr ExitList list(const ExitReason (&a)[N]) {
    return ExitList{a, N};
}

ExitList exits_of(Intercept kind) {
    switch (kind) {
    case Intercept::Cpuid: return list(EXITS_CPUID);
    case Intercept::Rdmsr: return list(EXITS_RDMSR);
    case Intercept::Wrmsr: return list(EXITS_WRMSR);
    case Intercept::Io: return list(EXITS_IO);
    case Intercept::Xsetbv: return list(EXITS_XSETBV);
    case Intercept::Rdtsc: return list(EXITS_RDTSC);
    case Intercept::Rdtscp: return list(EXITS_RDTSCP);
    case Intercept::Hypercall: return list(EXITS_HYPERCALL);
    case Intercept::VirtInstruction: return list(EXITS_VIRT_INSN);
    case Intercept::GpaAccess: return list(EXITS_GPA);
    case Intercept::TripleFault: return list(EXITS_TRIPLE_FAULT);
    case Intercept::Hlt: return list(EXITS_HLT);
    case Intercept::Invd: return list(EXITS_INVD);
    case Intercept::Init: return list(EXITS_INIT);
    case Intercept::Tick: return list(EXITS_TICK);
    case Intercept::TaskSwitch: return list(EXITS_TASK_SWITCH);
    case Intercept::Count: break;
    }
    return ExitList{nullptr, 0};
}

void diagnose_entry() {
    static VmcsSnapshot snap; // large: not on the stack
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i) {
        u64 v = 0;
        if (vmread_checked(VMCS_FIELDS[i], v) == VmxResult::Ok) snap.set(VMCS_FIELDS[i], v);
    }
    static Violation v[MAX_VIOLATIONS];
    const u32 n = vmentry_check(snap, vmx_state().caps, v, MAX_VIOLATIONS);
    LOG_ERROR("VM-entry check: %u rule%s violated (Intel SDM Vol. 3C chapter 27)", n, n == 1 ? "" : "s");
    char line[200];
    for (u32 i = 0; i < n && i < MAX_VIOLATIONS; ++i) {
        vmentry_format_violation(v[i], line, sizeof line);
        LOG_ERROR("  violated: %s", line);
    }
}

} // namespace

void vmx_dump_guest(Gcpu& g) {
    LOG_ERROR("  guest rip=%016lx rsp=%016lx rflags=%016lx", vmread(VmcsField::GUEST_RIP), vmread(VmcsField::GUEST_RSP),
              vmread(VmcsField::GUEST_RFLAGS));
    LOG_ERROR("  guest rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx", g.reg(Gpr::RAX), g.reg(Gpr::RBX), g.reg(Gpr::RCX),
              g.reg(Gpr::RDX));
    LOG_ERROR("  guest rsi=%016lx rdi=%016lx rbp=%016lx r8 =%016lx", g.reg(Gpr::RSI), g.reg(Gpr::RDI), g.reg(Gpr::RBP),
              g.reg(Gpr::R8));
    LOG_ERROR("  guest cr0=%016lx cr3=%016lx cr4=%016lx efer=%016lx", vmread(VmcsField::GUEST_CR0),
              vmread(VmcsField::GUEST_CR3), vmread(VmcsField::GUEST_CR4), vmread(VmcsField::GUEST_IA32_EFER));
    LOG_ERROR("  exits so far: %lu", g.exits_total);
}

void vmexit_register(ExitReason reason, ExitHandler handler) {
    const u32 r = static_cast<u32>(reason);
    if (r >= EXIT_HANDLER_TABLE_SIZE) PANIC("exit reason %u out of the handler table", r);
    if (g_table[r] != nullptr)
        PANIC("exit reason %u (%s) handled twice (%s, %s)", r, exit_reason_name(r), g_owner[r], g_current_owner);
    g_table[r] = handler;
    g_owner[r] = g_current_owner;
}

bool vmexit_handled(ExitReason reason) {
    const u32 r = static_cast<u32>(reason);
    return r < EXIT_HANDLER_TABLE_SIZE && g_table[r] != nullptr;
}

void intercept_set_owner(const char* module) { g_current_owner = module != nullptr ? module : "vmx"; }

void intercept_register(Intercept kind, InterceptHandler h) {
    const u32 k = static_cast<u32>(kind);
    if (k >= static_cast<u32>(Intercept::Count)) PANIC("intercept kind %u out of range", k);
    for (const ExitReason r : exits_of(kind)) vmexit_register(r, h);
    // What the kind needs turned on (SDM Vol. 3C §25.6.2, §25.6.4, §25.6.9).
    if (kind == Intercept::Rdmsr || kind == Intercept::Wrmsr)
        vmx_request_controls(ControlRequest{.proc = PROC_USE_MSR_BITMAPS});
    if (kind == Intercept::Io) vmx_request_controls(ControlRequest{.proc = PROC_USE_IO_BITMAPS});
}

InterceptHandler intercept_handler(Intercept kind) {
    const ExitList l = exits_of(kind);
    return l.count != 0 ? g_table[static_cast<u32>(l.first[0])] : nullptr;
}

void intercept_log_table() {
    LOG_DEBUG("vmx: exit table (reason -> module):");
    for (u32 r = 0; r < EXIT_HANDLER_TABLE_SIZE; ++r)
        if (g_table[r] != nullptr) LOG_DEBUG("  %2u %-28s -> %s", r, exit_reason_name(r), g_owner[r]);
}

const char* intercept_name(Intercept kind) {
    static constexpr const char* NAMES[] = {"cpuid",  "rdmsr",     "wrmsr",       "io",         "xsetbv",       "rdtsc",
                                            "rdtscp", "hypercall", "virt-insn",   "gpa-access", "triple-fault", "hlt",
                                            "invd",   "init",      "task-switch", "tick"};
    static_assert(sizeof NAMES / sizeof NAMES[0] == static_cast<u32>(Intercept::Count));
    const u32 k = static_cast<u32>(kind);
    return k < static_cast<u32>(Intercept::Count) ? NAMES[k] : "?";
}

void vmx_request_controls(const ControlRequest& r) {
    g_requested.pin |= r.pin;
    g_requested.proc |= r.proc;
    g_requested.proc2 |= r.proc2;
    g_requested.exit |= r.exit;
    g_requested.entry |= r.entry;
    g_requested.exception_bitmap |= r.exception_bitmap;
}

const ControlRequest& vmx_requested_controls() { return g_requested; }

void vmcs_dump() {
    LOG_ERROR("VMCS dump (%u fields):", static_cast<unsigned>(VMCS_FIELD_COUNT));
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i) {
        u64 v = 0;
        if (vmread_checked(VMCS_FIELDS[i], v) == VmxResult::Ok)
            LOG_ERROR("  %-40s = 0x%lx", vmcs_field_name(VMCS_FIELDS[i]), v);
    }
}

namespace {

// Instructions that exit only under an enable control evmm never sets (SDM Vol. 3C §26.1.3) or only in a mode
// guest0 cannot be in (RSM: SMM). Without its enable control (its feature off) such an instruction is #UD.
constexpr ExitReason UD_WITHOUT_FEATURE[] = {
    ExitReason::RSM,    ExitReason::ENCLS,     ExitReason::XSAVES,    ExitReason::XRSTORS, ExitReason::PCONFIG,
    ExitReason::UMWAIT, ExitReason::TPAUSE,    ExitReason::LOADIWKEY, ExitReason::ENCLV,   ExitReason::SEAMCALL,
    ExitReason::TDCALL, ExitReason::RDMSRLIST, ExitReason::WRMSRLIST,
};

bool g_ud_logged[EXIT_HANDLER_TABLE_SIZE];

[[gnu::cold, gnu::noinline]] void unknown_exit(Gcpu& g, u32 basic) {
    for (const ExitReason r : UD_WITHOUT_FEATURE) {
        if (static_cast<u32>(r) != basic) continue;
        if (!g_ud_logged[basic]) {
            g_ud_logged[basic] = true; // a benign race: at worst one more line
            LOG_WARN("%s cpu%u: exit %u (%s) at RIP 0x%lx: the instruction's feature is off for the guest: #UD",
                     g.guest != nullptr ? g.guest->name() : "guest", g.cpu_id, basic, exit_reason_name(basic),
                     vmread(VmcsField::GUEST_RIP));
        }
        return gcpu_inject_exception(g, Vector::UD);
    }
    unexpected_exit(g);
}

[[noreturn]] void unexpected_exit(Gcpu& g) {
    const u32 reason = static_cast<u32>(vmread(VmcsField::VM_EXIT_REASON));
    char what[120];
    format(what, sizeof what, "unexpected VM exit: reason %u (%s), qualification 0x%lx", exit_reason_basic(reason),
           exit_reason_name(reason), vmread(VmcsField::EXIT_QUALIFICATION));
    world_guest_stopped(g, what); // the TEE: marked dead, the CPU goes back to guest0 (no return)
    gcpu_fatal(g, what);
}

} // namespace
} // namespace evmm

using namespace evmm;

namespace {
[[noreturn, gnu::cold, gnu::noinline]] void entry_failed(Gcpu& g, u32 reason) {
    panic_begin();
    LOG_ERROR("PANIC: VM entry failed with exit reason %u (%s), qualification 0x%lx", exit_reason_basic(reason),
              exit_reason_name(reason), vmread(VmcsField::EXIT_QUALIFICATION));
    diagnose_entry();
    gcpu_fatal(g, "VM entry failed");
}
} // namespace

// The fast path (P1): one bounds check covers the counters and the table (same size), the handler is a tail call.
static_assert(EXIT_HANDLER_TABLE_SIZE == EXIT_COUNTERS);
extern "C" void evmm_vmexit_handler(Gcpu* g) {
    const u32 reason = static_cast<u32>(vmread(VmcsField::VM_EXIT_REASON));
    const u32 basic = exit_reason_basic(reason);
    ++g->exits_total;
    g->last_exit = reason;
    if (reason & EXIT_REASON_ENTRY_FAILURE) [[unlikely]]
        entry_failed(*g, reason);
    if (basic < EXIT_COUNTERS) [[likely]] {
        ++g->exits[basic];
        if (const ExitHandler h = g_table[basic]; h != nullptr) [[likely]]
            return h(*g);
    }
    unknown_exit(*g, basic);
}

extern "C" [[noreturn]] void evmm_vmentry_failed(Gcpu* g, u64 rflags, u64 resume) {
    panic_begin();
    const char* insn = resume ? "VMRESUME" : "VMLAUNCH";
    if (rflags & RFLAGS_CF) {
        LOG_ERROR("PANIC: %s failed: VMfailInvalid (no valid current VMCS)", insn);
    } else if (rflags & RFLAGS_ZF) {
        const u32 err = static_cast<u32>(vmread(VmcsField::VM_INSTRUCTION_ERROR));
        LOG_ERROR("PANIC: %s failed: VMfailValid, VM-instruction error %u: %s", insn, err,
                  vm_instruction_error_text(err));
    } else {
        LOG_ERROR("PANIC: %s fell through without an error indication (rflags 0x%lx)", insn, rflags);
    }
    diagnose_entry();
    gcpu_fatal(*g, resume ? "VMRESUME failed" : "VMLAUNCH failed");
}
