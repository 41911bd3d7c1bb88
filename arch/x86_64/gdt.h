// Global Descriptor Table and the 64-bit Task-State Segment (Intel SDM Vol. 3A §3.4.5 "Segment Descriptors",
// §9.7 "Task Management in 64-bit Mode", Figure 9-11 for the TSS, Figure 9-4 for the 16-byte TSS descriptor).
#pragma once

#include "arch/x86_64/idt.h"
#include "evmm/base.h"

namespace evmm {

struct [[gnu::packed]] Tss64 {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7]; // ist[0] is IST1
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
};
static_assert(sizeof(Tss64) == 104);
static_assert(offsetof(Tss64, ist) == 36);

// Selectors of evmm's host GDT (also the VMCS host selectors later: RPL 0, TI 0).
enum class Selector : u16 { Null = 0x00, Code64 = 0x08, Data = 0x10, Tss = 0x18 };
inline constexpr unsigned GDT_ENTRIES = 5; // null, code, data, TSS (2 slots)

// IST slots used for the exceptions that must not run on a possibly broken stack.
enum class IstSlot : u8 { None = 0, DoubleFault = 1, Nmi = 2, MachineCheck = 3 };

// Descriptor bits (SDM Vol. 3A §3.4.5, Figure 3-8).
inline constexpr u64 DESC_ACCESSED = bit(40);
inline constexpr u64 DESC_RW = bit(41);
inline constexpr u64 DESC_EXEC = bit(43);
inline constexpr u64 DESC_CODE_DATA = bit(44); // S: 1 = code/data
inline constexpr u64 DESC_PRESENT = bit(47);
inline constexpr u64 DESC_LONG = bit(53);
inline constexpr u64 DESC_DB = bit(54);
inline constexpr u64 DESC_GRANULARITY = bit(55);
inline constexpr u64 DESC_LIMIT_MAX = 0x000F00000000FFFFull; // limit 0xFFFFF (with G: 4 GiB)
inline constexpr u64 DESC_TYPE_TSS_AVAILABLE = u64{0x9} << 40;

struct alignas(16) Gdt {
    u64 entry[GDT_ENTRIES];
};

// Build the flat 64-bit GDT with a TSS descriptor pointing at `tss`.
void gdt_build(Gdt& gdt, const Tss64& tss);
// lgdt, reload CS (far return), DS/ES/SS, zero FS/GS selectors (bases are kept in MSRs), ltr.
void gdt_load(const Gdt& gdt);

} // namespace evmm
