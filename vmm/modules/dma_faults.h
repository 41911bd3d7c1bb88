// DMA faults reported while guest0 runs: the remapping units record every DMA they refuse (vmm/iommu/vtd.h), and
// this module reads and logs those records (`vt-d: DMA fault: unit U, source BB:DD.F, ...`) every 100 ms of the
// BSP's guest time, on the vCPU tick (gcpu_tick_every: VT-x's preemption timer; SVM: at the BSP's first exit after
// each period, vmm/svm/svm_tick.h). The fault event interrupt stays
// masked: an interrupt would reach guest0's vectors (evmm does not take external interrupts). Only when DMA
// remapping is on; then one line in stage 5 says so.
#pragma once

namespace evmm {

void dma_faults_init(); // stage 3 (MODULES)
// The tick on the BSP even without DMA remapping (`forceexits=1`: the tick path runs in Bochs, which has no IOMMU).
void dma_faults_force_tick();

} // namespace evmm
