// Booting guest0 without evmm (`fallback=boot-guest0`, docs/options.md): when the CPU cannot run evmm (no VT-x and no
// SVM, or a feature evmm needs is missing), stage 6 loads guest0's entry state (the one its boot loader built for
// the VMCS or VMCB, vmm/guest/boot/) into the real CPU and jumps to guest0's entry: no isolation, no hypervisor,
// evmm's memory stays out of guest0's memory map. guest0's APs wait in evmm (interrupts off, HLT) until guest0
// starts them itself with INIT-SIPI-SIPI, as on bare metal.
//
// The plan is pure (unit-tested): a GDT with a descriptor for each of the state's segment selectors (SDM Vol. 3A
// §3.4.5), the registers, and the far-return frame; arch/x86_64/native_entry.S carries it out:
//   64-bit targets (IA-32e mode, e.g. Linux's 64-bit entry): CR3 (their page tables identity-map the first 4 GiB,
//     where evmm's code and this plan live), EFER, CR4, CR0, IDTR, the data segments, then IRETQ to CS:RIP with
//     SS:RSP and RFLAGS;
//   32-bit protected-mode targets without paging (Multiboot1/2, Linux's 32-bit entry): a far return to a 32-bit
//     code segment (compatibility mode), CR0.PG cleared, which leaves IA-32e mode (SDM Vol. 3A §10.8.5.4), then
//     EFER, CR4, CR3, CR0, IDTR, RFLAGS, the segments, the registers, and a 32-bit far return to CS:EIP.
#pragma once

#include "evmm/base.h"
#include "evmm/gcpu_state.h"
#include "evmm/status.h"

namespace evmm {

// The 8-byte GDT descriptor of a code or data segment given in VMX access-rights form (SDM Vol. 3A §3.4.5
// Figure 3-8; the access rights are the descriptor's bits 40-55 shifted down, Vol. 3C §25.4.1 Table 25-2).
u64 gdt_descriptor_of(const evmm_segment_t& s);

inline constexpr u32 NATIVE_GDT_ENTRIES = 16;
// The 32-bit code segment the switch out of IA-32e mode runs on: the last entry, which a state's selectors must not
// use.
inline constexpr u32 NATIVE_COMPAT_CS_INDEX = NATIVE_GDT_ENTRIES - 1;
inline constexpr u16 NATIVE_COMPAT_CS = NATIVE_COMPAT_CS_INDEX << 3;

struct [[gnu::packed]] NativeTableReg {
    u16 limit;
    u64 base; // 32-bit targets: LIDT/LGDT outside 64-bit mode read the low 4 bytes
};
static_assert(sizeof(NativeTableReg) == 10);

// What arch/x86_64/native_entry.S reads; its offsets are #defined there (static_asserts below keep both in step).
struct NativeBoot {
    u64 gp[16];         // 0x00: RAX..R15 (evmm_gcpu_state_t order); 32-bit targets use the low halves
    u64 cr0, cr3, cr4;  // 0x80
    u64 efer;           // 0x98
    u64 frame;          // 0xA0: the stack pointer at the far return (its frame written by native_boot_plan)
    u64 long_mode;      // 0xA8: 1 = a 64-bit target (IRETQ), 0 = 32-bit protected mode (LRET)
    u64 rflags;         // 0xB0
    u16 ds, es, fs, gs; // 0xB8
    u16 ss, compat_cs;  // 0xC0
    u32 reserved;
    NativeTableReg gdtr; // 0xC8
    u16 pad1[3];
    NativeTableReg idtr; // 0xD8
    u16 pad2[3];
};
static_assert(offsetof(NativeBoot, cr0) == 0x80 && offsetof(NativeBoot, efer) == 0x98);
static_assert(offsetof(NativeBoot, frame) == 0xA0 && offsetof(NativeBoot, long_mode) == 0xA8);
static_assert(offsetof(NativeBoot, rflags) == 0xB0 && offsetof(NativeBoot, ds) == 0xB8);
static_assert(offsetof(NativeBoot, ss) == 0xC0 && offsetof(NativeBoot, compat_cs) == 0xC2);
static_assert(offsetof(NativeBoot, gdtr) == 0xC8 && offsetof(NativeBoot, idtr) == 0xD8);

// Where the far-return frame goes: `space` (at least NATIVE_FRAME_WORDS u64s) with its identity address `addr`.
inline constexpr u32 NATIVE_FRAME_WORDS = 5; // IRETQ: RIP, CS, RFLAGS, RSP, SS
struct NativeFrameSpace {
    u64* space;
    u64 addr;
};

// Plans the native entry of `st` (pure): fills gdt (at identity address gdt_addr) with a descriptor for each segment
// selector the state uses (CS, SS, DS, ES, FS, GS) and the compatibility-mode code segment, and nb with the
// registers. The frame: 64-bit targets get an IRETQ frame in `own` (evmm's memory); 32-bit targets a 32-bit LRET
// frame (EIP, CS) in `own`, or, when the state has a stack (RSP != 0), in `guest_stack` (the 8 bytes below it, which
// the caller maps at st.gp[RSP] - 8) so that ESP is the state's after the return. Errors: a real-mode or paging-only
// state, a selector in the LDT, beyond NATIVE_COMPAT_CS_INDEX, or shared by segments with different descriptors, a
// null CS or SS, code or data above 4 GiB for a 32-bit target.
Status native_boot_plan(const evmm_gcpu_state_t& st, u64 (&gdt)[NATIVE_GDT_ENTRIES], u64 gdt_addr, NativeFrameSpace own,
                        NativeFrameSpace guest_stack, NativeBoot& nb);

// Stage 6 of the BSP with fallback=boot-guest0: plans st's entry and enters it. Returns only with the plan's error.
// (vmm/guest/native_launch.cpp; arch/x86_64/native_entry.S)
Status native_boot(const evmm_gcpu_state_t& st);
extern "C" [[noreturn]] void evmm_native_enter(const NativeBoot* nb);

} // namespace evmm
