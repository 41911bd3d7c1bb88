// The vendor-neutral vCPU interface (vmm/guest/gcpu.h) on VT-x: every read and write of the exiting gcpu's state goes
// to its VMCS, which is current on this CPU while its exit is handled.
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/vmx.h"
#include "arch/x86_64/vmx_controls.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/debug/crashtest.h"
#include "vmm/guest/event.h"
#include "vmm/guest/gcpu.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/world.h"
#include "vmm/host/panic.h"
#include "vmm/host/smp.h"
#include "vmm/svm/gcpu_svm.h"
#include "vmm/svm/npt.h"
#include "vmm/svm/svm_setup.h"
#include "vmm/svm/svm_tick.h"
#include "vmm/vmx/cr_access.h"
#include "vmm/vmx/exit_stats.h"
#include "vmm/vmx/vmcs_setup.h"
#include "vmm/vmx/vmexit.h"
#include "vmm/vmx/vmx_setup.h"

// The functions marked cold are off the frequent exits' paths (CPUID, MSR, RDTSC): optimized for size (P3).
namespace evmm {
namespace {

constexpr u32 GPR_RSP = static_cast<u32>(Gpr::RSP);

// Each CPU's HOST_RSP slot (vmm/vmx/vmx_entry.S), taken from the leaving VMCS at a world switch.

const char* guest_name(const Gcpu& g) { return g.guest != nullptr ? g.guest->name() : "guest"; }

// Contributory exceptions (SDM Vol. 3A §7.15, Table 7-4) and #PF: a second contributory fault during their
// delivery becomes #DF.
bool contributory_or_pf(u8 v) {
    const Vector x = static_cast<Vector>(v);
    return x == Vector::DE || x == Vector::TS || x == Vector::NP || x == Vector::SS || x == Vector::GP ||
           x == Vector::PF;
}

// Indexed by SegReg (the order of evmm_gcpu_state_t.seg[]).
constexpr const VmcsSegmentFields (&SEG_FIELDS)[EVMM_SEG_COUNT] = VMCS_GUEST_SEGMENTS;
static_assert(static_cast<u32>(SegReg::ES) == 0 && static_cast<u32>(SegReg::TR) == EVMM_SEG_COUNT - 1);

} // namespace

u64 gcpu_gpr(Gcpu& g, u32 n) {
    n &= 15;
    // SVM: RSP is in Gcpu.regs while an exit is handled (vmm/svm/gcpu_svm.h).
    if (n == GPR_RSP && !svm_backend()) return vmread(VmcsField::GUEST_RSP);
    return g.reg(n);
}

void gcpu_set_gpr(Gcpu& g, u32 n, u64 value) {
    n &= 15;
    if (n == GPR_RSP && !svm_backend())
        vmwrite(VmcsField::GUEST_RSP, value);
    else
        g.reg(n) = value;
}

u64 gcpu_rip(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_rip(g);
    return vmread(VmcsField::GUEST_RIP);
}
u64 gcpu_rflags(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_rflags(g);
    return vmread(VmcsField::GUEST_RFLAGS);
}
void gcpu_set_rflags(Gcpu& g, u64 value) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_set_rflags(g, value);
    vmwrite(VmcsField::GUEST_RFLAGS, value);
}
u64 gcpu_cr0(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_cr0(g);
    return vmread(VmcsField::GUEST_CR0);
}
u64 gcpu_cr3(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_cr3(g);
    return vmread(VmcsField::GUEST_CR3);
}
u64 gcpu_cr4(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_cr4(g);
    return vmread(VmcsField::GUEST_CR4);
}
u64 gcpu_efer(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_efer(g);
    return vmread(VmcsField::GUEST_IA32_EFER);
}
[[gnu::cold]] u64 gcpu_cs_base(Gcpu& g) {
    if (svm_backend()) [[unlikely]] {
        return svm::gcpu_seg_base(g, EVMM_SEG_CS);
    }
    return vmread(VmcsField::GUEST_CS_BASE);
}

