// Unit tests for vmm/modules/task_switch: hardware task switches emulated on a fake guest (flat memory, no paging
// unless a test says so) with a GDT of two 32-bit TSSs and the faulting variants.
#include "vmm/modules/task_switch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "arch/x86_64/cr.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/tss.h"

using namespace evmm;
using namespace evmm::ts;

namespace {

constexpr u64 GDT = 0x1000;
constexpr u16 CODE = 0x08, DATA = 0x10, TSS_A = 0x18, TSS_B = 0x20, TSS_NP = 0x28, TSS_SMALL = 0x30, LDT = 0x38,
              TSS_16 = 0x40, CODE_NP = 0x48;
constexpr u64 TSS_A_BASE = 0x2000, TSS_B_BASE = 0x3000, LDT_BASE = 0x4000;
constexpr u32 CR3_B = 0x5000;

constexpr u64 desc(u32 base, u32 limit, u8 access, u8 flags) {
    return (limit & 0xFFFF) | (u64{base & 0xFFFFFF} << 16) | (u64{access} << 40) | (u64{(limit >> 16) & 0xF} << 48) |
           (u64{flags} << 52) | (u64{base >> 24} << 56);
}

struct FakeGuest final : TaskSwitchEnv {
    std::vector<u8> mem = std::vector<u8>(0x10000);
    u64 fault_page = ~u64{0}; // accesses to this 4 KiB page raise #PF
    u64 cr3 = 0;
    int cr3_loads = 0;

    MemFault access(u64 lin, u32 len, bool write) {
        for (u64 a = lin; a < lin + len; ++a)
            if ((a & ~u64{0xFFF}) == fault_page) return MemFault{false, true, a, write ? 2u : 0u};
        if (lin + len > mem.size()) return MemFault{false, false, 0, 0};
        return MemFault{true, false, 0, 0};
    }
    MemFault read(u64 lin, void* out, u32 len) override {
        const MemFault f = access(lin, len, false);
        if (f.ok) std::memcpy(out, &mem[lin], len);
        return f;
    }
    MemFault write(u64 lin, const void* in, u32 len) override {
        const MemFault f = access(lin, len, true);
        if (f.ok) std::memcpy(&mem[lin], in, len);
        return f;
    }
    bool load_cr3(u64 v) override {
        cr3 = v;
        ++cr3_loads;
        return true;
    }

    template <class T>
    T& at(u64 a) {
        return *reinterpret_cast<T*>(&mem[a]);
    }
    u64& gdt(u16 sel) { return at<u64>(GDT + (sel & ~7u)); }
    Tss32& tss(u64 base) { return at<Tss32>(base); }
    u8 type(u16 sel) { return SegmentDescriptor{gdt(sel)}.type(); }
};

evmm_segment_t seg(u16 sel, u32 attr, u32 base = 0, u32 limit = 0xFFFFFFFF) {
    return evmm_segment_t{base, limit, attr, sel, {}};
}

struct TaskSwitchTest : ::testing::Test {
    FakeGuest g;
    TaskCpu cpu{};

