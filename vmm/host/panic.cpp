#include "vmm/host/panic.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/exception.h"
#include "arch/x86_64/extable.h"
#include "lib/format.h"
#include "lib/log.h"
#include "lib/symtab.h"
#include "vmm/host/host_timer.h"
#include "vmm/host/ipc.h"
#include "vmm/host/percpu.h"
#include "vmm/host/smp.h"

namespace evmm {
namespace {

constexpr unsigned BACKTRACE_MAX = 24;

Symtab g_symtab;
u64 g_vmm_base = 0;
u64 g_vmm_size = 0;
volatile u32 g_panicking = 0;

struct Regs {
    u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags;
};

void dump_regs(const Regs& r, bool rip_is_return_address) {
    char sym[96];
    symbolize(r.rip, sym, sizeof sym, rip_is_return_address);
    LOG_ERROR("  rip=%016lx %s rflags=%016lx", r.rip, sym, r.rflags);
    LOG_ERROR("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx", r.rax, r.rbx, r.rcx, r.rdx);
    LOG_ERROR("  rsi=%016lx rdi=%016lx rbp=%016lx rsp=%016lx", r.rsi, r.rdi, r.rbp, r.rsp);
    LOG_ERROR("  r8 =%016lx r9 =%016lx r10=%016lx r11=%016lx", r.r8, r.r9, r.r10, r.r11);
    LOG_ERROR("  r12=%016lx r13=%016lx r14=%016lx r15=%016lx", r.r12, r.r13, r.r14, r.r15);
    LOG_ERROR("  cr0=%016lx cr2=%016lx cr3=%016lx cr4=%016lx", read_cr0(), read_cr2(), read_cr3(), read_cr4());
}

// Walks the frame-pointer chain while it stays inside this CPU's stack block and goes up.
void backtrace(u64 rip, u64 rbp, bool rip_is_return_address) {
    char sym[96];
    const PerCpu& pc = this_cpu();
    const u64 lo = pc.stack_block, hi = pc.stack_block + EVMM_STACK_BLOCK_SIZE;
    LOG_ERROR("  backtrace:");
    symbolize(rip, sym, sizeof sym, rip_is_return_address);
    LOG_ERROR("    #0  %016lx %s", rip, sym);
    for (unsigned i = 1; i < BACKTRACE_MAX; ++i) {
        if (rbp < lo || rbp + 16 > hi || (rbp & 7) != 0) break;
        const u64* frame = reinterpret_cast<const u64*>(rbp);
        u64 ret = frame[1];
        if (ret == 0) break;
        symbolize(ret, sym, sizeof sym, true);
        LOG_ERROR("    #%-2u %016lx %s", i, ret, sym);
        if (frame[0] <= rbp) break;
        rbp = frame[0];
    }
}

// Only one CPU prints a panic; a second panic (or a fault inside the panic path) just stops.
bool enter_panic_impl() {
    cpu_cli();
    u32 expected = 0;
    if (!__atomic_compare_exchange_n(&g_panicking, &expected, this_cpu_id() + 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED)) {
        if (expected == this_cpu_id() + 1) {
            log_break_lock();
            LOG_ERROR("PANIC: fault inside the panic path; stopping");
            final_stop(StopReason::Fatal, "nested panic");
        }
        halt_forever();
    }
    // Stop the other CPUs before the dump: guest0 keeps writing to the same UART on the CPUs it runs on, and its
    // bytes would interleave with the dump's. Each stopped CPU prints its one line first (vmm/host/smp.h).
    smp_stop_others();
    return true;
}

[[noreturn]] void vpanic(const char* file, int line, const char* fmt, va_list ap, u64 rbp) {
    enter_panic_impl();
    char msg[200];
    vformat(msg, sizeof msg, fmt, ap);
    LOG_ERROR("PANIC: %s", msg);
    LOG_ERROR("  at %s:%d", file, line);
    Regs r{};
    asm volatile("movq %%rax, %0; movq %%rbx, %1; movq %%rcx, %2; movq %%rdx, %3"
                 : "=m"(r.rax), "=m"(r.rbx), "=m"(r.rcx), "=m"(r.rdx));
    asm volatile("movq %%rsi, %0; movq %%rdi, %1; movq %%rsp, %2" : "=m"(r.rsi), "=m"(r.rdi), "=m"(r.rsp));
    asm volatile("movq %%r8, %0; movq %%r9, %1; movq %%r10, %2; movq %%r11, %3"
                 : "=m"(r.r8), "=m"(r.r9), "=m"(r.r10), "=m"(r.r11));
    asm volatile("movq %%r12, %0; movq %%r13, %1; movq %%r14, %2; movq %%r15, %3"
                 : "=m"(r.r12), "=m"(r.r13), "=m"(r.r14), "=m"(r.r15));
    r.rbp = rbp;
    r.rip = reinterpret_cast<const u64*>(rbp)[1]; // the caller of panic_at
    r.rflags = read_rflags();
    dump_regs(r, true);
    backtrace(r.rip, reinterpret_cast<const u64*>(rbp)[0], true);
    final_stop(StopReason::Fatal, msg);
}

} // namespace

void panic_begin() {
    if (__atomic_load_n(&g_panicking, __ATOMIC_ACQUIRE) == this_cpu_id() + 1) return; // already ours
    enter_panic_impl();
}

void panic_init(const evmm_desc_t& desc) {
    g_vmm_base = desc.vmm_file.runtime_addr;
    g_vmm_size = desc.vmm_file.runtime_size;
    if (desc.symtab_addr != 0) g_symtab.init(reinterpret_cast<const void*>(desc.symtab_addr), desc.symtab_size);
}

void symbolize(u64 addr, char* buf, size_t cap, bool return_address) {
    // A return address may point just past its function (a call to a noreturn function ends it): look up the
    // call instruction's last byte instead.
    const u64 probe = return_address ? addr - 1 : addr;
    u64 off = 0;
    const char* name = nullptr;
    if (probe >= g_vmm_base && probe - g_vmm_base < g_vmm_size) name = g_symtab.lookup(probe - g_vmm_base, off);
    if (name != nullptr)
        format(buf, cap, "%s+0x%lx", name, off + (addr - probe));
    else
        format(buf, cap, "?");
}

[[noreturn]] void panic_at(const char* file, int line, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vpanic(file, line, fmt, ap, reinterpret_cast<u64>(__builtin_frame_address(0)));
}

[[noreturn]] void panic_status(const char* file, int line, const char* doing, const Status& s) {
    panic_at(file, line, "%s: %s%s%s (0x%lx, 0x%lx)", doing, s.what, s.where ? " in " : "", s.where ? s.where : "",
             s.value, s.value2);
}

GuestNmiHook g_guest_nmi_hook = nullptr;

void set_guest_nmi_hook(GuestNmiHook hook) { g_guest_nmi_hook = hook; }

} // namespace evmm