// SDM Vol. 3C §25.4.1: "the CPL is SS.DPL" for a VMX guest.
u32 gcpu_cpl(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_cpl(g);
    return vmx_ar_dpl(static_cast<u32>(vmread(VmcsField::GUEST_SS_ACCESS_RIGHTS)));
}

[[gnu::cold]] bool gcpu_in_64bit_mode(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_in_64bit_mode(g);
    return (vmread(VmcsField::GUEST_IA32_EFER) & EFER_LMA) && (vmread(VmcsField::GUEST_CS_ACCESS_RIGHTS) & VMX_AR_L);
}

[[gnu::cold]] bool gcpu_cs_default_32(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_cs_default_32(g);
    return (vmread(VmcsField::GUEST_CS_ACCESS_RIGHTS) & VMX_AR_DB) != 0;
}

[[gnu::cold]] u64 gcpu_seg_base(Gcpu& g, u32 seg) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_seg_base(g, seg);
    switch (seg) {
    case EVMM_SEG_ES: return vmread(VmcsField::GUEST_ES_BASE);
    case EVMM_SEG_CS: return vmread(VmcsField::GUEST_CS_BASE);
    case EVMM_SEG_SS: return vmread(VmcsField::GUEST_SS_BASE);
    case EVMM_SEG_DS: return vmread(VmcsField::GUEST_DS_BASE);
    case EVMM_SEG_FS: return vmread(VmcsField::GUEST_FS_BASE);
    case EVMM_SEG_GS: return vmread(VmcsField::GUEST_GS_BASE);
    default: return 0;
    }
}

[[gnu::cold]] bool gcpu_ss_big(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_ss_big(g);
    return (vmread(VmcsField::GUEST_SS_ACCESS_RIGHTS) & VMX_AR_DB) != 0;
}

[[gnu::cold]] bool gcpu_exit_in_event_delivery(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_exit_in_event_delivery(g);
    return (static_cast<u32>(vmread(VmcsField::IDT_VECTORING_INFO)) & INTR_INFO_VALID) != 0;
}

// SDM Vol. 3C §26.3 ("Changes to Instruction Behavior in VMX Non-Root Operation", RDTSC): with "use TSC
// offsetting" the guest reads TSC + TSC_OFFSET.
[[gnu::cold]] u64 gcpu_guest_tsc(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_guest_tsc(g);
    u64 t = rdtsc();
    if (vmread(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS) & PROC_USE_TSC_OFFSETTING)
        t += vmread(VmcsField::TSC_OFFSET);
    return t;
}

// evmm_segment_t's attributes are the VMX access-rights layout itself (include/evmm/gcpu_state.h).
[[gnu::cold]] evmm_segment_t gcpu_segment(Gcpu& g, SegReg r) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_segment(g, r);
    const VmcsSegmentFields& f = SEG_FIELDS[static_cast<u32>(r)];
    return evmm_segment_t{vmread(f.base),
                          static_cast<u32>(vmread(f.limit)),
                          static_cast<u32>(vmread(f.access_rights)),
                          static_cast<u16>(vmread(f.selector)),
                          {}};
}

[[gnu::cold]] void gcpu_set_segment(Gcpu& g, SegReg r, const evmm_segment_t& s) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_set_segment(g, r, s);
    const VmcsSegmentFields& f = SEG_FIELDS[static_cast<u32>(r)];
    vmwrite(f.selector, s.selector);
    vmwrite(f.base, s.base);
    vmwrite(f.limit, s.limit);
    vmwrite(f.access_rights, s.attributes);
}

[[gnu::cold]] evmm_table_reg_t gcpu_gdtr(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_gdtr(g);
    return evmm_table_reg_t{vmread(VmcsField::GUEST_GDTR_BASE), static_cast<u32>(vmread(VmcsField::GUEST_GDTR_LIMIT)),
                            0};
}

void gcpu_set_rip(Gcpu& g, u64 rip) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_set_rip(g, rip);
    vmwrite(VmcsField::GUEST_RIP, rip);
}

[[gnu::cold]] bool gcpu_load_cr3(Gcpu& g, u64 cr3) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_load_cr3(g, cr3);
    return cr_load_cr3(g, cr3);
}

