#include "vmm/vmx/vmexit.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/vmx.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/vmx/exit_stats.h"
#include "vmm/host/panic.h"
#include "vmm/host/smp.h"
#include "vmm/vmx/vmentry_check.h"
#include "vmm/vmx/vmx_setup.h"

namespace evmm {

// vmm/vmx/vmx_entry.S hard-codes these encodings.
static_assert(static_cast<u32>(VmcsField::HOST_RSP) == 0x6C14);
static_assert(static_cast<u32>(VmcsField::HOST_RIP) == 0x6C16);

namespace {

[[noreturn]] void unexpected_exit(Gcpu& g);

ExitHandler g_table[EXIT_HANDLER_TABLE_SIZE];
ControlRequest g_requested;
constexpr u32 MAX_VIOLATIONS = 32;

// Exceptions that push an error code (SDM Vol. 3A §7.3, Table 7-1).
bool has_error_code(Vector v) {
    switch (v) {
    case Vector::DF: case Vector::TS: case Vector::NP: case Vector::SS: case Vector::GP: case Vector::PF:
    case Vector::AC: case Vector::CP: return true;
    default: return false;
    }
}

void dump_guest(Gcpu& g) {
    LOG_ERROR("  guest rip=%016lx rsp=%016lx rflags=%016lx", vmread(VmcsField::GUEST_RIP),
              vmread(VmcsField::GUEST_RSP), vmread(VmcsField::GUEST_RFLAGS));
    LOG_ERROR("  guest rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx", g.reg(Gpr::RAX), g.reg(Gpr::RBX),
              g.reg(Gpr::RCX), g.reg(Gpr::RDX));
    LOG_ERROR("  guest rsi=%016lx rdi=%016lx rbp=%016lx r8 =%016lx", g.reg(Gpr::RSI), g.reg(Gpr::RDI),
              g.reg(Gpr::RBP), g.reg(Gpr::R8));
    LOG_ERROR("  guest cr0=%016lx cr3=%016lx cr4=%016lx efer=%016lx", vmread(VmcsField::GUEST_CR0),
              vmread(VmcsField::GUEST_CR3), vmread(VmcsField::GUEST_CR4), vmread(VmcsField::GUEST_IA32_EFER));
    LOG_ERROR("  exits so far: %lu", g.exits_total);
}

void diagnose_entry(Gcpu& g) {
    static VmcsSnapshot snap;  // large: not on the stack
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
    (void)g;
}

} // namespace

void vmexit_register(ExitReason reason, ExitHandler handler) {
    const u32 r = static_cast<u32>(reason);
    if (r >= EXIT_HANDLER_TABLE_SIZE) PANIC("exit reason %u out of the handler table", r);
    g_table[r] = handler;
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

void gcpu_skip_instruction(Gcpu& g) { gcpu_advance_rip(g, vmread(VmcsField::VM_EXIT_INSTRUCTION_LENGTH)); }

void gcpu_advance_rip(Gcpu& g, u64 length) {
    (void)g;
    vmwrite(VmcsField::GUEST_RIP, vmread(VmcsField::GUEST_RIP) + length);
    const u64 intr = vmread(VmcsField::GUEST_INTERRUPTIBILITY_STATE);
    if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
        vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE, intr & ~u64{INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS});
}

void gcpu_inject_exception(Gcpu& g, Vector v, u32 error_code) {
    (void)g;
    // SDM Vol. 3C §27.2.1.3: an error code is delivered only for vectors that have one, and only in protected mode.
    const bool pe = (vmread(VmcsField::GUEST_CR0) & CR0_PE) != 0;
    const bool ec = has_error_code(v) && pe;
    vmwrite(VmcsField::VM_ENTRY_INTERRUPTION_INFO,
            intr_info_make(InterruptionType::HARDWARE_EXCEPTION, static_cast<u8>(v), ec));
    if (ec) vmwrite(VmcsField::VM_ENTRY_EXCEPTION_ERROR_CODE, error_code);
}

void vmcs_dump() {
    LOG_ERROR("VMCS dump (%u fields):", static_cast<unsigned>(VMCS_FIELD_COUNT));
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i) {
        u64 v = 0;
        if (vmread_checked(VMCS_FIELDS[i], v) == VmxResult::Ok)
            LOG_ERROR("  %-40s = 0x%lx", vmcs_field_name(VMCS_FIELDS[i]), v);
    }
}