    void SetUp() override {
        g.gdt(CODE) = desc(0, 0xFFFFF, 0x9B, 0xC);
        g.gdt(DATA) = desc(0, 0xFFFFF, 0x93, 0xC);
        g.gdt(TSS_A) = desc(TSS_A_BASE, 0x67, 0x8B, 0); // busy: the current task
        g.gdt(TSS_B) = desc(TSS_B_BASE, 0x67, 0x89, 0);
        g.gdt(TSS_NP) = desc(TSS_B_BASE, 0x67, 0x09, 0);
        g.gdt(TSS_SMALL) = desc(TSS_B_BASE, 0x66, 0x89, 0);
        g.gdt(LDT) = desc(LDT_BASE, 0xF, 0x82, 0);
        g.gdt(TSS_16) = desc(TSS_B_BASE, 0x2B, 0x81, 0);
        g.gdt(CODE_NP) = desc(0, 0xFFFFF, 0x1B, 0xC);
        Tss32& b = g.tss(TSS_B_BASE);
        b.cr3 = CR3_B;
        b.eip = 0x1234;
        b.eflags = 0x202;
        for (u32 i = 0; i < 8; ++i) b.gpr[i] = 0xB0 + i;
        b.gpr[4] = 0x8000; // ESP
        for (u32 i = 0; i < 6; ++i) b.seg[i].selector = DATA;
        b.seg[EVMM_SEG_CS].selector = CODE;
        b.ldt = LDT;
        for (u32 i = 0; i < 8; ++i) cpu.gpr[i] = 0xA0 + i;
        cpu.eip = 0x100;
        cpu.eflags = 0x2 | static_cast<u32>(RFLAGS_IF);
        cpu.cr0 = CR0_PE;
        for (u32 i = 0; i < 6; ++i) cpu.seg[i] = seg(DATA, 0xC093);
        cpu.seg[EVMM_SEG_CS] = seg(CODE, 0xC09B);
        cpu.seg[EVMM_SEG_LDTR] = seg(0, 1u << 16, 0, 0);
        cpu.seg[EVMM_SEG_TR] = seg(TSS_A, 0x8B, TSS_A_BASE, 0x67);
        cpu.gdt_base = GDT;
        cpu.gdt_limit = 0x4F;
    }
    Result run(TaskSwitchSource src, u16 sel, u32 len = 5) {
        TaskSwitchExit e{};
        e.selector = sel;
        e.source = src;
        e.instruction_length = len;
        return task_switch(g, cpu, e);
    }
};

} // namespace

TEST_F(TaskSwitchTest, JmpSavesOldLoadsNewAndMovesBusy) {
    const Result r = run(TaskSwitchSource::Jmp, TSS_B, 7);
    ASSERT_EQ(r.kind, Result::Kind::Done) << r.why;
    const Tss32& a = g.tss(TSS_A_BASE);
    EXPECT_EQ(a.eip, 0x107u);
    EXPECT_EQ(a.gpr[3], 0xA3u);
    EXPECT_EQ(a.seg[EVMM_SEG_CS].selector, CODE);
    EXPECT_EQ(g.type(TSS_A), 0x9); // available
    EXPECT_EQ(g.type(TSS_B), 0xB); // busy
    EXPECT_EQ(cpu.eip, 0x1234u);
    EXPECT_EQ(cpu.gpr[4], 0x8000u);
    EXPECT_EQ(cpu.eflags & RFLAGS_NT, 0u);
    EXPECT_TRUE(cpu.cr0 & CR0_TS);
    EXPECT_EQ(cpu.seg[EVMM_SEG_TR].selector, TSS_B);
    EXPECT_EQ(cpu.seg[EVMM_SEG_TR].base, TSS_B_BASE);
    EXPECT_EQ(cpu.seg[EVMM_SEG_TR].attributes, 0x8Bu);
    EXPECT_EQ(cpu.seg[EVMM_SEG_LDTR].base, LDT_BASE);
    EXPECT_EQ(cpu.seg[EVMM_SEG_LDTR].attributes, 0x82u);
    EXPECT_EQ(cpu.seg[EVMM_SEG_CS].attributes, 0xC09Bu);
    EXPECT_EQ(g.cr3_loads, 0); // paging off: CR3 stays
}

