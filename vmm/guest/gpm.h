// Guest physical memory (GPM) of guest0: its guest-physical address space as an identity-mapped EPT.
//
// guest0 sees the machine's physical memory at the same addresses (gpa = hpa) with full rights, except the holes
// the hypervisor keeps for itself (its runtime region: guest0 must never reach it), which are left not present so
// that any access is an EPT violation. Each leaf carries the MTRR memory type of its range: with EPT active the
// MTRRs no longer apply to guest-physical accesses and the EPT memory type takes their place (SDM Vol. 3C
// §29.3.7.2), so the guest keeps the native caching of RAM (WB), legacy VGA / PCI MMIO (UC), and so on.
#pragma once

#include "arch/x86_64/ept.h"
#include "arch/x86_64/mtrr.h"
#include "evmm/base.h"
#include "evmm/status.h"
#include "lib/formats/memmap.h"

namespace evmm {

// What gpm_build_identity_ept wrote: leaves by size, and the EPT table pages in use afterwards (root included).
struct GpmStats {
    u64 pages_1g;
    u64 pages_2m;
    u64 pages_4k;
    u64 table_pages;
};

// Identity-maps guest-physical [0, limit) RWX into ept (initialized), except the holes, which are left (made) not
// present. Each chunk gets the largest page (1 GiB, then 2 MiB, then 4 KiB; the large ones only when allowed, i.e.
// IA32_VMX_EPT_VPID_CAP bits 17 / 16) that is aligned, ends at or below limit, touches no hole and has one
// uniform MTRR memory type over its whole range, which becomes the leaf's EPT memory type (ignore-PAT 0).
//
// The address space is walked in strides of the chosen page size, so the cost is one leaf per page written:
// a typical map (RAM WB, a UC PCI hole, a few holes) takes a few hundred to a few thousand leaves, 4 KiB pages
// appearing only in 2 MiB blocks that a hole edge or an MTRR boundary cuts (e.g. the first 2 MiB with its fixed
// ranges).
//
// limit: 4 KiB aligned, 0 < limit <= 2^48 (the caller picks max(4 GiB, top of memory rounded up)). holes: ranges
// [base, base+length) (nullptr allowed when hole_count is 0), widened to 4 KiB boundaries; zero-length holes and
// the parts beyond limit are ignored; a hole that wraps past 2^64 is an error. stats is filled on success and on
// failure (what was written so far). On error the EPT may be partly built, but no hole is ever mapped by it.
//
// exec_only (the secure world's EPT): when given, only pages inside that range are executable, the rest is mapped
// read/write without execute; no leaf straddles its edges.
Status gpm_build_identity_ept(EptTables& ept, const MtrrState& mtrr, u64 limit, const MemoryMap::Range* holes,
                              u32 hole_count, GpmStats& stats, bool allow_2m = true, bool allow_1g = true,
                              const MemoryMap::Range* exec_only = nullptr);

} // namespace evmm
