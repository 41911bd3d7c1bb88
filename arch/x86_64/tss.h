// The legacy (protected-mode) task-state segments and the 8-byte segment descriptor that task switching reads and
// writes (Intel SDM Vol. 3A chapter 9 "Task Management": §9.2.1 Figure 9-2, the 32-bit TSS; §9.6 Figure 9-10, the
// 16-bit TSS; §9.2.2 the TSS descriptor; §3.4.5 Figure 3-8, the segment descriptor; Table 3-1 and 3-2, the types).
// The 64-bit TSS is arch/x86_64/gdt.h's Tss64; 64-bit mode has no task switches (§9.7).
#pragma once

#include "evmm/base.h"

namespace evmm {

// 32-bit TSS (§9.2.1, Figure 9-2). The "reserved" halves next to each 16-bit field are kept as they are on a save.
struct [[gnu::packed]] Tss32 {
    u16 prev_task_link, reserved0;
    u32 esp0;
    u16 ss0, reserved1;
    u32 esp1;
    u16 ss1, reserved2;
    u32 esp2;
    u16 ss2, reserved3;
    u32 cr3, eip, eflags;
    u32 gpr[8]; // EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (the instruction encoding's order)
    struct [[gnu::packed]] Sel {
        u16 selector, reserved;
    } seg[6]; // ES, CS, SS, DS, FS, GS (the order of evmm_gcpu_state_t.seg[])
    u16 ldt, reserved4;
    u16 trap; // bit 0: T, the debug trap flag (§9.2.1)
    u16 iomap_base;
};
static_assert(sizeof(Tss32) == 104);
static_assert(offsetof(Tss32, cr3) == 0x1C);
static_assert(offsetof(Tss32, eip) == 0x20);
static_assert(offsetof(Tss32, eflags) == 0x24);
static_assert(offsetof(Tss32, gpr) == 0x28);
static_assert(offsetof(Tss32, seg) == 0x48);
static_assert(offsetof(Tss32, ldt) == 0x60);
static_assert(offsetof(Tss32, trap) == 0x64);
inline constexpr u16 TSS32_TRAP_T = 1u << 0;
// The smallest limit of a 32-bit TSS (§9.2.2: "limit ... less than 67H" raises #TS).
inline constexpr u32 TSS32_MIN_LIMIT = 0x67;
// The part a task switch saves into the old TSS (§9.3 step 7): EIP through the GS selector.
inline constexpr u32 TSS32_DYNAMIC_OFFSET = offsetof(Tss32, eip);
inline constexpr u32 TSS32_DYNAMIC_SIZE = offsetof(Tss32, ldt) - offsetof(Tss32, eip);

// 16-bit TSS (§9.6, Figure 9-10), for its size and type only: evmm does not emulate switches to or from it.
struct [[gnu::packed]] Tss16 {
    u16 prev_task_link, sp0, ss0, sp1, ss1, sp2, ss2, ip, flags;
    u16 gpr[8];
    u16 seg[4]; // ES, CS, SS, DS
    u16 ldt;
};
static_assert(sizeof(Tss16) == 44);
static_assert(offsetof(Tss16, ip) == 14);
static_assert(offsetof(Tss16, ldt) == 42);

// System-segment and gate types (S = 0) outside IA-32e mode (§3.5, Table 3-2).
enum class SystemType : u8 {
    Tss16Available = 1,
    Ldt = 2,
    Tss16Busy = 3,
    CallGate16 = 4,
    TaskGate = 5,
    InterruptGate16 = 6,
    TrapGate16 = 7,
    Tss32Available = 9,
    Tss32Busy = 11,
    CallGate32 = 12,
    InterruptGate32 = 14,
    TrapGate32 = 15,
};

// Segment-descriptor types (SDM Vol. 3A §3.4.5.1, Table 3-1; §3.5, Table 3-2) as they appear in bits 3:0.
inline constexpr u32 SEG_TYPE_ACCESSED = 1u << 0;
inline constexpr u32 SEG_TYPE_READ_WRITE = 1u << 1; // data: writable; code: readable
inline constexpr u32 SEG_TYPE_CONFORMING = 1u << 2; // data: expand-down; code: conforming
inline constexpr u32 SEG_TYPE_CODE = 1u << 3;
inline constexpr u32 SEG_TYPE_DATA_RW_ACCESSED = 3;
inline constexpr u32 SEG_TYPE_DATA_RW_DOWN_ACCESSED = 7;
inline constexpr u32 SEG_TYPE_CODE_X_ACCESSED = 9;
inline constexpr u32 SEG_TYPE_CODE_XR_ACCESSED = 11;
inline constexpr u32 SEG_TYPE_CODE_XC_ACCESSED = 13;
inline constexpr u32 SEG_TYPE_CODE_XRC_ACCESSED = 15;
inline constexpr u32 SEG_TYPE_SYS_LDT = 2;
inline constexpr u32 SEG_TYPE_SYS_TSS16_BUSY = 3;
inline constexpr u32 SEG_TYPE_SYS_TSS_BUSY = 11; // 32-bit busy TSS; 64-bit busy TSS in IA-32e mode

// Selector fields (SDM Vol. 3A §3.4.2, Figure 3-6).
inline constexpr u16 SELECTOR_RPL_MASK = 0x3;
inline constexpr u16 SELECTOR_TI = 1u << 2;
inline constexpr u16 SELECTOR_INDEX_MASK = 0xFFF8;
constexpr u32 selector_rpl(u16 sel) { return sel & SELECTOR_RPL_MASK; }
constexpr bool selector_null(u16 sel) { return (sel & ~SELECTOR_RPL_MASK) == 0; } // index 0 in the GDT

// An 8-byte legacy segment or system descriptor (§3.4.5, Figure 3-8).
struct SegmentDescriptor {
    u64 raw;

