// VT-d structures and the second-level paging format. See vtd.h.
#include "arch/x86_64/vtd.h"

namespace evmm {

template class PageTable<VtdSlpte>;

Status VtdSlpte::check_range(u64 addr, u64 size, const char* where) {
    if (addr >= VTD_DMA_ADDR_LIMIT || size > VTD_DMA_ADDR_LIMIT - addr)
        return Status::error("DMA address range beyond the 48-bit AGAW of 4-level tables", where, addr, size);
    return Status::success();
}

Status VtdSlTables::map(u64 addr, u64 pa, u64 size, DmaPerms perms, bool allow_2m, bool allow_1g) {
    if (!perms.read && !perms.write)
        return Status::error("DMA mapping with no access rights: use unmap", VtdSlpte::WHERE.map, addr);
    const u64 attrs = (perms.read ? slpte::R : 0) | (perms.write ? slpte::W : 0);
    return map_leaves(addr, pa, size, attrs, allow_2m, allow_1g);
}

const char* vtd_fault_reason_name(u8 reason) {
    // §7.1.3, Table 7-1: the non-recoverable faults of legacy-mode translation.
    switch (reason) {
    case 0x1: return "root entry not present";
    case 0x2: return "context entry not present";
    case 0x3: return "invalid context entry";
    case 0x4: return "address beyond the guest address width";
    case 0x5: return "write not allowed (not mapped or read-only)";
    case 0x6: return "read not allowed (not mapped)";
    case 0x7: return "paging entry not accessible";
    case 0x8: return "root table not accessible";
    case 0x9: return "context table not accessible";
    case 0xA: return "root entry reserved bit set";
    case 0xB: return "context entry reserved bit set";
    case 0xC: return "paging entry reserved bit set";
    case 0xD: return "translated request blocked by the context entry";
    default: return "unknown fault reason";
    }
}

} // namespace evmm
