// AMD-Vi structures and the I/O page-table format. See amdvi.h.
#include "arch/x86_64/amdvi.h"

namespace evmm {

template class PageTable<AmdViPte>;

Status AmdViPte::check_range(u64 addr, u64 size, const char* where) {
    if (addr >= DMA_ADDR_LIMIT_4LEVEL || size > DMA_ADDR_LIMIT_4LEVEL - addr)
        return Status::error("DMA address range beyond the 48 bits of 4-level I/O page tables", where, addr, size);
    return Status::success();
}

Status AmdViIoTables::map(u64 addr, u64 pa, u64 size, DmaPerms perms, bool allow_2m, bool allow_1g) {
    if (!perms.read && !perms.write)
        return Status::error("DMA mapping with no access rights: use unmap", AmdViPte::WHERE.map, addr);
    const u64 attrs = (perms.read ? amdvipte::IR : 0) | (perms.write ? amdvipte::IW : 0);
    return map_leaves(addr, pa, size, attrs, allow_2m, allow_1g);
}

const char* amdvi_event_name(u8 code) {
    // §2.5: the event codes, as the spec names them.
    switch (static_cast<AmdViEventCode>(code)) {
    case AmdViEventCode::IllegalDevTableEntry: return "ILLEGAL_DEV_TABLE_ENTRY";
    case AmdViEventCode::IoPageFault: return "IO_PAGE_FAULT";
    case AmdViEventCode::DevTabHardwareError: return "DEV_TAB_HARDWARE_ERROR";
    case AmdViEventCode::PageTabHardwareError: return "PAGE_TAB_HARDWARE_ERROR";
    case AmdViEventCode::IllegalCommandError: return "ILLEGAL_COMMAND_ERROR";
    case AmdViEventCode::CommandHardwareError: return "COMMAND_HARDWARE_ERROR";
    case AmdViEventCode::IotlbInvTimeout: return "IOTLB_INV_TIMEOUT";
    case AmdViEventCode::InvalidDeviceRequest: return "INVALID_DEVICE_REQUEST";
    case AmdViEventCode::InvalidPprRequest: return "INVALID_PPR_REQUEST";
    case AmdViEventCode::RmpPageFault: return "RMP_PAGE_FAULT";
    case AmdViEventCode::RmpHardwareError: return "RMP_HW_ERROR";
    }
    return "unknown event";
}

} // namespace evmm
