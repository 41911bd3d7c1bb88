/*
 * Guest test kit: Multiboot2 (or Multiboot1) header and the 32-bit entry of every test guest.
 *
 * The loader (GRUB 2 on bare metal, or evmm's guest loader for guest0) enters _start in 32-bit protected mode,
 * paging off, EAX = 0x36d76289, EBX = physical address of the Multiboot2 information (Multiboot2 spec §3.3).
 * We save both, zero .bss, check for long mode, identity-map the first 4 GiB with 2 MiB pages, enable PAE,
 * EFER.LME and paging (Intel SDM Vol. 3A §10.8.5) and call guest_entry64(magic, info) in 64-bit mode
 * (lib/guest.cpp), which sets up COM1, the IDT and the Multiboot2 parse and then calls guest_main().
 * Switching to long mode ourselves deliberately exercises the hypervisor's CR0/CR4/EFER handling.
 *
 * Built with GUEST_MULTIBOOT1 (the guests in EVMM_MB1_GUESTS, tests/guests/CMakeLists.txt) the image carries a
 * Multiboot (version 1) header instead, and no Multiboot2 header: magic 0x1BADB002, flags = modules page aligned
 * (bit 0) + memory information (bit 1) + address fields (bit 16: the image is ELF64, which a Multiboot1 loader
 * need not understand, so the header says where to load it). The loader then enters _start the same way with
 * EAX = 0x2BADB002 and EBX = the Multiboot1 information (Multiboot 0.6.96 §3.2); the path below is the same, and
 * guest_entry64() does not parse it as Multiboot2 (it checks the magic): the guest reads it itself.
 */
#include "lib/formats/multiboot_defs.h"

#define COM1 0x3F8
#define PTE_P 0x1
#define PTE_RW 0x2
#define PTE_PS 0x80
#define CR0_PG 0x80000000
#define CR0_PE 0x1
#define CR4_PAE 0x20
#define MSR_EFER 0xC0000080
#define EFER_LME 0x100
#define IDENTITY_GIB 4
#define STACK_SIZE 0x10000

#define MB1_FLAGS (MB1_HEADER_FLAG_PAGE_ALIGN | MB1_HEADER_FLAG_MEMORY_INFO | MB1_HEADER_FLAG_ADDRESS_FIELDS)

#ifdef GUEST_MULTIBOOT1
    /* Multiboot 0.6.96 §3.1.1: 4-byte aligned within the first 8192 bytes of the file (guest.ld puts it first). */
    .section .multiboot1, "a"
    .balign 4
mb1_header:
    .long MB1_HEADER_MAGIC
    .long MB1_FLAGS
    .long 0x100000000 - (MB1_HEADER_MAGIC + MB1_FLAGS)
    /* §3.1.3: load [load_addr, load_end_addr) from the file offset of the header minus (header_addr - load_addr),
     * zero up to bss_end_addr, enter at entry_addr. guest.ld keeps text..data contiguous in the file. */
    .long mb1_header                    /* header_addr */
    .long __image_start                 /* load_addr */
    .long __data_end                    /* load_end_addr */
    .long __bss_end                     /* bss_end_addr */
    .long _start                        /* entry_addr */
#else
    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long MB2_HEADER_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

    /* Information request (spec §3.1.4), optional: command line, boot loader name, modules, basic meminfo, mmap. */
    .balign 8
info_request:
    .short MB2_HEADER_TAG_INFORMATION_REQUEST, MB2_HEADER_TAG_OPTIONAL
    .long info_request_end - info_request
    .long 1, 2, 3, 4, 6
info_request_end:

    .balign 8
    .short MB2_HEADER_TAG_END, 0
    .long 8
mb2_header_end:
#endif

    .section .text.entry32, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    movl %eax, guest_mb2_magic
    movl %ebx, guest_mb2_info

    /* Zero .bss (stack and page tables live there). */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl
    movl $guest_stack_top, %esp

    /* Long mode available? CPUID.80000001H:EDX.LM[bit 29]. */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz no_long_mode

    /* PML4[0] -> PDPT, PDPT[0..3] -> PD0..3, each PD maps 1 GiB with 2 MiB pages (WB, RWX, supervisor). */
    movl $guest_pdpt, %eax
    orl $(PTE_P | PTE_RW), %eax
    movl %eax, guest_pml4

    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $12, %eax
    addl $guest_pd, %eax
    orl $(PTE_P | PTE_RW), %eax
    movl %eax, guest_pdpt(, %ecx, 8)
    incl %ecx
    cmpl $IDENTITY_GIB, %ecx
    jb 1b

    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $21, %eax
    orl $(PTE_P | PTE_RW | PTE_PS), %eax
    movl %eax, guest_pd(, %ecx, 8)
    movl %ecx, %eax
    shrl $11, %eax                      /* bits 32+ of ecx * 2 MiB */
    movl %eax, guest_pd + 4(, %ecx, 8)
    incl %ecx
    cmpl $(IDENTITY_GIB * 512), %ecx
    jb 2b

    movl $guest_pml4, %eax
    movl %eax, %cr3

    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4

    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr

    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0

    lgdt guest_gdt_ptr
    ljmp $0x08, $long_mode_entry

no_long_mode:
    /* No 64-bit CPU: say so on COM1 and leave the emulator as a failure. */
    movl $no_lm_msg, %esi
3:  lodsb
    testb %al, %al
    jz 5f
    movb %al, %bl
    movl $100000, %edi
    movw $(COM1 + 5), %dx
4:  inb %dx, %al
    decl %edi
    jz 41f
    testb $0x20, %al
    jz 4b
41: movw $COM1, %dx
    movb %bl, %al
    outb %al, %dx
    jmp 3b
5:  movl $shutdown_str, %esi
    movw $0x8900, %dx
    movl $8, %ecx
    rep outsb
    movb $0x11, %al
    outb %al, $0xf4
6:  cli
    hlt
    jmp 6b

    .code64
long_mode_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movq $guest_stack_top, %rsp
    xorl %ebp, %ebp
    movl guest_mb2_magic(%rip), %edi
    movl guest_mb2_info(%rip), %esi
    call guest_entry64
7:  cli
    hlt
    jmp 7b

    .section .rodata
no_lm_msg:
    .asciz "not ok 1 - guest kit: CPU has long mode (CPUID.80000001H:EDX.LM = 0)\r\n0 passed, 1 failed\r\n"
shutdown_str:
    .ascii "Shutdown"

    .section .data
    .balign 16
    /* GDT: null, 0x08 flat 64-bit code, 0x10 flat data, 0x18 the 64-bit TSS (16 bytes, filled in by guest.cpp). */
    .globl guest_gdt
guest_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
    .quad 0, 0
guest_gdt_end:
    .balign 8
    .short 0
guest_gdt_ptr:
    .short guest_gdt_end - guest_gdt - 1
    .quad guest_gdt                     /* lgdt in 32-bit mode reads 6 bytes; in 64-bit mode, 10 */
    .globl guest_gdt_ptr

    .balign 4
    .globl guest_mb2_magic, guest_mb2_info
guest_mb2_magic: .long 0
guest_mb2_info: .long 0

    .section .bss
    .balign 4096
    .globl guest_pml4, guest_pdpt, guest_pd
guest_pml4: .skip 4096
guest_pdpt: .skip 4096
guest_pd: .skip 4096 * IDENTITY_GIB
    .balign 16
guest_stack: .skip STACK_SIZE
    .globl guest_stack_top
guest_stack_top:
