// ACPI table discovery for CPU counting. See acpi.h; section numbers refer to the ACPI Specification 6.5.
#include "lib/formats/acpi.h"
#include "evmm/unaligned.h"

namespace evmm {
namespace {

// An RSDP is 36 bytes today (§5.2.5.3); a Length beyond this is treated as garbage, which also bounds the
// extended-checksum loop of a candidate found by scanning memory.
constexpr u32 ACPI_RSDP_MAX_LENGTH = static_cast<u32>(PAGE_SIZE);

// §5.2.5.3 / §5.2.6: a checksum is correct when all bytes of the structure sum to zero (mod 256).
u8 byte_sum(const void* p, size_t n) {
    const u8* b = static_cast<const u8*>(p);
    u8 sum = 0;
    for (size_t i = 0; i < n; ++i) sum = static_cast<u8>(sum + b[i]);
    return sum;
}

u32 sig_value(const char sig[4]) { return load_unaligned<u32>(sig); }

} // namespace

Status acpi_map_table(const PhysMem& mem, u64 pa, const char sig[4], const char* where, size_t min_len, const u8*& out,
                      u32& out_len) {
    const void* h = mem.map(pa, sizeof(AcpiSdtHeader));
    if (h == nullptr) return Status::error("ACPI table header is not readable", where, pa);
    const AcpiSdtHeader hdr = load_unaligned<AcpiSdtHeader>(h);
    if (__builtin_memcmp(hdr.signature, sig, sizeof hdr.signature) != 0)
        return Status::error("ACPI table Signature is not the expected one", where, pa, sig_value(hdr.signature));
    if (hdr.length < min_len)
        return Status::error("ACPI table Length is smaller than the table's fixed part", where, hdr.length, min_len);
    if (add_overflows(pa, hdr.length))
        return Status::error("ACPI table Length wraps past the end of the address space", where, pa, hdr.length);
    const void* t = mem.map(pa, hdr.length);
    if (t == nullptr) return Status::error("ACPI table is not readable over its whole Length", where, pa, hdr.length);
    const u8 sum = byte_sum(t, hdr.length);
    if (sum != 0) return Status::error("ACPI table Checksum is wrong (bytes do not sum to zero)", where, pa, sum);
    out = static_cast<const u8*>(t);
    out_len = hdr.length;
    return Status::success();
}

namespace {

// Is a valid RSDP at `pa`? Used by the memory scan, so it quietly says no to anything unreadable or wrong.
bool rsdp_at(const PhysMem& mem, u64 pa) {
    const void* p = mem.map(pa, ACPI_RSDP_V1_SIZE);
    if (p == nullptr || __builtin_memcmp(p, ACPI_RSDP_SIGNATURE, sizeof ACPI_RSDP_SIGNATURE) != 0) return false;
    AcpiRsdp r{};
    __builtin_memcpy(&r, p, ACPI_RSDP_V1_SIZE);
    size_t len = ACPI_RSDP_V1_SIZE;
    if (r.revision >= ACPI_RSDP_REVISION_2) {
        p = mem.map(pa, ACPI_RSDP_V2_SIZE);
        if (p == nullptr) return false;
        __builtin_memcpy(&r, p, ACPI_RSDP_V2_SIZE);
        if (r.length < ACPI_RSDP_V2_SIZE || r.length > ACPI_RSDP_MAX_LENGTH) return false;
        len = r.length;
        p = mem.map(pa, len);
        if (p == nullptr) return false;
    }
    return acpi_validate_rsdp(p, len).ok();
}

// Scans [start, start + size) on 16-byte boundaries for a valid RSDP.
bool scan_rsdp(const PhysMem& mem, u64 start, u64 size, u64& out_pa) {
    for (u64 off = 0; off + ACPI_RSDP_V1_SIZE <= size; off += ACPI_RSDP_SEARCH_ALIGN) {
        if (rsdp_at(mem, start + off)) {
            out_pa = start + off;
            return true;
        }
    }
    return false;
}

} // namespace

Status acpi_validate_rsdp(const void* rsdp, size_t len) {
    if (rsdp == nullptr) return Status::error("RSDP pointer is null", "RSDP");
    if (len < ACPI_RSDP_V1_SIZE) return Status::error("RSDP is shorter than 20 bytes", "RSDP", len);
    AcpiRsdp r{};
    __builtin_memcpy(&r, rsdp, len < sizeof r ? len : sizeof r);
    if (__builtin_memcmp(r.signature, ACPI_RSDP_SIGNATURE, sizeof r.signature) != 0)
        return Status::error("RSDP Signature is not \"RSD PTR \"", "RSDP", load_unaligned<u64>(r.signature));
    const u8 sum = byte_sum(rsdp, ACPI_RSDP_V1_SIZE);
    if (sum != 0) return Status::error("RSDP Checksum (first 20 bytes) is wrong", "RSDP", sum);
    if (r.revision < ACPI_RSDP_REVISION_2) return Status::success();

    if (len < ACPI_RSDP_V2_SIZE)
        return Status::error("RSDP Revision >= 2 but fewer than 36 bytes are readable", "RSDP", r.revision, len);
    if (r.length < ACPI_RSDP_V2_SIZE) return Status::error("RSDP Length is smaller than 36", "RSDP", r.length);
    if (r.length > len)
        return Status::error("RSDP Length exceeds the bytes readable at the RSDP", "RSDP", r.length, len);
    const u8 xsum = byte_sum(rsdp, r.length);
    if (xsum != 0) return Status::error("RSDP Extended Checksum is wrong", "RSDP", xsum);
    return Status::success();
}

Status acpi_find_rsdp_bios(const PhysMem& mem, u64& out_pa) {
    // §5.2.5.1: "The first 1 KB of the Extended BIOS Data Area (EBDA). For EISA or MCA systems, the EBDA can be
    // found in the two-byte location 40:0Eh on the BIOS data area."
    if (const void* w = mem.map(BDA_EBDA_SEGMENT_PA, sizeof(u16))) {
        const u64 ebda = u64{load_unaligned<u16>(w)} << REAL_MODE_SEGMENT_SHIFT;
        if (ebda != 0 && scan_rsdp(mem, ebda, ACPI_EBDA_SEARCH_SIZE, out_pa)) return Status::success();
    }
    // "The BIOS read-only memory space between 0E0000h and 0FFFFFh."
    if (scan_rsdp(mem, ACPI_BIOS_AREA_START, ACPI_BIOS_AREA_END - ACPI_BIOS_AREA_START, out_pa))
        return Status::success();
    return Status::error("RSDP not found in the EBDA or in 0xE0000-0xFFFFF", "RSDP");
}

Status acpi_find_table(const PhysMem& mem, const void* rsdp, size_t rsdp_len, const char sig[4], u64& out_pa) {
    if (sig == nullptr) return Status::error("ACPI table signature is null", "acpi_find_table");
    EVMM_TRY(acpi_validate_rsdp(rsdp, rsdp_len));
    AcpiRsdp r{};
    __builtin_memcpy(&r, rsdp, rsdp_len < sizeof r ? rsdp_len : sizeof r);

    // §5.2.5.3: XsdtAddress is valid from revision 2; "An ACPI-compatible OS must use the XSDT if present".
    const bool use_xsdt = r.revision >= ACPI_RSDP_REVISION_2 && r.xsdt_address != 0;
    const char* where = use_xsdt ? "XSDT" : "RSDT";
    const u64 root_pa = use_xsdt ? r.xsdt_address : r.rsdt_address;
    if (root_pa == 0) return Status::error("RSDP RsdtAddress is zero and there is no XSDT", "RSDP");
    const u8* root = nullptr;
    u32 root_len = 0;
    EVMM_TRY(acpi_map_table(mem, root_pa, use_xsdt ? ACPI_SIG_XSDT : ACPI_SIG_RSDT, where, sizeof(AcpiSdtHeader), root,
                            root_len));

    // §5.2.7 / §5.2.8: the entries fill the table after the header. A trailing partial entry is ignored.
    const size_t entry_size = use_xsdt ? ACPI_XSDT_ENTRY_SIZE : ACPI_RSDT_ENTRY_SIZE;
    const size_t entries = (root_len - sizeof(AcpiSdtHeader)) / entry_size;
    if (entries > ACPI_MAX_ROOT_ENTRIES)
        return Status::error("RSDT/XSDT lists more tables than evmm accepts", where, entries, ACPI_MAX_ROOT_ENTRIES);

    u64 unreadable = 0;
    for (size_t i = 0; i < entries; ++i) {
        const u8* e = root + sizeof(AcpiSdtHeader) + i * entry_size;
        const u64 pa = use_xsdt ? load_unaligned<u64>(e) : u64{load_unaligned<u32>(e)};
        if (pa == 0) continue;
        const void* h = mem.map(pa, sizeof(AcpiSdtHeader));
        if (h == nullptr) {
            // Cannot tell what it is; if it was the table sought, "not found" below reports the count.
            ++unreadable;
            continue;
        }
        if (__builtin_memcmp(h, sig, sizeof(AcpiSdtHeader::signature)) != 0) continue;
        const u8* t = nullptr;
        u32 len = 0;
        EVMM_TRY(acpi_map_table(mem, pa, sig, "table listed in RSDT/XSDT", sizeof(AcpiSdtHeader), t, len));
        out_pa = pa;
        return Status::success();
    }
    return Status::error(ACPI_TABLE_NOT_FOUND, where, sig_value(sig), unreadable);
}

namespace {

void add_cpu(MadtCpus& out, u32 apic_id, bool x2apic, u32 flags) {
    // Only "Enabled" processors are started; see MadtCpus in acpi.h for Online Capable.
    if ((flags & ACPI_MADT_LAPIC_ENABLED) == 0) {
        ++out.disabled_skipped;
        return;
    }
    for (u32 i = 0; i < out.count; ++i) {
        if (out.apic_id[i] == apic_id) {
            ++out.duplicate_skipped;
            return;
        }
    }
    if (out.count >= EVMM_MAX_CPUS) {
        ++out.overflow_skipped;
        return;
    }
    out.apic_id[out.count] = apic_id;
    out.x2apic[out.count] = x2apic;
    ++out.count;
}

} // namespace

Status acpi_parse_madt(const PhysMem& mem, u64 madt_pa, MadtCpus& out) {
    __builtin_memset(&out, 0, sizeof out);
    const u8* t = nullptr;
    u32 len = 0;
    EVMM_TRY(acpi_map_table(mem, madt_pa, ACPI_SIG_MADT, "MADT", sizeof(AcpiMadt), t, len));
    out.lapic_base = load_unaligned<AcpiMadt>(t).local_apic_address;

    // §5.2.12: interrupt controller structures fill the rest of the table, each with its own Length. Every
    // step advances by at least sizeof(AcpiMadtEntryHeader), so the loop ends.
    size_t off = sizeof(AcpiMadt);
    while (off < len) {
        if (len - off < sizeof(AcpiMadtEntryHeader))
            return Status::error("MADT entry header runs past the table Length", "MADT", off, len);
        const AcpiMadtEntryHeader eh = load_unaligned<AcpiMadtEntryHeader>(t + off);
        if (eh.length < sizeof(AcpiMadtEntryHeader))
            return Status::error("MADT entry Length is smaller than 2 (value: offset, value2: Length)", "MADT", off,
                                 eh.length);
        if (eh.length > len - off)
            return Status::error("MADT entry runs past the table Length (value: offset, value2: entry Length)", "MADT",
                                 off, eh.length);
        switch (eh.type) {
        case ACPI_MADT_TYPE_LOCAL_APIC: {
            if (eh.length < sizeof(AcpiMadtLocalApic))
                return Status::error("MADT Processor Local APIC entry Length is smaller than 8", "MADT", off,
                                     eh.length);
            const AcpiMadtLocalApic e = load_unaligned<AcpiMadtLocalApic>(t + off);
            add_cpu(out, e.apic_id, false, e.flags);
            break;
        }
        case ACPI_MADT_TYPE_LOCAL_X2APIC: {
            if (eh.length < sizeof(AcpiMadtLocalX2Apic))
                return Status::error("MADT Processor Local x2APIC entry Length is smaller than 16", "MADT", off,
                                     eh.length);
            const AcpiMadtLocalX2Apic e = load_unaligned<AcpiMadtLocalX2Apic>(t + off);
            add_cpu(out, e.x2apic_id, true, e.flags);
            break;
        }
        case ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE: {
            if (eh.length < sizeof(AcpiMadtLocalApicOverride))
                return Status::error("MADT Local APIC Address Override entry Length is smaller than 12", "MADT", off,
                                     eh.length);
            // §5.2.12.8: when present, the OS uses this 64-bit address instead of the 32-bit MADT field.
            out.lapic_base = load_unaligned<AcpiMadtLocalApicOverride>(t + off).local_apic_address;
            break;
        }
        default: break; // other interrupt controllers: not evmm's business here
        }
        off += eh.length;
    }
    return Status::success();
}

namespace {

// §20.2.4: PkgLength. The lead byte's bits 7:6 count the bytes that follow (0-3); with none, bits 5:0 are the
// length, else bits 3:0 are its low nibble and each following byte adds 8 bits. Returns the encoding's size, 0 if
// it runs past `avail`.
size_t aml_pkg_length_size(const u8* p, size_t avail) {
    if (avail == 0) return 0;
    const size_t n = 1 + (p[0] >> 6);
    return n <= avail ? n : 0;
}

// One integer element of a package (§20.2.3 ComputationalData): ZeroOp, OneOp, OnesOp or BytePrefix n. Larger
// encodings (WordPrefix ...) never hold a SLP_TYP (3 bits). Returns the bytes consumed, 0 if not such an element.
size_t aml_small_integer(const u8* p, size_t avail, u8& out) {
    if (avail == 0) return 0;
    switch (p[0]) {
    case AML_ZERO_OP: out = 0; return 1;
    case AML_ONE_OP: out = 1; return 1;
    case AML_ONES_OP: out = 0xFF; return 1;
    case AML_BYTE_PREFIX:
        if (avail < 2) return 0;
        out = p[1];
        return 2;
    default: return 0;
    }
}

// The port of a PM1 control or event block: the 64-bit GAS when the table has it and it is set, else the 32-bit
// field.
u16 pm1_port(const u8* t, u32 len, size_t legacy_off, size_t gas_off) {
    if (len >= gas_off + sizeof(AcpiGas)) {
        const AcpiGas g = load_unaligned<AcpiGas>(t + gas_off);
        if (g.address != 0) {
            // Only system-I/O registers are ports; a memory-mapped PM1 control (rare) is not intercepted.
            return g.address_space_id == ACPI_GAS_SYSTEM_IO && g.address <= X86_IO_PORT_MAX
                       ? static_cast<u16>(g.address)
                       : 0;
        }
    }
    const u32 port = load_unaligned<u32>(t + legacy_off);
    return port <= X86_IO_PORT_MAX ? static_cast<u16>(port) : 0;
}

} // namespace

void acpi_table_rename(AcpiSdtHeader& h, const char sig[4]) {
    u8 delta = 0; // what the signature bytes add to the sum after the change
    for (u32 i = 0; i < sizeof h.signature; ++i) {
        delta = static_cast<u8>(delta + static_cast<u8>(sig[i]) - static_cast<u8>(h.signature[i]));
        h.signature[i] = sig[i];
    }
    h.checksum = static_cast<u8>(h.checksum - delta);
}

bool acpi_find_s5(const u8* aml, size_t len, u8& slp_typ_a, u8& slp_typ_b) {
    if (aml == nullptr) return false;
    constexpr u8 NAME[4] = {'_', 'S', '5', '_'};
    for (size_t i = 0; i + sizeof NAME < len; ++i) {
        if (__builtin_memcmp(aml + i, NAME, sizeof NAME) != 0) continue;
        // §20.2.5.1: DefName := NameOp NameString DataRefObject; the object here is DefPackage :=
        // PackageOp PkgLength NumElements PackageElementList.
        size_t off = i + sizeof NAME;
        if (aml[off] != AML_PACKAGE_OP) continue;
        ++off;
        const size_t pl = aml_pkg_length_size(aml + off, len - off);
        if (pl == 0) continue;
        off += pl;
        if (off >= len || aml[off] < 2) continue; // NumElements: SLP_TYPa and SLP_TYPb at least
        ++off;
        u8 a = 0, b = 0;
        const size_t na = aml_small_integer(aml + off, len - off, a);
        if (na == 0) continue;
        off += na;
        if (aml_small_integer(aml + off, len - off, b) == 0) continue;
        slp_typ_a = a;
        slp_typ_b = b;
        return true;
    }
    return false;
}

Status acpi_parse_fadt(const PhysMem& mem, u64 fadt_pa, AcpiPowerInfo& out) {
    __builtin_memset(&out, 0, sizeof out);
    const u8* t = nullptr;
    u32 len = 0;
    EVMM_TRY(acpi_map_table(mem, fadt_pa, ACPI_SIG_FADT, "FADT", ACPI_FADT_V1_MIN_LENGTH, t, len));
    out.hw_reduced = (load_unaligned<u32>(t + ACPI_FADT_FLAGS) & ACPI_FADT_HW_REDUCED_ACPI) != 0;
    if (!out.hw_reduced) {
        out.pm1a_cnt = pm1_port(t, len, ACPI_FADT_PM1A_CNT_BLK, ACPI_FADT_X_PM1A_CNT_BLK);
        out.pm1b_cnt = pm1_port(t, len, ACPI_FADT_PM1B_CNT_BLK, ACPI_FADT_X_PM1B_CNT_BLK);
        out.pm1a_sts = pm1_port(t, len, ACPI_FADT_PM1A_EVT_BLK, ACPI_FADT_X_PM1A_EVT_BLK);
        out.pm1b_sts = pm1_port(t, len, ACPI_FADT_PM1B_EVT_BLK, ACPI_FADT_X_PM1B_EVT_BLK);
    }
    u64 dsdt = len >= ACPI_FADT_X_DSDT + sizeof(u64) ? load_unaligned<u64>(t + ACPI_FADT_X_DSDT) : 0;
    if (dsdt == 0) dsdt = load_unaligned<u32>(t + ACPI_FADT_DSDT);
    if (dsdt == 0) return Status::success();
    const u8* d = nullptr;
    u32 dlen = 0;
    if (!acpi_map_table(mem, dsdt, ACPI_SIG_DSDT, "DSDT", sizeof(AcpiSdtHeader), d, dlen).ok())
        return Status::success();
    out.s5_valid =
        acpi_find_s5(d + sizeof(AcpiSdtHeader), dlen - sizeof(AcpiSdtHeader), out.s5_slp_typ_a, out.s5_slp_typ_b);
    return Status::success();
}

} // namespace evmm