// CR0.TS is not among the bits the host owns (vmm/vmx/cr_access.h): the guest reads it from GUEST_CR0; the shadow
// follows so that a later emulated CR0 write starts from the same value.
[[gnu::cold]] void gcpu_set_task_switched(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_set_task_switched(g);
    vmwrite(VmcsField::GUEST_CR0, vmread(VmcsField::GUEST_CR0) | CR0_TS);
    g.cr0_shadow |= CR0_TS;
    vmwrite(VmcsField::CR0_READ_SHADOW, g.cr0_shadow);
}

// Exit 9 (SDM Vol. 3C §28.2.1 Table 28-2; the IDT-vectoring information of §28.2.4 for a task gate in the IDT).
[[gnu::cold]] TaskSwitchExit gcpu_task_switch_exit(Gcpu& g) {
    if (svm_backend()) [[unlikely]] {
        svm::not_in_slice(g, "gcpu_task_switch_exit");
    }
    const TaskSwitchQual q = decode_task_switch_qual(vmread(VmcsField::EXIT_QUALIFICATION));
    TaskSwitchExit e{};
    e.selector = q.selector;
    switch (q.source) {
    case TaskSwitchQualSource::CALL: e.source = TaskSwitchSource::Call; break;
    case TaskSwitchQualSource::IRET: e.source = TaskSwitchSource::Iret; break;
    case TaskSwitchQualSource::JMP: e.source = TaskSwitchSource::Jmp; break;
    case TaskSwitchQualSource::TASK_GATE_IN_IDT: e.source = TaskSwitchSource::IdtTaskGate; break;
    }
    e.instruction_length = static_cast<u32>(vmread(VmcsField::VM_EXIT_INSTRUCTION_LENGTH));
    const u32 idt = static_cast<u32>(vmread(VmcsField::IDT_VECTORING_INFO));
    if (e.source == TaskSwitchSource::IdtTaskGate && (idt & INTR_INFO_VALID)) {
        e.event_valid = true;
        e.event_vector = intr_info_vector(idt);
        switch (intr_info_type(idt)) {
        case InterruptionType::NMI: e.event_type = GuestEventType::Nmi; break;
        case InterruptionType::HARDWARE_EXCEPTION: e.event_type = GuestEventType::HardwareException; break;
        case InterruptionType::SOFTWARE_INTERRUPT: e.event_type = GuestEventType::SoftwareInterrupt; break;
        case InterruptionType::PRIVILEGED_SOFTWARE_EXCEPTION:
            e.event_type = GuestEventType::PrivilegedSoftwareException;
            break;
        case InterruptionType::SOFTWARE_EXCEPTION: e.event_type = GuestEventType::SoftwareException; break;
        default: e.event_type = GuestEventType::ExternalInterrupt; break;
        }
        e.event_has_error_code = (idt & INTR_INFO_DELIVER_ERROR_CODE) != 0;
        if (e.event_has_error_code) e.event_error_code = static_cast<u32>(vmread(VmcsField::IDT_VECTORING_ERROR_CODE));
    }
    return e;
}

[[gnu::cold]] IoExit gcpu_io_exit(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_io_exit(g);
    const IoQual q = decode_io_qual(vmread(VmcsField::EXIT_QUALIFICATION));
    IoExit e{q.port, q.size, q.in, q.string, q.rep, 0, 0};
    if (!q.string) return e;
    // SDM Vol. 3C §28.2.1: for INS/OUTS the guest-linear address field holds the memory operand's linear address;
    // §28.2.5 Table 28-8: the VM-exit instruction information gives the address size (bits 9:7) when
    // IA32_VMX_BASIC[54] says it is reported; else the code segment's default address size.
    constexpr u64 VMX_BASIC_INS_OUTS_INFO = bit(54);
    constexpr unsigned ADDR_SIZE_SHIFT = 7;
    constexpr u64 ADDR_SIZE_MASK = 7;
    e.linear = vmread(VmcsField::GUEST_LINEAR_ADDR);
    if (vmx_state().snap.basic & VMX_BASIC_INS_OUTS_INFO) {
        const u64 code = (vmread(VmcsField::VM_EXIT_INSTRUCTION_INFO) >> ADDR_SIZE_SHIFT) & ADDR_SIZE_MASK;
        e.addr_size = static_cast<u8>(2u << code); // 0: 16-bit, 1: 32-bit, 2: 64-bit
    } else {
        e.addr_size = gcpu_in_64bit_mode(g) ? 8 : gcpu_cs_default_32(g) ? 4 : 2;
    }
    return e;
}

