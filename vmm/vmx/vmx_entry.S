/*
 * VM entry and VM exit (Intel SDM Vol. 3C chapters 27 and 28). The processor saves and loads only what the VMCS
 * describes; the guest's general registers (but RSP) are ours to save and restore: they live in Gcpu.regs
 * (vmm/guest/gcpu.h), 8 bytes per register in encoding order (RAX=0 ... R15=15).
 *
 * HOST_RSP points at a 16-byte aligned slot holding the Gcpu pointer, so the exit path finds its gcpu with one
 * load and calls C++ with a correctly aligned stack. The C++ side never sees a half-saved state.
 */
#define HOST_RSP 0x6C14   /* VMCS field encodings, SDM Appendix B.4.4 (checked by static_assert in vmexit.cpp) */
#define HOST_RIP 0x6C16

#define R(n) (8 * (n))

#include "arch/x86_64/guest_gprs.inc"

.macro LOAD_GUEST_GPRS      /* %rdi = gcpu; loads every guest register, %rdi last */
    movq R(0)(%rdi), %rax
    LOAD_GUEST_GPRS_BUT_RAX_RDI
    movq R(7)(%rdi), %rdi
.endm

    .text
    .code64

/* [[noreturn]] void evmm_vmx_launch(Gcpu* gcpu): first VM entry on this CPU; VMCS current and complete. */
    .globl evmm_vmx_launch
evmm_vmx_launch:
    andq $-16, %rsp
    subq $8, %rsp
    pushq %rdi                      /* [rsp] = gcpu, rsp 16-byte aligned */
    movl $HOST_RSP, %eax
    vmwrite %rsp, %rax
    leaq evmm_vmx_exit(%rip), %rdx
    movl $HOST_RIP, %eax
    vmwrite %rdx, %rax
    LOAD_GUEST_GPRS
    vmlaunch
    /* Only reached when VMLAUNCH failed (VMfailInvalid/VMfailValid in RFLAGS). */
    pushfq
    popq %rsi
    movq (%rsp), %rdi
    xorl %edx, %edx                 /* launch */
    call evmm_vmentry_failed

/* [[noreturn]] void evmm_vmx_enter_at(Gcpu* gcpu, u64 slot, u64 launched): a world switch's entry (docs/tee.md).
   slot = this CPU's HOST_RSP slot: every frame below it belongs to the exit being left. The gcpu's VMCS is current;
   its first entry is VMLAUNCH (launched = 0), later ones VMRESUME (SDM Vol. 3C §25.11.3). */
    .globl evmm_vmx_enter_at
evmm_vmx_enter_at:
    movq %rsi, %rsp
    movq %rdi, (%rsp)               /* the exit path finds its gcpu here */
    testq %rdx, %rdx
    jnz 1f
    movl $HOST_RSP, %eax            /* a VMCS's first entry: its HOST_RSP and HOST_RIP; later entries find them set */
    vmwrite %rsp, %rax              /* (every VMCS of a CPU has the same slot) */
    leaq evmm_vmx_exit(%rip), %rsi
    movl $HOST_RIP, %eax
    vmwrite %rsi, %rax
    LOAD_GUEST_GPRS
    vmlaunch
    pushfq
    popq %rsi
    movq (%rsp), %rdi
    xorl %edx, %edx                 /* launch */
    call evmm_vmentry_failed
1:
    LOAD_GUEST_GPRS
    vmresume
    pushfq
    popq %rsi
    movq (%rsp), %rdi
    movl $1, %edx                   /* resume */
    call evmm_vmentry_failed

/* HOST_RIP: every VM exit lands here with rsp = HOST_RSP. */
    .globl evmm_vmx_exit
evmm_vmx_exit:
    pushq %rdi
    movq 8(%rsp), %rdi
    movq %rax, R(0)(%rdi)
    SAVE_GUEST_GPRS_BUT_RAX_RDI
    popq R(7)(%rdi)                 /* guest rdi; rsp back at HOST_RSP */
    xorl %ebp, %ebp                 /* terminate the frame-pointer chain for backtraces */
    call evmm_vmexit_handler        /* returns when the guest is to be resumed */
    movq (%rsp), %rdi
    LOAD_GUEST_GPRS
    vmresume
    pushfq
    popq %rsi
    movq (%rsp), %rdi
    movl $1, %edx                   /* resume */
    call evmm_vmentry_failed
