// The ACPI DMA Remapping Reporting table (DMAR), as far as evmm needs it to protect memory from DMA: the remapping
// hardware units (DRHD: register base, INCLUDE_PCI_ALL, device scopes) and the reserved memory regions firmware
// keeps DMA to (RMRR).
//
// References are to the Intel Virtualization Technology for Directed I/O Architecture Specification (rev. 4.1),
// chapter 8 "BIOS Considerations": §8.1 (DMAR table), §8.2 (Remapping Structure Types), §8.3 (DRHD), §8.3.1
// (Device Scope Structure), §8.4 (RMRR).
//
// The table is found through the RSDP/XSDT (lib/formats/acpi.h) and read through PhysMem::map() only: the whole
// table is mapped (and its checksum verified) before a byte of it is read, every structure length is checked
// against the table, every loop is bounded.
#pragma once

#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"
#include "lib/formats/acpi.h"

namespace evmm {

inline constexpr char ACPI_SIG_DMAR[4] = {'D', 'M', 'A', 'R'}; // §8.1

// §8.1, Table 8-1: the fixed part of the DMAR; remapping structures follow it.
struct __attribute__((packed)) AcpiDmar {
    AcpiSdtHeader header;  // signature "DMAR"
    u8 host_address_width; // maximum DMA physical addressability minus 1 (N: N+1 bits)
    u8 flags;              // DMAR_FLAG_*
    u8 reserved[10];
};
static_assert(sizeof(AcpiDmar) == 48);
static_assert(offsetof(AcpiDmar, host_address_width) == 36);
static_assert(offsetof(AcpiDmar, flags) == 37);

inline constexpr u8 DMAR_FLAG_INTR_REMAP = 1u << 0;               // interrupt remapping supported
inline constexpr u8 DMAR_FLAG_X2APIC_OPT_OUT = 1u << 1;           // firmware asks the OS not to enable x2APIC mode
inline constexpr u8 DMAR_FLAG_DMA_CTRL_PLATFORM_OPT_IN = 1u << 2; // platform supports DMA protection at handoff

// §8.2, Table 8-2: every remapping structure starts with Type and Length.
struct __attribute__((packed)) DmarStructHeader {
    u16 type;
    u16 length; // of the whole structure, header included
};
static_assert(sizeof(DmarStructHeader) == 4);

inline constexpr u16 DMAR_TYPE_DRHD = 0; // §8.3 DMA Remapping Hardware Unit Definition
inline constexpr u16 DMAR_TYPE_RMRR = 1; // §8.4 Reserved Memory Region Reporting
inline constexpr u16 DMAR_TYPE_ATSR = 2; // §8.5 Root Port ATS Capability Reporting
inline constexpr u16 DMAR_TYPE_RHSA = 3; // §8.6 Remapping Hardware Static Affinity
inline constexpr u16 DMAR_TYPE_ANDD = 4; // §8.7 ACPI Name-space Device Declaration
inline constexpr u16 DMAR_TYPE_SATC = 5; // §8.8 SoC Integrated Address Translation Cache

// §8.3, Table 8-3: the fixed part of a DRHD; device scope structures follow it.
struct __attribute__((packed)) DmarDrhd {
    DmarStructHeader header; // type 0
    u8 flags;                // DRHD_FLAG_*
    u8 size;                 // bits 3:0: the register set is 2^N 4 KiB pages (0 on older firmware: one page)
    u16 segment;             // PCI segment number
    u64 register_base;       // 4 KiB aligned
};
static_assert(sizeof(DmarDrhd) == 16);
static_assert(offsetof(DmarDrhd, register_base) == 8);
inline constexpr u8 DRHD_FLAG_INCLUDE_PCI_ALL = 1u << 0; // every device of the segment not in another unit's scope
inline constexpr u8 DRHD_SIZE_MASK = 0xF;

// §8.4, Table 8-5: the fixed part of an RMRR; device scope structures follow it.
struct __attribute__((packed)) DmarRmrr {
    DmarStructHeader header; // type 1
    u16 reserved;
    u16 segment;
    u64 base;  // 4 KiB aligned
    u64 limit; // last byte of the region (base + size - 1), bits 11:0 all ones
};
static_assert(sizeof(DmarRmrr) == 24);
static_assert(offsetof(DmarRmrr, base) == 8);
static_assert(offsetof(DmarRmrr, limit) == 16);

// §8.3.1, Table 8-4: the fixed part of a device scope; the path ((device, function) pairs) follows it.
struct __attribute__((packed)) DmarDeviceScopeHeader {
    u8 type; // DMAR_SCOPE_*
    u8 length;
    u16 reserved;
    u8 enumeration_id; // I/O APIC ID, HPET number, ACPI device number
    u8 start_bus;
};
static_assert(sizeof(DmarDeviceScopeHeader) == 6);
inline constexpr u8 DMAR_SCOPE_PCI_ENDPOINT = 1;
inline constexpr u8 DMAR_SCOPE_PCI_SUBHIERARCHY = 2;
inline constexpr u8 DMAR_SCOPE_IOAPIC = 3;
inline constexpr u8 DMAR_SCOPE_HPET = 4;
inline constexpr u8 DMAR_SCOPE_ACPI_NAMESPACE = 5;
inline constexpr size_t DMAR_SCOPE_PATH_ENTRY_SIZE = 2; // device, function

// Bounds on what evmm keeps (real machines have one to a few units, a handful of RMRRs).
inline constexpr u32 DMAR_MAX_UNITS = 8;
inline constexpr u32 DMAR_MAX_SCOPES = 16; // per unit or RMRR; more are counted in scopes_dropped
inline constexpr u32 DMAR_MAX_RMRRS = 8;
inline constexpr u32 DMAR_MAX_PATH = 4; // path entries kept of a device scope (bridges deep)

struct DmarPathEntry {
    u8 device;   // 0..31
    u8 function; // 0..7
};

struct DmarScope {
    u8 type;
    u8 enumeration_id;
    u8 start_bus;
    u8 path_len; // entries in path (those beyond DMAR_MAX_PATH are refused as an error)
    DmarPathEntry path[DMAR_MAX_PATH];
};

struct DmarUnit {
    u64 register_base;
    u64 register_size; // bytes: 2^size pages (at least one)
    u16 segment;
    u8 flags; // DRHD_FLAG_*
    bool include_pci_all;
    u32 scope_count;
    DmarScope scopes[DMAR_MAX_SCOPES];
};

struct DmarRmrrRegion {
    u64 base;
    u64 end; // exclusive (limit + 1)
    u16 segment;
    u32 scope_count;
    DmarScope scopes[DMAR_MAX_SCOPES];
};

struct DmarInfo {
    u64 table_pa;
    u8 host_address_width; // bits: the DMAR's field + 1
    u8 flags;              // DMAR_FLAG_*
    u32 unit_count;
    DmarUnit units[DMAR_MAX_UNITS];
    u32 rmrr_count;
    DmarRmrrRegion rmrrs[DMAR_MAX_RMRRS];
    u32 other_structures; // ATSR, RHSA, ANDD, SATC and unknown types: skipped
    u32 scopes_dropped;   // device scopes beyond DMAR_MAX_SCOPES
};

// Parses the DMAR at dmar_pa into `out` (zeroed first). Errors (each naming the structure and its offset in the
// table where there is one): header not readable, wrong signature, length below 48 or not readable, bad checksum,
// a structure with Length < 4 or past the table end, a DRHD/RMRR shorter than its fixed part, a DRHD register
// base not 4 KiB aligned or zero, more than DMAR_MAX_UNITS DRHDs or DMAR_MAX_RMRRS RMRRs, an RMRR whose base is
// not 4 KiB aligned, whose limit is below its base or does not end a 4 KiB page, a device scope with Length < 6,
// an odd path length, a path longer than DMAR_MAX_PATH, or past its structure's end.
Status dmar_parse(const PhysMem& mem, u64 dmar_pa, DmarInfo& out);

// The DMAR through the RSDP's XSDT/RSDT, then parsed. A missing table gives acpi_table_not_found(status) true.
Status dmar_find_and_parse(const PhysMem& mem, const void* rsdp, size_t rsdp_len, DmarInfo& out);

// The PCI source id (bus:dev.fn) a DMA request carries: bus in bits 15:8, device 7:3, function 2:0.
constexpr u16 pci_source_id(u8 bus, u8 dev, u8 fn) {
    return static_cast<u16>((u32{bus} << 8) | ((u32{dev} & 0x1F) << 3) | (u32{fn} & 0x7));
}
constexpr u8 source_id_bus(u16 sid) { return static_cast<u8>(sid >> 8); }
constexpr u8 source_id_dev(u16 sid) { return static_cast<u8>((sid >> 3) & 0x1F); }
constexpr u8 source_id_fn(u16 sid) { return static_cast<u8>(sid & 0x7); }

} // namespace evmm
