/*
 * Two broken secure worlds for evmm's TEE fault tests (docs/tee.md, "Faults"): ELF64 static PIEs like the test TEE,
 * each with an entry that never makes its first SMC.
 *   TEE_BROKEN_HANG: spins with interrupts off, forever: evmm must stop the machine with "the TEE did not boot"
 *                    after 5 s of the TEE's guest time (its boot watchdog), instead of hanging.
 *   TEE_BROKEN_DIE:  loads an empty IDT and executes UD2: the #UD cannot be delivered, a triple fault ends the TEE
 *                    before its first SMC; evmm must log it and start guest0 without the TEE.
 */
    .text
    .code64
    .globl _start
_start:
#if defined(TEE_BROKEN_HANG)
1:  pause
    jmp 1b
#elif defined(TEE_BROKEN_DIE)
    lidt empty_idt(%rip)
    ud2
#else
#error "tee_broken.S: define TEE_BROKEN_HANG or TEE_BROKEN_DIE"
#endif

    .section .rodata
    .balign 16
empty_idt:
    .short 0        /* limit 0: no gate at all (Intel SDM Vol. 3A §7.10) */
    .quad 0
    .section .note.GNU-stack, "", @progbits
