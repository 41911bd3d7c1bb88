// ACPI table discovery, only as far as evmm needs it: find the RSDP, walk the RSDT/XSDT to a table, read the
// MADT to learn which CPUs exist (their local APIC IDs) and where the local APIC lives, and read the FADT (and the
// DSDT's \_S5 object) to learn how guest0 powers the machine off.
//
// References are to the ACPI Specification 6.5: §5.2.5 (RSDP), §5.2.6 (System Description Table Header),
// §5.2.7 (RSDT), §5.2.8 (XSDT), §5.2.9 (FADT), §5.2.12 (MADT), §4.8.3.2.1 (PM1 Control), §7.4.2 (\_Sx objects),
// §20.2 (AML grammar).
//
// Everything is read through PhysMem::map(); every structure is mapped for its full size before a byte of it is
// read, every length is checked against the table that holds it, every loop is bounded.
#pragma once

#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/status.h"
#include "evmm_desc.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Spec structures (all little-endian, byte-packed as the spec lays them out).

// §5.2.5.3: Root System Description Pointer.
struct __attribute__((packed)) AcpiRsdp {
    char signature[8]; // "RSD PTR "
    u8 checksum;       // bytes 0..19 sum to zero
    char oem_id[6];
    u8 revision; // 0: ACPI 1.0 (20-byte structure); 2: ACPI 2.0+ (extended fields valid)
    u32 rsdt_address;
    // Revision >= 2 only:
    u32 length; // of the whole structure, extended part included
    u64 xsdt_address;
    u8 extended_checksum; // bytes 0..length-1 sum to zero
    u8 reserved[3];
};
inline constexpr size_t ACPI_RSDP_V1_SIZE = 20; // §5.2.5.3: the ACPI 1.0 part, covered by `checksum`
inline constexpr size_t ACPI_RSDP_V2_SIZE = 36;
static_assert(sizeof(AcpiRsdp) == ACPI_RSDP_V2_SIZE);
static_assert(offsetof(AcpiRsdp, checksum) == 8);
static_assert(offsetof(AcpiRsdp, oem_id) == 9);
static_assert(offsetof(AcpiRsdp, revision) == 15);
static_assert(offsetof(AcpiRsdp, rsdt_address) == 16);
static_assert(offsetof(AcpiRsdp, length) == ACPI_RSDP_V1_SIZE);
static_assert(offsetof(AcpiRsdp, xsdt_address) == 24);
static_assert(offsetof(AcpiRsdp, extended_checksum) == 32);

inline constexpr char ACPI_RSDP_SIGNATURE[8] = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};
inline constexpr u8 ACPI_RSDP_REVISION_2 = 2; // §5.2.5.3: first revision with Length/XsdtAddress

// §5.2.6: System Description Table Header, at the start of every table but the RSDP/FACS.
struct __attribute__((packed)) AcpiSdtHeader {
    char signature[4];
    u32 length; // of the whole table, header included
    u8 revision;
    u8 checksum; // bytes 0..length-1 sum to zero
    char oem_id[6];
    char oem_table_id[8];
    u32 oem_revision;
    u32 creator_id;
    u32 creator_revision;
};
static_assert(sizeof(AcpiSdtHeader) == 36);
static_assert(offsetof(AcpiSdtHeader, length) == 4);
static_assert(offsetof(AcpiSdtHeader, checksum) == 9);
static_assert(offsetof(AcpiSdtHeader, oem_table_id) == 16);
static_assert(offsetof(AcpiSdtHeader, creator_revision) == 32);

inline constexpr char ACPI_SIG_RSDT[4] = {'R', 'S', 'D', 'T'}; // §5.2.7
inline constexpr char ACPI_SIG_XSDT[4] = {'X', 'S', 'D', 'T'}; // §5.2.8
inline constexpr char ACPI_SIG_MADT[4] = {'A', 'P', 'I', 'C'}; // §5.2.12
inline constexpr char ACPI_SIG_FADT[4] = {'F', 'A', 'C', 'P'}; // §5.2.9
inline constexpr char ACPI_SIG_DSDT[4] = {'D', 'S', 'D', 'T'}; // §5.2.11.1
inline constexpr size_t ACPI_RSDT_ENTRY_SIZE = 4;              // §5.2.7: 32-bit physical addresses
inline constexpr size_t ACPI_XSDT_ENTRY_SIZE = 8;              // §5.2.8: 64-bit physical addresses

