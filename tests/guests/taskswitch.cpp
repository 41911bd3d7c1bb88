// taskswitch: hardware task switches (Intel SDM Vol. 3A chapter 9) in 32-bit protected mode, which evmm emulates
// (vmm/modules/task_switch.h; VT-x exit 9). Task switches do not exist in IA-32e mode, so each scenario runs from
// ts_run32: the guest leaves long mode (paging off, EFER.LME = 0), turns on 32-bit paging (4 MiB pages), loads its
// own GDT (32-bit TSSs, a task gate) and IDT (interrupt gates that record a fault and resume a probe, task gates
// where a scenario says), runs one 32-bit assembly scenario as the task in TSS_MAIN and comes back to long mode
// (the kit's GDT, IDT, TSS and page tables), where the checks read what the tasks recorded and the TSSs hold.
#include "arch/x86_64/tss.h"
#include "guest.h"

using namespace guest;
using evmm::Tss32;

namespace {

// GDT selectors (tests/guests/taskswitch.cpp's own GDT; 0x08/0x10 as the kit's so the way back is simple).
constexpr u16 SEL_CODE64 = 0x08, SEL_DATA = 0x10, SEL_CODE32 = 0x18, SEL_MAIN = 0x20, SEL_T1 = 0x28, SEL_T2 = 0x30,
              SEL_GATE_TSS = 0x38, SEL_EXC = 0x40, SEL_INT = 0x48, SEL_CR3T = 0x50, SEL_NP = 0x58, SEL_SMALL = 0x60,
              SEL_TASK_GATE = 0x68;
constexpr u32 GDT_ENTRIES = 16;
enum Task : u32 { MAIN, T1, T2, GATE, EXC, INT, CR3T, TASKS };
constexpr u32 STACK = 4096;
constexpr u8 ACC_TSS_AVAILABLE = 0x89, ACC_TSS_BUSY = 0x8B, ACC_TSS_NOT_PRESENT = 0x09, ACC_TASK_GATE = 0x85,
             ACC_INTERRUPT_GATE = 0x8E;
constexpr u32 EFLAGS_NT = 1u << 14;
constexpr u32 PDE_4M = 0x83; // present, writable, 4 MiB page (CR4.PSE)
constexpr u32 ALIAS_PDE = 0x80000000u >> 22;
constexpr u32 T1_EAX = 0xA1A1A1A1, MAIN_EBX = 0x11111111, MARKER = 0xC0DE5EED;

} // namespace

extern "C" {
alignas(8) u64 ts_gdt[GDT_ENTRIES];
alignas(8) u64 ts_idt[256];
alignas(4096) Tss32 ts_tss[TASKS];
alignas(4096) u32 ts_pd_main[1024];
alignas(4096) u32 ts_pd_alt[1024];
alignas(16) u8 ts_stacks[TASKS][STACK];
volatile u32 ts_res[64];
volatile u32 ts_marker;
void ts_run32(u32 scenario);
extern const char ts_vecs[];
// Scenarios and task entry points (32-bit code below).
void ts_s_jmp(), ts_s_call(), ts_s_gate(), ts_s_gp(), ts_s_int(), ts_s_cr3(), ts_s_busy(), ts_s_np(), ts_s_small();
void ts_t1_entry(), ts_t2_entry(), ts_gate_entry(), ts_exc_entry(), ts_int_entry(), ts_cr3_entry();
extern const char ts_jmp_ret[], ts_t1_after[], ts_t2_after[], ts_gp_fault[], ts_int_ret[];
}

// ts_res[] slots.
enum Res : u32 {
    R_CRASH_VEC = 0,
    R_CRASH_EIP,
    R_CRASH_EC,
    R_VEC,
    R_EC,
    R_T1_EAX = 10,
    R_T1_ESP,
    R_T1_CS,
    R_T1_TR,
    R_T1_EFL,
    R_T1_MAIN_ACC,
    R_T1_T1_ACC,
    R_M_EBX,
    R_M_T1_ACC,
    R_M_MAIN_ACC,
    R_M_TR,
    R_M_CR0,
    R_T2_EFL = 22,
    R_T2_LINK,
    R_T2_MAIN_ACC,
    R_M2_EFL,
    R_M2_T2_ACC,
    R_M2_MAIN_ACC,
    R_T2_T2_ACC,
    R_G_TR = 30,
    R_G_LINK,
    R_X_EC = 32,
    R_X_ESP,
    R_X_MAIN_EIP,
    R_X_LINK,
    R_X_EFL,
    R_I_ESP = 37,
    R_I_MAIN_EIP,
    R_C_CR3 = 40,
    R_C_MAIN_CR3,
};
static_assert(R_C_MAIN_CR3 < 64);

