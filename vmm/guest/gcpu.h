// A guest CPU (vCPU) and the vendor-neutral interface the modules use to look at and change it.
//
// The modules (vmm/modules/) see a guest CPU only through this header: its general registers, RIP, control
// registers, privilege level, the decoded facts of the exit they handle (I/O, guest-physical access), and the
// actions a handler ends with (skip the instruction, inject an exception or an NMI, load a whole new CPU state,
// stop). The functions are implemented by the virtualisation backend — today VT-x (vmm/vmx/gcpu_vmx.cpp, the only
// code that touches VMCS fields); an AMD SVM backend implements the same functions on a VMCB — so a module never
// knows which backend runs it.
#pragma once

#include "arch/x86_64/exception.h"
#include "evmm/base.h"
#include "evmm/gcpu_state.h"
#include "evmm/status.h"

namespace evmm {

class Guest;
struct GcpuWorld;

// Indexed by the register number x86 encodes in instructions and exit information (SDM Vol. 3C Table 28-3: 0 = RAX,
// 1 = RCX, 2 = RDX, 3 = RBX, 4 = RSP, 5 = RBP, 6 = RSI, 7 = RDI, 8-15 = R8-R15). RSP lives in the backend's guest
// state area (VMCS GUEST_RSP); its slot here is unused by the entry/exit stubs: use gcpu_gpr() for it.
struct GuestRegs {
    u64 gpr[16];
};
enum class Gpr : u8 { RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

inline constexpr u32 EXIT_COUNTERS = 80; // basic exit reasons 0..79 counted individually

// Backend state of a gcpu (VT-x: its VMCS, EPTP and VPID). Only the backend reads or writes it.
struct GcpuArch {
    u64 vmcs_pa;
    u64 eptp;
    u32 vpid;
    bool launched;     // entered once: the next entry is VMRESUME
    u64 exit_slot;     // a world switch's: this CPU's HOST_RSP slot (the same for every VMCS of a CPU), 0 until known
    u64 tick_deadline; // SVM: the TSC value from which the next exit runs the Tick intercept, 0 = no tick (svm_tick.h)
};

struct Gcpu {
    GuestRegs regs; // first: vmm/vmx/vmx_entry.S addresses registers at offsets 8 * n from the Gcpu pointer
    u32 cpu_id;     // the physical CPU it runs on (a gcpu never migrates)
    u32 index;      // its number inside its guest (guest0: == cpu_id)
    Guest* guest;   // the guest it belongs to
    GcpuArch arch;
    u64 cr0_shadow, cr4_shadow; // what the guest believes CR0 / CR4 hold
    u64 exits_total;
    u32 last_exit; // VT-x: the last exit's reason field, for the debugger (tools/gdb: evmm vcpu); SVM: the VMCB has it
    u64 exits[EXIT_COUNTERS];
    GcpuWorld* world; // the state a world switch saves and restores (vmm/guest/world.h); nullptr with one world

