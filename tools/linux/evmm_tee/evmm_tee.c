// SPDX-License-Identifier: GPL-2.0
/*
 * evmm_tee: the secure world's SMC for user space, for Linux as evmm's guest0 (issue 11, docs/tee-linux.md).
 *
 * /dev/evmm_tee (misc device, root only) has two ioctls (evmm_tee_uapi.h):
 *   EVMM_TEE_IOC_SMC  any SMC: RDI, RSI, RDX, RCX as given, RAX = EVMM_TEE_VMCALL_SMC; the five registers come back
 *                     (CAP_SYS_RAWIO: RSI may be a physical address the TEE reads)
 *   EVMM_TEE_IOC_MAC  the test TEE's MAC service over a user buffer of at most 4096 bytes, copied into a page of
 *                     kernel memory whose guest-physical address goes to the TEE
 * The VMCALL runs on the caller's current CPU with preemption disabled, so the task cannot migrate while the CPU is
 * in the other world: the answer comes back on the CPU (and the TEE vCPU) that took the call.
 *
 * /dev/evmm_log (misc device, root only, read-only) is evmm's own log (issue 13): each read() makes the LOG_READ
 * hypercall (docs/vmcall.md) into a kernel page from the file position, which is the position in evmm's log stream,
 * so `cat /dev/evmm_log` (the evmm-log tool) prints everything evmm's ring still holds.
 *
 * The hypercall instruction follows the CPU's vendor: VMMCALL on AMD and Hygon (evmm's SVM backend), VMCALL
 * elsewhere (VT-x); each is #UD on the other vendor's CPUs (AMD APM Vol. 3 "VMMCALL", SDM Vol. 2C "VMCALL").
 *
 * The module loads only under evmm (CPUID leaf 0x40000000 says "evmmevmmevmm"); elsewhere VMCALL would be #UD or
 * another hypervisor's call, so it refuses with -ENODEV.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/cpufeature.h>
#include <asm/io.h>
#include <asm/processor.h>

#include "evmm_tee_uapi.h"

/* Set once at load: true on AMD/Hygon, where the hypercall is VMMCALL. */
static bool evmm_use_vmmcall;

/* The world switch. Everything but RAX, RDI, RSI, RDX, RCX is this world's own and survives the call
 * (include/evmm_tee.h); "memory": the TEE may read (and, for services that write, change) guest0's RAM. */
static void evmm_tee_vmcall(struct evmm_tee_smc *r)
{
	u64 rax = EVMM_TEE_VMCALL_SMC, rdi = r->rdi, rsi = r->rsi, rdx = r->rdx, rcx = r->rcx;

	if (evmm_use_vmmcall)
		asm volatile("vmmcall"
			     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx)
			     :
			     : "memory", "cc");
	else
		asm volatile("vmcall"
			     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx)
			     :
			     : "memory", "cc");
	r->rax = rax;
	r->rdi = rdi;
	r->rsi = rsi;
	r->rdx = rdx;
	r->rcx = rcx;
}

/* One SMC on this CPU: get_cpu() disables preemption (no migration, no other task on this CPU) until put_cpu().
 * Interrupts stay enabled: VMCALL is one instruction to guest0, an interrupt that arrives while the TEE runs is
 * delivered when guest0 resumes. */
static void evmm_tee_smc(struct evmm_tee_smc *r)
{
	get_cpu();
	evmm_tee_vmcall(r);
	put_cpu();
}

static long evmm_tee_ioctl_smc(struct evmm_tee_smc __user *uregs)
{
	struct evmm_tee_smc r;

	if (!capable(CAP_SYS_RAWIO))
		return -EPERM;
	if (copy_from_user(&r, uregs, sizeof(r)))
		return -EFAULT;
	evmm_tee_smc(&r);
	return copy_to_user(uregs, &r, sizeof(r)) ? -EFAULT : 0;
}

static long evmm_tee_ioctl_mac(struct evmm_tee_mac __user *umac)
{
	struct evmm_tee_mac m;
	unsigned long page;
	long ret = 0;

	if (copy_from_user(&m, umac, sizeof(m)))
		return -EFAULT;
	if (m.len > EVMM_TEE_MAC_MAX)
		return -EINVAL;
	/* A page from the page allocator: physically contiguous and page aligned, so the buffer never crosses a page
	 * boundary and its guest-physical address is the whole story (guest0's RAM is identity mapped by evmm). */
	page = __get_free_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	if (copy_from_user((void *)page, u64_to_user_ptr(m.addr), m.len)) {
		ret = -EFAULT;
		goto out;
	}
	memset(&m.regs, 0, sizeof(m.regs));
	m.regs.rdi = EVMM_TEE_SVC_MAC;
	m.regs.rsi = virt_to_phys((void *)page);
	m.regs.rdx = m.len;
	evmm_tee_smc(&m.regs);
	if (copy_to_user(&umac->regs, &m.regs, sizeof(m.regs)))
		ret = -EFAULT;
out:
	memzero_explicit((void *)page, PAGE_SIZE);
	free_page(page);
	return ret;
}

