/*
 * Guest test kit: the 256 interrupt/exception entry stubs, the common entry, and probe_run() (the recovery point
 * for expected faults; see guest.h, "Probes").
 *
 * Every stub is 16 bytes at guest_isr_stubs + 16 * vector. Vectors without a CPU error code push a dummy 0, so
 * the frame is always: vector, error code, RIP, CS, RFLAGS, RSP, SS; then isr_common pushes the 15 GPRs and calls
 * guest_exception(frame) (lib/guest.cpp). 64-bit mode aligns RSP to 16 before the CPU pushes its frame, so after
 * 7 + 15 quadwords (176 bytes) the stack is still 16-byte aligned at the call.
 */
    .text
    .code64
    .balign 16
    .globl guest_isr_stubs
guest_isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

isr_common:
    cld
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    call guest_exception
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                      /* vector, error code */
    iretq

/*
 * u64 guest_probe_run(void (*fn)(void*), void* ctx)
 *
 * Calls fn(ctx) with a recovery point armed: returns ~0 when fn returns normally; when fn raises an exception,
 * guest_exception() sees guest_probe_fixup != 0 and resumes here at 1: with RSP = guest_probe_rsp and
 * RAX = the vector, so we return the vector (callee-saved registers come back from the stack).
 */
    .globl guest_probe_run
guest_probe_run:
    pushq %rbp
    movq %rsp, %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp                       /* keep the call below 16-byte aligned */
    movq %rsp, guest_probe_rsp(%rip)
    leaq 1f(%rip), %rax
    movq %rax, guest_probe_fixup(%rip)
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax
    movq $0, guest_probe_fixup(%rip)
    movq $-1, %rax
1:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

    .section .bss
    .balign 8
    .globl guest_probe_fixup, guest_probe_rsp
guest_probe_fixup: .skip 8
guest_probe_rsp: .skip 8