// §5.2.12: the fixed part of the MADT; interrupt controller structures follow it.
struct __attribute__((packed)) AcpiMadt {
    AcpiSdtHeader header; // signature "APIC"
    u32 local_apic_address;
    u32 flags; // bit 0 PCAT_COMPAT
};
static_assert(sizeof(AcpiMadt) == 44);
static_assert(offsetof(AcpiMadt, local_apic_address) == 36);
static_assert(offsetof(AcpiMadt, flags) == 40);

// §5.2.12: every interrupt controller structure starts with Type and Length.
struct __attribute__((packed)) AcpiMadtEntryHeader {
    u8 type;
    u8 length; // of this structure, header included
};
static_assert(sizeof(AcpiMadtEntryHeader) == 2);

// §5.2.12: interrupt controller structure types evmm reads.
inline constexpr u8 ACPI_MADT_TYPE_LOCAL_APIC = 0;          // §5.2.12.2
inline constexpr u8 ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE = 5; // §5.2.12.8
inline constexpr u8 ACPI_MADT_TYPE_LOCAL_X2APIC = 9;        // §5.2.12.12

// §5.2.12.2: Processor Local APIC Structure.
struct __attribute__((packed)) AcpiMadtLocalApic {
    AcpiMadtEntryHeader header; // type 0, length 8
    u8 acpi_processor_uid;
    u8 apic_id;
    u32 flags; // ACPI_MADT_LAPIC_*
};
static_assert(sizeof(AcpiMadtLocalApic) == 8);
static_assert(offsetof(AcpiMadtLocalApic, apic_id) == 3);
static_assert(offsetof(AcpiMadtLocalApic, flags) == 4);

// §5.2.12.8: Local APIC Address Override Structure (64-bit local APIC address).
struct __attribute__((packed)) AcpiMadtLocalApicOverride {
    AcpiMadtEntryHeader header; // type 5, length 12
    u16 reserved;
    u64 local_apic_address;
};
static_assert(sizeof(AcpiMadtLocalApicOverride) == 12);
static_assert(offsetof(AcpiMadtLocalApicOverride, local_apic_address) == 4);

// §5.2.12.12: Processor Local x2APIC Structure.
struct __attribute__((packed)) AcpiMadtLocalX2Apic {
    AcpiMadtEntryHeader header; // type 9, length 16
    u16 reserved;
    u32 x2apic_id;
    u32 flags; // same Local APIC Flags as type 0
    u32 acpi_processor_uid;
};
static_assert(sizeof(AcpiMadtLocalX2Apic) == 16);
static_assert(offsetof(AcpiMadtLocalX2Apic, x2apic_id) == 4);
static_assert(offsetof(AcpiMadtLocalX2Apic, flags) == 8);
static_assert(offsetof(AcpiMadtLocalX2Apic, acpi_processor_uid) == 12);

// §5.2.12.2: Local APIC Flags.
inline constexpr u32 ACPI_MADT_LAPIC_ENABLED = 1u << 0;
inline constexpr u32 ACPI_MADT_LAPIC_ONLINE_CAPABLE = 1u << 1; // ACPI 6.3+

// §5.2.5.1: where the RSDP may be on IA-PC systems booted by a legacy BIOS.
inline constexpr u64 BDA_EBDA_SEGMENT_PA = 0x40E; // BIOS Data Area word: real-mode segment of the EBDA
inline constexpr u64 REAL_MODE_SEGMENT_SHIFT = 4;
inline constexpr u64 ACPI_EBDA_SEARCH_SIZE = 1 * KiB; // "the first 1 KB of the EBDA"
inline constexpr u64 ACPI_BIOS_AREA_START = 0xE0000;  // "BIOS read-only memory space between 0E0000h and
inline constexpr u64 ACPI_BIOS_AREA_END = 0x100000;   //  0FFFFFh" (end exclusive)
inline constexpr u64 ACPI_RSDP_SEARCH_ALIGN = 16;     // "on 16-byte boundaries"

// Bound on the entries of an RSDT/XSDT evmm is willing to walk (real machines have a few dozen).
inline constexpr size_t ACPI_MAX_ROOT_ENTRIES = 4096;

// §5.2.3.2: Generic Address Structure.
struct __attribute__((packed)) AcpiGas {
    u8 address_space_id; // ACPI_GAS_*
    u8 register_bit_width;
    u8 register_bit_offset;
    u8 access_size;
    u64 address;
};
static_assert(sizeof(AcpiGas) == 12);
static_assert(offsetof(AcpiGas, address) == 4);
inline constexpr u8 ACPI_GAS_SYSTEM_MEMORY = 0;
inline constexpr u8 ACPI_GAS_SYSTEM_IO = 1;
inline constexpr u64 X86_IO_PORT_MAX = 0xFFFF; // the I/O address space is 64 KiB (SDM Vol. 1 §19.2)

