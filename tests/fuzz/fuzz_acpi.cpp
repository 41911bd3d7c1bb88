// The ACPI table parsers (lib/formats/acpi) over guest-physical memory made of the fuzz input: the input is
// physical memory at 0 (an RSDP at offset 0, then the tables its pointers reach) and, once more, at 0xE0000 (the
// BIOS area acpi_find_rsdp_bios searches). Checksums would stop almost every mutation at the first table, so the
// harness recomputes them (RSDP, both RSDP checksums; the root table; every table it lists; the FADT's DSDT)
// before parsing; the raw input goes to acpi_validate_rsdp and the \_S5 scanner acpi_find_s5 unmodified. Then the
// loader's path: acpi_find_rsdp_bios, acpi_find_table for the MADT and the FADT (through the XSDT or RSDT),
// acpi_parse_madt, acpi_parse_fadt (with its DSDT walk); the IOMMU tables evmm reads the same way: the DMAR
// (lib/formats/dmar.h) and the IVRS (lib/formats/ivrs.h), found through the root table and parsed; and the rename that
// hides them from guest0 (acpi_table_rename) keeps a table's sum.
#include "evmm/unaligned.h"
#include "fuzz_common.h"
#include "lib/formats/acpi.h"
#include "lib/formats/dmar.h"
#include "lib/formats/ivrs.h"

using namespace evmm;

