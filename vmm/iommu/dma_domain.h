// A DMA domain's I/O page tables as an identity map with holes (pure logic, host-unit-tested): what a device
// assigned to the domain may reach is exactly [0, limit) minus the holes, read and write, at the same addresses.
// One builder for both IOMMUs: VT-d second-level tables (VtdSlTables) and AMD-Vi I/O page tables (AmdViIoTables).
#pragma once

#include "arch/x86_64/amdvi.h"
#include "arch/x86_64/vtd.h"
#include "evmm/base.h"
#include "evmm/status.h"
#include "lib/formats/memmap.h"

namespace evmm {

struct DmaDomainStats {
    u64 pages_1g;
    u64 pages_2m;
    u64 pages_4k;
    u64 table_pages;
};

// Identity-maps DMA addresses [0, limit) read/write into tables (initialized, empty), except the holes (widened to
// 4 KiB boundaries), which stay not present. Each step takes the largest page (1 GiB, 2 MiB, 4 KiB; the large ones
// only when allowed: VT-d CAP.SLLPS; always on AMD-Vi) that is aligned, ends at or below limit and touches no hole.
// limit: 4 KiB aligned, 0 < limit <= Tables::DMA_ADDR_LIMIT (2^48). A hole that wraps past 2^64 is an error. On
// error the tables may be partly built, but no hole is ever mapped. Tables: VtdSlTables or AmdViIoTables.
// The holes of guest0's DMA domain: the caller's (the guest's: the hypervisor, the hidden registers, the TEE) and the
// page the APs started from (trampoline_base, 0: none; its contents are the loader's), into out[max]; n is their
// count. An error when they do not fit.
Status dma_domain_holes(const MemoryMap::Range* holes, u32 hole_count, u64 trampoline_base, MemoryMap::Range* out,
                        u32 max, u32& n);

template <class Tables>
Status dma_domain_build_identity(Tables& tables, u64 limit, const MemoryMap::Range* holes, u32 hole_count,
                                 bool allow_2m, bool allow_1g, DmaDomainStats& stats);

} // namespace evmm