static long evmm_tee_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case EVMM_TEE_IOC_SMC:
		return evmm_tee_ioctl_smc((struct evmm_tee_smc __user *)arg);
	case EVMM_TEE_IOC_MAC:
		return evmm_tee_ioctl_mac((struct evmm_tee_mac __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations evmm_tee_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = evmm_tee_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice evmm_tee_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "evmm_tee",
	.fops = &evmm_tee_fops,
	.mode = 0600,
};

/* LOG_READ (docs/vmcall.md): RBX = buffer, RCX = size, RDX = cursor in; RBX = bytes copied, RCX = next cursor,
 * RDX = the log's end out. Any CPU will do (evmm's log is one for all), so preemption stays on. */
static long evmm_log_hypercall(u64 pa, u64 size, u64 *cursor, u64 *copied, u64 *end)
{
	u64 rax = EVMM_VMCALL_LOG_READ, rbx = pa, rcx = size, rdx = *cursor;

	if (evmm_use_vmmcall)
		asm volatile("vmmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx) : : "memory", "cc");
	else
		asm volatile("vmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx) : : "memory", "cc");
	if (rax == 0) {
		*copied = rbx;
		*cursor = rcx;
		*end = rdx;
	}
	return (long)rax;
}

/* read(): up to a page of evmm's log from *ppos (the position in evmm's log stream); the position moves to the
 * cursor evmm returns, past bytes its ring had already overwritten. 0 at the log's end (or past it). */
static ssize_t evmm_log_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	u64 cursor, copied = 0, end = 0;
	unsigned long page;
	ssize_t ret;
	long rax;

	if (*ppos < 0)
		return -EINVAL;
	if (count == 0)
		return 0;
	count = min_t(size_t, count, PAGE_SIZE);
	/* A page: physically contiguous guest0 RAM, its guest-physical address is virt_to_phys (identity mapped). */
	page = __get_free_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	cursor = *ppos;
	rax = evmm_log_hypercall(virt_to_phys((void *)page), count, &cursor, &copied, &end);
	if (rax == EVMM_VMCALL_EINVAL) {
		ret = 0; /* a position past the log's end */
	} else if (rax != 0 || copied > count) {
		pr_warn_ratelimited("LOG_READ failed: %ld\n", rax);
		ret = -EIO;
	} else if (copy_to_user(buf, (void *)page, copied)) {
		ret = -EFAULT;
	} else {
		*ppos = cursor;
		ret = copied;
	}
	free_page(page);
	return ret;
}

static const struct file_operations evmm_log_fops = {
	.owner = THIS_MODULE,
	.read = evmm_log_read,
	.llseek = noop_llseek,
};

static struct miscdevice evmm_log_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "evmm_log",
	.fops = &evmm_log_fops,
	.mode = 0400,
};

static bool evmm_tee_under_evmm(void)
{
	u32 eax, sig[3];

	if (!boot_cpu_has(X86_FEATURE_HYPERVISOR)) {
		pr_info("no hypervisor (CPUID.1:ECX bit 31 clear): not under evmm\n");
		return false;
	}
	cpuid(EVMM_TEE_CPUID_LEAF, &eax, &sig[0], &sig[1], &sig[2]);
	if (memcmp(sig, EVMM_TEE_CPUID_SIGNATURE, sizeof(sig)) != 0) {
		pr_info("hypervisor \"%.12s\" is not evmm (CPUID 0x%x)\n", (const char *)sig, EVMM_TEE_CPUID_LEAF);
		return false;
	}
	return true;
}

static int __init evmm_tee_init(void)
{
	struct evmm_tee_smc probe = { .rdi = EVMM_TEE_SVC_ECHO, .rsi = 0x65766d6d, .rdx = 1, .rcx = 2 };
	int ret;

	if (!evmm_tee_under_evmm())
		return -ENODEV;
	evmm_use_vmmcall = boot_cpu_data.x86_vendor == X86_VENDOR_AMD || boot_cpu_data.x86_vendor == X86_VENDOR_HYGON;
	ret = misc_register(&evmm_tee_dev);
	if (ret)
		return ret;
	ret = misc_register(&evmm_log_dev);
	if (ret) {
		misc_deregister(&evmm_tee_dev);
		return ret;
	}
	pr_info("hypercall: %s; " EVMM_LOG_DEVICE " ready (evmm's log)\n", evmm_use_vmmcall ? "VMMCALL (AMD)" : "VMCALL");
	/* One echo to say in the log whether a TEE answers; the device is there either way (the errors come back to
	 * each caller in RAX). */
	evmm_tee_smc(&probe);
	if (probe.rax == EVMM_TEE_VMCALL_SMC && probe.rdi == 0 && probe.rsi == 0x65766d6d && probe.rdx == 1 &&
	    probe.rcx == 2)
		pr_info("evmm detected, the TEE answers: " EVMM_TEE_DEVICE " ready\n");
	else if (probe.rax == EVMM_TEE_SMC_ERR_NO_TEE)
		pr_info("evmm detected, no TEE (evmm runs without a tee module): " EVMM_TEE_DEVICE " ready\n");
	else if (probe.rax == EVMM_TEE_SMC_ERR_DEAD)
		pr_info("evmm detected, the TEE is dead: " EVMM_TEE_DEVICE " ready\n");
	else if (probe.rax == EVMM_TEE_SMC_ERR_NOSYS)
		pr_info("evmm detected, without the secure world (SMC: ENOSYS): " EVMM_TEE_DEVICE " ready\n");
	else
		pr_info("evmm detected, unexpected echo (rax 0x%llx rdi 0x%llx): " EVMM_TEE_DEVICE " ready\n",
			probe.rax, probe.rdi);
	return 0;
}

static void __exit evmm_tee_exit(void)
{
	misc_deregister(&evmm_log_dev);
	misc_deregister(&evmm_tee_dev);
}

module_init(evmm_tee_init);
module_exit(evmm_tee_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("evmm");
MODULE_DESCRIPTION("evmm secure world (TEE) SMC for user space: /dev/evmm_tee; evmm's log: /dev/evmm_log");
