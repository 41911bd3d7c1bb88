#include "vmm/guest/native_boot.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmcs.h"

namespace evmm {
namespace {

// SDM Vol. 3A §3.4.5 Figure 3-8: limit 15:0 in bits 15:0 and 19:16 in 51:48; base 23:0 in 39:16 and 31:24 in 63:56;
// type, S, DPL, P in 47:40; AVL, L, D/B, G in 55:52 (the VMX access rights' bits 7:0 and 15:12).
constexpr u32 AR_LOW_MASK = 0xFF;    // type, S, DPL, P -> descriptor bits 47:40
constexpr u32 AR_HIGH_MASK = 0xF000; // AVL, L, D/B, G -> descriptor bits 55:52
constexpr unsigned AR_SHIFT = 40;
constexpr u32 AR_TYPE_CODE_ER_ACCESSED = 0xB; // execute/read, accessed (SDM Vol. 3A §3.4.5.1 Table 3-1)
constexpr u32 PAGE_GRANULE_SHIFT = 12;
constexpr u64 LIMIT_LOW_MASK = 0xFFFF;
constexpr u64 LIMIT_HIGH_MASK = 0xF0000;
constexpr unsigned LIMIT_HIGH_SHIFT = 32; // limit 19:16 -> bits 51:48
constexpr u64 BASE_LOW_MASK = 0xFFFFFF;
constexpr unsigned BASE_LOW_SHIFT = 16;
constexpr u64 BASE_HIGH_MASK = 0xFF000000;
constexpr unsigned BASE_HIGH_SHIFT = 32; // base 31:24 -> bits 63:56
constexpr u16 SELECTOR_TI = 1u << 2;     // the selector's table indicator: 1 = LDT
constexpr unsigned SELECTOR_INDEX_SHIFT = 3;
constexpr u64 FOUR_GIB = u64{1} << 32;

// The compatibility-mode code segment of the switch out of IA-32e mode: 32-bit, flat, DPL 0, present.
constexpr evmm_segment_t COMPAT_CODE{
    0, 0xFFFFFFFF, AR_TYPE_CODE_ER_ACCESSED | VMX_AR_S | VMX_AR_P | VMX_AR_DB | VMX_AR_G, 0, {}};

Status place(u64 (&gdt)[NATIVE_GDT_ENTRIES], const evmm_segment_t& s, const char* which, bool may_be_null) {
    const u16 sel = s.selector;
    const u32 index = sel >> SELECTOR_INDEX_SHIFT;
    if (sel & SELECTOR_TI) return Status::error("a selector in the LDT", which, sel);
    if (index == 0) {
        if (may_be_null) return Status::success();
        return Status::error("a null selector", which, sel);
    }
    if (index >= NATIVE_COMPAT_CS_INDEX) return Status::error("a selector beyond the native GDT", which, sel);
    if ((s.attributes & VMX_AR_UNUSABLE) != 0) return Status::error("an unusable segment", which, sel);
    const u64 d = gdt_descriptor_of(s);
    if (gdt[index] != 0 && gdt[index] != d)
        return Status::error("two segments share a selector with different descriptors", which, sel);
    gdt[index] = d;
    return Status::success();
}

} // namespace

u64 gdt_descriptor_of(const evmm_segment_t& s) {
    // A limit with G set counts 4 KiB units (the low 12 bits of the byte limit are all ones).
    const u64 limit = (s.attributes & VMX_AR_G) != 0 ? u64{s.limit} >> PAGE_GRANULE_SHIFT : u64{s.limit};
    return (limit & LIMIT_LOW_MASK) | ((limit & LIMIT_HIGH_MASK) << LIMIT_HIGH_SHIFT) |
           ((s.base & BASE_LOW_MASK) << BASE_LOW_SHIFT) | ((s.base & BASE_HIGH_MASK) << BASE_HIGH_SHIFT) |
           (u64{s.attributes & (AR_LOW_MASK | AR_HIGH_MASK)} << AR_SHIFT);
}

Status native_boot_plan(const evmm_gcpu_state_t& st, u64 (&gdt)[NATIVE_GDT_ENTRIES], u64 gdt_addr, NativeFrameSpace own,
                        NativeFrameSpace guest_stack, NativeBoot& nb) {
    constexpr const char* WHERE = "native boot";
    if ((st.cr0 & CR0_PE) == 0) return Status::error("a real-mode entry state", WHERE, st.cr0);
    const bool long_mode = (st.efer & EFER_LMA) != 0;
    if ((st.cr0 & CR0_PG) != 0 && !long_mode)
        return Status::error("a 32-bit entry state with paging (only IA-32e or paging off)", WHERE, st.cr0);
    if (long_mode && ((st.cr0 & CR0_PG) == 0 || (st.cr4 & CR4_PAE) == 0 || (st.efer & EFER_LME) == 0))
        return Status::error("an IA-32e entry state without paging, PAE or LME", WHERE, st.cr0);
    if (own.space == nullptr) return Status::error("no frame space", WHERE);
    for (u64& e : gdt) e = 0;
    gdt[NATIVE_COMPAT_CS_INDEX] = gdt_descriptor_of(COMPAT_CODE);
    EVMM_TRY(place(gdt, st.seg[EVMM_SEG_CS], "CS", false));
    // SS may be null for a 64-bit target at CPL 0 (IRETQ allows it, SDM Vol. 3A §6.14.3), not for a 32-bit one.
    EVMM_TRY(place(gdt, st.seg[EVMM_SEG_SS], "SS", long_mode));
    EVMM_TRY(place(gdt, st.seg[EVMM_SEG_DS], "DS", true));
    EVMM_TRY(place(gdt, st.seg[EVMM_SEG_ES], "ES", true));
    EVMM_TRY(place(gdt, st.seg[EVMM_SEG_FS], "FS", true));
    EVMM_TRY(place(gdt, st.seg[EVMM_SEG_GS], "GS", true));
    if (!long_mode && (st.rip >= FOUR_GIB || st.gp[EVMM_GP_RSP] >= FOUR_GIB || gdt_addr >= FOUR_GIB ||
                       own.addr >= FOUR_GIB || st.idtr.base >= FOUR_GIB))
        return Status::error("a 32-bit entry state with addresses above 4 GiB", WHERE, st.rip);

    nb = NativeBoot{};
    for (u32 i = 0; i < EVMM_GP_COUNT; ++i) nb.gp[i] = st.gp[i];
    nb.cr0 = st.cr0;
    nb.cr3 = st.cr3;
    nb.cr4 = st.cr4;
    nb.efer = st.efer & ~EFER_LMA; // LMA is the processor's (read-only); LME carries IA-32e mode
    nb.long_mode = long_mode ? 1 : 0;
    nb.rflags = st.rflags;
    nb.ds = st.seg[EVMM_SEG_DS].selector;
    nb.es = st.seg[EVMM_SEG_ES].selector;
    nb.fs = st.seg[EVMM_SEG_FS].selector;
    nb.gs = st.seg[EVMM_SEG_GS].selector;
    nb.ss = st.seg[EVMM_SEG_SS].selector;
    nb.compat_cs = NATIVE_COMPAT_CS;
    nb.gdtr = NativeTableReg{static_cast<u16>(NATIVE_GDT_ENTRIES * sizeof(u64) - 1), gdt_addr};
    nb.idtr = NativeTableReg{static_cast<u16>(st.idtr.limit), st.idtr.base};
    const u64 cs = st.seg[EVMM_SEG_CS].selector;
    if (long_mode) {
        // IRETQ pops RIP, CS, RFLAGS, RSP, SS (SDM Vol. 2A "IRET"): RSP and SS are the state's.
        const u64 frame[NATIVE_FRAME_WORDS] = {st.rip, cs, st.rflags, st.gp[EVMM_GP_RSP], st.seg[EVMM_SEG_SS].selector};
        for (u32 i = 0; i < NATIVE_FRAME_WORDS; ++i) own.space[i] = frame[i];
        nb.frame = own.addr;
        return Status::success();
    }
    // A 32-bit LRET pops EIP, then CS (its upper 16 bits discarded): 8 bytes just below the state's stack pointer,
    // so that ESP is the state's afterwards; without a stack (Multiboot leaves ESP undefined) in evmm's memory.
    const u64 lret = st.rip | (cs << 32);
    const u64 rsp = st.gp[EVMM_GP_RSP];
    if (rsp != 0) {
        if (guest_stack.space == nullptr || guest_stack.addr != rsp - sizeof(u64))
            return Status::error("no frame space below the state's stack", WHERE, rsp);
        guest_stack.space[0] = lret;
        nb.frame = guest_stack.addr;
    } else {
        own.space[0] = lret;
        nb.frame = own.addr;
    }
    return Status::success();
}

} // namespace evmm
