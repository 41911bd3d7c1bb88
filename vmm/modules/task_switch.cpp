#include "vmm/modules/task_switch.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/tss.h"

namespace evmm::ts {
namespace {

constexpr u32 SEG_UNUSABLE = 1u << 16;       // evmm_segment_t.attributes: the register holds no descriptor
constexpr u32 SEG_ATTR_DB = 1u << 14;        // D/B in the attributes (descriptor bit 54)
constexpr u32 SEG_ATTR_TYPE = 0x1F;          // type and S (descriptor bits 44:40)
constexpr u32 ERROR_CODE_EXT = 1u << 0;      // SDM Vol. 3A §7.13: an event external to the program
constexpr u32 V86_SEGMENT_ATTRIBUTES = 0xF3; // present, DPL 3, data read/write accessed (Vol. 3C §27.3.1.2)
constexpr u32 V86_SEGMENT_LIMIT = 0xFFFF;    // Vol. 3A §20.1.1: 64 KiB segments, base = selector * 16
constexpr unsigned V86_BASE_SHIFT = 4;
constexpr u32 STACK16_MASK = 0xFFFF;         // SS.B = 0: SP, 16-bit stack offsets
constexpr u32 ERROR_CODE_SIZE = sizeof(u32); // pushed as a doubleword onto a 32-bit TSS's stack (§7.13)
constexpr u32 ESP = static_cast<u32>(Gpr::RSP);
constexpr u32 SEGMENT_REGS = EVMM_SEG_GS + 1; // ES..GS, the ones a TSS holds

constexpr bool is_software_event(GuestEventType t) {
    return t == GuestEventType::SoftwareInterrupt || t == GuestEventType::SoftwareException ||
           t == GuestEventType::PrivilegedSoftwareException;
}

// The error code of a fault on `sel`: its index and TI, EXT when the switch delivers an external event (§7.13).
constexpr u32 selector_error(u16 sel, u32 ext) { return (sel & ~u32{SELECTOR_RPL_MASK}) | ext; }

Result fault(Result::Kind k, Vector v, u32 ec, const char* why) { return Result{k, v, ec, false, 0, false, why}; }

Result mem_fault(Result::Kind k, const MemFault& f, const char* why) {
    if (f.page_fault) return Result{k, Vector::PF, f.error_code, true, f.address, false, why};
    return fault(k, Vector::GP, 0, why);
}

// The linear address of the descriptor `sel` selects (TI: the LDT), or false when it lies beyond the table's limit.
bool descriptor_address(const TaskCpu& c, u16 sel, bool gdt_only, u64& lin) {
    const u32 offset = sel & SELECTOR_INDEX_MASK;
    const u32 last = offset + sizeof(SegmentDescriptor) - 1;
    if (sel & SELECTOR_TI) {
        const evmm_segment_t& ldt = c.seg[EVMM_SEG_LDTR];
        if (gdt_only || (ldt.attributes & SEG_UNUSABLE) || last > ldt.limit) return false;
        lin = ldt.base + offset;
        return true;
    }
    if (last > c.gdt_limit) return false;
    lin = c.gdt_base + offset;
    return true;
}

evmm_segment_t segment_from(u16 sel, const SegmentDescriptor& d) {
    return evmm_segment_t{d.base(), d.limit(), d.attributes(), sel, {}};
}

evmm_segment_t unusable(u16 sel) { return evmm_segment_t{0, 0, SEG_UNUSABLE, sel, {}}; }

class Switch {
public:
    Switch(TaskSwitchEnv& env, TaskCpu& cpu, const TaskSwitchExit& e)
        : env_(env),
          c_(cpu),
          e_(e),
          ext_(e.source == TaskSwitchSource::IdtTaskGate && e.event_valid && !is_software_event(e.event_type)
                   ? ERROR_CODE_EXT
                   : 0) {}

    Result run();

private:
    Result load_ldtr(u16 sel);
    Result load_segment(u32 reg, u16 sel, u32 cpl);
    Result push_error_code();