    constexpr u32 limit_raw() const { return static_cast<u32>((raw & 0xFFFF) | ((raw >> 32) & 0xF0000)); }
    constexpr bool granularity() const { return (raw >> 55) & 1; }
    // The limit in bytes (with G: 4 KiB units, the low 12 bits all ones).
    constexpr u32 limit() const { return granularity() ? (limit_raw() << 12) | 0xFFF : limit_raw(); }
    constexpr u32 base() const { return static_cast<u32>(((raw >> 16) & 0xFFFFFF) | (((raw >> 56) & 0xFF) << 24)); }
    constexpr u8 type() const { return static_cast<u8>((raw >> 40) & 0xF); }
    constexpr bool code_data() const { return (raw >> 44) & 1; } // S
    constexpr u32 dpl() const { return (raw >> 45) & 3; }
    constexpr bool present() const { return (raw >> 47) & 1; }
    constexpr bool system(SystemType t) const { return !code_data() && type() == static_cast<u8>(t); }
    constexpr void set_type(u8 t) { raw = (raw & ~(u64{0xF} << 40)) | (u64{t & 0xFu} << 40); }
    // Descriptor bits 55:40 as a segment register's attributes (the VMX access-rights layout of evmm_segment_t:
    // type, S, DPL, P in bits 7:0, AVL, L, D/B, G in bits 15:12; SDM Vol. 3C §25.4.1 Table 25-2).
    constexpr u32 attributes() const { return static_cast<u32>((raw >> 40) & 0xF0FF); }
};
static_assert(sizeof(SegmentDescriptor) == 8);
static_assert(SegmentDescriptor{0x00CF9A000000FFFFull}.limit() == 0xFFFFFFFF);
static_assert(SegmentDescriptor{0x00CF9A000000FFFFull}.attributes() == 0xC09A);
static_assert(SegmentDescriptor{0xAB008912340000FFull}.base() == 0xAB123400);

} // namespace evmm
