// Intel VT-d DMA remapping hardware: the register layout of a remapping unit, its capability fields, the legacy-mode
// root and context entries, and the second-level paging entry as a Format of the page-table engine
// (arch/x86_64/page_table.h).
//
// References are to the Intel Virtualization Technology for Directed I/O Architecture Specification (rev. 4.1):
// §3.4.2 (legacy-mode address translation), §9.1 (Root Entry), §9.3 (Context Entry), §9.8 (Second-Stage Paging
// Entries), §11.4 (Register Descriptions: §11.4.1 VER, §11.4.2 CAP, §11.4.3 ECAP, §11.4.4 GCMD, §11.4.5 GSTS,
// §11.4.6 RTADDR, §11.4.7 CCMD, §11.4.8 IOTLB/IVA, §11.4.9 FSTS/FECTL/FRCD).
#pragma once

#include "arch/x86_64/dma_perms.h"
#include "arch/x86_64/page_table.h"
#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

// --- Registers (§11.4, Table 11-1): offsets from a unit's register base -----------------------------------------
namespace vtdreg {
inline constexpr u32 VER = 0x00;    // 32-bit: version, bits 7:4 major, 3:0 minor
inline constexpr u32 CAP = 0x08;    // 64-bit: capabilities
inline constexpr u32 ECAP = 0x10;   // 64-bit: extended capabilities
inline constexpr u32 GCMD = 0x18;   // 32-bit: global command
inline constexpr u32 GSTS = 0x1C;   // 32-bit: global status
inline constexpr u32 RTADDR = 0x20; // 64-bit: root table address
inline constexpr u32 CCMD = 0x28;   // 64-bit: context command
inline constexpr u32 FSTS = 0x34;   // 32-bit: fault status
inline constexpr u32 FECTL = 0x38;  // 32-bit: fault event control
// IVA at ECAP.IRO * 16, the IOTLB invalidate register 8 bytes after it (§11.4.8); FRCD at CAP.FRO * 16 (§11.4.9.5).
inline constexpr u32 IOTLB_AFTER_IVA = 8;
inline constexpr u32 FRCD_SIZE = 16;
} // namespace vtdreg

// §11.4.4 / §11.4.5: GCMD command bits and the GSTS status bits at the same positions.
namespace vtdgcmd {
inline constexpr u32 TE = 1u << 31;    // translation enable (GSTS.TES)
inline constexpr u32 SRTP = 1u << 30;  // set root table pointer (GSTS.RTPS), one-shot
inline constexpr u32 SFL = 1u << 29;   // set fault log (one-shot)
inline constexpr u32 EAFL = 1u << 28;  // enable advanced fault logging
inline constexpr u32 WBF = 1u << 27;   // write buffer flush (GSTS.WBFS: 1 while in progress), one-shot
inline constexpr u32 QIE = 1u << 26;   // queued invalidation enable
inline constexpr u32 IRE = 1u << 25;   // interrupt remapping enable
inline constexpr u32 SIRTP = 1u << 24; // set interrupt remap table pointer, one-shot
inline constexpr u32 CFI = 1u << 23;   // compatibility format interrupt
// §11.4.4: software reads GSTS, keeps only the persistent (non one-shot) status bits, and sets or clears the one
// bit it changes, so a write never re-triggers a one-shot command.
inline constexpr u32 ONE_SHOT_MASK = 0x96FF'FFFFu;
static_assert(ONE_SHOT_MASK == ~(SRTP | SFL | WBF | SIRTP));
} // namespace vtdgcmd

// §11.4.2: capability register fields.
struct VtdCap {
    u64 raw;
    constexpr u32 nd() const { return u32(raw & 0x7); } // number of domains: 2^(4 + 2 * ND)
    constexpr u64 domains() const { return u64{1} << (4 + 2 * nd()); }
    constexpr bool rwbf() const { return (raw & bit(4)) != 0; }    // write-buffer flush required
    constexpr bool cm() const { return (raw & bit(7)) != 0; }      // caching mode: not-present entries cached too
    constexpr u32 sagaw() const { return u32((raw >> 8) & 0x1F); } // supported adjusted guest address widths
    constexpr bool sagaw_4level() const { return (sagaw() & bit(2)) != 0; } // 48-bit AGAW, 4-level tables
    constexpr u32 mgaw() const { return u32((raw >> 16) & 0x3F) + 1; }      // maximum guest address width (bits)
    constexpr u32 fro() const { return u32((raw >> 24) & 0x3FF) * 16; }     // fault recording registers' offset
    constexpr bool sllps_2m() const { return (raw & bit(34)) != 0; }        // second-level 2 MiB pages
    constexpr bool sllps_1g() const { return (raw & bit(35)) != 0; }        // second-level 1 GiB pages
    constexpr u32 nfr() const { return u32((raw >> 40) & 0xFF) + 1; }       // number of fault recording registers
};

