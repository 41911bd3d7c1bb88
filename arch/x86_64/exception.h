// The register frame built by arch/x86_64/isr_stubs.S, and the exception vectors (Intel SDM Vol. 3A §7.3,
// Table 7-1, "Protected-Mode Exceptions and Interrupts").
#pragma once

#include "evmm/base.h"

namespace evmm {

struct ExceptionFrame {
    u64 r15, r14, r13, r12, r11, r10, r9, r8;
    u64 rdi, rsi, rbp, rbx, rdx, rcx, rax;
    u64 vector;
    u64 error_code; // 0 for vectors without one
    // Pushed by the CPU (SDM Vol. 3A §7.14.2, "64-Bit Mode Stack Frame").
    u64 rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(ExceptionFrame) == 22 * 8);
static_assert(offsetof(ExceptionFrame, vector) == 15 * 8);
static_assert(offsetof(ExceptionFrame, rip) == 17 * 8);

enum class Vector : u8 {
    DE = 0,
    DB = 1,
    NMI = 2,
    BP = 3,
    OF = 4,
    BR = 5,
    UD = 6,
    NM = 7,
    DF = 8,
    CSO = 9,
    TS = 10,
    NP = 11,
    SS = 12,
    GP = 13,
    PF = 14,
    MF = 16,
    AC = 17,
    MC = 18,
    XM = 19,
    VE = 20,
    CP = 21,
    HV = 28,
    VC = 29,
    SX = 30,
};

// Exceptions that push an error code (SDM Vol. 3A §7.3, Table 7-1; #CP with CET).
constexpr bool vector_has_error_code(Vector v) {
    switch (v) {
    case Vector::DF:
    case Vector::TS:
    case Vector::NP:
    case Vector::SS:
    case Vector::GP:
    case Vector::PF:
    case Vector::AC:
    case Vector::CP: return true;
    default: return false;
    }
}

// Fault-class exceptions (SDM Vol. 3A §6.5, Table 6-1 "Type": Fault): the saved RIP is the faulting instruction's,
// and the processor sets RF in the RFLAGS image it pushes (§17.3.1.1: "all faults (except instruction breakpoint
// faults) set the RF flag"). #DB is a fault or a trap depending on its cause; traps (#BP, #OF), NMI and aborts
// (#DF, #MC) are not faults.
constexpr bool vector_is_fault(Vector v) {
    switch (v) {
    case Vector::DE:
    case Vector::BR:
    case Vector::UD:
    case Vector::NM:
    case Vector::CSO:
    case Vector::TS:
    case Vector::NP:
    case Vector::SS:
    case Vector::GP:
    case Vector::PF:
    case Vector::MF:
    case Vector::AC:
    case Vector::XM:
    case Vector::VE:
    case Vector::CP: return true;
    default: return false;
    }
}
inline constexpr unsigned EXCEPTION_VECTORS = 32;

// #PF error code bits (SDM Vol. 3A §5.7, Figure 5-12).
inline constexpr u64 PF_ERR_PRESENT = bit(0);
inline constexpr u64 PF_ERR_WRITE = bit(1);
inline constexpr u64 PF_ERR_USER = bit(2);
inline constexpr u64 PF_ERR_RSVD = bit(3);
inline constexpr u64 PF_ERR_FETCH = bit(4);
inline constexpr unsigned IDT_VECTORS = 256;

// "#PF (page fault)" style names for the log; "reserved" for reserved vectors, "interrupt" above 31.
const char* exception_mnemonic(u64 vector);
const char* exception_name(u64 vector);

} // namespace evmm

// Called by the stubs with interrupts off (the image defines it).
extern "C" void evmm_exception_entry(evmm::ExceptionFrame* frame);
// The 256 entry stubs (arch/x86_64/isr_stubs.S), EVMM_ISR_STUB_SIZE bytes apart: vector n's at evmm_isr_stubs + n * 16.
extern "C" const char evmm_isr_stubs[];
extern "C" const evmm::u32 evmm_isr_stub_count; // 256 in the VMM, 32 (the exceptions) in the loader
inline constexpr evmm::u64 EVMM_ISR_STUB_SIZE = 16;