    TaskSwitchEnv& env_;
    TaskCpu& c_;
    const TaskSwitchExit& e_;
    const u32 ext_;
};

Result Switch::run() {
    using K = Result::Kind;
    const bool iret = e_.source == TaskSwitchSource::Iret;
    const bool jmp = e_.source == TaskSwitchSource::Jmp;
    // CALL and a task gate in the IDT nest the new task (§9.4): previous-task link, NT.
    const bool nest = e_.source == TaskSwitchSource::Call || e_.source == TaskSwitchSource::IdtTaskGate;
    const u16 sel = e_.selector;
    const u32 sel_ec = selector_error(sel, ext_);
    // IRET reports a bad link as #TS, CALL/JMP/INT a bad target as #GP (SDM Vol. 2 "IRET", "CALL", "JMP", "INT n").
    const Vector bad_target = iret ? Vector::TS : Vector::GP;

    // --- §9.3 steps 1-4: the new TSS descriptor (in the GDT) and the new TSS ---------------------------------
    u64 new_desc_lin = 0;
    if (!descriptor_address(c_, sel, true, new_desc_lin))
        return fault(K::FaultBefore, bad_target, sel_ec, "new TSS selector not in the GDT or beyond its limit");
    SegmentDescriptor nd{};
    if (const MemFault f = env_.read(new_desc_lin, &nd, sizeof nd); !f.ok)
        return mem_fault(K::FaultBefore, f, "reading the new TSS descriptor");
    if (nd.system(SystemType::Tss16Available) || nd.system(SystemType::Tss16Busy))
        return fault(K::FaultBefore, Vector::TS, sel_ec, "16-bit TSS (not emulated)");
    const bool busy = nd.system(SystemType::Tss32Busy);
    if (!busy && !nd.system(SystemType::Tss32Available))
        return fault(K::FaultBefore, bad_target, sel_ec, "new TSS selector is not a 32-bit TSS descriptor");
    if (iret && !busy) return fault(K::FaultBefore, Vector::TS, sel_ec, "IRET to a TSS that is not busy");
    if (!iret && busy) return fault(K::FaultBefore, Vector::GP, sel_ec, "switch to a busy TSS");
    if (!nd.present()) return fault(K::FaultBefore, Vector::NP, sel_ec, "new TSS not present");
    if (nd.limit() < TSS32_MIN_LIMIT) return fault(K::FaultBefore, Vector::TS, sel_ec, "new TSS limit below 67H");

    const evmm_segment_t& tr = c_.seg[EVMM_SEG_TR];
    if ((tr.attributes & SEG_ATTR_TYPE) != static_cast<u8>(SystemType::Tss32Busy))
        return fault(K::FaultBefore, Vector::TS, sel_ec, "the current task's TSS is not a 32-bit TSS (not emulated)");
    Tss32 nt{};
    if (const MemFault f = env_.read(nd.base(), &nt, sizeof nt); !f.ok)
        return mem_fault(K::FaultBefore, f, "reading the new TSS");

    // --- steps 6-7: the current task's state into its TSS ------------------------------------------------------
    u32 saved_eip = c_.eip;
    if (!(e_.source == TaskSwitchSource::IdtTaskGate && !(e_.event_valid && is_software_event(e_.event_type))))
        saved_eip += e_.instruction_length; // after CALL/JMP/IRET/INT n; a fault or an interrupt returns to RIP
    Tss32 ot{};
    u8* const dyn = reinterpret_cast<u8*>(&ot) + TSS32_DYNAMIC_OFFSET;
    if (const MemFault f = env_.read(tr.base + TSS32_DYNAMIC_OFFSET, dyn, TSS32_DYNAMIC_SIZE); !f.ok)
        return mem_fault(K::FaultBefore, f, "reading the current TSS");
    ot.eip = saved_eip;
    ot.eflags = iret ? c_.eflags & ~static_cast<u32>(RFLAGS_NT) : c_.eflags;
    for (u32 i = 0; i < 8; ++i) ot.gpr[i] = c_.gpr[i];
    for (u32 i = 0; i < SEGMENT_REGS; ++i) ot.seg[i].selector = c_.seg[i].selector;
    if (const MemFault f = env_.write(tr.base + TSS32_DYNAMIC_OFFSET, dyn, TSS32_DYNAMIC_SIZE); !f.ok)
        return mem_fault(K::FaultBefore, f, "saving the current task's state");

    // --- §9.4: the previous-task link; steps 5 and 9: the busy flags -------------------------------------------
    if (nest) {
        const u16 link = tr.selector;
        if (const MemFault f = env_.write(nd.base() + offsetof(Tss32, prev_task_link), &link, sizeof link); !f.ok)
            return mem_fault(K::FaultBefore, f, "writing the previous-task link");
    }
    if (jmp || iret) {
        u64 old_lin = 0;
        SegmentDescriptor od{};
        if (descriptor_address(c_, tr.selector, true, old_lin) && env_.read(old_lin, &od, sizeof od).ok &&
            od.system(SystemType::Tss32Busy)) {
            od.set_type(static_cast<u8>(SystemType::Tss32Available));
            (void)env_.write(old_lin, &od, sizeof od);
        }
    }
    if (!iret) {
        if (jmp) (void)env_.read(new_desc_lin, &nd, sizeof nd); // the old one may be the same descriptor
        nd.set_type(static_cast<u8>(SystemType::Tss32Busy));
        if (const MemFault f = env_.write(new_desc_lin, &nd, sizeof nd); !f.ok)
            return mem_fault(K::FaultBefore, f, "setting the new TSS busy");
    }

    // --- steps 8, 10, 11: commit; TR, CR3, EFLAGS, EIP, GPRs, selectors ----------------------------------------
    nd.set_type(static_cast<u8>(SystemType::Tss32Busy));
    c_.seg[EVMM_SEG_TR] = segment_from(sel, nd);
    c_.cr0 |= CR0_TS;
    c_.eflags = (nt.eflags | static_cast<u32>(RFLAGS_FIXED1)) | (nest ? static_cast<u32>(RFLAGS_NT) : 0);
    c_.eip = nt.eip;
    for (u32 i = 0; i < 8; ++i) c_.gpr[i] = nt.gpr[i];
    bool cr3_loaded = false;
    if (c_.cr0 & CR0_PG) {
        if (!env_.load_cr3(nt.cr3)) return fault(K::FaultAfter, Vector::GP, 0, "new CR3: an invalid PAE PDPTE");
        c_.cr3 = nt.cr3;
        cr3_loaded = true;
    }
    Result r = [&]() -> Result {
        // The selectors are loaded first, the descriptors after (step 12): a fault leaves the data segments
        // without a descriptor (unusable) and CS/SS as they were (a VM entry needs a usable CS).
        const evmm_segment_t old_cs = c_.seg[EVMM_SEG_CS], old_ss = c_.seg[EVMM_SEG_SS];
        for (u32 i = 0; i < SEGMENT_REGS; ++i) c_.seg[i] = unusable(nt.seg[i].selector);
        c_.seg[EVMM_SEG_CS] = old_cs;
        c_.seg[EVMM_SEG_SS] = old_ss;
        c_.seg[EVMM_SEG_LDTR] = unusable(nt.ldt);
        if (Result l = load_ldtr(nt.ldt); l.why != nullptr) return l;
        if (c_.eflags & RFLAGS_VM) { // virtual-8086 mode (§20.2.5): real-mode-style segments, CPL 3
            for (u32 i = 0; i < SEGMENT_REGS; ++i) {
                const u16 s = nt.seg[i].selector;
                c_.seg[i] = evmm_segment_t{u64{s} << V86_BASE_SHIFT, V86_SEGMENT_LIMIT, V86_SEGMENT_ATTRIBUTES, s, {}};
            }
            return Result{K::Done, Vector::DE, 0, false, 0, false, nullptr};
        }
        const u32 cpl = selector_rpl(nt.seg[EVMM_SEG_CS].selector);
        constexpr u32 ORDER[] = {EVMM_SEG_CS, EVMM_SEG_SS, EVMM_SEG_ES, EVMM_SEG_DS, EVMM_SEG_FS, EVMM_SEG_GS};
        for (const u32 reg : ORDER)
            if (Result l = load_segment(reg, nt.seg[reg].selector, cpl); l.why != nullptr) return l;
        return Result{K::Done, Vector::DE, 0, false, 0, false, nullptr};
    }();
    if (r.why == nullptr) r = push_error_code();
    // The T flag of the new TSS: a debug trap once the switch is complete (§9.2.1, §18.2.3).
    if (r.why == nullptr && (nt.trap & TSS32_TRAP_T)) r = fault(K::FaultAfter, Vector::DB, 0, "T flag of the new TSS");
    if (r.why == nullptr) r.kind = K::Done;
    r.cr3_loaded = cr3_loaded;
    return r;
}

// LDTR (§9.3 step 12, Table 7-6): a null selector leaves it unusable; else a present LDT descriptor in the GDT.
Result Switch::load_ldtr(u16 sel) {
    using K = Result::Kind;
    if (selector_null(sel)) return Result{K::Done, Vector::DE, 0, false, 0, false, nullptr};
    const u32 ec = selector_error(sel, ext_);
    u64 lin = 0;
    if (!descriptor_address(c_, sel, true, lin))
        return fault(K::FaultAfter, Vector::TS, ec, "LDT selector not in the GDT or beyond its limit");
    SegmentDescriptor d{};
    if (const MemFault f = env_.read(lin, &d, sizeof d); !f.ok) return mem_fault(K::FaultAfter, f, "reading the LDT");
    if (!d.system(SystemType::Ldt)) return fault(K::FaultAfter, Vector::TS, ec, "LDT selector is not an LDT");
    if (!d.present()) return fault(K::FaultAfter, Vector::TS, ec, "LDT not present");
    c_.seg[EVMM_SEG_LDTR] = segment_from(sel, d);
    return Result{K::Done, Vector::DE, 0, false, 0, false, nullptr};
}

// CS, SS, DS, ES, FS, GS of the new task, checked as Table 7-6 ("Invalid TSS Conditions") lists.
Result Switch::load_segment(u32 reg, u16 sel, u32 cpl) {
    using K = Result::Kind;
    const u32 ec = selector_error(sel, ext_);
    const bool cs = reg == EVMM_SEG_CS, ss = reg == EVMM_SEG_SS;
    if (selector_null(sel)) {
        if (cs) return fault(K::FaultAfter, Vector::TS, ec, "null CS selector");
        if (ss) return fault(K::FaultAfter, Vector::TS, ec, "null SS selector");
        c_.seg[reg] = unusable(sel);
        return Result{K::Done, Vector::DE, 0, false, 0, false, nullptr};
    }
    u64 lin = 0;
    if (!descriptor_address(c_, sel, false, lin))
        return fault(K::FaultAfter, Vector::TS, ec, "segment selector beyond its table's limit");
    SegmentDescriptor d{};
    if (const MemFault f = env_.read(lin, &d, sizeof d); !f.ok)
        return mem_fault(K::FaultAfter, f, "reading a segment descriptor");
    const u8 type = d.type();
    const bool code = d.code_data() && (type & SEG_TYPE_CODE);
    const bool data = d.code_data() && !(type & SEG_TYPE_CODE);
    const u32 rpl = selector_rpl(sel), dpl = d.dpl();
    if (cs) {
        if (!code) return fault(K::FaultAfter, Vector::TS, ec, "CS selector is not a code segment");
        if ((type & SEG_TYPE_CONFORMING) ? dpl > rpl : dpl != rpl)
            return fault(K::FaultAfter, Vector::TS, ec, "CS descriptor privilege does not match its RPL");
        if (!d.present()) return fault(K::FaultAfter, Vector::NP, ec, "CS not present");
    } else if (ss) {
        if (!data || !(type & SEG_TYPE_READ_WRITE) || rpl != cpl || dpl != cpl)
            return fault(K::FaultAfter, Vector::TS, ec, "SS is not a writable data segment at CPL");
        if (!d.present()) return fault(K::FaultAfter, Vector::SS, ec, "SS not present");
    } else {
        if (!data && !(code && (type & SEG_TYPE_READ_WRITE)))
            return fault(K::FaultAfter, Vector::TS, ec, "data segment selector is not data or readable code");
        const bool conforming_code = code && (type & SEG_TYPE_CONFORMING);
        if (!conforming_code && (dpl < cpl || dpl < rpl))
            return fault(K::FaultAfter, Vector::TS, ec, "data segment privilege below CPL or RPL");
        if (!d.present()) return fault(K::FaultAfter, Vector::NP, ec, "data segment not present");
    }
    if (!(type & SEG_TYPE_ACCESSED)) { // the processor sets the accessed bit when it loads a descriptor (§3.4.5.1)
        d.set_type(type | SEG_TYPE_ACCESSED);
        if (const MemFault f = env_.write(lin, &d, sizeof d); !f.ok)
            return mem_fault(K::FaultAfter, f, "setting a descriptor's accessed bit");
    }
    c_.seg[reg] = segment_from(sel, d);
    return Result{K::Done, Vector::DE, 0, false, 0, false, nullptr};
}

// An exception's error code goes onto the new task's stack (§7.13, §9.3): a doubleword for a 32-bit TSS.
Result Switch::push_error_code() {
    using K = Result::Kind;
    const Result done{K::Done, Vector::DE, 0, false, 0, false, nullptr};
    if (!(e_.source == TaskSwitchSource::IdtTaskGate && e_.event_valid && e_.event_has_error_code)) return done;
    const evmm_segment_t& ss = c_.seg[EVMM_SEG_SS];
    const bool big = (ss.attributes & SEG_ATTR_DB) != 0;
    const u32 esp = c_.gpr[ESP];
    const u32 top = big ? ~u32{0} : STACK16_MASK;
    const u32 offset = (esp - ERROR_CODE_SIZE) & top;
    const bool expand_down = (ss.attributes & SEG_TYPE_CONFORMING) != 0;
    const bool in_limit = expand_down ? offset > ss.limit && offset <= top - (ERROR_CODE_SIZE - 1)
                                      : offset <= ss.limit - (ERROR_CODE_SIZE - 1) && ss.limit >= ERROR_CODE_SIZE - 1;
    if (!in_limit) return fault(K::FaultAfter, Vector::SS, ext_, "error code push beyond the stack's limit");
    const u32 value = e_.event_error_code;
    if (const MemFault f = env_.write(ss.base + offset, &value, sizeof value); !f.ok)
        return mem_fault(K::FaultAfter, f, "pushing the error code");
    c_.gpr[ESP] = big ? offset : (esp & ~STACK16_MASK) | offset;
    return done;
}

} // namespace

Result task_switch(TaskSwitchEnv& env, TaskCpu& cpu, const TaskSwitchExit& e) { return Switch(env, cpu, e).run(); }

} // namespace evmm::ts
