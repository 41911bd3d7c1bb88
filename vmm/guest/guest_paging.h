// guest0's linear-to-physical translation, for the few places evmm must read guest memory by a guest's virtual
// address (the instruction bytes of an MMIO store it emulates). Reads the guest's own paging structures (with
// evmm's identity EPT, guest-physical = host-physical) in the mode its CR0/CR4/EFER select (Intel SDM Vol. 3A
// §4.1.1, Table 4-1): no paging, 32-bit paging (§4.3, 4 MiB pages with CR4.PSE), PAE paging (§4.4), 4-level and
// 5-level paging (§4.5). Only the translation: no access-rights checks (the guest already executed the access).
#pragma once

#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"

namespace evmm {

struct GuestPagingRegs {
    u64 cr0, cr3, cr4, efer;
};

// The physical address `lin` maps to. Errors name the level whose entry is not present (value: lin, value2: the
// entry) or whose table cannot be read (value2: its address).
Status guest_linear_to_phys(const PhysMem& mem, const GuestPagingRegs& r, u64 lin, u64& pa);

// Copies `len` bytes at guest-linear `lin` to `out`, page by page (the bytes may cross a page boundary).
Status guest_read_linear(const PhysMem& mem, const GuestPagingRegs& r, u64 lin, u8* out, size_t len);

} // namespace evmm
