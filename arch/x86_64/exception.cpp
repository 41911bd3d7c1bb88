#include "arch/x86_64/exception.h"

namespace evmm {
namespace {

struct Names {
    const char* mnemonic;
    const char* name;
};

// Intel SDM Vol. 3A, Table 7-1.
constexpr Names NAMES[EXCEPTION_VECTORS] = {
    {"#DE", "divide error"},
    {"#DB", "debug"},
    {"NMI", "non-maskable interrupt"},
    {"#BP", "breakpoint"},
    {"#OF", "overflow"},
    {"#BR", "BOUND range exceeded"},
    {"#UD", "invalid opcode"},
    {"#NM", "device not available"},
    {"#DF", "double fault"},
    {"#CSO", "coprocessor segment overrun"},
    {"#TS", "invalid TSS"},
    {"#NP", "segment not present"},
    {"#SS", "stack-segment fault"},
    {"#GP", "general protection"},
    {"#PF", "page fault"},
    {"#15", "reserved"},
    {"#MF", "x87 floating-point error"},
    {"#AC", "alignment check"},
    {"#MC", "machine check"},
    {"#XM", "SIMD floating-point exception"},
    {"#VE", "virtualization exception"},
    {"#CP", "control protection"},
    {"#22", "reserved"},
    {"#23", "reserved"},
    {"#24", "reserved"},
    {"#25", "reserved"},
    {"#26", "reserved"},
    {"#27", "reserved"},
    {"#HV", "hypervisor injection"},
    {"#VC", "VMM communication"},
    {"#SX", "security exception"},
    {"#31", "reserved"},
};

} // namespace

const char* exception_mnemonic(u64 vector) { return vector < EXCEPTION_VECTORS ? NAMES[vector].mnemonic : "INT"; }
const char* exception_name(u64 vector) { return vector < EXCEPTION_VECTORS ? NAMES[vector].name : "interrupt"; }

} // namespace evmm
