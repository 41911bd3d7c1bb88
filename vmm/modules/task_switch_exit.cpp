#include "vmm/modules/task_switch_exit.h"

#include "arch/x86_64/msr.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/guest_paging.h"
#include "vmm/guest/intercept.h"
#include "vmm/modules/task_switch.h"

namespace evmm {
namespace {

constexpr u32 PF_ERROR_WRITE = 1u << 1; // SDM Vol. 3A §4.7: W/R (the TSS and GDT accesses are supervisor accesses)
constexpr u32 GPRS = 8;                 // EAX..EDI: a task's registers

// guest0's memory by linear address through its paging structures (guest-physical = host-physical under evmm's
// identity EPT), byte by byte: an access may straddle two pages. A CR3 load changes the translation used next.
class GuestLinear final : public ts::TaskSwitchEnv {
public:
    explicit GuestLinear(Gcpu& g) : g_(g), regs_{gcpu_cr0(g), gcpu_cr3(g), gcpu_cr4(g), gcpu_efer(g)}, mem_(*g.guest) {}

    ts::MemFault read(u64 lin, void* out, u32 len) override { return access(lin, static_cast<u8*>(out), len, false); }
    ts::MemFault write(u64 lin, const void* in, u32 len) override {
        return access(lin, static_cast<u8*>(const_cast<void*>(in)), len, true);
    }
    bool load_cr3(u64 cr3) override {
        if (!gcpu_load_cr3(g_, cr3)) return false;
        regs_.cr3 = cr3;
        return true;
    }

private:
    ts::MemFault access(u64 lin, u8* buf, u32 len, bool write) {
        // Translate each page the access touches first (a fault writes nothing), then copy. The emulation's
        // accesses are at most a TSS (104 bytes): at most two pages.
        constexpr u64 PAGE = 4096;
        constexpr u32 MAX_PAGES = 2;
        u64 pa[MAX_PAGES];
        u32 pages = 0;
        for (u64 off = 0; off < len; off = (((lin + off) & ~(PAGE - 1)) + PAGE) - lin) {
            const u64 a = (lin + off) & 0xFFFFFFFF; // linear addresses outside IA-32e mode are 32 bits
            if (pages == MAX_PAGES) return ts::MemFault{false, false, 0, 0};
            if (!guest_linear_to_phys(mem_, regs_, a, pa[pages]).ok())
                return ts::MemFault{false, true, a, write ? PF_ERROR_WRITE : 0};
            const u64 in_page = PAGE - (a & (PAGE - 1));
            // Memory the guest's second-level tables do not give it: what the access would have got (#GP(0),
            // vmm/modules/gpa_access).
            if (!g_.guest->phys_readable(pa[pages], in_page < len - off ? in_page : len - off))
                return ts::MemFault{false, false, 0, 0};
            ++pages;
        }
        u32 page = 0;
        u64 base = pa[0]; // base + i: the physical address of byte i
        for (u32 i = 0; i < len; ++i) {
            if (i != 0 && ((lin + i) & (PAGE - 1)) == 0) base = pa[++page] - i;
            volatile u8* p = reinterpret_cast<volatile u8*>(static_cast<uptr>(base + i));
            if (write)
                *p = buf[i];
            else
                buf[i] = *p;
        }
        return ts::MemFault{true, false, 0, 0};
    }

    Gcpu& g_;
    GuestPagingRegs regs_;
    GuestPhys mem_;
};

void inject(Gcpu& g, const ts::Result& r, bool before) {
    if (r.page_fault)
        gcpu_inject_page_fault(g, r.address, r.error_code);
    else if (before)
        gcpu_inject_exception_for_access(g, r.vector, r.error_code, r.why);
    else
        gcpu_inject_exception(g, r.vector, r.error_code);
}

void on_task_switch(Gcpu& g) {
    if (gcpu_efer(g) & EFER_LMA) [[unlikely]]
        gcpu_fatal(g, "task-switch exit in IA-32e mode (the CPU raises #GP there)");
    const TaskSwitchExit e = gcpu_task_switch_exit(g);
    ts::TaskCpu c{};
    for (u32 i = 0; i < GPRS; ++i) c.gpr[i] = static_cast<u32>(gcpu_gpr(g, i));
    c.eip = static_cast<u32>(gcpu_rip(g));
    c.eflags = static_cast<u32>(gcpu_rflags(g));
    c.cr0 = gcpu_cr0(g);
    c.cr3 = gcpu_cr3(g);
    for (u32 i = 0; i < EVMM_SEG_COUNT; ++i) c.seg[i] = gcpu_segment(g, static_cast<SegReg>(i));
    const evmm_table_reg_t gdtr = gcpu_gdtr(g);
    c.gdt_base = gdtr.base;
    c.gdt_limit = gdtr.limit;

    GuestLinear env(g);
    const ts::Result r = ts::task_switch(env, c, e);
    if (r.kind == ts::Result::Kind::FaultBefore) {
        LOG_DEBUG("guest0 cpu%u: task switch to 0x%x (source %u) refused with vector %u (0x%x): %s", g.cpu_id,
                  e.selector, static_cast<unsigned>(e.source), static_cast<unsigned>(r.vector), r.error_code, r.why);
        return inject(g, r, true);
    }
    gcpu_advance_rip(g, 0); // the instruction or event completed: no blocking by STI / MOV SS is left
    for (u32 i = 0; i < GPRS; ++i) gcpu_set_gpr(g, i, c.gpr[i]);
    gcpu_set_rip(g, c.eip);
    gcpu_set_rflags(g, c.eflags);
    for (u32 i = 0; i < EVMM_SEG_COUNT; ++i) gcpu_set_segment(g, static_cast<SegReg>(i), c.seg[i]);
    gcpu_set_task_switched(g);
    // An NMI delivered through a task gate: its handler (the new task) runs with NMIs blocked until its IRET; an
    // IRET removes the blocking, also one that switches tasks (SDM Vol. 3A §6.7.1, Vol. 3C §26.3).
    if (e.source == TaskSwitchSource::IdtTaskGate && e.event_valid && e.event_type == GuestEventType::Nmi)
        gcpu_set_nmi_blocked(g, true);
    else if (e.source == TaskSwitchSource::Iret)
        gcpu_set_nmi_blocked(g, false);
    if (r.kind == ts::Result::Kind::FaultAfter) {
        LOG_DEBUG("guest0 cpu%u: task switch to 0x%x: vector %u (0x%x) in the new task: %s", g.cpu_id, e.selector,
                  static_cast<unsigned>(r.vector), r.error_code, r.why);
        inject(g, r, false);
    }
}

} // namespace

void task_switch_exit_init() { intercept_register(Intercept::TaskSwitch, on_task_switch); }

} // namespace evmm
