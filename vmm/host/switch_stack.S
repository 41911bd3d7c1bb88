/*
 * void evmm_switch_stack_and_call(uint64_t stack_top, void (*fn)(uint64_t, uint64_t), uint64_t a0, uint64_t a1)
 * Leaves the caller's (loader's) stack for good: fn runs on stack_top with a terminated frame-pointer chain
 * (rbp = 0), so backtraces stop cleanly. fn must not return; if it does we halt.
 */
    .text
    .globl evmm_switch_stack_and_call
evmm_switch_stack_and_call:
    movq %rdi, %rsp
    xorl %ebp, %ebp
    movq %rsi, %rax
    movq %rdx, %rdi
    movq %rcx, %rsi
    pushq $0                 /* fake return address: ends the backtrace */
    jmp *%rax