[[gnu::cold]] GpaExit gcpu_gpa_exit(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_gpa_exit(g);
    const u64 qual = vmread(VmcsField::EXIT_QUALIFICATION); // SDM Vol. 3C Table 28-7
    GpaExit e{};
    e.gpa = vmread(VmcsField::GUEST_PHYSICAL_ADDR);
    e.gla_valid = (qual & EPT_QUAL_LINEAR_VALID) != 0;
    e.gla = e.gla_valid ? vmread(VmcsField::GUEST_LINEAR_ADDR) : 0;
    e.read = (qual & EPT_QUAL_READ) != 0;
    e.write = (qual & EPT_QUAL_WRITE) != 0;
    e.fetch = (qual & EPT_QUAL_FETCH) != 0;
    return e;
}

namespace {
[[gnu::cold, gnu::noinline]] bool hypercall_refused(Gcpu& g) {
    gcpu_inject_exception(g, Vector::UD);
    return false;
}
} // namespace

// A leaf on the SMC's path (P5): the refusal out of line.
bool gcpu_hypercall_begin(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_hypercall_begin(g);
    if (vmx_ar_dpl(static_cast<u32>(vmread(VmcsField::GUEST_SS_ACCESS_RIGHTS))) != 0) [[unlikely]]
        return hypercall_refused(g);
    gcpu_advance_rip(g, vmread(VmcsField::VM_EXIT_INSTRUCTION_LENGTH));
    return true;
}

void gcpu_skip_instruction(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_skip_instruction(g);
    gcpu_advance_rip(g, vmread(VmcsField::VM_EXIT_INSTRUCTION_LENGTH));
}

void gcpu_advance_rip(Gcpu& g, u64 length) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_advance_rip(g, length);
    (void)g;
    vmwrite(VmcsField::GUEST_RIP, vmread(VmcsField::GUEST_RIP) + length);
    const u64 intr = vmread(VmcsField::GUEST_INTERRUPTIBILITY_STATE);
    if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
        vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE, intr & ~u64{INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS});
}

// SDM Vol. 3C §26.5.1: the timer counts down at the TSC rate divided by 2^IA32_VMX_MISC[4:0] while the guest runs
// and exits (reason 52) at 0; with "save VMX-preemption timer value" an exit stores the remaining count, so other
// exits do not restart it (without it, each entry reloads the full count).
[[gnu::cold]] bool gcpu_tick_every(Gcpu& g, u64 tsc_ticks) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_tick_every(g, tsc_ticks); // evmm's LAPIC timer, for the TEE's boot only (svm_tick.h)
    const VmxCapMsrs& c = vmx_state().caps;
    if ((allowed1(c.pinbased) & PIN_ACTIVATE_PREEMPTION_TIMER) == 0) return false;
    const u64 shift = c.misc & VMX_MISC_PREEMPTION_TIMER_RATE_MASK;
    u64 count = tsc_ticks >> shift;
    if (count == 0) count = 1;
    if (count > 0xFFFFFFFF) count = 0xFFFFFFFF; // a 32-bit field
    vmwrite(VmcsField::VMX_PREEMPTION_TIMER_VALUE, count);
    const u64 pin = vmread(VmcsField::PIN_BASED_VM_EXEC_CONTROLS);
    if ((pin & PIN_ACTIVATE_PREEMPTION_TIMER) == 0) {
        vmwrite(VmcsField::PIN_BASED_VM_EXEC_CONTROLS, pin | PIN_ACTIVATE_PREEMPTION_TIMER);
        if (allowed1(c.exit) & VM_EXIT_SAVE_PREEMPTION_TIMER)
            vmwrite(VmcsField::VM_EXIT_CONTROLS, vmread(VmcsField::VM_EXIT_CONTROLS) | VM_EXIT_SAVE_PREEMPTION_TIMER);
    }
    return true;
}