// §5.2.9, Table 5.9: the FADT fields evmm reads, by offset. Older (ACPI 1.0) FADTs end before the X_ fields: a
// field counts only when the table's Length covers it.
inline constexpr size_t ACPI_FADT_DSDT = 40;               // u32
inline constexpr size_t ACPI_FADT_PM1A_EVT_BLK = 56;       // u32, I/O port: PM1a status, then enable
inline constexpr size_t ACPI_FADT_PM1B_EVT_BLK = 60;       // u32, I/O port (0: none)
inline constexpr size_t ACPI_FADT_PM1A_CNT_BLK = 64;       // u32, I/O port
inline constexpr size_t ACPI_FADT_PM1B_CNT_BLK = 68;       // u32, I/O port (0: none)
inline constexpr size_t ACPI_FADT_PM1_CNT_LEN = 89;        // u8, >= 2
inline constexpr size_t ACPI_FADT_FLAGS = 112;             // u32
inline constexpr size_t ACPI_FADT_X_DSDT = 140;            // u64
inline constexpr size_t ACPI_FADT_X_PM1A_EVT_BLK = 148;    // AcpiGas
inline constexpr size_t ACPI_FADT_X_PM1B_EVT_BLK = 160;    // AcpiGas
inline constexpr size_t ACPI_FADT_X_PM1A_CNT_BLK = 172;    // AcpiGas
inline constexpr size_t ACPI_FADT_X_PM1B_CNT_BLK = 184;    // AcpiGas
inline constexpr size_t ACPI_FADT_V1_MIN_LENGTH = 116;     // through Flags (ACPI 1.0's FADT is 116 bytes)
inline constexpr u32 ACPI_FADT_HW_REDUCED_ACPI = 1u << 20; // Flags bit 20: no PM1 fixed hardware

// §4.8.3.2.1, Table 4.13: PM1 Control register bits.
inline constexpr u16 ACPI_PM1_CNT_SLP_TYP_SHIFT = 10; // bits 12:10
inline constexpr u16 ACPI_PM1_CNT_SLP_TYP_MASK = 7;
inline constexpr u16 ACPI_PM1_CNT_SLP_EN = 1u << 13;
// §4.8.3.1.1, Table 4.11: PM1 Status register: WAK_STS (bit 15, write 1 to clear) is set when the system wakes from
// a sleep state; the OS waits for it after setting SLP_EN.
inline constexpr u16 ACPI_PM1_STS_WAK_STS = 1u << 15;

// §20.2: the AML opcodes the \_S5 package is made of.
inline constexpr u8 AML_ZERO_OP = 0x00;
inline constexpr u8 AML_ONE_OP = 0x01;
inline constexpr u8 AML_BYTE_PREFIX = 0x0A;
inline constexpr u8 AML_PACKAGE_OP = 0x12;
inline constexpr u8 AML_ONES_OP = 0xFF;

// ---------------------------------------------------------------------------------------------------------------
// API

// Checks an RSDP of which `len` bytes are readable at `rsdp`: signature "RSD PTR ", the ACPI 1.0 checksum over
// 20 bytes and, for revision >= 2, Length (>= 36 and <= len) and the extended checksum over Length bytes.
Status acpi_validate_rsdp(const void* rsdp, size_t len);

// Legacy BIOS search (§5.2.5.1): the first KiB of the EBDA (segment in the BDA word at 0x40E), then
// 0xE0000..0xFFFFF, on 16-byte boundaries. The first candidate that validates wins. Only for boots where the
// boot loader passed no RSDP.
Status acpi_find_rsdp_bios(const PhysMem& mem, u64& out_pa);

// What acpi_find_table's Status says when no table has the signature (the other errors are about broken tables).
inline constexpr char ACPI_TABLE_NOT_FOUND[] = "ACPI table not found (value: signature, value2: unreadable entries)";
inline bool acpi_table_not_found(const Status& s) { return s.what == ACPI_TABLE_NOT_FOUND; }