// §11.4.3: extended capability register fields.
struct VtdEcap {
    u64 raw;
    constexpr bool c() const { return (raw & bit(0)) != 0; }  // page walks snoop (coherent); else flush cache lines
    constexpr bool qi() const { return (raw & bit(1)) != 0; } // queued invalidation
    constexpr bool ir() const { return (raw & bit(3)) != 0; } // interrupt remapping
    constexpr bool pt() const { return (raw & bit(6)) != 0; } // pass-through
    constexpr u32 iro() const { return u32((raw >> 8) & 0x3FF) * 16; } // IVA offset; IOTLB register at + 8
    constexpr bool smts() const { return (raw & bit(43)) != 0; }       // scalable mode
};

// §11.4.7: context command register.
namespace vtdccmd {
inline constexpr u64 ICC = bit(63);              // invalidate context cache (hardware clears it when done)
inline constexpr u64 CIRG_GLOBAL = u64{1} << 61; // bits 62:61 = 01: global invalidation
inline constexpr u64 CAIG_MASK = u64{3} << 59;   // bits 60:59: actual granularity
} // namespace vtdccmd

// §11.4.8.1: IOTLB invalidate register.
namespace vtdiotlb {
inline constexpr u64 IVT = bit(63);              // invalidate IOTLB (hardware clears it when done)
inline constexpr u64 IIRG_GLOBAL = u64{1} << 60; // bits 61:60 = 01: global invalidation
inline constexpr u64 DR = bit(49);               // drain reads
inline constexpr u64 DW = bit(48);               // drain writes
inline constexpr u64 IAIG_MASK = u64{3} << 57;   // bits 58:57: actual granularity (00: request refused)
} // namespace vtdiotlb

// §11.4.9.1: fault status register; §11.4.9.5: fault recording register (128 bits).
namespace vtdfault {
inline constexpr u32 FSTS_PFO = 1u << 0;            // primary fault overflow (RW1C)
inline constexpr u32 FSTS_PPF = 1u << 1;            // primary pending fault: some FRCD has F set (read-only)
inline constexpr u32 FSTS_FRI_SHIFT = 8;            // bits 15:8: fault record index
inline constexpr u64 FRCD_HI_F = bit(63);           // fault (RW1C)
inline constexpr u64 FRCD_HI_T = bit(62);           // type: 0 write request, 1 read request
inline constexpr unsigned FRCD_HI_FR_SHIFT = 32;    // bits 39:32 of the upper half: fault reason
inline constexpr u64 FRCD_HI_SID_MASK = 0xFFFF;     // bits 15:0 of the upper half: source id
inline constexpr u64 FRCD_LO_FI_MASK = ~u64{0xFFF}; // bits 63:12 of the lower half: faulting page address
} // namespace vtdfault

// One decoded fault record.
struct VtdFault {
    u16 source_id;
    u8 reason;
    bool read; // false: a write request
    u64 address;
};
constexpr VtdFault vtd_decode_fault(u64 lo, u64 hi) {
    return VtdFault{static_cast<u16>(hi & vtdfault::FRCD_HI_SID_MASK),
                    static_cast<u8>((hi >> vtdfault::FRCD_HI_FR_SHIFT) & 0xFF), (hi & vtdfault::FRCD_HI_T) != 0,
                    lo & vtdfault::FRCD_LO_FI_MASK};
}
// The legacy-mode fault reasons (§7.1.3, Table 7-1) by name; "unknown fault reason" for the rest.
const char* vtd_fault_reason_name(u8 reason);

// --- Translation structures (legacy mode) -----------------------------------------------------------------------
inline constexpr unsigned VTD_ROOT_ENTRIES = 256;    // one per bus
inline constexpr unsigned VTD_CONTEXT_ENTRIES = 256; // one per device:function of a bus

// §9.1: root entry (128 bits).
struct VtdRootEntry {
    u64 lo; // bit 0 P, bits 63:12 context-table pointer
    u64 hi; // reserved
    static constexpr u64 P = bit(0);
    static constexpr u64 CTP_MASK = ~u64{0xFFF};
    static constexpr VtdRootEntry make(u64 context_table_pa) {
        return VtdRootEntry{(context_table_pa & CTP_MASK) | P, 0};
    }
};
static_assert(sizeof(VtdRootEntry) == 16);
static_assert(offsetof(VtdRootEntry, hi) == 8);
static_assert(VTD_ROOT_ENTRIES * sizeof(VtdRootEntry) == PAGE_SIZE);