// SDM Vol. 3C §25.6.2: "MOV-DR exiting" makes every MOV DR exit (§26.1.3); the handler is forced_exits.cpp's.
[[gnu::cold]] bool gcpu_trap_dr_access(Gcpu&) {
    if (svm_backend()) [[unlikely]]
        return false; // SVM: DR accesses are not trapped, a world switch always switches DR0-3 (docs/svm.md)
    if ((allowed1(vmx_state().caps.procbased) & PROC_MOV_DR_EXITING) == 0) return false;
    const u64 proc = vmread(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS);
    vmwrite(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, proc | PROC_MOV_DR_EXITING);
    return true;
}

// SDM Vol. 3C §27.2.1.2: "save VMX-preemption timer value" needs "activate VMX-preemption timer": both go.
[[gnu::cold]] void gcpu_tick_stop(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_tick_stop(g);
    const u64 pin = vmread(VmcsField::PIN_BASED_VM_EXEC_CONTROLS);
    if ((pin & PIN_ACTIVATE_PREEMPTION_TIMER) == 0) return;
    vmwrite(VmcsField::PIN_BASED_VM_EXEC_CONTROLS, pin & ~u64{PIN_ACTIVATE_PREEMPTION_TIMER});
    vmwrite(VmcsField::VM_EXIT_CONTROLS, vmread(VmcsField::VM_EXIT_CONTROLS) & ~u64{VM_EXIT_SAVE_PREEMPTION_TIMER});
}

// SDM Vol. 3C §25.11.3: VMPTRLD makes the other VMCS current (both stay active on this CPU, neither is cleared: a
// VMCS never migrates). HOST_RSP of every VMCS of a CPU is the same slot; evmm_vmx_enter_at writes it into a VMCS
// at its first entry.
// The slot is the same for every VMCS of a CPU: the first launch on the CPU (evmm_vmx_launch) put it in HOST_RSP,
// and the exit being left runs on it. Recorded at the CPU's first world switch, then only read.
namespace {
// The CPU's first world switch, or `to`'s first entry: out of line (gcpu_switch stays small, P5).
[[noreturn, gnu::cold, gnu::noinline]] void switch_slow(Gcpu& from, Gcpu& to) {
    if (svm_backend()) svm::gcpu_switch(from, to); // the VT-x slot stays 0 on SVM: every switch comes here
    const u64 slot = from.arch.exit_slot != 0 ? from.arch.exit_slot : vmread(VmcsField::HOST_RSP);
    from.arch.exit_slot = to.arch.exit_slot = slot;
    if (vmptrld(to.arch.vmcs_pa) != VmxResult::Ok) gcpu_fatal(from, "world switch: VMPTRLD failed");
    const bool launched = to.arch.launched;
    if (!launched) {
        // `to`'s first entry (the TEE booted or died before guest0's vCPU ran here): its launch hooks run now (an AP
        // waits here for guest0's SIPI, vmm/modules/guest_apic.h). They may act on the (now current) VMCS.
        event_raise(Event::GuestLaunch, to);
        to.arch.launched = true;
    }
    evmm_vmx_enter_at(&to, slot, launched ? 1 : 0);
}

[[noreturn, gnu::cold, gnu::noinline]] void vmptrld_failed(Gcpu& from) {
    gcpu_fatal(from, "world switch: VMPTRLD failed");
}
} // namespace