extern "C" void evmm_exception_entry(evmm::ExceptionFrame* f) {
    using namespace evmm;
    if (f->vector == static_cast<u64>(Vector::NMI)) {
        // The stop NMI of smp_stop_others, or a cross-CPU call (vmm/host/ipc.h); any other NMI in VMX root is the
        // guest's, which the backend delivers at the next VM entry (set_guest_nmi_hook).
        if (smp_stop_requested() && !smp_this_cpu_stopping()) smp_stopped("in the hypervisor", f->rip);
        if (!ipc_handle_nmi() && g_guest_nmi_hook != nullptr) g_guest_nmi_hook();
        return;
    }
    // A #GP of an instruction in the exception table (RDMSR/WRMSR of an MSR this CPU may lack: arch/x86_64/msr.h
    // rdmsr_safe) resumes at its fixup, which reports the fault to the caller. SDM Vol. 3A §7.15 "Interrupt 13": a
    // fault, the saved RIP is the faulting instruction's, so the frame's RIP is the table's key.
    if (f->vector == static_cast<u64>(Vector::GP)) {
        if (const u64 fixup = extable_fixup(f->rip); fixup != 0) {
            f->rip = fixup;
            return;
        }
    }
    // An interrupt (evmm enables interrupts only to take its own timer's, vmm/host/host_timer.h).
    if (f->vector >= EXCEPTION_VECTORS && host_timer_take_interrupt(f->vector)) return;
    enter_panic_impl();
    LOG_ERROR("PANIC: unexpected exception %s (%s), vector %lu, error code 0x%lx", exception_mnemonic(f->vector),
              exception_name(f->vector), f->vector, f->error_code);
    if (f->vector == static_cast<u64>(Vector::PF))
        LOG_ERROR("  page fault at address 0x%lx (%s, %s, %s)", read_cr2(),
                  (f->error_code & PF_ERR_PRESENT) ? "protection" : "not present",
                  (f->error_code & PF_ERR_WRITE) ? "write" : "read",
                  (f->error_code & PF_ERR_FETCH) ? "instruction fetch" : "data");
    LOG_ERROR("  cs=%04lx ss=%04lx", f->cs, f->ss);
    Regs r{f->rax, f->rbx, f->rcx, f->rdx, f->rsi, f->rdi, f->rbp, f->rsp, f->r8,
           f->r9,  f->r10, f->r11, f->r12, f->r13, f->r14, f->r15, f->rip, f->rflags};
    dump_regs(r, false);
    backtrace(f->rip, f->rbp, false);
    char why[64];
    format(why, sizeof why, "unexpected exception %s at rip %lx", exception_mnemonic(f->vector), f->rip);
    final_stop(StopReason::Fatal, why);
}

extern "C" [[noreturn]] void evmm_pure_virtual_called() { PANIC("pure virtual function called"); }
