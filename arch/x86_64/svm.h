// AMD SVM hardware structures and instructions (AMD64 Architecture Programmer's Manual Vol. 2, chapter 15 "Secure
// Virtual Machine", and Appendix B "Layout of VMCB", Appendix C "SVM Intercept Exit Codes").
#pragma once

#include "evmm/base.h"

namespace evmm {

// --- detection and enabling (APM Vol. 2 §15.4, §15.30) ------------------------------------------------------
inline constexpr u32 CPUID_EXT_FEATURES = 0x80000001; // ECX[2] = SVM
inline constexpr u32 CPUID_EXT_ECX_SVM = 1u << 2;
inline constexpr u32 CPUID_SVM_FEATURES = 0x8000000A;        // EBX = number of ASIDs, EDX = features
inline constexpr u32 CPUID_SVM_EDX_NP = 1u << 0;             // nested paging
inline constexpr u32 CPUID_SVM_EDX_NRIPS = 1u << 3;          // next RIP saved on #VMEXIT
inline constexpr u32 CPUID_SVM_EDX_FLUSH_BY_ASID = 1u << 6;  // TLB_CONTROL 3 and 7 (§15.16.1)
inline constexpr u32 CPUID_SVM_EDX_DECODE_ASSISTS = 1u << 7; // EXITINFO1 of MOV CR/DR, INVLPG (§15.33)
inline constexpr u32 MSR_VM_CR = 0xC0010114;                 // §15.30.1: bit 4 = SVMDIS
inline constexpr u64 VM_CR_SVMDIS = bit(4);
inline constexpr u32 MSR_VM_HSAVE_PA = 0xC0010117; // §15.30.4: the host state-save area
inline constexpr u64 EFER_SVME = bit(12);          // §15.4

// --- VMCB (Appendix B) ---------------------------------------------------------------------------------------
// A segment in the state-save area (Table B-2): attributes are descriptor bits 47:40 in 7:0, bits 55:52 in 11:8.
struct VmcbSegment {
    u16 selector;
    u16 attrib;
    u32 limit;
    u64 base;
};
static_assert(sizeof(VmcbSegment) == 16);

// Control area, offsets 000h-3FFh (Table B-1).
struct VmcbControl {
    u32 intercept_cr;   // 000h: 15:0 reads, 31:16 writes
    u32 intercept_dr;   // 004h
    u32 intercept_exc;  // 008h: one bit per exception vector
    u32 intercept_misc; // 00Ch: SvmIntercept1
    u32 intercept_svm;  // 010h: SvmIntercept2
    u32 intercept_v5;   // 014h
    u8 reserved1[0x3C - 0x18];
    u16 pause_filter_threshold; // 03Ch
    u16 pause_filter_count;     // 03Eh
    u64 iopm_base_pa;           // 040h
    u64 msrpm_base_pa;          // 048h
    u64 tsc_offset;             // 050h
    u32 guest_asid;             // 058h
    u8 tlb_control;             // 05Ch
    u8 reserved2[3];
    u64 vintr;            // 060h: V_TPR, V_IRQ, V_INTR_MASKING (bit 24), ...
    u64 interrupt_shadow; // 068h: bit 0
    u64 exitcode;         // 070h
    u64 exitinfo1;        // 078h
    u64 exitinfo2;        // 080h
    u64 exitintinfo;      // 088h
    u64 np_enable;        // 090h: bit 0
    u64 avic[2];          // 098h
    u64 eventinj;         // 0A8h
    u64 n_cr3;            // 0B0h
    u64 lbr_virt;         // 0B8h
    u32 clean_bits;       // 0C0h
    u32 reserved3;
    u64 nrip;          // 0C8h
    u8 insn_len;       // 0D0h
    u8 insn_bytes[15]; // 0D1h
    u8 reserved4[0x400 - 0xE0];
};
static_assert(sizeof(VmcbControl) == 0x400);
static_assert(offsetof(VmcbControl, iopm_base_pa) == 0x40 && offsetof(VmcbControl, guest_asid) == 0x58);
static_assert(offsetof(VmcbControl, exitcode) == 0x70 && offsetof(VmcbControl, eventinj) == 0xA8);
static_assert(offsetof(VmcbControl, n_cr3) == 0xB0 && offsetof(VmcbControl, nrip) == 0xC8);

// State-save area, offsets 400h- (Table B-2; offsets below are from its start).
struct VmcbSave {
    VmcbSegment es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; // 000h-09Fh
    u8 reserved1[0xCB - 0xA0];
    u8 cpl; // 0CBh
    u32 reserved2;
    u64 efer; // 0D0h
    u8 reserved3[0x148 - 0xD8];
    u64 cr4, cr3, cr0, dr7, dr6, rflags, rip; // 148h-178h
    u8 reserved4[0x1D8 - 0x180];
    u64 rsp; // 1D8h
    u8 reserved5[0x1F8 - 0x1E0];
    u64 rax;                                          // 1F8h
    u64 star, lstar, cstar, sfmask, kernel_gs_base;   // 200h-220h
    u64 sysenter_cs, sysenter_esp, sysenter_eip, cr2; // 228h-240h
    u8 reserved6[0x268 - 0x248];
    u64 g_pat; // 268h
    u8 reserved7[0xC00 - 0x270];
};
static_assert(offsetof(VmcbSave, cpl) == 0xCB && offsetof(VmcbSave, efer) == 0xD0);
static_assert(offsetof(VmcbSave, cr4) == 0x148 && offsetof(VmcbSave, rip) == 0x178);
static_assert(offsetof(VmcbSave, rsp) == 0x1D8 && offsetof(VmcbSave, rax) == 0x1F8);
static_assert(offsetof(VmcbSave, cr2) == 0x240 && offsetof(VmcbSave, g_pat) == 0x268);

struct Vmcb {
    VmcbControl control;
    VmcbSave save;
};
static_assert(sizeof(Vmcb) == 4096 && offsetof(Vmcb, save) == 0x400);

// Intercept vectors 0 (VMCB 000h: CR reads in bits 15:0, CR writes in bits 31:16) and 1 (004h: DR reads, DR writes
// likewise), Table B-1; §15.9, §15.12.
constexpr u32 svm_intercept_cr_read(u32 cr) { return 1u << cr; }
constexpr u32 svm_intercept_cr_write(u32 cr) { return 1u << (16 + cr); }
constexpr u32 svm_intercept_dr_read(u32 dr) { return 1u << dr; }
constexpr u32 svm_intercept_dr_write(u32 dr) { return 1u << (16 + dr); }
// TLB_CONTROL (VMCB 05Ch, §15.16.1).
inline constexpr u8 TLB_CONTROL_DO_NOTHING = 0, TLB_CONTROL_FLUSH_ALL = 1, TLB_CONTROL_FLUSH_GUEST = 3;
// VMCB 060h (§15.21.4 "Injecting Virtual (INTR) Interrupts"): V_IRQ (bit 8) asks for a virtual interrupt, V_IGN_TPR
// (bit 20) ignores V_TPR for it; with the VINTR intercept the CPU exits when the guest could take it (IF = 1, no
// interrupt shadow) instead of delivering it.
inline constexpr u64 VINTR_V_IRQ = bit(8), VINTR_V_IGN_TPR = bit(20);
// V_INTR_MASKING (bit 24, §15.21.1): physical interrupts are masked by the host's RFLAGS.IF as VMRUN saved it, not
// by the guest's (whose IF then masks only virtual interrupts).
inline constexpr u64 VINTR_V_INTR_MASKING = bit(24);
// EXITINFO1 of a MOV CRn/DRn intercept with decode assists (§15.33.4): bit 63 = MOV (not CLTS/LMSW/SMSW), 3:0 = GPR.
inline constexpr u64 EXITINFO1_MOV_CR = bit(63);
inline constexpr u64 EXITINFO1_GPR_MASK = 0xF;

// Intercept vector 3 (VMCB 00Ch) and 4 (010h) bits (Table B-1).
enum class SvmIntercept1 : u32 {
    INTR = bit(0),
    NMI = bit(1),
    SMI = bit(2),
    INIT = bit(3),
    VINTR = bit(4),
    CR0_SEL_WRITE = bit(5),
    RDTSC = bit(14),
    RDPMC = bit(15),
    CPUID = bit(18),
    IRET = bit(20),
    INVD = bit(22),
    HLT = bit(24),
    INVLPGA = bit(26),
    IOIO_PROT = bit(27),
    MSR_PROT = bit(28),
    TASK_SWITCH = bit(29),
    SHUTDOWN = bit(31),
};
enum class SvmIntercept2 : u32 {
    VMRUN = bit(0),
    VMMCALL = bit(1),
    VMLOAD = bit(2),
    VMSAVE = bit(3),
    STGI = bit(4),
    CLGI = bit(5),
    SKINIT = bit(6),
    RDTSCP = bit(7),
    MONITOR = bit(10),
    MWAIT = bit(11),
    MWAIT_CONDITIONAL = bit(12),
    XSETBV = bit(13),
};
constexpr u32 operator|(SvmIntercept1 a, SvmIntercept1 b) { return static_cast<u32>(a) | static_cast<u32>(b); }
constexpr u32 operator|(u32 a, SvmIntercept1 b) { return a | static_cast<u32>(b); }
constexpr u32 operator|(SvmIntercept2 a, SvmIntercept2 b) { return static_cast<u32>(a) | static_cast<u32>(b); }
constexpr u32 operator|(u32 a, SvmIntercept2 b) { return a | static_cast<u32>(b); }

// #VMEXIT codes (Appendix C, Table C-1).
enum class SvmExit : u64 {
    CR0_READ = 0x00, // + CR number; CR writes from 10h (§15.9)
    CR0_WRITE = 0x10,
    CR3_WRITE = 0x13,
    CR4_WRITE = 0x14,
    CR8_WRITE = 0x18,
    DR0_READ = 0x20, // + DR number; DR writes from 30h (§15.12)
    DR0_WRITE = 0x30,
    EXCP_BASE = 0x40,
    INTR = 0x60,
    NMI = 0x61,
    SMI = 0x62,
    INIT = 0x63,
    VINTR = 0x64,
    CR0_SEL_WRITE = 0x65,
    RDTSC = 0x6E,
    RDPMC = 0x6F,
    CPUID = 0x72,
    IRET = 0x74,
    INVD = 0x76,
    HLT = 0x78,
    INVLPGA = 0x7A,
    IOIO = 0x7B,
    MSR = 0x7C,
    TASK_SWITCH = 0x7D,
    SHUTDOWN = 0x7F,
    VMRUN = 0x80,
    VMMCALL = 0x81,
    VMLOAD = 0x82,
    VMSAVE = 0x83,
    STGI = 0x84,
    CLGI = 0x85,
    SKINIT = 0x86,
    RDTSCP = 0x87,
    MONITOR = 0x8A,
    MWAIT = 0x8B,
    MWAIT_CONDITIONAL = 0x8C,
    XSETBV = 0x8D,
    NPF = 0x400,
    INVALID = ~u64{0},
};

// EXITINFO1 of IOIO (§15.10.2, Figure 15-2).
inline constexpr u64 IOIO_TYPE_IN = bit(0);
inline constexpr u64 IOIO_STR = bit(2);
inline constexpr u64 IOIO_REP = bit(3);
inline constexpr unsigned IOIO_SZ_SHIFT = 4;   // bits 6:4: 8/16/32-bit operand
inline constexpr unsigned IOIO_ADDR_SHIFT = 7; // bits 9:7: 16/32/64-bit address
inline constexpr unsigned IOIO_SEG_SHIFT = 10; // bits 12:10
inline constexpr unsigned IOIO_PORT_SHIFT = 16;
// EXITINFO1 of a nested page fault (§15.25.6): a #PF error code.
inline constexpr u64 NPF_P = bit(0), NPF_RW = bit(1), NPF_ID = bit(4);
// EVENTINJ / EXITINTINFO (§15.20, Figure 15-3).
inline constexpr u64 EVENT_VALID = bit(31);
inline constexpr u64 EVENT_EV = bit(11); // error code valid
inline constexpr unsigned EVENT_TYPE_SHIFT = 8;
inline constexpr u64 EVENT_TYPE_MASK = 7, EVENT_VECTOR_MASK = 0xFF;
inline constexpr u64 EVENT_TYPE_INTR = 0, EVENT_TYPE_NMI = 2, EVENT_TYPE_EXCEPTION = 3, EVENT_TYPE_SOFT_INT = 4;

inline void svm_clgi() { asm volatile("clgi" ::: "memory"); }
inline void svm_stgi() { asm volatile("stgi" ::: "memory"); }
inline void svm_vmsave(u64 pa) { asm volatile("vmsave %%rax" : : "a"(pa) : "memory"); }

} // namespace evmm
