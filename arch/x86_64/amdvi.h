// AMD I/O virtualization (AMD-Vi) hardware: the MMIO registers of an IOMMU, the 256-bit device table entry, the
// I/O page-table entry as a Format of the page-table engine (arch/x86_64/page_table.h), the commands evmm issues and
// the event log entries it decodes.
//
// References are to the AMD I/O Virtualization Technology (IOMMU) Specification, pub. 48882 (rev. 3.x):
// §2.2.2 (Device Table, Device Table Entry Format), §2.2.3 (I/O Page Tables for Host Translations), §2.4 (Commands:
// COMPLETION_WAIT, INVALIDATE_DEVTAB_ENTRY, INVALIDATE_IOMMU_PAGES, INVALIDATE_IOMMU_ALL), §2.5 (Event Logging:
// ILLEGAL_DEV_TABLE_ENTRY, IO_PAGE_FAULT, ...), §3.4 (IOMMU MMIO Registers: Device Table / Command Buffer / Event Log
// Base Address, Control, Exclusion Base / Limit, Extended Feature, the head / tail pointers, Status).
#pragma once

#include "arch/x86_64/dma_perms.h"
#include "arch/x86_64/page_table.h"
#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

// --- MMIO registers (§3.4): offsets from an IOMMU's base address; all 64-bit, accessed with 64-bit accesses -----
namespace amdvireg {
inline constexpr u32 DEV_TABLE_BASE = 0x0000; // §3.4: bits 51:12 base, 8:0 Size (4 KiB units minus 1)
inline constexpr u32 CMD_BUF_BASE = 0x0008;   // §3.4: bits 51:12 base, 59:56 ComLen (2^n entries)
inline constexpr u32 EVENT_LOG_BASE = 0x0010; // §3.4: bits 51:12 base, 59:56 EventLen (2^n entries)
inline constexpr u32 CONTROL = 0x0018;
inline constexpr u32 EXCLUSION_BASE = 0x0020; // §3.4: bit 0 ExEn, bit 1 Allow, bits 51:12 base
inline constexpr u32 EXCLUSION_LIMIT = 0x0028;
inline constexpr u32 EXT_FEATURE = 0x0030;  // §3.4: Extended Feature Register (EFR), read-only
inline constexpr u32 CMD_BUF_HEAD = 0x2000; // §3.4: bits 18:4 offset
inline constexpr u32 CMD_BUF_TAIL = 0x2008;
inline constexpr u32 EVENT_LOG_HEAD = 0x2010;
inline constexpr u32 EVENT_LOG_TAIL = 0x2018;
inline constexpr u32 STATUS = 0x2020;
// §3.4: the register set is 16 KiB; with performance counters (EFR.PCSup) their banks reach up to 512 KiB.
inline constexpr u64 MMIO_SIZE = 16 * KiB;
inline constexpr u64 MMIO_SIZE_WITH_COUNTERS = 512 * KiB;
} // namespace amdvireg

// §3.4: base-register fields.
namespace amdvibase {
inline constexpr u64 ADDR_MASK = 0x000F'FFFF'FFFF'F000ull; // bits 51:12
inline constexpr u64 DEV_TABLE_SIZE_MASK = 0x1FF;          // 4 KiB units minus 1: 0 = 4 KiB .. 1FFh = 2 MiB
inline constexpr unsigned LEN_SHIFT = 56;                  // ComLen / EventLen, bits 59:56
inline constexpr u64 LEN_MASK = u64{0xF} << LEN_SHIFT;
inline constexpr u32 LEN_MIN = 8;              // 1000b: 256 entries, the least allowed
inline constexpr u32 LEN_MAX = 15;             // 1111b: 32768 entries
inline constexpr u64 HEAD_TAIL_MASK = 0x7FFF0; // bits 18:4: byte offset of an entry
} // namespace amdvibase

