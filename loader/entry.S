/*
 * evmm loader: Multiboot2 header and the 32-bit entry.
 *
 * GRUB 2 (BIOS or UEFI) enters here in 32-bit protected mode, paging off, EAX = Multiboot2 magic,
 * EBX = physical address of the Multiboot2 information (Multiboot2 spec §3.3, "I386 machine state").
 * We check for long mode, identity-map the first 4 GiB with 2 MiB pages, enable PAE + EFER.LME (+ NXE when the
 * CPU has it) + paging (Intel SDM Vol. 3A §10.8.5, "Initializing IA-32e Mode") and call stage1_main() in 64-bit
 * mode on the loader stack.
 */
#include "loader/entry_defs.h"

    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long MB2_HEADER_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

    /* Information request (spec §3.1.4): what stage1 reads. Optional, so a loader lacking one still boots us. */
    .balign 8
info_request:
    .short MB2_HEADER_TAG_INFORMATION_REQUEST, MB2_HEADER_TAG_OPTIONAL
    .long info_request_end - info_request
    .long MB2_TAG_CMDLINE, MB2_TAG_MODULE, MB2_TAG_MMAP, MB2_TAG_ACPI_OLD, MB2_TAG_ACPI_NEW, MB2_TAG_EFI64
info_request_end:

    /* Module alignment (spec §3.1.9): modules page aligned, so they can be mapped or hidden page by page. */
    .balign 8
    .short MB2_HEADER_TAG_MODULE_ALIGN, 0
    .long 8

    /* End tag. */
    .balign 8
    .short MB2_HEADER_TAG_END, 0
    .long 8
mb2_header_end:

    .section .text.entry32, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    movl %eax, mb2_boot_magic
    movl %ebx, mb2_boot_info
    rdtsc                               /* boot-cost figure: TSC at (nearly) our first instruction */
    movl %eax, loader_entry_tsc
    movl %edx, loader_entry_tsc + 4
    movl $loader_stack_top, %esp

    /* Long mode available? CPUID.80000001H:EDX.LM[bit 29]. */
    movl $CPUID_EXT_MAX, %eax
    cpuid
    cmpl $CPUID_EXT_FEATURES, %eax
    jb no_long_mode
    movl $CPUID_EXT_FEATURES, %eax
    cpuid
    testl $CPUID_EXT_EDX_LM, %edx
    jz no_long_mode
    movl %edx, cpuid_ext_edx

    /* Page tables: clear, then PML4[0] -> PDPT, PDPT[0..3] -> PD0..3, each PD maps 1 GiB with 2 MiB pages. */
    movl $loader_page_tables, %edi
    movl $(LOADER_PT_PAGES * 1024), %ecx
    xorl %eax, %eax
    rep stosl

    movl $loader_pdpt, %eax
    orl $(PTE_P | PTE_RW), %eax
    movl %eax, loader_pml4

    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $12, %eax
    addl $loader_pd, %eax
    orl $(PTE_P | PTE_RW), %eax
    movl %eax, loader_pdpt(, %ecx, 8)
    incl %ecx
    cmpl $LOADER_IDENTITY_GIB, %ecx
    jb 1b

    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $21, %eax
    orl $(PTE_P | PTE_RW | PTE_PS), %eax
    movl %eax, loader_pd(, %ecx, 8)
    movl %ecx, %eax
    shrl $11, %eax                      /* bits 32+ of the 2 MiB page address: ecx * 2 MiB >> 32 */
    movl %eax, loader_pd + 4(, %ecx, 8)
    incl %ecx
    cmpl $(LOADER_IDENTITY_GIB * 512), %ecx
    jb 2b

    movl $loader_pml4, %eax
    movl %eax, %cr3

    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4

    movl $MSR_IA32_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    testl $CPUID_EXT_EDX_NX, cpuid_ext_edx
    jz 3f
    orl $EFER_NXE, %eax
3:  wrmsr

    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0

    lgdt loader_gdt_ptr
    ljmp $LOADER_CS, $long_mode_entry

no_long_mode:
    /* No 64-bit CPU: say so on COM1 (GRUB left it programmed) and stop. */
    movl $no_lm_msg, %esi
4:  lodsb
    testb %al, %al
    jz 6f
    movb %al, %bl
    movw $(COM1_PORT + 5), %dx
5:  inb %dx, %al
    testb $0x20, %al
    jz 5b
    movw $COM1_PORT, %dx
    movb %bl, %al
    outb %al, %dx
    jmp 4b
6:  cli
    hlt
    jmp 6b

    .code64
long_mode_entry:
    movw $LOADER_DS, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movq $loader_stack_top, %rsp
    xorl %ebp, %ebp
    movl mb2_boot_magic(%rip), %edi
    movl mb2_boot_info(%rip), %esi
    call stage1_main
7:  cli
    hlt
    jmp 7b

    .section .rodata
no_lm_msg:
    .asciz "evmm: this CPU has no 64-bit long mode (CPUID.80000001H:EDX.LM = 0); cannot continue\r\n"

    .balign 8
loader_gdt:
    .quad 0
    .quad GDT_CODE64
    .quad GDT_DATA
loader_gdt_end:
loader_gdt_ptr:
    .short loader_gdt_end - loader_gdt - 1
    .long loader_gdt

    /* Zero-initialised, so in .bss (the loader has no .data: its RW segment has no file bytes, P3). GRUB zero-fills
       the ELF segments' p_memsz beyond p_filesz before the entry (the page tables below rely on it too). */
    .section .bss
    .balign 4
mb2_boot_magic: .long 0
mb2_boot_info: .long 0
cpuid_ext_edx: .long 0
    .balign 8
    .globl loader_entry_tsc
loader_entry_tsc: .quad 0

    .section .bss
    .balign 4096
    .globl loader_page_tables
loader_page_tables:
loader_pml4: .skip 4096
loader_pdpt: .skip 4096
loader_pd: .skip 4096 * LOADER_IDENTITY_GIB
    .balign 16
    .globl loader_stack_top
loader_stack: .skip LOADER_STACK_SIZE
loader_stack_top:
