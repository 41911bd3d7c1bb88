/*
 * [[noreturn]] void evmm_native_enter(const NativeBoot* nb): fallback=boot-guest0 (vmm/guest/native_boot.h). Loads
 * the plan's GDT, then the guest's processor state, and returns into guest0's entry point. Runs on the BSP with
 * interrupts off, from evmm's code below 4 GiB (identity-mapped by evmm and by every 64-bit entry state's tables).
 */
#define NB_GP(n) (8 * (n))      /* NativeBoot offsets (static_asserts in vmm/guest/native_boot.h) */
#define NB_CR0 0x80
#define NB_CR3 0x88
#define NB_CR4 0x90
#define NB_EFER 0x98
#define NB_FRAME 0xA0
#define NB_LONG_MODE 0xA8
#define NB_RFLAGS 0xB0
#define NB_DS 0xB8
#define NB_ES 0xBA
#define NB_FS 0xBC
#define NB_GS 0xBE
#define NB_SS 0xC0
#define NB_COMPAT_CS 0xC2
#define NB_GDTR 0xC8
#define NB_IDTR 0xD8

#define MSR_IA32_EFER 0xC0000080
#define CR0_PG 0x80000000

    .text
    .code64
    .globl evmm_native_enter
evmm_native_enter:
    cli
    lgdt NB_GDTR(%rdi)
    cmpq $0, NB_LONG_MODE(%rdi)
    je 2f

    /* A 64-bit target. Its page tables first (they map this code 1:1; evmm's own use XD, which its EFER may not
       enable), then EFER, CR4, CR0, the IDT and the data segments; IRETQ loads CS:RIP, RFLAGS and SS:RSP. */
    movq NB_CR3(%rdi), %rax
    movq %rax, %cr3
    movl $MSR_IA32_EFER, %ecx
    movq NB_EFER(%rdi), %rax
    movq %rax, %rdx
    shrq $32, %rdx
    wrmsr
    movq NB_CR4(%rdi), %rax
    movq %rax, %cr4
    movq NB_CR0(%rdi), %rax
    movq %rax, %cr0
    lidt NB_IDTR(%rdi)
    movw NB_DS(%rdi), %ax
    movw %ax, %ds
    movw NB_ES(%rdi), %ax
    movw %ax, %es
    movw NB_FS(%rdi), %ax
    movw %ax, %fs
    movw NB_GS(%rdi), %ax
    movw %ax, %gs
    movq NB_FRAME(%rdi), %rsp
    movq NB_GP(0)(%rdi), %rax
    movq NB_GP(1)(%rdi), %rcx
    movq NB_GP(2)(%rdi), %rdx
    movq NB_GP(3)(%rdi), %rbx
    movq NB_GP(5)(%rdi), %rbp
    movq NB_GP(6)(%rdi), %rsi
    movq NB_GP(8)(%rdi), %r8
    movq NB_GP(9)(%rdi), %r9
    movq NB_GP(10)(%rdi), %r10
    movq NB_GP(11)(%rdi), %r11
    movq NB_GP(12)(%rdi), %r12
    movq NB_GP(13)(%rdi), %r13
    movq NB_GP(14)(%rdi), %r14
    movq NB_GP(15)(%rdi), %r15
    movq NB_GP(7)(%rdi), %rdi
    iretq

    /* A 32-bit protected-mode target without paging: to compatibility mode through the plan's 32-bit code segment,
       then out of IA-32e mode by clearing CR0.PG (SDM Vol. 3A §10.8.5.4), EFER.LME with it. */
2:  movzwq NB_COMPAT_CS(%rdi), %rax
    pushq %rax
    leaq 3f(%rip), %rax
    pushq %rax
    lretq
    .code32
3:  movl %cr0, %eax
    andl $~CR0_PG, %eax
    movl %eax, %cr0
    movl $MSR_IA32_EFER, %ecx
    movl NB_EFER(%edi), %eax
    xorl %edx, %edx
    wrmsr
    movl NB_CR4(%edi), %eax
    movl %eax, %cr4
    movl NB_CR3(%edi), %eax
    movl %eax, %cr3
    movl NB_CR0(%edi), %eax
    movl %eax, %cr0
    lidt NB_IDTR(%edi)
    pushl NB_RFLAGS(%edi)
    popfl
    movw NB_DS(%edi), %ax
    movw %ax, %ds
    movw NB_ES(%edi), %ax
    movw %ax, %es
    movw NB_FS(%edi), %ax
    movw %ax, %fs
    movw NB_GS(%edi), %ax
    movw %ax, %gs
    movw NB_SS(%edi), %ax
    movw %ax, %ss
    movl NB_FRAME(%edi), %esp
    movl NB_GP(0)(%edi), %eax
    movl NB_GP(1)(%edi), %ecx
    movl NB_GP(2)(%edi), %edx
    movl NB_GP(3)(%edi), %ebx
    movl NB_GP(5)(%edi), %ebp
    movl NB_GP(6)(%edi), %esi
    movl NB_GP(7)(%edi), %edi
    lret
    .code64