// §3.4: Control register bits.
namespace amdvictl {
inline constexpr u64 IOMMU_EN = bit(0);
inline constexpr u64 HT_TUN_EN = bit(1);
inline constexpr u64 EVENT_LOG_EN = bit(2);
inline constexpr u64 EVENT_INT_EN = bit(3);
inline constexpr u64 COM_WAIT_INT_EN = bit(4);
inline constexpr u64 COHERENT = bit(10); // the IOMMU's device table reads are snooped
inline constexpr u64 CMD_BUF_EN = bit(12);
inline constexpr u64 PPR_LOG_EN = bit(13);
inline constexpr u64 PPR_EN = bit(15);
inline constexpr u64 GT_EN = bit(16);
inline constexpr u64 GA_EN = bit(17);
} // namespace amdvictl

// §3.4: Status register bits.
namespace amdvistatus {
inline constexpr u64 EVENT_OVERFLOW = bit(0); // RW1C: the event log was full, events were lost
inline constexpr u64 EVENT_LOG_INT = bit(1);  // RW1C
inline constexpr u64 COM_WAIT_INT = bit(2);   // RW1C
inline constexpr u64 EVENT_LOG_RUN = bit(3);
inline constexpr u64 CMD_BUF_RUN = bit(4);
} // namespace amdvistatus

// §3.4: Extended Feature Register fields evmm reads.
struct AmdViEfr {
    u64 raw;
    constexpr bool pref_sup() const { return (raw & bit(0)) != 0; }
    constexpr bool ppr_sup() const { return (raw & bit(1)) != 0; }
    constexpr bool xt_sup() const { return (raw & bit(2)) != 0; }
    constexpr bool nx_sup() const { return (raw & bit(3)) != 0; }
    constexpr bool gt_sup() const { return (raw & bit(4)) != 0; }
    constexpr bool ia_sup() const { return (raw & bit(6)) != 0; } // INVALIDATE_IOMMU_ALL
    constexpr bool ga_sup() const { return (raw & bit(7)) != 0; }
    constexpr bool he_sup() const { return (raw & bit(8)) != 0; }
    constexpr bool pc_sup() const { return (raw & bit(9)) != 0; } // performance counters (MMIO up to 512 KiB)
    // HATS, bits 11:10: host page-table levels the IOMMU walks: 00b 4, 01b 5, 10b 6 levels; 11b reserved.
    constexpr u32 hats() const { return u32((raw >> 10) & 0x3); }
    constexpr u32 host_levels() const { return hats() == 3 ? 0 : 4 + hats(); }
};

// --- Device table (§2.2.2) -------------------------------------------------------------------------------------
inline constexpr u32 AMDVI_DEVICE_IDS = 0x10000; // 16-bit DeviceID: bus 15:8, device 7:3, function 2:0
inline constexpr u64 AMDVI_DEV_TABLE_MAX = 2 * MiB;

// §2.2.2: Device Table Entry (256 bits). Only the fields evmm sets are named; the interrupt fields stay
// 0 (IV = 0: interrupt requests pass through unremapped), like the guest-translation ones (GV = 0).
struct AmdViDte {
    u64 q[4];
    static constexpr u64 V = bit(0);          // the entry is valid
    static constexpr u64 TV = bit(1);         // the translation fields (Mode, root, IR, IW) are valid
    static constexpr unsigned MODE_SHIFT = 9; // bits 11:9: page-table levels (0: no translation)
    static constexpr u64 MODE_MASK = u64{7} << MODE_SHIFT;
    static constexpr u64 MODE_4LEVEL = 4;                      // 48-bit DMA addresses
    static constexpr u64 ROOT_MASK = 0x000F'FFFF'FFFF'F000ull; // bits 51:12: host page table root pointer
    static constexpr u64 IR = bit(61);                         // reads allowed (ANDed with every level's IR)
    static constexpr u64 IW = bit(62);                         // writes allowed
    static constexpr u64 DOMAIN_ID_MASK = 0xFFFF;              // q[1] bits 15:0 (DTE bits 79:64)

    static constexpr AmdViDte make(u64 root_pa, u16 domain_id) {
        return AmdViDte{{(root_pa & ROOT_MASK) | (MODE_4LEVEL << MODE_SHIFT) | IR | IW | TV | V, domain_id, 0, 0}};
    }
};
static_assert(sizeof(AmdViDte) == 32);
static_assert(offsetof(AmdViDte, q) == 0);
static_assert(AmdViDte::make(0x12345000, 1).q[0] == 0x6000'0000'1234'5803ull &&
              AmdViDte::make(0x12345000, 1).q[1] == 1);
