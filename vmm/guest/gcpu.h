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
};

struct Gcpu {
    GuestRegs regs; // first: vmm/vmx/vmx_entry.S addresses registers at offsets 8 * n from the Gcpu pointer
    u32 cpu_id;     // the physical CPU it runs on (a gcpu never migrates)
    u32 index;      // its number inside its guest (guest0: == cpu_id)
    Guest* guest;   // the guest it belongs to
    GcpuArch arch;
    u64 cr0_shadow, cr4_shadow; // what the guest believes CR0 / CR4 hold
    u64 exits_total;
    u64 exits[EXIT_COUNTERS];

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

// --- actions --------------------------------------------------------------------------------------------------
// Advance past the exiting instruction (its length as the CPU reported it), ending blocking by STI / MOV SS.
void gcpu_skip_instruction(Gcpu& g);
// The same with a length evmm decoded itself (exits that report none, e.g. an emulated guest-physical store).
void gcpu_advance_rip(Gcpu& g, u64 length);
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