namespace {

constexpr u64 BIOS_ALIAS = ACPI_BIOS_AREA_START;

class InputMem final : public PhysMem {
public:
    InputMem(const u8* m, size_t n) : m_(m), n_(n) {}
    const void* map(u64 pa, size_t len) const override {
        const u64 off = offset(pa);
        if (off == UINT64_MAX || len > n_ - off) return nullptr;
        return m_ + off;
    }
    // The input offset of physical address pa, UINT64_MAX when pa is outside both windows.
    u64 offset(u64 pa) const {
        if (pa < n_) return pa;
        if (pa >= BIOS_ALIAS && pa - BIOS_ALIAS < n_) return pa - BIOS_ALIAS;
        return UINT64_MAX;
    }

private:
    const u8* m_;
    size_t n_;
};

// Sets m[at] so that m[from, from + len) sums to zero.
void fix_sum(u8* m, size_t from, size_t len, size_t at) {
    m[at] = 0;
    u8 sum = 0;
    for (size_t i = 0; i < len; ++i) sum = static_cast<u8>(sum + m[from + i]);
    m[at] = static_cast<u8>(-sum);
}

// Fixes the checksum of the table at pa when its header and Length fit in the input; returns its offset and
// length (0 when it does not fit).
size_t fix_table(u8* m, size_t n, const InputMem& mem, u64 pa, size_t& len) {
    len = 0;
    const u64 off = mem.offset(pa);
    if (off == UINT64_MAX || n - off < sizeof(AcpiSdtHeader)) return 0;
    const u32 l = rd32(m + off + 4);
    if (l < sizeof(AcpiSdtHeader) || l > n - off) return 0;
    fix_sum(m, off, l, off + 9);
    len = l;
    return off;
}

void fix_checksums(u8* m, size_t n, const InputMem& mem) {
    if (n < ACPI_RSDP_V1_SIZE) return;
    const bool v2 = m[15] >= ACPI_RSDP_REVISION_2 && n >= ACPI_RSDP_V2_SIZE;
    const u64 xsdt = v2 ? rd64(m + 24) : 0;
    const u64 root = xsdt != 0 ? xsdt : rd32(m + 16);
    const size_t entry_size = xsdt != 0 ? ACPI_XSDT_ENTRY_SIZE : ACPI_RSDT_ENTRY_SIZE;
    size_t root_len = 0;
    const size_t root_off = fix_table(m, n, mem, root, root_len);
    if (root_len != 0) {
        const size_t entries = (root_len - sizeof(AcpiSdtHeader)) / entry_size;
        for (size_t i = 0; i < entries && i < 64; ++i) {
            const u8* e = m + root_off + sizeof(AcpiSdtHeader) + i * entry_size;
            const u64 pa = entry_size == 8 ? rd64(e) : rd32(e);
            size_t len = 0;
            const size_t off = fix_table(m, n, mem, pa, len);
            if (len == 0 || std::memcmp(m + off, ACPI_SIG_FADT, 4) != 0) continue;
            size_t dlen = 0;
            if (len >= ACPI_FADT_DSDT + 4) fix_table(m, n, mem, rd32(m + off + ACPI_FADT_DSDT), dlen);
            if (len >= ACPI_FADT_X_DSDT + 8) fix_table(m, n, mem, rd64(m + off + ACPI_FADT_X_DSDT), dlen);
            fix_table(m, n, mem, pa, len); // the DSDT may overlap the FADT
        }
        fix_table(m, n, mem, root, root_len); // and the tables the root table
    }
    fix_sum(m, 0, ACPI_RSDP_V1_SIZE, 8);
    if (v2) {
        const u32 l = rd32(m + 20);
        if (l >= ACPI_RSDP_V2_SIZE && l <= n) fix_sum(m, 0, l, 32);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)acpi_validate_rsdp(data, size);
    u8 a = 0, b = 0;
    (void)acpi_find_s5(data, size, a, b);

    std::vector<u8> copy(data, data + size); // exactly size bytes on the heap: ASan sees any read past it
    u8* m = copy.data();
    const InputMem mem(m, size);
    fix_checksums(m, size, mem);

    // The BIOS search scans 8192 places when it finds nothing (most mutations): only inputs whose size is a
    // multiple of 16 (the seeds, and one mutation in 16) pay for it, so the rest runs at full speed.
    u64 rsdp_pa = 0;
    if (size % 16 == 0 && acpi_find_rsdp_bios(mem, rsdp_pa).ok()) FUZZ_CHECK(mem.offset(rsdp_pa) != UINT64_MAX);

    u64 pa = 0;
    static MadtCpus cpus;
    if (acpi_find_table(mem, m, size, ACPI_SIG_MADT, pa).ok() && acpi_parse_madt(mem, pa, cpus).ok()) {
        FUZZ_CHECK(cpus.count <= EVMM_MAX_CPUS);
        for (u32 i = 0; i < cpus.count; ++i)
            for (u32 j = i + 1; j < cpus.count; ++j) FUZZ_CHECK(cpus.apic_id[i] != cpus.apic_id[j]);
    }
    AcpiPowerInfo power{};
    if (acpi_find_table(mem, m, size, ACPI_SIG_FADT, pa).ok()) (void)acpi_parse_fadt(mem, pa, power);

    static DmarInfo dmar;
    if (dmar_find_and_parse(mem, m, size, dmar).ok()) {
        FUZZ_CHECK(dmar.unit_count <= DMAR_MAX_UNITS && dmar.rmrr_count <= DMAR_MAX_RMRRS);
        for (u32 i = 0; i < dmar.unit_count; ++i) FUZZ_CHECK(dmar.units[i].scope_count <= DMAR_MAX_SCOPES);
    }
    static IvrsInfo ivrs;
    if (ivrs_find_and_parse(mem, m, size, ivrs).ok()) {
        FUZZ_CHECK(ivrs.iommu_count <= IVRS_MAX_IOMMUS && ivrs.ivmd_count <= IVRS_MAX_IVMDS);
        for (u32 i = 0; i < ivrs.iommu_count; ++i) FUZZ_CHECK(ivrs.iommus[i].max_device_id <= 0xFFFF);
        // evmm's rename of the table for guest0: the sum over the table stays zero.
        const u64 off = mem.offset(ivrs.table_pa);
        if (off != UINT64_MAX && size - off >= sizeof(AcpiSdtHeader)) {
            const u32 len = rd32(m + off + 4);
            if (len >= sizeof(AcpiSdtHeader) && len <= size - off) {
                acpi_table_rename(*reinterpret_cast<AcpiSdtHeader*>(m + off), "XVRS");
                u8 sum = 0;
                for (u32 i = 0; i < len; ++i) sum = static_cast<u8>(sum + m[off + i]);
                FUZZ_CHECK(sum == 0);
            }
        }
    }
    return 0;
}
