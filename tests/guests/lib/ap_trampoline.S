/*
 * Guest test kit: the AP start-up trampoline (lib/smp.h, "AP start"). smp_prepare() copies the bytes between
 * smp_ap_trampoline and smp_ap_trampoline_end to a 4 KiB page P below 1 MiB; a Start-up IPI with vector P >> 12
 * makes an AP execute it in real mode at CS = P >> 4, IP = 0 (Intel SDM Vol. 3A §9.4.4.1).
 *
 *   +0x000  16-bit real mode:  DS = CS, EBX = P, LGDT (the block's own GDT), CR0.PE, far jump to +0x080
 *   +0x080  32-bit protected:  flat data segments, CR4.PAE, CR3 = the BSP's, EFER |= LME (+NXE), CR0 = the BSP's
 *                              (PG|PE), far jump to +0x100 with the 64-bit code segment
 *   +0x100  64-bit mode:       CR4 = the BSP's; claims the armed start (lock cmpxchg ARMED -> CLAIMED; nothing
 *                              armed: halt), takes stack/slot/target, says RUNNING, calls smp_ap_entry(slot)
 *   +0x200  the data block (SMP_TD_*), written by the BSP before each start
 *
 * Position independent: real mode addresses the block DS-relative (DS = CS), the later parts EBX/RBX-relative;
 * the GDT base and the two far pointers in the block are absolute and are written by the BSP. Each stage writes
 * SMP_PROGRESS_* into the block so a start that hangs can be reported with how far it got.
 */
#include "smp.h"

#define CR0_PE 0x1
#define CR4_PAE 0x20
#define MSR_EFER 0xC0000080
#define D SMP_TRAMP_DATA

    .section .rodata.smp_ap_trampoline, "a"
    .balign 16
    .globl smp_ap_trampoline, smp_ap_trampoline_end

    .code16
smp_ap_trampoline:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    xorl %ebx, %ebx
    movw %ax, %bx
    shll $4, %ebx                       /* EBX = the page's physical address */
    movl $SMP_PROGRESS_REAL, D + SMP_TD_PROGRESS
    lgdtl D + SMP_TD_GDTR
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl *(D + SMP_TD_FAR32)

    .org SMP_TRAMP_ENTRY32
    .code32
    movl $SMP_TRAMP_GDT_DATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $SMP_PROGRESS_PROTECTED, D + SMP_TD_PROGRESS(%ebx)
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl D + SMP_TD_CR3(%ebx), %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl D + SMP_TD_EFER_SET(%ebx), %eax
    wrmsr
    movl D + SMP_TD_CR0(%ebx), %eax     /* PG|PE with LME: IA-32e mode (compatibility mode until the jump) */
    movl %eax, %cr0
    ljmpl *D + SMP_TD_FAR64(%ebx)

    .org SMP_TRAMP_ENTRY64
    .code64
    movl %ebx, %ebx                     /* bits 63:32 are undefined after the switch to 64-bit mode */
    movl $SMP_TRAMP_GDT_DATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movl $SMP_PROGRESS_LONG, D + SMP_TD_PROGRESS(%rbx)
    movq D + SMP_TD_CR4(%rbx), %rax
    movq %rax, %cr4
    movl $SMP_TS_ARMED, %eax
    movl $SMP_TS_CLAIMED, %ecx
    lock cmpxchgl %ecx, D + SMP_TD_STATE(%rbx)
    jne 9f                              /* nothing armed for us: halt */
    movq D + SMP_TD_STACK(%rbx), %rsp
    movl D + SMP_TD_SLOT(%rbx), %edi
    movq D + SMP_TD_TARGET(%rbx), %rax
    movl $SMP_TS_RUNNING, D + SMP_TD_STATE(%rbx) /* the BSP may rewrite the block from here on */
    xorl %ebp, %ebp
    call *%rax                          /* smp_ap_entry(slot): never returns */
9:  cli
    hlt
    jmp 9b

    .org SMP_TRAMP_DATA
    /* The block's template: the GDT; everything else is written by the BSP. */
    .quad 0
    .quad 0x00CF9A000000FFFF            /* 0x08: 32-bit code, flat */
    .quad 0x00CF92000000FFFF            /* 0x10: data, flat */
    .quad 0x00AF9A000000FFFF            /* 0x18: 64-bit code */
    .org SMP_TRAMP_DATA + SMP_TD_SIZE
smp_ap_trampoline_end:
