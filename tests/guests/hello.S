/* hello: the smallest guest0. A Multiboot2 kernel (32-bit entry) that writes one line to COM1 and halts. */
#define MB2_HEADER_MAGIC 0xE85250D6
#define COM1 0x3F8
#define LSR_THR_EMPTY 0x20

    .section .multiboot2, "a"
    .balign 8
hdr:
    .long MB2_HEADER_MAGIC, 0, hdr_end - hdr
    .long 0x100000000 - (MB2_HEADER_MAGIC + (hdr_end - hdr))
    .short 0, 0
    .long 8
hdr_end:

    .text
    .code32
    .globl _start
_start:
    movl $msg, %esi
1:  lodsb
    testb %al, %al
    jz 3f
    movb %al, %bl
    movw $(COM1 + 5), %dx
2:  inb %dx, %al
    testb $LSR_THR_EMPTY, %al
    jz 2b
    movw $COM1, %dx
    movb %bl, %al
    outb %al, %dx
    jmp 1b
3:  cli
    hlt
    jmp 3b

    .section .rodata
msg: .asciz "hello: guest0 running\r\n"