TEST_F(TaskSwitchTest, CallLinksAndIretReturns) {
    cpu.cr0 |= CR0_PG;
    ASSERT_EQ(run(TaskSwitchSource::Call, TSS_B).kind, Result::Kind::Done);
    EXPECT_EQ(g.tss(TSS_B_BASE).prev_task_link, TSS_A);
    EXPECT_TRUE(cpu.eflags & RFLAGS_NT);
    EXPECT_EQ(g.type(TSS_A), 0xB);
    EXPECT_EQ(g.type(TSS_B), 0xB);
    EXPECT_EQ(g.cr3, CR3_B);
    EXPECT_EQ(g.tss(TSS_A_BASE).eip, 0x105u);
    cpu.eip = 0x1300;
    ASSERT_EQ(run(TaskSwitchSource::Iret, TSS_A, 1).kind, Result::Kind::Done);
    EXPECT_EQ(g.tss(TSS_B_BASE).eflags & RFLAGS_NT, 0u); // cleared in the saved image
    EXPECT_EQ(g.tss(TSS_B_BASE).eip, 0x1301u);
    EXPECT_EQ(g.type(TSS_B), 0x9);
    EXPECT_EQ(g.type(TSS_A), 0xB);
    EXPECT_EQ(cpu.eip, 0x105u);
    EXPECT_EQ(cpu.gpr[0], 0xA0u);
    EXPECT_EQ(cpu.seg[EVMM_SEG_TR].selector, TSS_A);
}

TEST_F(TaskSwitchTest, FaultsBeforeTheSwitchChangeNothing) {
    const std::vector<u8> before = g.mem;
    const TaskCpu cpu0 = cpu;
    g.gdt(TSS_B) = desc(TSS_B_BASE, 0x67, 0x8B, 0);
    const std::vector<u8> busy_b = g.mem;
    Result r = run(TaskSwitchSource::Jmp, TSS_B);
    EXPECT_EQ(r.kind, Result::Kind::FaultBefore);
    EXPECT_EQ(r.vector, Vector::GP);
    EXPECT_EQ(r.error_code, TSS_B);
    EXPECT_EQ(g.mem, busy_b);
    r = run(TaskSwitchSource::Call, TSS_NP);
    EXPECT_EQ(r.vector, Vector::NP);
    EXPECT_EQ(r.error_code, TSS_NP);
    r = run(TaskSwitchSource::Call, TSS_SMALL);
    EXPECT_EQ(r.vector, Vector::TS);
    EXPECT_EQ(r.error_code, TSS_SMALL);
    r = run(TaskSwitchSource::Iret, TSS_SMALL); // not busy
    EXPECT_EQ(r.vector, Vector::TS);
    r = run(TaskSwitchSource::Jmp, 0x50); // beyond the GDT limit
    EXPECT_EQ(r.vector, Vector::GP);
    EXPECT_EQ(r.error_code, 0x50u);
    r = run(TaskSwitchSource::Jmp, TSS_16);
    EXPECT_EQ(r.vector, Vector::TS);
    EXPECT_EQ(cpu.eip, cpu0.eip);
    EXPECT_EQ(cpu.seg[EVMM_SEG_TR].selector, TSS_A);
    g.mem = before;
    g.fault_page = TSS_B_BASE;
    r = run(TaskSwitchSource::Jmp, TSS_B);
    EXPECT_EQ(r.kind, Result::Kind::FaultBefore);
    EXPECT_EQ(r.vector, Vector::PF);
    EXPECT_TRUE(r.page_fault);
    EXPECT_EQ(r.address, TSS_B_BASE);
    EXPECT_EQ(g.type(TSS_A), 0xB);
}

TEST_F(TaskSwitchTest, ExceptionThroughTaskGatePushesErrorCode) {
    TaskSwitchExit e{};
    e.selector = TSS_B;
    e.source = TaskSwitchSource::IdtTaskGate;
    e.instruction_length = 2;
    e.event_valid = true;
    e.event_type = GuestEventType::HardwareException;
    e.event_vector = 13;
    e.event_has_error_code = true;
    e.event_error_code = 0x1234;
    ASSERT_EQ(task_switch(g, cpu, e).kind, Result::Kind::Done);
    EXPECT_EQ(g.tss(TSS_A_BASE).eip, 0x100u); // a fault returns to the faulting instruction
    EXPECT_EQ(g.tss(TSS_B_BASE).prev_task_link, TSS_A);
    EXPECT_TRUE(cpu.eflags & RFLAGS_NT);
    EXPECT_EQ(cpu.gpr[4], 0x7FFCu);
    EXPECT_EQ(g.at<u32>(0x7FFC), 0x1234u);
}

