// The VT-x MSR bitmap (SDM Vol. 3C §25.6.9: 4 KiB, read-low / read-high / write-low / write-high) and I/O bitmaps
// A and B (§25.6.4: ports 0000H-7FFFH and 8000H-FFFFH, one bit per port), shared by every gcpu. All bits start
// clear: every MSR and port passes through until a module intercepts it (vmm/guest/intercept.h: intercept_msr,
// intercept_io_port, implemented here).
#pragma once

#include "evmm/status.h"
#include "vmm/host/heap.h"

namespace evmm {

Status vmx_bitmaps_init(PageHeap& heap); // stage 3, BSP, before the modules
u64 vmx_msr_bitmap_pa();
u64 vmx_io_bitmap_pa(u32 which); // 0: A, 1: B

} // namespace evmm
