/*
 * The AP trampoline: real mode -> 32-bit protected mode -> 64-bit long mode (Intel SDM Vol. 3A §9.4.4.2
 * "Typical AP Initialization Sequence", §10.8.5 "Initializing IA-32e Mode").
 *
 * Not executed where it is linked: loader/ap_start.cpp copies [evmm_trampoline_start, evmm_trampoline_end)
 * (TRAMP_DATA_OFF bytes) to a 4 KiB page below 1 MiB and fills the data block behind it (loader/smp_boot.h);
 * a Start-up IPI with vector = page >> 12 starts an AP at CS = page >> 4, IP = 0. So every address here is an
 * offset from the page: DS-relative in real mode (DS = CS), EBX-relative afterwards (EBX = the page). The
 * absolute values (GDT base, far-jump targets, CR3, ap_main) come from the data block.
 *
 * Interrupts stay off throughout (CLI first; no IDT until ap_main loads the loader's). No stack is used before
 * the AP has claimed its attempt and switched to its own VMM stack.
 */
#include "loader/entry_defs.h"
#include "loader/smp_boot.h"

#define D(field) (TRAMP_DATA_OFF + field)

    .section .rodata.evmm_trampoline, "a"
    .balign 16
    .globl evmm_trampoline_start
evmm_trampoline_start:

    /* --- real mode, at TRAMP_ENTRY16_OFF ------------------------------------------------------------------ */
    .code16
    cli
    cld
    xorl %ebx, %ebx
    movw %cs, %bx
    movw %bx, %ds
    shll $4, %ebx                       /* EBX = the trampoline's physical base, kept to the end */
    lgdtl D(TRAMP_D_GDTR)               /* 32-bit base (operand-size prefix) */
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl *D(TRAMP_D_FAR32)             /* m16:32 -> TRAMP_SEL_CODE32 : base + TRAMP_ENTRY32_OFF */

    /* --- 32-bit protected mode, paging off ---------------------------------------------------------------- */
    .org TRAMP_ENTRY32_OFF, 0xCC
    .code32
    movw $TRAMP_SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $CR4_PAE, %eax
    movl %eax, %cr4
    movl D(TRAMP_D_CR3)(%ebx), %eax     /* the loader's PML4 (below 4 GiB) */
    movl %eax, %cr3
    movl $MSR_IA32_EFER, %ecx
    rdmsr
    orl D(TRAMP_D_EFER_SET)(%ebx), %eax /* LME, and NXE when the BSP has it */
    wrmsr
    movl D(TRAMP_D_CR0)(%ebx), %eax     /* the BSP's CR0 with PG | PE: long mode active, caches as on the BSP */
    movl %eax, %cr0
    ljmpl *D(TRAMP_D_FAR64)(%ebx)       /* m16:32 -> TRAMP_SEL_CODE64 : base + TRAMP_ENTRY64_OFF */

    /* --- 64-bit mode ---------------------------------------------------------------------------------------- */
    .org TRAMP_ENTRY64_OFF, 0xCC
    .code64
    movl %ebx, %ebx                     /* upper halves are undefined after the switch to 64-bit mode */
    movl $TRAMP_SEL_DATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movq D(TRAMP_D_CR4)(%rbx), %rax     /* the BSP's CR4 (PCIDE and friends can only be set in 64-bit mode) */
    movq %rax, %cr4
    /* Everything this AP needs, read BEFORE the claim: afterwards the BSP may reuse the block. */
    movq D(TRAMP_D_STACK_TOP)(%rbx), %rsi
    movl D(TRAMP_D_CPU_ID)(%rbx), %edi
    movq D(TRAMP_D_TARGET)(%rbx), %rdx
    movl $TRAMP_STATE_WAITING, %eax
    movl $TRAMP_STATE_STARTED, %ecx
    lock cmpxchgl %ecx, D(TRAMP_D_STATE)(%rbx)
    jne 1f                              /* the BSP gave up on us (ABANDONED): stay out of the way */
    movq %rsi, %rsp
    xorl %ebp, %ebp
    call *%rdx                          /* ap_main(cpu_id): does not return */
1:  cli
    hlt
    jmp 1b

    .org TRAMP_DATA_OFF, 0xCC
    .globl evmm_trampoline_end
evmm_trampoline_end:
