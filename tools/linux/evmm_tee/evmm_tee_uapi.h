/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* The user-space ABI of evmm_tee.ko (docs/tee-linux.md): /dev/evmm_tee, a misc device whose ioctls make the SMC
   VMCALL of include/evmm_tee.h (issue 11's secure world) on the caller's current CPU. Shared by the module and
   tee-call; it depends on nothing but <linux/types.h> and <linux/ioctl.h>, so the kernel and user space both build
   it. The constants repeat include/evmm_tee.h's with the same names and tokens: a file that includes both (tee-call
   does) gets a compiler error if they ever differ.

   The SMC (include/evmm_tee.h): VMCALL at CPL 0 with RAX = EVMM_TEE_VMCALL_SMC; RDI, RSI, RDX and RCX go to the
   TEE (RDI selects the service) and come back with its answer (RDI: status, 0 or a negative errno; RSI, RDX, RCX:
   results). RAX reads EVMM_TEE_VMCALL_SMC again when the TEE answered; otherwise RAX (and RDI) hold
   EVMM_TEE_SMC_ERR_NO_TEE (evmm runs without a `tee` module) or EVMM_TEE_SMC_ERR_DEAD (the TEE died). An evmm
   without the secure world treats the call as an unknown VMCALL: RAX = -38 (ENOSYS), RDI..RCX unchanged
   (docs/vmcall.md). */
#ifndef EVMM_TEE_UAPI_H
#define EVMM_TEE_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* From include/evmm_tee.h (identical definitions: see above). */
#define EVMM_TEE_VMCALL_SMC 0x74727500u
#define EVMM_TEE_SMC_ERR_NO_TEE 0xFFFFFFFFFFFFFFEDull
#define EVMM_TEE_SMC_ERR_DEAD 0xFFFFFFFFFFFFFFFBull
#define EVMM_TEE_SVC_ECHO 1u
#define EVMM_TEE_SVC_ADD 2u
#define EVMM_TEE_SVC_COUNTER 3u
#define EVMM_TEE_SVC_MAC 4u
#define EVMM_TEE_SVC_CRASH 5u
#define EVMM_TEE_SVC_SELFTEST 6u

/* What an evmm without the secure world answers in RAX (docs/vmcall.md: unknown call number). */
#define EVMM_TEE_SMC_ERR_NOSYS 0xFFFFFFFFFFFFFFDAull /* -38 (ENOSYS) */

/* The hypervisor the module insists on: CPUID leaf 0x40000000's EBX:ECX:EDX (vmm/modules/cpuid.h). */
#define EVMM_TEE_CPUID_LEAF 0x40000000u
#define EVMM_TEE_CPUID_SIGNATURE "evmmevmmevmm"

#define EVMM_TEE_DEVICE "/dev/evmm_tee"

/* evmm's log (issue 13): /dev/evmm_log, read-only; each read() is one LOG_READ hypercall (docs/vmcall.md), the file
   position is the position in evmm's log stream. The number and the result repeat vmm/modules/vmcall.h's. */
#define EVMM_LOG_DEVICE "/dev/evmm_log"
#define EVMM_VMCALL_LOG_READ 7
#define EVMM_VMCALL_EINVAL (-22)
#define EVMM_TEE_MAC_MAX 4096u /* EVMM_TEE_SVC_MAC's largest buffer */

/* The registers of one SMC. In: rdi, rsi, rdx, rcx (rax is ignored: the driver sets EVMM_TEE_VMCALL_SMC). Out: the
   five registers as the VMCALL left them. */
struct evmm_tee_smc {
    __u64 rdi;
    __u64 rsi;
    __u64 rdx;
    __u64 rcx;
    __u64 rax;
};

/* EVMM_TEE_IOC_MAC: the driver copies [addr, addr + len) (user memory, len <= EVMM_TEE_MAC_MAX) into a kernel page
   and makes the SMC with RDI = EVMM_TEE_SVC_MAC, RSI = the page's guest-physical address, RDX = len, RCX = 0; regs
   is out only (the SMC's registers afterwards: rsi = the MAC when rax = EVMM_TEE_VMCALL_SMC and rdi = 0). */
struct evmm_tee_mac {
    __u64 addr; /* user pointer */
    __u64 len;
    struct evmm_tee_smc regs;
};

#define EVMM_TEE_IOC_MAGIC 'E'
/* Any SMC, registers as given (RSI may be a guest-physical address the TEE reads: needs CAP_SYS_RAWIO). */
#define EVMM_TEE_IOC_SMC _IOWR(EVMM_TEE_IOC_MAGIC, 0x01, struct evmm_tee_smc)
/* The MAC service over a user buffer. */
#define EVMM_TEE_IOC_MAC _IOWR(EVMM_TEE_IOC_MAGIC, 0x02, struct evmm_tee_mac)

#endif /* EVMM_TEE_UAPI_H */