inline constexpr u64 AMDVI_DTES_PER_PAGE = PAGE_SIZE / sizeof(AmdViDte);
static_assert(AMDVI_DEVICE_IDS * sizeof(AmdViDte) == AMDVI_DEV_TABLE_MAX);

// The device table for DeviceIDs 0..max_id: its size in 4 KiB pages, a power of two (at most 512 pages, 2 MiB), and
// the Size field of the Device Table Base register (§3.4) for it.
constexpr u64 amdvi_dev_table_pages(u32 max_id) {
    const u64 need = (u64{max_id} + AMDVI_DTES_PER_PAGE) / AMDVI_DTES_PER_PAGE;
    u64 pages = 1;
    while (pages < need) pages *= 2;
    return pages;
}
constexpr u64 amdvi_dev_table_base(u64 table_pa, u64 pages) {
    return (table_pa & amdvibase::ADDR_MASK) | ((pages - 1) & amdvibase::DEV_TABLE_SIZE_MASK);
}
static_assert(amdvi_dev_table_pages(0) == 1 && amdvi_dev_table_pages(127) == 1 && amdvi_dev_table_pages(128) == 2);
static_assert(amdvi_dev_table_pages(0xFF) == 2 && amdvi_dev_table_pages(0x2FF) == 8);
static_assert(amdvi_dev_table_pages(0xFFFF) * PAGE_SIZE == AMDVI_DEV_TABLE_MAX);
static_assert(amdvi_dev_table_base(0x200000, 512) == 0x2001FF);

// §3.4: a command buffer / event log base register value: 2^len entries of 16 bytes at pa.
constexpr u64 amdvi_ring_base(u64 pa, u32 len) {
    return (pa & amdvibase::ADDR_MASK) | (u64{len} << amdvibase::LEN_SHIFT);
}

// --- I/O page tables (§2.2.3) ------------------------------------------------------------------------------------
// The PDE and PTE formats: PR in bit 0, NextLevel in bits 11:9 (the level of the table a PDE references;
// 0 in a PTE, and in a PDE at level 2 / 3 it makes the entry a 2 MiB / 1 GiB page of that level's default size),
// address in bits 51:12, IR in bit 61, IW in bit 62 (rights are ANDed over the levels, so table entries carry both).
// A, D, U, FC and the NextLevel-7 page-size encoding stay 0 (evmm never uses them).
namespace amdvipte {
inline constexpr u64 PR = bit(0);
inline constexpr unsigned NEXT_LEVEL_SHIFT = 9;
inline constexpr u64 NEXT_LEVEL_MASK = u64{7} << NEXT_LEVEL_SHIFT;
inline constexpr u64 ADDR_FIELD = 0x000F'FFFF'FFFF'F000ull; // bits 51:12
inline constexpr u64 IR = bit(61);
inline constexpr u64 IW = bit(62);
inline constexpr u64 RW = IR | IW;
} // namespace amdvipte

struct AmdViPte {
    static constexpr int MAX_LEAF_LEVEL = LEVEL_PDPT; // 1 GiB pages
    static constexpr u64 LARGE = 0;                   // no large-page bit: large() below
    static constexpr u64 ADDR_MASK = amdvipte::ADDR_FIELD;
    static constexpr u64 MATCH_ATTRS = amdvipte::RW;

    static constexpr bool present(u64 e) { return (e & amdvipte::PR) != 0; }
    static constexpr bool large(u64 e) { return (e & amdvipte::NEXT_LEVEL_MASK) == 0; }
    static constexpr u64 table(u64 pa, int level) {
        return pa | (u64(level - 1) << amdvipte::NEXT_LEVEL_SHIFT) | amdvipte::RW | amdvipte::PR;
    }
    static constexpr u64 leaf(u64 frame, u64 attrs, int) { return frame | attrs | amdvipte::PR; }
    static constexpr u64 attrs(u64 e, int) { return e & ~amdvipte::ADDR_FIELD & ~amdvipte::NEXT_LEVEL_MASK; }

