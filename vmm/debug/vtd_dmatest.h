// The IOMMU DMA test (`vtdtest=1` on evmm's command line, docs/options.md): with DMA remapping on (vmm/iommu/iommu.h:
// VT-d, or AMD-Vi on AMD machines, whose lines start `amd-vi test: ` instead of `vtd test: `),
// QEMU's `edu` device (QEMU docs/specs/edu.rst: PCI 1234:11e8, a DMA engine behind BAR0) copies bytes into guest0's
// RAM, which must work, and into evmm's runtime region, which must fault (logged with the device's source id and
// the address) and leave evmm's memory unchanged. Run by the BSP in stage 2, before the VT-x check (QEMU has no
// VT-x, so evmm stops there right after; with `-cpu max` it has SVM and goes on). Ends with `vtd test: passed` or
// `vtd test: FAILED: WHY`.
#pragma once

#include "evmm_desc.h"
#include "vmm/host/heap.h"

namespace evmm {

void vtd_dma_test(const evmm_desc_t& d, PageHeap& heap);

} // namespace evmm
