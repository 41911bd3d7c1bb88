/*
 * The VMRUN loop (AMD APM Vol. 2 §15.5 "VMRUN", §15.6 "#VMEXIT", §15.5.2 VMLOAD/VMSAVE, §15.17 GIF). VMRUN saves
 * the host's RSP, RIP, RAX, RFLAGS, CRs, EFER and CS/SS/DS/ES in VM_HSAVE_PA and loads the guest's from the VMCB,
 * RAX and RSP included; #VMEXIT reverses it. FS, GS, TR, LDTR (hidden parts), KernelGsBase, STAR/LSTAR/CSTAR/SFMASK
 * and SYSENTER_* are not switched: VMLOAD gives the guest its own before VMRUN, VMSAVE keeps them after #VMEXIT and
 * VMLOAD restores the host's (saved once by VMSAVE into this CPU's host-save page) before any C++ touches GS.
 * The other guest registers live in Gcpu.regs (vmm/guest/gcpu.h), 8 bytes per register in encoding order. All of
 * it runs with GIF = 0 (CLGI): no interrupt or NMI reaches the host with a half-switched state. The host's RFLAGS.IF
 * is 1 at VMRUN (it matters only with V_INTR_MASKING, svm_tick.h) and 0 again before STGI.
 */
#define GCPU_VMCB 144   /* offsetof(Gcpu, arch.vmcs_pa): static_assert in svm_exits.cpp */
#define R(n) (8 * (n))

#include "arch/x86_64/guest_gprs.inc"

    .text
    .code64

/*
 * [[noreturn]] void evmm_svm_run(Gcpu* gcpu, u64 host_save_pa, u64* loop_rsp)
 * *loop_rsp: the stack pointer the loop runs on (its two slots: the vCPU, the host-save page), for
 * evmm_svm_enter_at.
 */
    .globl evmm_svm_run
evmm_svm_run:
    andq $-16, %rsp
    pushq %rsi                      /* [rsp+8] = host-save page */
    pushq %rdi                      /* [rsp] = gcpu; rsp 16-byte aligned */
    movq %rsp, (%rdx)
    movq %rsi, %rax
    vmsave %rax                     /* the host's FS/GS/TR/LDTR and syscall MSRs */
    jmp evmm_svm_loop

/*
 * [[noreturn]] void evmm_svm_enter_at(Gcpu* gcpu, u64 loop_rsp)
 * A world switch (docs/tee.md): leaves the exit being handled (its frames are dropped) and runs the loop of this
 * CPU with gcpu, whose VMCB is ready for VMRUN (RAX, RSP copied in, GIF clear). loop_rsp: evmm_svm_run's.
 */
    .globl evmm_svm_enter_at
evmm_svm_enter_at:
    movq %rsi, %rsp
    movq %rdi, (%rsp)               /* the loop's vCPU from now on */
evmm_svm_loop:
    clgi
    sti                             /* the host's IF as VMRUN saves it: with V_INTR_MASKING it lets a physical
                                       interrupt (the vCPU tick, svm_tick.h) exit the guest; GIF = 0 holds it off here */
    movq (%rsp), %rdi
    movq GCPU_VMCB(%rdi), %rax
    vmload %rax
    LOAD_GUEST_GPRS_BUT_RAX_RDI
    movq R(7)(%rdi), %rdi
    vmrun %rax
    /* #VMEXIT: rsp, rax (the VMCB address) are the host's again */
    pushq %rdi
    movq 8(%rsp), %rdi
    SAVE_GUEST_GPRS_BUT_RAX_RDI
    popq R(7)(%rdi)
    vmsave %rax                     /* the guest's FS/GS/TR/LDTR and syscall MSRs into its VMCB */
    movq 8(%rsp), %rax
    vmload %rax                     /* the host's back (GS base: this CPU's data) */
    cli                             /* #VMEXIT restored the host's IF = 1: evmm runs with interrupts off */
    stgi
    xorl %ebp, %ebp                 /* terminate the frame-pointer chain for backtraces */
    call evmm_svm_exit_handler
    jmp evmm_svm_loop
