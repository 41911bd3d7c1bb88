// The ACPI DMAR table. See dmar.h; section numbers refer to the Intel VT-d specification, chapter 8.
#include "lib/formats/dmar.h"

#include "evmm/unaligned.h"

namespace evmm {
namespace {

constexpr const char* WHERE = "DMAR";

// The device scopes in s[off, end) (end <= the structure's end, inside the mapped table).
Status parse_scopes(const u8* t, size_t off, size_t end, DmarScope* scopes, u32& count, u32& dropped) {
    count = 0;
    while (off < end) {
        if (end - off < sizeof(DmarDeviceScopeHeader))
            return Status::error("DMAR device scope header runs past its structure (value: offset)", WHERE, off);
        const DmarDeviceScopeHeader h = load_unaligned<DmarDeviceScopeHeader>(t + off);
        if (h.length < sizeof(DmarDeviceScopeHeader))
            return Status::error("DMAR device scope Length is below 6 (value: offset)", WHERE, off, h.length);
        if (h.length > end - off)
            return Status::error("DMAR device scope runs past its structure (value: offset)", WHERE, off, h.length);
        const size_t path_bytes = h.length - sizeof(DmarDeviceScopeHeader);
        if (path_bytes % DMAR_SCOPE_PATH_ENTRY_SIZE != 0)
            return Status::error("DMAR device scope path has an odd length (value: offset)", WHERE, off, h.length);
        const size_t path_len = path_bytes / DMAR_SCOPE_PATH_ENTRY_SIZE;
        if (path_len > DMAR_MAX_PATH)
            return Status::error("DMAR device scope path is longer than evmm accepts (value: offset)", WHERE, off,
                                 path_len);
        if (count < DMAR_MAX_SCOPES) {
            DmarScope& s = scopes[count++];
            s = DmarScope{};
            s.type = h.type;
            s.enumeration_id = h.enumeration_id;
            s.start_bus = h.start_bus;
            s.path_len = static_cast<u8>(path_len);
            for (size_t i = 0; i < path_len; ++i) {
                const u8* p = t + off + sizeof(DmarDeviceScopeHeader) + i * DMAR_SCOPE_PATH_ENTRY_SIZE;
                s.path[i] = DmarPathEntry{p[0], p[1]};
            }
        } else {
            ++dropped;
        }
        off += h.length;
    }
    return Status::success();
}

Status parse_drhd(const u8* t, size_t off, size_t len, DmarInfo& out) {
    if (len < sizeof(DmarDrhd)) return Status::error("DMAR DRHD is shorter than 16 bytes (value: offset)", WHERE, off);
    if (out.unit_count == DMAR_MAX_UNITS)
        return Status::error("DMAR lists more DRHD units than evmm accepts", WHERE, off, DMAR_MAX_UNITS);
    const DmarDrhd d = load_unaligned<DmarDrhd>(t + off);
    if (d.register_base == 0 || !is_aligned(d.register_base, PAGE_SIZE))
        return Status::error("DMAR DRHD register base is zero or not 4 KiB aligned (value: offset)", WHERE, off,
                             d.register_base);
    DmarUnit& u = out.units[out.unit_count];
    u = DmarUnit{};
    u.register_base = d.register_base;
    u.register_size = PAGE_SIZE << (d.size & DRHD_SIZE_MASK);
    if (add_overflows(u.register_base, u.register_size))
        return Status::error("DMAR DRHD register set wraps past 2^64 (value: offset)", WHERE, off, d.register_base);
    u.segment = d.segment;
    u.flags = d.flags;
    u.include_pci_all = (d.flags & DRHD_FLAG_INCLUDE_PCI_ALL) != 0;
    EVMM_TRY(parse_scopes(t, off + sizeof(DmarDrhd), off + len, u.scopes, u.scope_count, out.scopes_dropped));
    ++out.unit_count;
    return Status::success();
}

Status parse_rmrr(const u8* t, size_t off, size_t len, DmarInfo& out) {
    if (len < sizeof(DmarRmrr)) return Status::error("DMAR RMRR is shorter than 24 bytes (value: offset)", WHERE, off);
    if (out.rmrr_count == DMAR_MAX_RMRRS)
        return Status::error("DMAR lists more RMRRs than evmm accepts", WHERE, off, DMAR_MAX_RMRRS);
    const DmarRmrr r = load_unaligned<DmarRmrr>(t + off);
    if (!is_aligned(r.base, PAGE_SIZE))
        return Status::error("DMAR RMRR base is not 4 KiB aligned (value: offset)", WHERE, off, r.base);
    if (r.limit < r.base || (r.limit & (PAGE_SIZE - 1)) != PAGE_SIZE - 1 || r.limit == ~u64{0})
        return Status::error("DMAR RMRR limit is below its base or does not end a 4 KiB page", WHERE, r.base, r.limit);
    DmarRmrrRegion& m = out.rmrrs[out.rmrr_count];
    m = DmarRmrrRegion{};
    m.base = r.base;
    m.end = r.limit + 1;
    m.segment = r.segment;
    EVMM_TRY(parse_scopes(t, off + sizeof(DmarRmrr), off + len, m.scopes, m.scope_count, out.scopes_dropped));
    ++out.rmrr_count;
    return Status::success();
}

} // namespace

Status dmar_parse(const PhysMem& mem, u64 dmar_pa, DmarInfo& out) {
    out = DmarInfo{};
    const u8* t = nullptr;
    u32 len = 0;
    EVMM_TRY(acpi_map_table(mem, dmar_pa, ACPI_SIG_DMAR, WHERE, sizeof(AcpiSdtHeader), t, len));
    if (len < sizeof(AcpiDmar)) return Status::error("DMAR Length is smaller than its 48-byte fixed part", WHERE, len);

    const AcpiDmar fixed = load_unaligned<AcpiDmar>(t);
    out.table_pa = dmar_pa;
    out.host_address_width = static_cast<u8>(fixed.host_address_width + 1);
    out.flags = fixed.flags;

    // §8.2: the remapping structures fill the rest of the table; each is at least its 4-byte header, so the loop
    // ends after at most Length / 4 steps.
    size_t off = sizeof(AcpiDmar);
    while (off < len) {
        if (len - off < sizeof(DmarStructHeader))
            return Status::error("DMAR remapping structure header runs past the table (value: offset)", WHERE, off);
        const DmarStructHeader s = load_unaligned<DmarStructHeader>(t + off);
        if (s.length < sizeof(DmarStructHeader))
            return Status::error("DMAR remapping structure Length is below 4 (value: offset)", WHERE, off, s.length);
        if (s.length > len - off)
            return Status::error("DMAR remapping structure runs past the table (value: offset)", WHERE, off, s.length);
        if (s.type == DMAR_TYPE_DRHD) {
            EVMM_TRY(parse_drhd(t, off, s.length, out));
        } else if (s.type == DMAR_TYPE_RMRR) {
            EVMM_TRY(parse_rmrr(t, off, s.length, out));
        } else {
            ++out.other_structures;
        }
        off += s.length;
    }
    return Status::success();
}

Status dmar_find_and_parse(const PhysMem& mem, const void* rsdp, size_t rsdp_len, DmarInfo& out) {
    out = DmarInfo{};
    u64 pa = 0;
    EVMM_TRY(acpi_find_table(mem, rsdp, rsdp_len, ACPI_SIG_DMAR, pa));
    return dmar_parse(mem, pa, out);
}

} // namespace evmm
