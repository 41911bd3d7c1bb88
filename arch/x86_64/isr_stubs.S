/*
 * Interrupt/exception entry stubs, one per vector (0..255). Each pushes a dummy error code when the CPU does not
 * push one (Intel SDM Vol. 3A §7.13, "Error Code"; vectors 8, 10-14, 17, 21, 29, 30 carry one), then its vector,
 * then all general registers, and calls evmm_exception_entry(ExceptionFrame*) (arch/x86_64/exception.h).
 * That handler does not return for exceptions; for anything else it may, and we IRET.
 */
    .text
    .code64

/* Stub n is at evmm_isr_stubs + n * 16 (EVMM_ISR_STUB_SIZE in exception.h): no table of addresses, so no
 * relocations in the position-independent VMM (256 of them were 6 KiB of .rela.dyn). */
.macro ISR_STUB vec
    .org evmm_isr_stubs + \vec * 16   /* also the size check: a longer stub would move .org backwards (an error) */
isr_stub_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq $0
    .endif
    pushq $\vec
    jmp isr_common
.endm

/* How many vectors get a stub: all 256 in the VMM; the loader builds this file with EVMM_ISR_STUB_COUNT=32 (the
 * exceptions: it never enables interrupts), 3.5 KiB less text (P3). idt_fill leaves the other gates not present. */
#ifndef EVMM_ISR_STUB_COUNT
#define EVMM_ISR_STUB_COUNT 256
#endif
    .section .rodata
    .balign 4
    .globl evmm_isr_stub_count
evmm_isr_stub_count:
    .long EVMM_ISR_STUB_COUNT
    .text

    .globl evmm_isr_stubs
    .balign 16
evmm_isr_stubs:
.altmacro
.macro ISR_STUB_N n
    ISR_STUB %n
.endm
.set vec, 0
.rept EVMM_ISR_STUB_COUNT
    ISR_STUB_N %vec
    .set vec, vec + 1
.endr

isr_common:
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rbx
    pushq %rbp
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    /* Frame-pointer chain for the backtrace: a fake frame whose return address is the interrupted RIP. */
    pushq 17*8(%rsp)          /* frame->rip */
    pushq %rbp
    movq %rsp, %rbp
    andq $-16, %rsp
    cld
    call evmm_exception_entry
    leaq 16(%rbp), %rsp       /* rbp is callee-saved: back to the frame */
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rbp
    popq %rbx
    popq %rdx
    popq %rcx
    popq %rax
    addq $16, %rsp            /* vector + error code */
    iretq