TEST_F(TaskSwitchTest, SoftwareInterruptSavesTheNextInstruction) {
    TaskSwitchExit e{};
    e.selector = TSS_B;
    e.source = TaskSwitchSource::IdtTaskGate;
    e.instruction_length = 2;
    e.event_valid = true;
    e.event_type = GuestEventType::SoftwareInterrupt;
    e.event_vector = 0x80;
    ASSERT_EQ(task_switch(g, cpu, e).kind, Result::Kind::Done);
    EXPECT_EQ(g.tss(TSS_A_BASE).eip, 0x102u);
    EXPECT_EQ(cpu.gpr[4], 0x8000u);
}

TEST_F(TaskSwitchTest, ExternalEventsSetExt) {
    g.gdt(TSS_B) = desc(TSS_B_BASE, 0x67, 0x8B, 0);
    TaskSwitchExit e{};
    e.selector = TSS_B;
    e.source = TaskSwitchSource::IdtTaskGate;
    e.event_valid = true;
    e.event_type = GuestEventType::ExternalInterrupt;
    const Result r = task_switch(g, cpu, e);
    EXPECT_EQ(r.vector, Vector::GP);
    EXPECT_EQ(r.error_code, TSS_B | 1u);
}

TEST_F(TaskSwitchTest, SegmentFaultsHappenInTheNewTask) {
    g.tss(TSS_B_BASE).seg[EVMM_SEG_CS].selector = CODE_NP;
    Result r = run(TaskSwitchSource::Jmp, TSS_B);
    EXPECT_EQ(r.kind, Result::Kind::FaultAfter);
    EXPECT_EQ(r.vector, Vector::NP);
    EXPECT_EQ(r.error_code, CODE_NP);
    EXPECT_EQ(cpu.seg[EVMM_SEG_TR].selector, TSS_B);
    EXPECT_EQ(cpu.seg[EVMM_SEG_CS].selector, CODE); // CS keeps its descriptor for the VM entry
    EXPECT_EQ(cpu.eip, 0x1234u);
}

TEST_F(TaskSwitchTest, SsMustBeWritableAtCpl) {
    g.tss(TSS_B_BASE).seg[EVMM_SEG_SS].selector = CODE;
    const Result r = run(TaskSwitchSource::Jmp, TSS_B);
    EXPECT_EQ(r.kind, Result::Kind::FaultAfter);
    EXPECT_EQ(r.vector, Vector::TS);
    EXPECT_EQ(r.error_code, CODE);
}

TEST_F(TaskSwitchTest, TrapFlagRaisesDebugTrap) {
    g.tss(TSS_B_BASE).trap = TSS32_TRAP_T;
    const Result r = run(TaskSwitchSource::Jmp, TSS_B);
    EXPECT_EQ(r.kind, Result::Kind::FaultAfter);
    EXPECT_EQ(r.vector, Vector::DB);
    EXPECT_EQ(cpu.eip, 0x1234u);
}

TEST_F(TaskSwitchTest, Virtual8086Task) {
    Tss32& b = g.tss(TSS_B_BASE);
    b.eflags = 0x2 | static_cast<u32>(RFLAGS_VM);
    b.seg[EVMM_SEG_CS].selector = 0x1000;
    ASSERT_EQ(run(TaskSwitchSource::Jmp, TSS_B).kind, Result::Kind::Done);
    EXPECT_EQ(cpu.seg[EVMM_SEG_CS].base, 0x10000u);
    EXPECT_EQ(cpu.seg[EVMM_SEG_CS].limit, 0xFFFFu);
    EXPECT_EQ(cpu.seg[EVMM_SEG_CS].attributes, 0xF3u);
}
