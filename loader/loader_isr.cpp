// The loader's exception handler: a fault in the loader (a bug, or a firmware structure we trusted too far) is
// reported with its vector, error code and registers, never a silent triple fault.
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/exception.h"
#include "arch/x86_64/extable.h"
#include "lib/log.h"

extern "C" void evmm_exception_entry(evmm::ExceptionFrame* f) {
    using namespace evmm;
    cpu_cli();
    // An AP still on the loader's IDT (before the VMM loads its own) gets the VMM's stop NMI: it just halts.
    if (f->vector == static_cast<u64>(Vector::NMI)) halt_forever();
    // RDMSR/WRMSR of an MSR this CPU may lack (arch/x86_64/msr.h rdmsr_safe): #GP resumes at the table's fixup
    // (arch/x86_64/extable.h; SDM Vol. 3A §7.15 "Interrupt 13": a fault, the frame's RIP is the faulting instruction).
    if (f->vector == static_cast<u64>(Vector::GP)) {
        if (const u64 fixup = extable_fixup(f->rip); fixup != 0) {
            f->rip = fixup;
            return;
        }
    }
    log_break_lock();
    LOG_ERROR("loader: PANIC: unexpected exception %s (%s), vector %lu, error code 0x%lx",
              exception_mnemonic(f->vector), exception_name(f->vector), f->vector, f->error_code);
    LOG_ERROR("  rip=%016lx rsp=%016lx rflags=%016lx cr2=%016lx", f->rip, f->rsp, f->rflags, read_cr2());
    LOG_ERROR("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx", f->rax, f->rbx, f->rcx, f->rdx);
    LOG_ERROR("  rsi=%016lx rdi=%016lx rbp=%016lx r8 =%016lx", f->rsi, f->rdi, f->rbp, f->r8);
    final_stop(StopReason::Fatal, "exception in the loader");
}

extern "C" [[noreturn]] void evmm_pure_virtual_called() {
    evmm::final_stop(evmm::StopReason::Fatal, "pure virtual call");
}