// The slot is the same for every VMCS of a CPU: the first launch on the CPU (evmm_vmx_launch) put it in HOST_RSP,
// and the exit being left runs on it. Recorded in both vCPUs at the CPU's first world switch, then only read (SVM:
// never recorded, switch_slow hands every switch to svm::gcpu_switch).
[[noreturn]] void gcpu_switch(Gcpu& from, Gcpu& to) {
    const u64 slot = from.arch.exit_slot;
    if (slot == 0 || !to.arch.launched) [[unlikely]]
        switch_slow(from, to);
    // VMPTRLD straight from the Gcpu; VMfailInvalid (CF) or VMfailValid (ZF) branch out (SDM Vol. 3C §31.2).
    asm goto("vmptrld %0\n\tjbe %l1" : : "m"(to.arch.vmcs_pa) : "cc", "memory" : failed);
    evmm_vmx_enter_at(&to, slot, 1);
failed:
    vmptrld_failed(from);
}

// SDM Vol. 3C §25.4.2 (Table 25-3): with "virtual NMIs" the interruptibility state's NMI bit is virtual-NMI blocking,
// which the guest's next IRET clears (§26.3).
[[gnu::cold]] void gcpu_set_nmi_blocked(Gcpu& g, bool blocked) {
    if (svm_backend()) [[unlikely]] {
        svm::not_in_slice(g, "gcpu_set_nmi_blocked");
    }
    const u64 s = vmread(VmcsField::GUEST_INTERRUPTIBILITY_STATE);
    vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE,
            blocked ? (s | INTERRUPTIBILITY_NMI) : (s & ~u64{INTERRUPTIBILITY_NMI}));
}

// SDM Vol. 3C §25.4.2: activity state HLT, where IA32_VMX_MISC[6] supports it; the CPU leaves it for an event
// (§27.6.3 for an injected one).
[[gnu::cold]] void gcpu_halt(Gcpu& g) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_halt(g);
    gcpu_skip_instruction(g);
    if (vmx_state().caps.misc & VMX_MISC_ACTIVITY_HLT)
        vmwrite(VmcsField::GUEST_ACTIVITY_STATE, static_cast<u32>(ActivityState::HLT));
}

void gcpu_inject_exception(Gcpu& g, Vector v, u32 error_code) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_inject_exception(g, v, error_code);
    (void)g;
    // SDM Vol. 3C §27.2.1.3: an error code is delivered only for vectors that have one, and only in protected mode.
    const bool pe = (vmread(VmcsField::GUEST_CR0) & CR0_PE) != 0;
    const bool ec = vector_has_error_code(v) && pe;
    vmwrite(VmcsField::VM_ENTRY_INTERRUPTION_INFO,
            intr_info_make(InterruptionType::HARDWARE_EXCEPTION, static_cast<u8>(v), ec));
    if (ec) vmwrite(VmcsField::VM_ENTRY_EXCEPTION_ERROR_CODE, error_code);
    // Event injection pushes GUEST_RFLAGS as it is (SDM Vol. 3C §27.6.1.1); a processor delivering a fault pushes
    // RFLAGS with RF set (Vol. 3A §17.3.1.1), so the guest's handler sees the same frame as on bare metal (KVM does
    // the same before it injects a fault).
    if (vector_is_fault(v)) vmwrite(VmcsField::GUEST_RFLAGS, vmread(VmcsField::GUEST_RFLAGS) | RFLAGS_RF);
}

[[gnu::cold]] void gcpu_inject_exception_for_access(Gcpu& g, Vector v, u32 error_code, const char* what) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_inject_exception_for_access(g, v, error_code, what);
    const u32 idt = static_cast<u32>(vmread(VmcsField::IDT_VECTORING_INFO));
    if (idt & INTR_INFO_VALID) {
        // The access was part of delivering an event (a stack push, an IDT or TSS read): the event is lost and
        // `v` takes its place, combined per SDM Vol. 3A §7.15 Table 7-5.
        if (intr_info_type(idt) == InterruptionType::HARDWARE_EXCEPTION) {
            const u8 prior = intr_info_vector(idt);
            if (static_cast<Vector>(prior) == Vector::DF) {
                static char stop[128];
                format(stop, sizeof stop, "triple fault (%s while delivering #DF)", what);
                gcpu_guest_stopped(g, stop);
            }
            if (contributory_or_pf(prior)) {
                v = Vector::DF;
                error_code = 0;
            }
        }
    } else if (vmread(VmcsField::EXIT_QUALIFICATION) & EPT_QUAL_NMI_UNBLOCKING) {
        // The faulting IRET did not complete, so NMIs stay blocked (SDM Vol. 3C §28.2.3).
        vmwrite(VmcsField::GUEST_INTERRUPTIBILITY_STATE,
                vmread(VmcsField::GUEST_INTERRUPTIBILITY_STATE) | INTERRUPTIBILITY_NMI);
    }
    gcpu_inject_exception(g, v, error_code);
}

