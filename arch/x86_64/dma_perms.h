// What a DMA mapping lets a device do (the rights of the I/O page-table formats: VT-d second-level entries,
// arch/x86_64/vtd.h; AMD I/O page-table entries, arch/x86_64/amdvi.h), and the DMA address space of 4-level tables.
#pragma once

#include "evmm/base.h"

namespace evmm {

struct DmaPerms {
    bool read;
    bool write;
};

// DMA addresses 4-level (48-bit) I/O page tables translate: [0, 2^48).
inline constexpr u64 DMA_ADDR_LIMIT_4LEVEL = bit(48);

} // namespace evmm