    using Rights = DmaPerms;
    static constexpr Rights ALL_RIGHTS{true, true};
    static constexpr Rights narrow(Rights r, u64 e) {
        return Rights{r.read && (e & amdvipte::IR) != 0, r.write && (e & amdvipte::IW) != 0};
    }
    // DMA addresses 4-level tables (DTE Mode 4) translate: [0, 2^48).
    static Status check_range(u64 addr, u64 size, const char* where);
    static constexpr PageTableNames WHERE{"amdvi.io.init", "amdvi.io.map", "amdvi.io.unmap"};
};
static_assert(PageTableFormat<AmdViPte>);
static_assert(leaf_round_trips<AmdViPte>(PAGE_1G | amdvipte::RW | amdvipte::PR, LEVEL_PDPT));
static_assert(leaf_round_trips<AmdViPte>(PAGE_2M | amdvipte::IR | amdvipte::PR, LEVEL_PD));
static_assert(leaf_round_trips<AmdViPte>(PAGE_4K | amdvipte::IW | amdvipte::PR, LEVEL_PT));
static_assert(AmdViPte::table(0x5000, LEVEL_PML4) == 0x6000'0000'0000'5601ull); // NextLevel 3
extern template class PageTable<AmdViPte>;

// A DMA domain's I/O page tables (4-level, DTE Mode 4).
class AmdViIoTables : public PageTable<AmdViPte> {
public:
    static constexpr u64 DMA_ADDR_LIMIT = DMA_ADDR_LIMIT_4LEVEL;
    using PageTable::PageTable;
    // Maps DMA addresses [addr, addr+size) to host-physical [pa, pa+size) with perms (not both false: unmap).
    Status map(u64 addr, u64 pa, u64 size, DmaPerms perms, bool allow_2m, bool allow_1g);
    using PageTable::unmap;
};

// --- Commands (§2.4): 128 bits, opcode in bits 63:60 of the first quadword --------------------------------------
struct AmdViCommand {
    u64 lo;
    u64 hi;
};
static_assert(sizeof(AmdViCommand) == 16);
inline constexpr u64 AMDVI_COMMAND_SIZE = sizeof(AmdViCommand);

enum class AmdViOpcode : u8 {
    CompletionWait = 0x01,
    InvalidateDevtabEntry = 0x02,
    InvalidateIommuPages = 0x03,
    InvalidateIotlbPages = 0x04,
    InvalidateIntTable = 0x05,
    PrefetchIommuPages = 0x06,
    CompletePprRequest = 0x07,
    InvalidateIommuAll = 0x08,
};
namespace amdvicmd {
inline constexpr unsigned OPCODE_SHIFT = 60;
inline constexpr u64 CW_STORE = bit(0);                            // COMPLETION_WAIT: S, store StoreData
inline constexpr u64 CW_ADDR_MASK = 0x000F'FFFF'FFFF'FFF8ull;      // StoreAddr bits 51:3, 8-byte aligned
inline constexpr u64 PAGES_S = bit(0);                             // INVALIDATE_IOMMU_PAGES: S, a range
inline constexpr u64 PAGES_PDE = bit(1);                           // the cached PDEs too
inline constexpr u64 PAGES_ALL_ADDRESS = 0x7FFF'FFFF'FFFF'F000ull; // with S = 1: every page of the domain
inline constexpr unsigned DOMAIN_ID_SHIFT = 32;                    // DomainID in bits 47:32
} // namespace amdvicmd

constexpr u64 amdvi_opcode(AmdViOpcode op) { return u64(op) << amdvicmd::OPCODE_SHIFT; }

// §2.4: stores `data` to `store_pa` (8-byte aligned) once every earlier command has completed.
constexpr AmdViCommand amdvi_cmd_completion_wait(u64 store_pa, u64 data) {
    return AmdViCommand{
        (store_pa & amdvicmd::CW_ADDR_MASK) | amdvicmd::CW_STORE | amdvi_opcode(AmdViOpcode::CompletionWait), data};
}
// §2.4: the IOMMU drops what it cached of device_id's entry.
constexpr AmdViCommand amdvi_cmd_invalidate_devtab_entry(u16 device_id) {
    return AmdViCommand{u64{device_id} | amdvi_opcode(AmdViOpcode::InvalidateDevtabEntry), 0};
}
// §2.4 with S = 1, PDE = 1 and the all-pages address: every cached translation of domain_id.
constexpr AmdViCommand amdvi_cmd_invalidate_domain(u16 domain_id) {
    return AmdViCommand{(u64{domain_id} << amdvicmd::DOMAIN_ID_SHIFT) | amdvi_opcode(AmdViOpcode::InvalidateIommuPages),
                        amdvicmd::PAGES_ALL_ADDRESS | amdvicmd::PAGES_PDE | amdvicmd::PAGES_S};
}
// §2.4 (EFR.IASup): everything the IOMMU cached.
constexpr AmdViCommand amdvi_cmd_invalidate_all() {
    return AmdViCommand{amdvi_opcode(AmdViOpcode::InvalidateIommuAll), 0};
}
static_assert(amdvi_cmd_completion_wait(0x12345678, 7).lo == 0x1000'0000'1234'5679ull);
static_assert(amdvi_cmd_invalidate_devtab_entry(0x18).lo == 0x2000'0000'0000'0018ull);
static_assert(amdvi_cmd_invalidate_domain(1).lo == 0x3000'0001'0000'0000ull &&
              amdvi_cmd_invalidate_domain(1).hi == 0x7FFF'FFFF'FFFF'F003ull);

// --- Event log (§2.5): 128-bit entries, EventCode in bits 63:60 of the first quadword ---------------------------
struct AmdViEventEntry {
    u64 lo;
    u64 hi; // the address of most events
};
static_assert(sizeof(AmdViEventEntry) == 16);
inline constexpr u64 AMDVI_EVENT_SIZE = sizeof(AmdViEventEntry);

enum class AmdViEventCode : u8 {
    IllegalDevTableEntry = 0x01,
    IoPageFault = 0x02,
    DevTabHardwareError = 0x03,
    PageTabHardwareError = 0x04,
    IllegalCommandError = 0x05,
    CommandHardwareError = 0x06,
    IotlbInvTimeout = 0x07,
    InvalidDeviceRequest = 0x08,
    InvalidPprRequest = 0x09,
    RmpPageFault = 0x0D, // SEV-SNP systems
    RmpHardwareError = 0x0E,
};
namespace amdvievt {
inline constexpr unsigned CODE_SHIFT = 60;
inline constexpr u64 DEVICE_ID_MASK = 0xFFFF;   // bits 15:0
inline constexpr unsigned DOMAIN_ID_SHIFT = 32; // IO_PAGE_FAULT: DomainID in bits 47:32
inline constexpr unsigned FLAGS_SHIFT = 48;     // Flags in bits 59:48 (dword 1 bits 27:16)
inline constexpr u64 FLAG_I = bit(51);          // the request was an interrupt request
inline constexpr u64 FLAG_PR = bit(52);         // the page was present (a permission fault) or not
inline constexpr u64 FLAG_RW = bit(53);         // 1: a write, 0: a read
inline constexpr u64 FLAG_PE = bit(54);         // permission (IR/IW) refused the access
inline constexpr u64 FLAG_RZ = bit(55);         // a reserved bit was set in an entry
inline constexpr u64 FLAG_TR = bit(56);         // a translation request (ATS)
} // namespace amdvievt

// One decoded event.
struct AmdViEvent {
    u8 code; // AmdViEventCode
    u16 device_id;
    u16 domain_id; // IO_PAGE_FAULT only
    bool write;    // IO_PAGE_FAULT, DEV_TAB / PAGE_TAB hardware errors: RW
    bool present;  // IO_PAGE_FAULT: PR
    bool permission;
    u64 address;
};
constexpr AmdViEvent amdvi_decode_event(const AmdViEventEntry& e) {
    return AmdViEvent{static_cast<u8>(e.lo >> amdvievt::CODE_SHIFT),
                      static_cast<u16>(e.lo & amdvievt::DEVICE_ID_MASK),
                      static_cast<u16>((e.lo >> amdvievt::DOMAIN_ID_SHIFT) & 0xFFFF),
                      (e.lo & amdvievt::FLAG_RW) != 0,
                      (e.lo & amdvievt::FLAG_PR) != 0,
                      (e.lo & amdvievt::FLAG_PE) != 0,
                      e.hi};
}
// The event's name as the spec spells it (IO_PAGE_FAULT, ...); "unknown event" for other codes.
const char* amdvi_event_name(u8 code);

} // namespace evmm
