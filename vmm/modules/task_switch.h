// Hardware task switches, emulated (pure: no hardware, no backend; unit-tested in tests/unit/task_switch_test.cpp).
//
// In VMX non-root operation every task switch exits (SDM Vol. 3C §26.4.2, exit reason 9) and so does it under SVM
// (task-switch intercept); the VMM performs the switch. Before the exit the CPU has done only the privilege checks:
// on a task gate (CALL/JMP/INT n through it) or on a TSS descriptor reached directly by CALL/JMP; the gate's other
// checks and every check on the new TSS are left to the VMM. task_switch() does them and the switch as SDM Vol. 3A
// §9.3 "Task Switching" describes (with §9.4 "Task Linking": NT, the previous-task link, the busy flag):
//
//   checks   new TSS selector in the GDT and within its limit, the descriptor a TSS (#GP(sel); IRET: #TS(sel)),
//            present (#NP(sel)), busy as the source requires (CALL/JMP/gate: available, else #GP(sel); IRET: busy,
//            else #TS(sel)), limit >= 67H (#TS(sel)); the new TSS read, the old one written (a translation that
//            fails: #PF). A fault here changes nothing ("before commit"; in the old task's context).
//   switch   the old TSS takes EIP (after the instruction, or the event's return point), EFLAGS (NT cleared for
//            IRET), the GPRs and segment selectors; JMP/IRET clear the old descriptor's busy flag; CALL/gate write
//            the previous-task link into the new TSS and set NT in the new task's EFLAGS; CALL/JMP/gate set the new
//            descriptor's busy flag; TR, CR3 (with CR0.PG), EFLAGS, EIP, GPRs, LDTR and the segment registers come
//            from the new TSS, CR0.TS is set.
//   after    the LDTR and segment descriptors are checked as §9.3 step 12 and Table 7-6 ("Invalid TSS Conditions",
//            the #TS entry of §7.15) list: #TS/#NP/#SS with the selector as error code, raised in the new task's
//            context (the state is switched); then the event's error code is pushed on the new task's stack and
//            the T bit of the new TSS raises #DB.
//
// Error codes carry EXT (bit 0) when the switch is part of delivering an event external to the program (an
// interrupt, NMI or hardware exception through a task gate; §7.13).
//
// Not emulated: 16-bit TSSs (a switch to or from one raises #TS(new selector), logged), the task gate's own
// checks the CPU leaves to the VMM for CALL/JMP through a gate (the exit names only the TSS), the I/O bitmap and
// DR6.BT with the T-bit #DB.
#pragma once

#include "evmm/base.h"
#include "evmm/gcpu_state.h"
#include "vmm/guest/gcpu.h"

namespace evmm::ts {

// The guest's memory by linear address through its current paging (the CR3 load_cr3 set last). An access that
// does not translate returns a #PF fault (its linear address, error code); memory the guest cannot reach #GP(0).
struct MemFault {
    bool ok;
    bool page_fault; // else #GP(0)
    u64 address;
    u32 error_code;
};

class TaskSwitchEnv {
public:
    virtual MemFault read(u64 lin, void* out, u32 len) = 0;
    virtual MemFault write(u64 lin, const void* in, u32 len) = 0;
    // CR3 as a task switch loads it (PAE: the PDPTEs; false when one is invalid: #GP(0)); later accesses use it.
    virtual bool load_cr3(u64 cr3) = 0;

protected:
    ~TaskSwitchEnv() = default;
};

// The architectural state a task switch reads and writes (protected mode, not IA-32e).
struct TaskCpu {
    u32 gpr[8]; // EAX..EDI in the encoding's order
    u32 eip;    // at the exit: the instruction's (CALL/JMP/IRET/INT n) or the interrupted one's address
    u32 eflags;
    u64 cr0, cr3;
    evmm_segment_t seg[EVMM_SEG_COUNT];
    u64 gdt_base;
    u32 gdt_limit;
};

struct Result {
    enum class Kind : u8 {
        Done,        // switched: write the state back
        FaultBefore, // nothing switched: raise the fault in the old task (an event being delivered is combined)
        FaultAfter,  // switched: write the state back, then raise the fault in the new task
    } kind;
    Vector vector;
    u32 error_code;
    bool page_fault; // #PF at `address` (CR2)
    u64 address;
    bool cr3_loaded;
    const char* why; // what failed, for the log (nullptr when Done)
};

// The switch the exit `e` describes, on `cpu` (updated unless FaultBefore) and the guest memory of `env`.
Result task_switch(TaskSwitchEnv& env, TaskCpu& cpu, const TaskSwitchExit& e);

} // namespace evmm::ts