[[noreturn]] void gcpu_fatal(Gcpu& g, const char* what) {
    panic_begin();
    LOG_ERROR("PANIC: guest0 cpu%u: %s", g.cpu_id, what);
    dump_guest(g);
    vmcs_dump();
    final_stop(StopReason::Fatal, what);
}

[[noreturn]] void gcpu_guest_stopped(Gcpu& g, const char* what) {
    smp_stop_others();  // first: no guest0 output interleaved with the report, and final exit counts
    LOG_ERROR("guest0 cpu%u stopped: %s", g.cpu_id, what);
    dump_guest(g);
    exit_stats_log("guest0 stopped");
    LOG_ERROR("evmm: guest0 is stopped; the hypervisor stops too");
    final_stop(StopReason::Done, what);
}

namespace {

[[noreturn]] void unexpected_exit(Gcpu& g) {
    const u32 reason = static_cast<u32>(vmread(VmcsField::VM_EXIT_REASON));
    char what[120];
    format(what, sizeof what, "unexpected VM exit: reason %u (%s), qualification 0x%lx", exit_reason_basic(reason),
           exit_reason_name(reason), vmread(VmcsField::EXIT_QUALIFICATION));
    gcpu_fatal(g, what);
}

} // namespace
} // namespace evmm

using namespace evmm;

extern "C" void evmm_vmexit_handler(Gcpu* g) {
    const u32 reason = static_cast<u32>(vmread(VmcsField::VM_EXIT_REASON));
    const u32 basic = exit_reason_basic(reason);
    ++g->exits_total;
    if (basic < EXIT_COUNTERS) ++g->exits[basic];
    if (reason & EXIT_REASON_ENTRY_FAILURE) [[unlikely]] {
        panic_begin();
        LOG_ERROR("PANIC: VM entry failed with exit reason %u (%s), qualification 0x%lx", basic,
                  exit_reason_name(reason), vmread(VmcsField::EXIT_QUALIFICATION));
        diagnose_entry(*g);
        gcpu_fatal(*g, "VM entry failed");
    }
    const ExitHandler h = basic < EXIT_HANDLER_TABLE_SIZE ? g_table[basic] : nullptr;
    if (h == nullptr) [[unlikely]]
        unexpected_exit(*g);
    h(*g);
}

extern "C" [[noreturn]] void evmm_vmentry_failed(Gcpu* g, u64 rflags, u64 resume) {
    constexpr u64 RFLAGS_CF = bit(0), RFLAGS_ZF = bit(6);
    panic_begin();
    const char* insn = resume ? "VMRESUME" : "VMLAUNCH";
    if (rflags & RFLAGS_CF) {
        LOG_ERROR("PANIC: %s failed: VMfailInvalid (no valid current VMCS)", insn);
    } else if (rflags & RFLAGS_ZF) {
        const u32 err = static_cast<u32>(vmread(VmcsField::VM_INSTRUCTION_ERROR));
        LOG_ERROR("PANIC: %s failed: VMfailValid, VM-instruction error %u: %s", insn, err, vm_instruction_error_text(err));
    } else {
        LOG_ERROR("PANIC: %s fell through without an error indication (rflags 0x%lx)", insn, rflags);
    }
    diagnose_entry(*g);
    gcpu_fatal(*g, resume ? "VMRESUME failed" : "VMLAUNCH failed");
}