asm(R"(
    .set TSS_SIZE, 104
    .set SEL_MAIN, 0x20
    .set SEL_T1, 0x28
    .set SEL_T2, 0x30
    .set SEL_TASK_GATE, 0x68
    .set SEL_CR3T, 0x50
    .set SEL_NP, 0x58
    .set SEL_SMALL, 0x60
    .set RES, ts_res
    .text
    .code64
    .globl ts_run32
ts_run32:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, ts_rsp64(%rip)
    mov %edi, ts_scenario(%rip)
    sgdt ts_kit_gdtr(%rip)
    sidt ts_kit_idtr(%rip)
    str %ax
    mov %ax, ts_kit_tr(%rip)
    mov %cr3, %rax
    mov %rax, ts_kit_cr3(%rip)
    mov %cr4, %rax
    mov %rax, ts_kit_cr4(%rip)
    lgdt ts_gdtr32(%rip)
    pushq $0x18
    lea 1f(%rip), %rax
    push %rax
    lretq
    .code32
1:  mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov %cr0, %eax                  /* paging off: IA-32e mode ends (SDM Vol. 3A 10.8.5.4) */
    and $0x7fffffff, %eax
    mov %eax, %cr0
    mov $0xC0000080, %ecx           /* IA32_EFER.LME = 0 */
    rdmsr
    and $~0x100, %eax
    wrmsr
    mov %cr4, %eax                  /* 32-bit paging with 4 MiB pages: PAE off, PSE on */
    and $~0x20, %eax
    or $0x10, %eax
    mov %eax, %cr4
    mov $ts_pd_main, %eax
    mov %eax, %cr3
    mov %cr0, %eax
    or $0x80000000, %eax
    mov %eax, %cr0
    lidt ts_idtr32
    mov $ts_stacks + 4096, %esp     /* MAIN's stack */
    mov $SEL_MAIN, %eax
    ltr %ax
    clts
    call *ts_scenario
    .globl ts_bail
ts_bail:
    cli
    mov %cr0, %eax
    and $0x7fffffff, %eax
    mov %eax, %cr0
    mov ts_kit_cr4, %eax
    mov %eax, %cr4
    mov ts_kit_cr3, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax                  /* IA-32e mode again (compatibility mode until the far jump) */
    or $0x80000000, %eax
    mov %eax, %cr0
    ljmp $0x08, $2f
    .code64
2:  lgdt ts_kit_gdtr(%rip)
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lidt ts_kit_idtr(%rip)
    movzwl ts_kit_tr(%rip), %eax    /* the kit's TSS descriptor is busy since its LTR */
    mov ts_kit_gdtr+2(%rip), %rdx
    andb $0xFD, 5(%rdx,%rax)
    ltr %ax
    mov ts_rsp64(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .code32
/* Vectors 0-31 and one for the rest: 16-byte stubs at ts_vecs + 16 * n. */
    .balign 16
    .globl ts_vecs
ts_vecs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,255
    .balign 16
    .if \n == 8 || \n == 10 || \n == 11 || \n == 12 || \n == 13 || \n == 14 || \n == 17 || \n == 21
    .else
    pushl $0
    .endif
    pushl $\n
    jmp ts_fault_common
    .endr
ts_fault_common:
    popl RES + 4 * 3                /* vector */
    popl RES + 4 * 4                /* error code */
    cmpl $0, ts_recover_eip
    je 1f
    mov ts_recover_esp, %esp        /* a probe expected it: resume there */
    push ts_recover_eip
    movl $0, ts_recover_eip
    ret
1:  mov RES + 4 * 3, %eax           /* unexpected: record and leave 32-bit mode */
    inc %eax
    mov %eax, RES + 4 * 0
    mov (%esp), %eax
    mov %eax, RES + 4 * 1
    mov RES + 4 * 4, %eax
    mov %eax, RES + 4 * 2
    mov $ts_stacks + 4096, %esp
    jmp ts_bail

/* A far JMP/CALL that must fault: the vector and error code land in RES[3], RES[4]; 0xFF: no fault. */
.macro PROBE insn:vararg
    movl $0xFF, RES + 4 * 3
    movl $1f, ts_recover_eip
    mov %esp, ts_recover_esp
    \insn
    movl $0, ts_recover_eip
1:  ret
.endm

    .globl ts_s_jmp, ts_jmp_ret, ts_t1_entry, ts_t1_after
ts_s_jmp:
    mov $0x11111111, %ebx
    ljmp $SEL_T1, $0
ts_jmp_ret:
    mov %ebx, RES + 4 * 17
    movzbl ts_gdt + SEL_T1 + 5, %eax
    mov %eax, RES + 4 * 18
    movzbl ts_gdt + SEL_MAIN + 5, %eax
    mov %eax, RES + 4 * 19
    str %eax
    mov %eax, RES + 4 * 20
    mov %cr0, %eax
    mov %eax, RES + 4 * 21
    ret
ts_t1_entry:
    mov %eax, RES + 4 * 10
    mov %esp, RES + 4 * 11
    mov %cs, %eax
    mov %eax, RES + 4 * 12
    str %eax
    mov %eax, RES + 4 * 13
    pushfl
    popl RES + 4 * 14
    movzbl ts_gdt + SEL_MAIN + 5, %eax
    mov %eax, RES + 4 * 15
    movzbl ts_gdt + SEL_T1 + 5, %eax
    mov %eax, RES + 4 * 16
    ljmp $SEL_MAIN, $0
ts_t1_after:
    jmp ts_t1_after

    .globl ts_s_call, ts_t2_entry, ts_t2_after
ts_s_call:
    lcall $SEL_T2, $0
    pushfl
    popl RES + 4 * 25
    movzbl ts_gdt + SEL_T2 + 5, %eax
    mov %eax, RES + 4 * 26
    movzbl ts_gdt + SEL_MAIN + 5, %eax
    mov %eax, RES + 4 * 27
    ret
ts_t2_entry:
    pushfl
    popl RES + 4 * 22
    movzwl ts_tss + 2 * TSS_SIZE, %eax          /* T2's previous-task link */
    mov %eax, RES + 4 * 23
    movzbl ts_gdt + SEL_MAIN + 5, %eax
    mov %eax, RES + 4 * 24
    movzbl ts_gdt + SEL_T2 + 5, %eax
    mov %eax, RES + 4 * 28
    iret
ts_t2_after:
    jmp ts_t2_after

    .globl ts_s_gate, ts_gate_entry
ts_s_gate:
    lcall $SEL_TASK_GATE, $0
    ret
ts_gate_entry:
    str %eax
    mov %eax, RES + 4 * 30
    movzwl ts_tss + 3 * TSS_SIZE, %eax
    mov %eax, RES + 4 * 31
    iret
    jmp ts_gate_entry

    .globl ts_s_gp, ts_gp_fault, ts_exc_entry
ts_s_gp:
    mov $0x0FF8, %eax
ts_gp_fault:
    mov %eax, %ds                               /* beyond the GDT's limit: #GP(0FF8H) through the task gate */
ts_gp_resume:
    mov $0x10, %eax
    mov %eax, %ds
    ret
ts_exc_entry:
    mov (%esp), %eax
    mov %eax, RES + 4 * 32
    mov %esp, RES + 4 * 33
    mov ts_tss + 0x20, %eax                     /* MAIN's saved EIP */
    mov %eax, RES + 4 * 34
    movl $ts_gp_resume, ts_tss + 0x20
    movzwl ts_tss + 4 * TSS_SIZE, %eax
    mov %eax, RES + 4 * 35
    pushfl
    popl RES + 4 * 36
    add $4, %esp
    iret
    jmp ts_exc_entry

    .globl ts_s_int, ts_int_ret, ts_int_entry
ts_s_int:
    int $0x80
ts_int_ret:
    ret
ts_int_entry:
    mov %esp, RES + 4 * 37
    mov ts_tss + 0x20, %eax
    mov %eax, RES + 4 * 38
    iret
    jmp ts_int_entry

    .globl ts_s_cr3, ts_cr3_entry
ts_s_cr3:
    lcall $SEL_CR3T, $0
    mov %cr3, %eax
    mov %eax, RES + 4 * 41
    ret
ts_cr3_entry:
    mov %cr3, %eax
    mov %eax, RES + 4 * 40
    movl $0xC0DE5EED, ts_marker - 0x1000000 + 0x80000000   /* through the 4 MiB alias only ts_pd_alt has */
    iret
    jmp ts_cr3_entry

    .globl ts_s_busy, ts_s_np, ts_s_small
ts_s_busy:
    PROBE ljmp $SEL_MAIN, $0
ts_s_np:
    PROBE ljmp $SEL_NP, $0
ts_s_small:
    PROBE lcall $SEL_SMALL, $0

    .data
    .balign 8
ts_gdtr32:
    .word 16 * 8 - 1
    .quad ts_gdt
ts_idtr32:
    .word 256 * 8 - 1
    .quad ts_idt
ts_kit_gdtr:
    .word 0
    .quad 0
ts_kit_idtr:
    .word 0
    .quad 0
ts_kit_tr:  .word 0
    .balign 8
ts_kit_cr3: .quad 0
ts_kit_cr4: .quad 0
ts_rsp64:   .quad 0
ts_scenario: .long 0
ts_recover_eip: .long 0
ts_recover_esp: .long 0
    .text
    .code64
)");

namespace {

u32 addr(const void* p) { return static_cast<u32>(reinterpret_cast<evmm::uptr>(p)); }
template <typename F>
u32 fn(F* f) {
    return static_cast<u32>(reinterpret_cast<evmm::uptr>(f));
}

constexpr u64 seg_desc(u32 base, u32 limit, u8 access, u8 flags) {
    return (limit & 0xFFFF) | (u64{base & 0xFFFFFF} << 16) | (u64{access} << 40) | (u64{(limit >> 16) & 0xF} << 48) |
           (u64{flags} << 52) | (u64{base >> 24} << 56);
}
constexpr u64 task_gate(u16 tss) { return (u64{tss} << 16) | (u64{ACC_TASK_GATE} << 40); }
constexpr u64 interrupt_gate(u32 off) {
    return (off & 0xFFFF) | (u64{SEL_CODE32} << 16) | (u64{ACC_INTERRUPT_GATE} << 40) | (u64{off >> 16} << 48);
}

void init_task(Task t, void (*entry)(), u32 cr3) {
    Tss32& s = ts_tss[t];
    s = Tss32{};
    s.cr3 = cr3;
    s.eip = fn(entry);
    s.eflags = 0x2;
    s.gpr[4] = addr(ts_stacks[t] + STACK);
    for (auto& sel : s.seg) sel.selector = SEL_DATA;
    s.seg[1].selector = SEL_CODE32;
    s.iomap_base = sizeof(Tss32);
}

// Fresh tables before each scenario: every TSS available and at its entry point, IDT with interrupt gates.
void setup() {
    const u32 main_cr3 = addr(ts_pd_main), alt_cr3 = addr(ts_pd_alt);
    for (u32 i = 0; i < 1024; ++i) ts_pd_main[i] = ts_pd_alt[i] = (i << 22) | PDE_4M;
    ts_pd_main[ALIAS_PDE] = 0 | PDE_4M;
    ts_pd_alt[ALIAS_PDE] = static_cast<u32>(image_start()) | PDE_4M; // 16 MiB: the image's 4 MiB page
    ts_tss[MAIN] = Tss32{};
    ts_tss[MAIN].cr3 = main_cr3;
    ts_tss[MAIN].iomap_base = sizeof(Tss32);
    init_task(T1, ts_t1_entry, main_cr3);
    ts_tss[T1].gpr[0] = T1_EAX;
    init_task(T2, ts_t2_entry, main_cr3);
    init_task(GATE, ts_gate_entry, main_cr3);
    init_task(EXC, ts_exc_entry, main_cr3);
    init_task(INT, ts_int_entry, main_cr3);
    init_task(CR3T, ts_cr3_entry, alt_cr3);
    for (auto& e : ts_gdt) e = 0;
    ts_gdt[SEL_CODE64 / 8] = seg_desc(0, 0xFFFFF, 0x9B, 0xA);
    ts_gdt[SEL_DATA / 8] = seg_desc(0, 0xFFFFF, 0x93, 0xC);
    ts_gdt[SEL_CODE32 / 8] = seg_desc(0, 0xFFFFF, 0x9B, 0xC);
    constexpr u16 SELS[TASKS] = {SEL_MAIN, SEL_T1, SEL_T2, SEL_GATE_TSS, SEL_EXC, SEL_INT, SEL_CR3T};
    for (u32 t = 0; t < TASKS; ++t)
        ts_gdt[SELS[t] / 8] = seg_desc(addr(&ts_tss[t]), sizeof(Tss32) - 1, ACC_TSS_AVAILABLE, 0);
    ts_gdt[SEL_NP / 8] = seg_desc(addr(&ts_tss[T1]), sizeof(Tss32) - 1, ACC_TSS_NOT_PRESENT, 0);
    ts_gdt[SEL_SMALL / 8] = seg_desc(addr(&ts_tss[T1]), sizeof(Tss32) - 2, ACC_TSS_AVAILABLE, 0);
    ts_gdt[SEL_TASK_GATE / 8] = task_gate(SEL_GATE_TSS);
    for (u32 v = 0; v < 256; ++v) ts_idt[v] = interrupt_gate(addr(ts_vecs) + 16 * (v < 32 ? v : 32));
    for (auto& r : ts_res) r = 0;
    ts_marker = 0;
}

// Runs one scenario in 32-bit protected mode; false (and a failed check) when an exception nobody expected came.
bool run(void (*scenario)(), const char* name) {
    ts_run32(fn(scenario));
    if (ts_res[R_CRASH_VEC] == 0) return true;
    check(false, "%s: unexpected exception %u in 32-bit code", name, ts_res[R_CRASH_VEC] - 1);
    note("eip=0x%x error code=0x%x", ts_res[R_CRASH_EIP], ts_res[R_CRASH_EC]);
    return false;
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("taskswitch", "hardware task switches in 32-bit protected mode (emulated by evmm: exit 9)");

    setup();
    if (run(ts_s_jmp, "JMP to a TSS")) {
        check_eq(ts_res[R_T1_EAX], T1_EAX, "JMP: the new task's EAX comes from its TSS");
        check_eq(ts_res[R_T1_ESP], addr(ts_stacks[T1] + STACK), "JMP: the new task's ESP comes from its TSS");
        check_eq(ts_res[R_T1_CS] & 0xFFFF, SEL_CODE32, "JMP: CS from the TSS");
        check_eq(ts_res[R_T1_TR] & 0xFFFF, SEL_T1, "JMP: TR is the new TSS");
        check_eq(ts_res[R_T1_EFL] & EFLAGS_NT, 0, "JMP: NT clear in the new task");
        check_eq(ts_res[R_T1_MAIN_ACC], ACC_TSS_AVAILABLE, "JMP: the old TSS is no longer busy");
        check_eq(ts_res[R_T1_T1_ACC], ACC_TSS_BUSY, "JMP: the new TSS is busy");
        check_eq(ts_tss[MAIN].eip, addr(ts_jmp_ret), "JMP: old TSS holds the EIP after the JMP");
        check_eq(ts_tss[MAIN].gpr[3], MAIN_EBX, "JMP: old TSS holds EBX");
        check_eq(ts_tss[MAIN].seg[1].selector, SEL_CODE32, "JMP: old TSS holds CS");
        check_eq(ts_res[R_M_EBX], MAIN_EBX, "JMP back: EBX restored from the TSS");
        check_eq(ts_tss[T1].eip, addr(ts_t1_after), "JMP back: T1's TSS holds the EIP after its JMP");
        check_eq(ts_res[R_M_T1_ACC], ACC_TSS_AVAILABLE, "JMP back: T1 available again");
        check_eq(ts_res[R_M_MAIN_ACC], ACC_TSS_BUSY, "JMP back: MAIN busy again");
        check_eq(ts_res[R_M_TR] & 0xFFFF, SEL_MAIN, "JMP back: TR is MAIN");
        check_eq(ts_res[R_M_CR0] & 0x8, 0x8, "task switch sets CR0.TS");
    }

    setup();
    if (run(ts_s_call, "CALL to a TSS")) {
        check_eq(ts_res[R_T2_EFL] & EFLAGS_NT, EFLAGS_NT, "CALL: NT set in the called task");
        check_eq(ts_res[R_T2_LINK], SEL_MAIN, "CALL: previous-task link is the caller's TSS");
        check_eq(ts_res[R_T2_MAIN_ACC], ACC_TSS_BUSY, "CALL: the caller stays busy");
        check_eq(ts_res[R_T2_T2_ACC], ACC_TSS_BUSY, "CALL: the called TSS is busy");
        check_eq(ts_res[R_M2_EFL] & EFLAGS_NT, 0, "IRET: back in the caller, NT clear");
        check_eq(ts_res[R_M2_T2_ACC], ACC_TSS_AVAILABLE, "IRET: the called TSS is available again");
        check_eq(ts_res[R_M2_MAIN_ACC], ACC_TSS_BUSY, "IRET: the caller is still busy");
        check_eq(ts_tss[T2].eflags & EFLAGS_NT, 0, "IRET: NT cleared in the saved EFLAGS");
        check_eq(ts_tss[T2].eip, addr(ts_t2_after), "IRET: the called task's EIP after the IRET");
    }

    setup();
    if (run(ts_s_gate, "CALL through a task gate")) {
        check_eq(ts_res[R_G_TR] & 0xFFFF, SEL_GATE_TSS, "CALL task gate: TR is the gate's TSS");
        check_eq(ts_res[R_G_LINK], SEL_MAIN, "CALL task gate: previous-task link");
    }

    setup();
    ts_idt[13] = task_gate(SEL_EXC);
    if (run(ts_s_gp, "#GP through a task gate")) {
        check_eq(ts_res[R_X_EC], 0x0FF8, "#GP task gate: error code 0FF8H on the new task's stack");
        check_eq(ts_res[R_X_ESP], addr(ts_stacks[EXC] + STACK) - 4, "#GP task gate: ESP below the error code");
        check_eq(ts_res[R_X_MAIN_EIP], addr(ts_gp_fault), "#GP task gate: saved EIP is the faulting instruction");
        check_eq(ts_res[R_X_LINK], SEL_MAIN, "#GP task gate: previous-task link");
        check_eq(ts_res[R_X_EFL] & EFLAGS_NT, EFLAGS_NT, "#GP task gate: NT set");
    }

    setup();
    ts_idt[0x80] = task_gate(SEL_INT);
    if (run(ts_s_int, "INT 80H through a task gate")) {
        check_eq(ts_res[R_I_ESP], addr(ts_stacks[INT] + STACK), "INT n task gate: no error code pushed");
        check_eq(ts_res[R_I_MAIN_EIP], addr(ts_int_ret), "INT n task gate: saved EIP after the INT");
    }

    setup();
    if (run(ts_s_cr3, "CALL to a task with its own CR3")) {
        check_eq(ts_res[R_C_CR3], addr(ts_pd_alt), "CR3: the new task runs on its page directory");
        check_eq(ts_marker, MARKER, "CR3: the new task's mappings are in use");
        check_eq(ts_res[R_C_MAIN_CR3], addr(ts_pd_main), "CR3: IRET restores the caller's page directory");
    }

    setup();
    if (run(ts_s_busy, "JMP to a busy TSS")) {
        check_eq(ts_res[R_VEC], 13, "JMP to the busy current TSS: #GP");
        check_eq(ts_res[R_EC], SEL_MAIN, "JMP to a busy TSS: error code is the selector");
    }
    setup();
    if (run(ts_s_np, "JMP to a TSS not present")) {
        check_eq(ts_res[R_VEC], 11, "JMP to a TSS not present: #NP");
        check_eq(ts_res[R_EC], SEL_NP, "JMP to a TSS not present: error code is the selector");
    }
    setup();
    if (run(ts_s_small, "CALL to a TSS with limit 66H")) {
        check_eq(ts_res[R_VEC], 10, "CALL to a TSS with limit 66H: #TS");
        check_eq(ts_res[R_EC], SEL_SMALL, "CALL to a TSS with limit 66H: error code is the selector");
        check_eq(ts_gdt[SEL_MAIN / 8] >> 40 & 0xFF, ACC_TSS_BUSY, "#TS: nothing switched (caller busy)");
    }
}