[[noreturn]] [[gnu::cold]] void gcpu_fatal(Gcpu& g, const char* what) {
    panic_begin();
    LOG_ERROR("PANIC: %s cpu%u: %s", guest_name(g), g.cpu_id, what);
    if (svm_backend()) {
        svm::gcpu_dump(g);
        final_stop(StopReason::Fatal, what);
    }
    vmx_dump_guest(g);
    vmcs_dump();
    final_stop(StopReason::Fatal, what);
}

[[noreturn]] [[gnu::cold]] void gcpu_guest_stopped(Gcpu& g, const char* what) {
    world_guest_stopped(g, what); // the TEE: marked dead, the CPU goes back to guest0 (no return)
    smp_stop_others();            // first: no guest output interleaved with the report, and final exit counts
    LOG_ERROR("%s cpu%u stopped: %s", guest_name(g), g.cpu_id, what);
    if (svm_backend())
        svm::gcpu_dump(g);
    else
        vmx_dump_guest(g);
    char why[48];
    format(why, sizeof why, "%s stopped", guest_name(g));
    exit_stats_log(why);
    LOG_ERROR("evmm: %s is stopped; the hypervisor stops too", guest_name(g));
    final_stop(StopReason::Done, what);
}

[[gnu::cold]] bool gcpu_kick_for_init(u32 cpu) { return svm_backend() && svm::gcpu_kick_for_init(cpu); }

[[gnu::cold]] Status slat_update_mirror(u64 eptp, u64 gpa, u64 hpa, EptPerms perms) {
    if (svm_backend()) return npt_update_page(eptp, gpa, hpa, perms); // guest0's nested tables mirror its EPT
    return Status::success();                                         // VT-x: the EPT is what the CPU walks
}

[[gnu::cold]] void slat_invalidate(u64 eptp) {
    if (svm_backend()) return npt_flush_this_cpu(); // SVM: the nested translations go at this CPU's next VMRUN
    const u64 cap = vmx_state().caps.ept_vpid_cap;
    if (cap & EPT_CAP_INVEPT_SINGLE)
        (void)invept(InveptType::SingleContext, eptp);
    else
        (void)invept(InveptType::AllContexts, 0);
}

[[gnu::cold]] void crash_test_break_vm_entry(Gcpu& g) {
    if (svm_backend()) [[unlikely]] {
        svm::not_in_slice(g, "crash_test_break_vm_entry");
    }
    // SDM Vol. 3C §27.3.1.2: TR must be usable; breaking it makes VMLAUNCH fail its guest-state checks.
    vmwrite(VmcsField::GUEST_TR_ACCESS_RIGHTS, VMX_AR_UNUSABLE);
}

[[gnu::cold]] void gcpu_inject_page_fault(Gcpu& g, u64 lin, u32 error_code) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_inject_page_fault(g, lin, error_code);
    // VM entries and exits do not switch CR2 (SDM Vol. 3C §28.3.2 lists no CR2), and evmm's own code never faults
    // on purpose: the value written here is the one the guest's #PF handler reads.
    asm volatile("mov %0, %%cr2" : : "r"(lin) : "memory");
    gcpu_inject_exception(g, Vector::PF, error_code);
}

[[gnu::cold]] Status gcpu_load_state(Gcpu& g, const evmm_gcpu_state_t& s) {
    if (svm_backend()) [[unlikely]]
        return svm::gcpu_load_state(g, s);
    return gcpu_load_guest_state(g, s, static_cast<u32>(ActivityState::ACTIVE));
}

} // namespace evmm
