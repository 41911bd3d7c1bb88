// Exception fixups: instructions that may fault on a CPU evmm does not know (RDMSR/WRMSR of an MSR the SDM does not
// guarantee there) are listed in the section .evmm_extable as (faulting RIP, fixup RIP) pairs. The #GP handlers of
// the loader (loader/loader_isr.cpp) and the VMM (vmm/host/panic.cpp) look the faulting RIP up and, on a hit, resume
// at the fixup instead of stopping: a fault there is an answer ("not on this CPU"), never a triple fault.
//
// Each field is a 32-bit offset from the field itself to its target (as Linux's relative exception tables): no
// relocations in the position-independent VMM, and the same table works at any load address.
#pragma once

#include "evmm/base.h"

namespace evmm {

struct ExtableEntry {
    i32 insn;  // the instruction that may fault, relative to &insn
    i32 fixup; // where execution resumes after its fault, relative to &fixup

    u64 insn_addr() const { return reinterpret_cast<uptr>(&insn) + static_cast<i64>(insn); }
    u64 fixup_addr() const { return reinterpret_cast<uptr>(&fixup) + static_cast<i64>(fixup); }
};
static_assert(sizeof(ExtableEntry) == 8);

// The fixup RIP for a fault at `rip`, or 0 when `rip` is in no entry of [begin, end) (a linear search: the table has
// a few dozen entries at most and is consulted only on a fault). Pure: the host tests build tables in memory.
inline u64 extable_fixup(const ExtableEntry* begin, const ExtableEntry* end, u64 rip) {
    for (const ExtableEntry* e = begin; e != end; ++e)
        if (e->insn_addr() == rip) return e->fixup_addr();
    return 0;
}

// This image's table (loader.ld, vmm.ld).
extern "C" const ExtableEntry __evmm_extable_start[];
extern "C" const ExtableEntry __evmm_extable_end[];

inline u64 extable_fixup(u64 rip) { return extable_fixup(__evmm_extable_start, __evmm_extable_end, rip); }

} // namespace evmm

// One table entry from inline assembly: the instruction at label `insn`, its fixup at label `fixup`.
#define EVMM_EXTABLE_ENTRY(insn, fixup)     \
    ".pushsection .evmm_extable, \"a\"\n\t" \
    ".balign 4\n\t"                         \
    ".long " #insn                          \
    " - .\n\t"                              \
    ".long " #fixup                         \
    " - .\n\t"                              \
    ".popsection\n\t"