// §9.3: context entry (128 bits).
struct VtdContextEntry {
    u64 lo; // bit 0 P, bit 1 FPD, bits 3:2 TT, bits 63:12 second-level page-table pointer
    u64 hi; // bits 2:0 AW, bits 23:8 DID
    static constexpr u64 P = bit(0);
    static constexpr u64 FPD = bit(1);                  // fault processing disable
    static constexpr u64 TT_UNTRANSLATED = u64{0} << 2; // untranslated requests through the second-level tables
    static constexpr u64 TT_PASS_THROUGH = u64{2} << 2;
    static constexpr u64 SLPTPTR_MASK = ~u64{0xFFF};
    static constexpr u64 AW_4LEVEL = 2; // 48-bit AGAW, 4-level tables (AW 1: 39-bit, 3-level)
    static constexpr unsigned DID_SHIFT = 8;
    static constexpr u64 DID_MASK = u64{0xFFFF} << DID_SHIFT;
    static constexpr VtdContextEntry make(u64 slpt_pa, u16 domain_id) {
        return VtdContextEntry{(slpt_pa & SLPTPTR_MASK) | TT_UNTRANSLATED | P,
                               AW_4LEVEL | (u64{domain_id} << DID_SHIFT)};
    }
};
static_assert(sizeof(VtdContextEntry) == 16);
static_assert(offsetof(VtdContextEntry, hi) == 8);
static_assert(VTD_CONTEXT_ENTRIES * sizeof(VtdContextEntry) == PAGE_SIZE);
static_assert(VtdContextEntry::make(0x12345000, 1).lo == 0x12345001 &&
              VtdContextEntry::make(0x12345000, 1).hi == 0x102);

// --- Second-level paging entries (§9.8) -----------------------------------------------------------------------
// The EPT layout (SDM Vol. 3C §29.3.2) without execute: R in bit 0, W in bit 1; an entry with both clear is not
// present. Bit 7 (PS) makes a PDPTE (1 GiB) / PDE (2 MiB) a leaf; it is reserved in a PML4E. Bits 6:2 of a leaf
// (X, EMT, IPAT) are ignored in legacy mode without nesting, bit 11 (SNP) is reserved without ECAP.SC, bit 62 (TM)
// without device TLBs: evmm leaves them all 0, and non-leaf entries are R|W so that the leaf decides the rights.
namespace slpte {
inline constexpr u64 R = bit(0);
inline constexpr u64 W = bit(1);
inline constexpr u64 RW = R | W;
inline constexpr u64 PS = bit(7);
inline constexpr u64 SNP = bit(11);
inline constexpr u64 ADDR_FIELD = 0x000F'FFFF'FFFF'F000ull; // bits 51:12
} // namespace slpte

struct VtdSlpte {
    static constexpr int MAX_LEAF_LEVEL = LEVEL_PDPT; // 1 GiB pages, where CAP.SLLPS says so
    static constexpr u64 LARGE = slpte::PS;
    static constexpr u64 ADDR_MASK = slpte::ADDR_FIELD;
    static constexpr u64 MATCH_ATTRS = slpte::RW | slpte::SNP;

    static constexpr bool present(u64 e) { return (e & slpte::RW) != 0; }
    static constexpr u64 table(u64 pa) { return pa | slpte::RW; }
    static constexpr u64 leaf(u64 frame, u64 attrs, int level) {
        return frame | attrs | (level == LEVEL_PT ? 0 : slpte::PS);
    }
    static constexpr u64 attrs(u64 e, int) { return e & ~slpte::ADDR_FIELD & ~slpte::PS; }

    using Rights = DmaPerms;
    static constexpr Rights ALL_RIGHTS{true, true};
    static constexpr Rights narrow(Rights r, u64 e) {
        return Rights{r.read && (e & slpte::R) != 0, r.write && (e & slpte::W) != 0};
    }
    // DMA addresses a 4-level (48-bit AGAW) table translates: [0, 2^48).
    static Status check_range(u64 addr, u64 size, const char* where);
    static constexpr PageTableNames WHERE{"vtd.sl.init", "vtd.sl.map", "vtd.sl.unmap"};
};
static_assert(PageTableFormat<VtdSlpte>);
static_assert(leaf_round_trips<VtdSlpte>(PAGE_1G | slpte::RW | slpte::PS, LEVEL_PDPT));
static_assert(leaf_round_trips<VtdSlpte>(PAGE_2M | slpte::R | slpte::PS, LEVEL_PD));
static_assert(leaf_round_trips<VtdSlpte>(PAGE_4K | slpte::W, LEVEL_PT));
extern template class PageTable<VtdSlpte>;

inline constexpr u64 VTD_DMA_ADDR_LIMIT = DMA_ADDR_LIMIT_4LEVEL;

// A domain's second-level tables (4-level, 48-bit AGAW).
class VtdSlTables : public PageTable<VtdSlpte> {
public:
    static constexpr u64 DMA_ADDR_LIMIT = VTD_DMA_ADDR_LIMIT;
    using PageTable::PageTable;
    // Maps DMA addresses [addr, addr+size) to host-physical [pa, pa+size) with perms (not both false: unmap).
    // 2 MiB / 1 GiB leaves only where allowed (CAP.SLLPS).
    Status map(u64 addr, u64 pa, u64 size, DmaPerms perms, bool allow_2m, bool allow_1g);
    using PageTable::unmap;
};

} // namespace evmm