    u64& reg(Gpr r) { return regs.gpr[static_cast<u8>(r)]; }
    u64& reg(u32 n) { return regs.gpr[n & 15]; }
};
static_assert(offsetof(Gcpu, regs) == 0);

// --- guest state (the exiting gcpu's, or the one whose backend state is current on this CPU) -------------------
u64 gcpu_gpr(Gcpu& g, u32 n); // by encoding, RSP included
void gcpu_set_gpr(Gcpu& g, u32 n, u64 value);
u64 gcpu_rip(Gcpu& g);
u64 gcpu_rflags(Gcpu& g);
void gcpu_set_rflags(Gcpu& g, u64 value);
u64 gcpu_cr0(Gcpu& g); // the real values (not the guest's shadowed view)
u64 gcpu_cr3(Gcpu& g);
u64 gcpu_cr4(Gcpu& g);
u64 gcpu_efer(Gcpu& g);
u64 gcpu_cs_base(Gcpu& g);
// The current privilege level (SDM Vol. 3A §5.5; for a VMX guest SS.DPL, Vol. 3C §25.4.1).
u32 gcpu_cpl(Gcpu& g);
// IA32_EFER.LMA and CS.L: the guest executes 64-bit code.
bool gcpu_in_64bit_mode(Gcpu& g);
// CS.D (default operand size 32) for code outside 64-bit mode.
bool gcpu_cs_default_32(Gcpu& g);
// The base of segment register `seg` (EVMM_SEG_ES .. EVMM_SEG_GS, the instruction encoding's order).
u64 gcpu_seg_base(Gcpu& g, u32 seg);
// SS.B: the stack-address size is 32 bits (ESP) outside 64-bit mode, else 16 (SP) (SDM Vol. 3A §3.4.5, Vol. 1 §6.2.3).
bool gcpu_ss_big(Gcpu& g);
// The TSC value the guest reads now (the host TSC plus the backend's TSC offset, if any).
u64 gcpu_guest_tsc(Gcpu& g);

// Segment registers, in the order of evmm_gcpu_state_t.seg[] (include/evmm/gcpu_state.h).
enum class SegReg : u8 {
    ES = EVMM_SEG_ES,
    CS = EVMM_SEG_CS,
    SS = EVMM_SEG_SS,
    DS = EVMM_SEG_DS,
    FS = EVMM_SEG_FS,
    GS = EVMM_SEG_GS,
    LDTR = EVMM_SEG_LDTR,
    TR = EVMM_SEG_TR,
};
// A segment register: selector, base, limit in bytes and attributes in the layout of evmm_segment_t (descriptor
// bits 55:40: type, S, DPL, P in bits 7:0, AVL, L, D/B, G in bits 15:12; bit 16 = unusable). A backend whose own
// layout differs (SVM's VMCB) converts.
evmm_segment_t gcpu_segment(Gcpu& g, SegReg r);
void gcpu_set_segment(Gcpu& g, SegReg r, const evmm_segment_t& s);
evmm_table_reg_t gcpu_gdtr(Gcpu& g);
void gcpu_set_rip(Gcpu& g, u64 rip);
// CR3 as the processor loads it outside MOV to CR3 (a task switch, SDM Vol. 3A §9.3): with PAE paging the PDPTEs
// too (false, nothing changed: one is invalid or unreadable), then the guest's TLB entries are invalidated.
bool gcpu_load_cr3(Gcpu& g, u64 cr3);
// CR0.TS = 1, as every task switch sets it (SDM Vol. 3A §2.5).
void gcpu_set_task_switched(Gcpu& g);

// --- what the exit says ------------------------------------------------------------------------------------------
struct IoExit { // IN/OUT/INS/OUTS (SDM Vol. 3C Table 28-5)
    u16 port;
    u8 size; // 1, 2 or 4 bytes
    bool in, string, rep;
    // INS/OUTS only: the address size (2, 4 or 8 bytes) and the linear address of the first element's memory
    // operand (ES:(E/R)DI for INS, seg:(E/R)SI for OUTS, segment overrides applied).
    u8 addr_size;
    u64 linear;
};
IoExit gcpu_io_exit(Gcpu& g);

struct GpaExit { // an access the second-level tables refused (EPT violation / nested page fault)
    u64 gpa;
    u64 gla; // valid when gla_valid
    bool gla_valid;
    bool read, write, fetch;
};
GpaExit gcpu_gpa_exit(Gcpu& g);
// The exit happened while the CPU was delivering an event (an exception, interrupt or NMI: its stack pushes, IDT or
// TSS reads): no instruction of the guest caused the access (VT-x: IDT-vectoring information valid, SDM Vol. 3C
// §28.2.4).
bool gcpu_exit_in_event_delivery(Gcpu& g);

// A hardware task switch the guest attempted (VT-x exit 9, SDM Vol. 3C §26.4.2, qualification Table 28-2; SVM's
// task-switch intercept). The CPU did the privilege checks on the gate or the TSS descriptor, nothing else.
enum class TaskSwitchSource : u8 { Call = 0, Iret = 1, Jmp = 2, IdtTaskGate = 3 };
// The kind of event being delivered (the interruption types of VT-x's IDT-vectoring information, SDM Vol. 3C §25.9.3).
enum class GuestEventType : u8 {
    ExternalInterrupt = 0,
    Nmi = 2,
    HardwareException = 3,
    SoftwareInterrupt = 4,           // INT n
    PrivilegedSoftwareException = 5, // INT1
    SoftwareException = 6,           // INT3, INTO
};
struct TaskSwitchExit {
    u16 selector; // the new TSS's
    TaskSwitchSource source;
    u32 instruction_length; // CALL, JMP, IRET and the software events: the saved EIP is after the instruction
    // Source IdtTaskGate: the event that went through the task gate.
    bool event_valid;
    GuestEventType event_type;
    u8 event_vector;
    bool event_has_error_code; // pushed on the new task's stack
    u32 event_error_code;
};
TaskSwitchExit gcpu_task_switch_exit(Gcpu& g);

// --- actions --------------------------------------------------------------------------------------------------
// The start of a hypercall exit (VMCALL, VMMCALL): at CPL > 0 the instruction is #UD, as outside VMX (SDM Vol. 2C
// "VMCALL"): injected, false; at CPL 0 the instruction is skipped, true. One call on the SMC's path (P5).
bool gcpu_hypercall_begin(Gcpu& g);
// Advance past the exiting instruction (its length as the CPU reported it), ending blocking by STI / MOV SS.
void gcpu_skip_instruction(Gcpu& g);
// The same with a length evmm decoded itself (exits that report none, e.g. an emulated guest-physical store).
void gcpu_advance_rip(Gcpu& g, u64 length);
// A periodic tick for this vCPU: the Tick intercept runs after about `tsc_ticks` TSC ticks of its guest time (VT-x:
// the VMX-preemption timer, SDM Vol. 3C §26.5.1, counting while the guest runs; the remaining count is kept across
// other exits where the CPU can save it; SVM, vmm/svm/svm_tick.h: the CPU's time, at the vCPU's first exit after it,
// and for a vCPU of a guest that does not own the platform evmm's LAPIC timer makes that exit). One-shot: the handler
// arms the next one. False when the backend has no such timer for this vCPU (the tick never comes). With the vCPU's
// backend state current (GcpuInit, or an exit of it), on the vCPU's CPU.
bool gcpu_tick_every(Gcpu& g, u64 tsc_ticks);
// Stops the tick (the next one never comes) until gcpu_tick_every arms it again.
void gcpu_tick_stop(Gcpu& g);
// Makes g's accesses to the debug registers exit (VT-x: MOV-DR exiting) until the first one, which calls
// world_dr_claim (vmm/guest/world.h) and, unless the exits are wanted for another reason, stops trapping and runs the
// instruction again. False when the backend cannot trap them. With g's backend state current (GcpuInit).
bool gcpu_trap_dr_access(Gcpu& g);
// World switch (vmm/guest/world.h, docs/tee.md), its last step: from an exit of `from`, make `to` (a vCPU of the
// same CPU) the current one (its backend state, VMCS, current; the exit path bound to it) and enter it: a resume,
// or its first entry, before which the GuestLaunch hooks run on it (event.h). Never returns.
[[noreturn]] void gcpu_switch(Gcpu& from, Gcpu& to);
// NMI blocking as the CPU keeps it for the guest (SDM Vol. 3A §6.7.1; VT-x: virtual-NMI blocking): set when evmm
// itself delivers an NMI to a handler (through a task gate), cleared by an IRET evmm performs (a task-switching one).
void gcpu_set_nmi_blocked(Gcpu& g, bool blocked);
// HLT: advance past it and let the vCPU wait, as the CPU would, until an interrupt, an NMI or an INIT wakes it (the
// backend's halted state; where the CPU has none, the HLT returns at once, like one woken by a spurious interrupt).
void gcpu_halt(Gcpu& g);
// A virtual INIT for the vCPU on `cpu` (another CPU, running guest0): makes it leave the guest soon and take the Init
// intercept's path. True when the backend does so itself (SVM: an NMI; a hardware INIT would reach the host once GIF
// is set, AMD APM Vol. 2 §15.13.3); false: the caller sends the hardware INIT (VT-x: an INIT VM exit).
bool gcpu_kick_for_init(u32 cpu);
// A hardware exception at the next entry, with an error code when the vector has one. RIP stays (faults).
void gcpu_inject_exception(Gcpu& g, Vector v, u32 error_code = 0);
// An exception in place of an access that faulted while the CPU was delivering another event: the event is lost
// and combined with `v` per SDM Vol. 3A §7.15 Table 7-5 (a contributory fault or #PF during #DF: triple fault, the
// guest stops). Outside event delivery the same as gcpu_inject_exception.
void gcpu_inject_exception_for_access(Gcpu& g, Vector v, u32 error_code, const char* what);
// #PF at the next entry for the linear address `lin` (CR2 = lin) with the page-fault error code `error_code`.
void gcpu_inject_page_fault(Gcpu& g, u64 lin, u32 error_code);
// (Re)loads the gcpu's whole architectural state (a SIPI's start state, an INIT).
Status gcpu_load_state(Gcpu& g, const evmm_gcpu_state_t& s);
// Print the guest's state and the backend's (the whole VMCS), then stop every CPU: a hypervisor-side failure.
[[noreturn]] void gcpu_fatal(Gcpu& g, const char* what);
// The guest stopped for good (triple fault, guest-requested exit): log, then final stop (reason: work done).
[[noreturn]] void gcpu_guest_stopped(Gcpu& g, const char* what);

// --- diagnostics of the backend -----------------------------------------------------------------------------
// The VM exits of the run so far on every CPU, by the backend's exit reasons, on the log (`why`: what ended it).
void exit_stats_log(const char* why);

} // namespace evmm