// Physical address of the first table whose signature is `sig`, found through the XSDT when the RSDP is
// revision >= 2 with a nonzero XsdtAddress, else through the RSDT. The RSDP is validated first, the root table's
// header, length and checksum are verified, and so are the length and checksum of the table found. Tables with
// other signatures are only read as far as their header signature.
Status acpi_find_table(const PhysMem& mem, const void* rsdp, size_t rsdp_len, const char sig[4], u64& out_pa);

// The CPUs the MADT describes.
//
// Counted: Processor Local APIC (type 0) and Processor Local x2APIC (type 9) entries whose Enabled flag is set.
// Entries with Enabled clear are skipped (disabled_skipped), also when Online Capable (ACPI 6.3+) is set: such a
// processor can be brought online later by the OS through hot-plug, but evmm starts only the CPUs present and
// enabled at boot, and does not support CPU hot-plug. An APIC ID seen again (typically an x2APIC entry
// repeating an xAPIC one) is counted once (duplicate_skipped). CPUs beyond EVMM_MAX_CPUS are counted in
// overflow_skipped, which is not an error. apic_id[] keeps the MADT order (by convention the BSP first).
struct MadtCpus {
    u32 count;
    u32 apic_id[EVMM_MAX_CPUS];
    bool x2apic[EVMM_MAX_CPUS]; // true: the entry was a type-9 (x2APIC) structure
    u32 disabled_skipped;
    u32 overflow_skipped;
    u64 lapic_base; // MADT Local Interrupt Controller Address, or the type-5 override
    u32 duplicate_skipped;
};

// Parses the MADT at madt_pa into `out` (zeroed first). Errors: header not readable, wrong signature, length
// shorter than the MADT header or not readable, bad checksum, an entry with Length < 2 or past the table end,
// a type 0/5/9 entry shorter than its structure.
Status acpi_parse_madt(const PhysMem& mem, u64 madt_pa, MadtCpus& out);

// How the OS puts the machine into a sleep state: the PM1a/PM1b control registers (I/O ports) and, when the
// DSDT defines it, the SLP_TYP values of S5 (soft off). An OS enters Sx by writing SLP_TYPx | SLP_EN to PM1a_CNT
// (and PM1b_CNT when it exists) (§7.4.2, §4.8.3.2.1).
struct AcpiPowerInfo {
    u16 pm1a_cnt;  // I/O port, 0: none usable (hardware-reduced ACPI, memory-mapped, or absent)
    u16 pm1b_cnt;  // I/O port, 0: none
    u16 pm1a_sts;  // I/O port of the PM1a status register (the start of PM1a_EVT_BLK), 0: none usable
    u16 pm1b_sts;  // I/O port, 0: none
    bool s5_valid; // \_S5 found in the DSDT
    u8 s5_slp_typ_a, s5_slp_typ_b;
    bool hw_reduced;
};

// Parses the FADT at fadt_pa: the X_PM1x_CNT_BLK and X_PM1x_EVT_BLK fields win over the 32-bit ones when the table is
// long enough and their address is nonzero (§5.2.9); only system-I/O registers are reported. Then finds \_S5 in the
// DSDT (X_DSDT over DSDT); a DSDT that is absent, unreadable or without \_S5 leaves s5_valid false but is no error.
// Errors: the FADT's header, signature, length (< 116) or checksum.
Status acpi_parse_fadt(const PhysMem& mem, u64 fadt_pa, AcpiPowerInfo& out);

// Maps the whole table at `pa`, checking that its signature is `sig`, its Length covers at least `min_len` bytes and
// is readable, and its checksum is zero (§5.2.6). `where` names the table in errors. Every table parser starts here.
Status acpi_map_table(const PhysMem& mem, u64 pa, const char sig[4], const char* where, size_t min_len, const u8*& out,
                      u32& out_len);

// Renames the table whose header is `h` to `sig` and adjusts its checksum so its bytes still sum to zero (ACPI 6.5
// §5.2.6): an OS looking the table up by its old signature no longer finds it, nothing else changes. How evmm keeps
// guest0's OS from driving the IOMMU it took (DMAR -> "XMAR", IVRS -> "XVRS"; Xen renames the DMAR the same way).
void acpi_table_rename(AcpiSdtHeader& h, const char sig[4]);

// The SLP_TYPa/SLP_TYPb of \_S5 in the AML byte stream `aml` (a DSDT's body): the first "_S5_" NameSeg followed
// by a Package of at least two integers (ZeroOp, OneOp, or BytePrefix n). False when there is none; never reads
// past `len`.
bool acpi_find_s5(const u8* aml, size_t len, u8& slp_typ_a, u8& slp_typ_b);

} // namespace evmm
