// The ACPI I/O Virtualization Reporting Structure (IVRS), as far as evmm needs it to protect memory from DMA on AMD:
// the IOMMUs (IVHD blocks: device id, capability offset, MMIO base, PCI segment, flags, EFR image) and the device
// ids each one translates (its device entries), and the memory definitions firmware keeps DMA to (IVMD blocks).
//
// References are to the AMD I/O Virtualization Technology (IOMMU) Specification, pub. 48882 (rev. 3.x), chapter 5
// "ACPI Tables", §5.2 "I/O Virtualization Reporting Structure (IVRS)": the IVRS header with IVinfo, the I/O
// Virtualization Definition Blocks (IVHD types 10h, 11h, 40h and their device entries; IVMD types 20h, 21h, 22h).
//
// The table is found through the RSDP/XSDT (lib/formats/acpi.h) and read through PhysMem::map() only: the whole
// table is mapped (and its checksum verified) before a byte of it is read, every block and entry length is checked
// against the table, every loop is bounded.
#pragma once

#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"
#include "lib/formats/acpi.h"

namespace evmm {

inline constexpr char ACPI_SIG_IVRS[4] = {'I', 'V', 'R', 'S'}; // §5.2

// §5.2: the fixed part of the IVRS; IVDBs follow it.
struct __attribute__((packed)) AcpiIvrs {
    AcpiSdtHeader header; // signature "IVRS"
    u32 iv_info;          // IVRS_INFO_*
    u64 reserved;
};
static_assert(sizeof(AcpiIvrs) == 48);
static_assert(offsetof(AcpiIvrs, iv_info) == 36);

inline constexpr u32 IVRS_INFO_EFR_SUP = 1u << 0;       // the type 11h/40h blocks' EFR images are valid
inline constexpr unsigned IVRS_INFO_VA_SIZE_SHIFT = 15; // bits 21:15: virtual address size
inline constexpr unsigned IVRS_INFO_PA_SIZE_SHIFT = 8;  // bits 14:8: physical address size
inline constexpr u32 IVRS_INFO_SIZE_MASK = 0x7F;

// §5.2: every IVDB starts with Type, Flags and Length.
struct __attribute__((packed)) IvrsBlockHeader {
    u8 type;
    u8 flags;
    u16 length; // of the whole block, header included
};
static_assert(sizeof(IvrsBlockHeader) == 4);

inline constexpr u8 IVRS_TYPE_IVHD_10 = 0x10;     // §5.2: IVHD, legacy (fixed part 24 bytes)
inline constexpr u8 IVRS_TYPE_IVHD_11 = 0x11;     // §5.2: IVHD with EFR image (fixed part 40 bytes)
inline constexpr u8 IVRS_TYPE_IVHD_40 = 0x40;     // §5.2: IVHD with EFR image, ACPI HID devices (40 bytes)
inline constexpr u8 IVRS_TYPE_IVMD_ALL = 0x20;    // §5.2: IVMD for every device
inline constexpr u8 IVRS_TYPE_IVMD_SELECT = 0x21; // IVMD for one device
inline constexpr u8 IVRS_TYPE_IVMD_RANGE = 0x22;  // IVMD for a range of devices

// §5.2: the fixed part of an IVHD; device entries follow it.
struct __attribute__((packed)) IvrsIvhd {
    IvrsBlockHeader header; // type 10h / 11h / 40h
    u16 device_id;          // the IOMMU's own PCI id (bus:dev.fn)
    u16 capability_offset;  // of the IOMMU's capability block in its PCI configuration space
    u64 base_address;       // MMIO registers
    u16 pci_segment;
    u16 iommu_info; // bits 4:0 MSI number, bits 12:8 UnitID
    u32 attributes; // type 10h: IOMMU Feature Reporting; 11h / 40h: IOMMU Attributes
};
static_assert(sizeof(IvrsIvhd) == 24);
static_assert(offsetof(IvrsIvhd, base_address) == 8);
static_assert(offsetof(IvrsIvhd, pci_segment) == 16);
static_assert(offsetof(IvrsIvhd, attributes) == 20);
// Types 11h / 40h: the EFR register image and (rev. 3.x) EFR2 follow; their device entries start at 40.
struct __attribute__((packed)) IvrsIvhdEfr {
    IvrsIvhd ivhd;
    u64 efr_image;
    u64 efr2_image;
};
static_assert(sizeof(IvrsIvhdEfr) == 40);
static_assert(offsetof(IvrsIvhdEfr, efr_image) == 24);

// §5.2: IVHD flags (type 10h; 11h / 40h keep the same bits 5:0 and 7).
inline constexpr u8 IVHD_FLAG_HT_TUN_EN = 1u << 0;
inline constexpr u8 IVHD_FLAG_PASS_PW = 1u << 1;
inline constexpr u8 IVHD_FLAG_RES_PASS_PW = 1u << 2;
inline constexpr u8 IVHD_FLAG_ISOC = 1u << 3;
inline constexpr u8 IVHD_FLAG_IOTLB_SUP = 1u << 4;
inline constexpr u8 IVHD_FLAG_COHERENT = 1u << 5;

// §5.2: device entry types. The length follows from the type (00h-3Fh: 4 bytes, 40h-7Fh: 8,
// 80h-BFh: 16, C0h-FFh: 32), except F0h (ACPI_HID device, variable: 22 bytes + its UID length).
inline constexpr u8 IVHD_DEV_PAD4 = 0x00;
inline constexpr u8 IVHD_DEV_ALL = 0x01;         // every DeviceID of the segment
inline constexpr u8 IVHD_DEV_SELECT = 0x02;      // one DeviceID
inline constexpr u8 IVHD_DEV_RANGE_START = 0x03; // first DeviceID of a range ended by RANGE_END
inline constexpr u8 IVHD_DEV_RANGE_END = 0x04;
inline constexpr u8 IVHD_DEV_PAD8 = 0x40;
inline constexpr u8 IVHD_DEV_ALIAS_SELECT = 0x42;      // a DeviceID whose requests carry another one (the alias)
inline constexpr u8 IVHD_DEV_ALIAS_RANGE_START = 0x43; // a range whose requests carry the alias
inline constexpr u8 IVHD_DEV_EXT_SELECT = 0x46;
inline constexpr u8 IVHD_DEV_EXT_RANGE_START = 0x47;
inline constexpr u8 IVHD_DEV_SPECIAL = 0x48; // I/O APIC / HPET: its DeviceID in bytes 5:4
inline constexpr u8 IVHD_DEV_ACPI_HID = 0xF0;
inline constexpr size_t IVHD_DEV_ACPI_HID_FIXED = 22; // type .. UID length; the UID follows

// Bounds on what evmm keeps (real machines have one IOMMU per root complex: a few).
inline constexpr u32 IVRS_MAX_IOMMUS = 8;
inline constexpr u32 IVRS_MAX_IVMDS = 8;

struct IvrsIommu {
    u8 type; // 10h, 11h or 40h
    u8 flags;
    u16 device_id;
    u16 capability_offset;
    u64 base_address;
    u16 pci_segment;
    u16 iommu_info;
    u32 attributes;
    u64 efr_image;     // 11h / 40h; 0 for 10h
    bool covers_all;   // an ALL entry: every DeviceID of the segment
    u32 max_device_id; // the highest DeviceID the device entries name (0xFFFF with covers_all)
    u32 device_entries;
};

struct IvrsMemory {
    u8 type;  // 20h, 21h, 22h
    u8 flags; // bit 0 Unity, 1 IR, 2 IW, 3 ExclusionRange
    u16 device_id;
    u64 base;
    u64 length;
};

struct IvrsInfo {
    u64 table_pa;
    u32 iv_info;
    u32 iommu_count;
    IvrsIommu iommus[IVRS_MAX_IOMMUS];
    u32 ivmd_count;
    IvrsMemory ivmds[IVRS_MAX_IVMDS];
    u32 other_blocks; // IVHD blocks superseded by a newer type for the same IOMMU, unknown types: skipped
};

// Parses the IVRS at ivrs_pa into `out` (zeroed first). When one IOMMU (same device id and segment) is described by
// several IVHD types, the newest type the table has is kept (§5.2: software uses the highest type it knows;
// 40h > 11h > 10h). Errors (each naming the block and its offset): header not readable, wrong signature, length
// below 48 or not readable, bad checksum, a block with Length < 4 or past the table end, an IVHD shorter than its
// fixed part, an IVHD base address zero or not 16 KiB aligned, more than IVRS_MAX_IOMMUS IOMMUs or IVRS_MAX_IVMDS
// IVMDs, an IVMD shorter than 32 bytes, a device entry running past its block, a range start without its end
// (or the reverse, or an end below its start).
Status ivrs_parse(const PhysMem& mem, u64 ivrs_pa, IvrsInfo& out);

// The IVRS through the RSDP's XSDT/RSDT, then parsed. A missing table gives acpi_table_not_found(status) true.
Status ivrs_find_and_parse(const PhysMem& mem, const void* rsdp, size_t rsdp_len, IvrsInfo& out);

} // namespace evmm
