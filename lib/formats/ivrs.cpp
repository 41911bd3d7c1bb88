// The ACPI IVRS table. See ivrs.h; section numbers refer to the AMD IOMMU specification, chapter 5.
#include "lib/formats/ivrs.h"

#include "evmm/unaligned.h"

namespace evmm {
namespace {

constexpr const char* WHERE = "IVRS";
constexpr u64 IVHD_BASE_ALIGN = 16 * KiB; // §3.4: the MMIO registers are at least 16 KiB, so aligned
constexpr size_t IVMD_SIZE = 32;          // §5.2: an IVMD block
constexpr size_t IVMD_DEVICE_ID = 4;
constexpr size_t IVMD_START = 16;
constexpr size_t IVMD_LENGTH = 24;
constexpr size_t DEV_ENTRY_ID = 1;        // DeviceID at bytes 2:1 of every device entry
constexpr size_t DEV_ALIAS_SOURCE_ID = 5; // alias entries: the alias DeviceID at bytes 6:5
constexpr size_t DEV_SPECIAL_ID = 5;      // special entries (48h): the DeviceID at bytes 6:5
constexpr size_t DEV_ACPI_HID_UID_LEN = 21;
constexpr u32 MAX_DEVICE_ID = 0xFFFF;

bool is_ivhd(u8 type) { return type == IVRS_TYPE_IVHD_10 || type == IVRS_TYPE_IVHD_11 || type == IVRS_TYPE_IVHD_40; }
bool is_ivmd(u8 type) {
    return type == IVRS_TYPE_IVMD_ALL || type == IVRS_TYPE_IVMD_SELECT || type == IVRS_TYPE_IVMD_RANGE;
}

// §5.2: the length of a device entry of `type` at t[off] (end: its block's end); 0 when it runs past the end.
size_t entry_length(const u8* t, size_t off, size_t end, u8 type) {
    size_t len = 0;
    if (type == IVHD_DEV_ACPI_HID) {
        if (end - off < IVHD_DEV_ACPI_HID_FIXED) return 0;
        len = IVHD_DEV_ACPI_HID_FIXED + t[off + DEV_ACPI_HID_UID_LEN];
    } else if (type < 0x40) {
        len = 4;
    } else if (type < 0x80) {
        len = 8;
    } else if (type < 0xC0) {
        len = 16;
    } else {
        len = 32;
    }
    return len <= end - off ? len : 0;
}

void note_id(IvrsIommu& m, u32 id) {
    if (id > m.max_device_id) m.max_device_id = id;
}

// The device entries in t[off, end) of the IVHD being parsed into m.
Status parse_device_entries(const u8* t, size_t off, size_t end, IvrsIommu& m) {
    bool in_range = false;
    u32 range_start = 0;
    while (off < end) {
        const u8 type = t[off];
        const size_t len = entry_length(t, off, end, type);
        if (len == 0) return Status::error("IVHD device entry runs past its block (value: offset)", WHERE, off, type);
        const u16 id = load_unaligned<u16>(t + off + DEV_ENTRY_ID);
        ++m.device_entries;
        switch (type) {
        case IVHD_DEV_ALL:
            m.covers_all = true;
            note_id(m, MAX_DEVICE_ID);
            break;
        case IVHD_DEV_SELECT:
        case IVHD_DEV_EXT_SELECT: note_id(m, id); break;
        case IVHD_DEV_ALIAS_SELECT:
            note_id(m, id);
            note_id(m, load_unaligned<u16>(t + off + DEV_ALIAS_SOURCE_ID));
            break;
        case IVHD_DEV_RANGE_START:
        case IVHD_DEV_EXT_RANGE_START:
        case IVHD_DEV_ALIAS_RANGE_START:
            if (in_range) return Status::error("IVHD range start inside another range (value: offset)", WHERE, off, id);
            in_range = true;
            range_start = id;
            if (type == IVHD_DEV_ALIAS_RANGE_START) note_id(m, load_unaligned<u16>(t + off + DEV_ALIAS_SOURCE_ID));
            break;
        case IVHD_DEV_RANGE_END:
            if (!in_range) return Status::error("IVHD range end without a start (value: offset)", WHERE, off, id);
            if (id < range_start)
                return Status::error("IVHD range ends below its start (value: offset)", WHERE, off, id);
            in_range = false;
            note_id(m, id);
            break;
        case IVHD_DEV_SPECIAL: note_id(m, load_unaligned<u16>(t + off + DEV_SPECIAL_ID)); break;
        case IVHD_DEV_ACPI_HID: note_id(m, id); break;
        default: break; // padding, reserved types: their length is known, nothing to keep
        }
        off += len;
    }
    if (in_range) return Status::error("IVHD range start without its end", WHERE, range_start);
    return Status::success();
}

Status parse_ivhd(const u8* t, size_t off, size_t len, IvrsInfo& out) {
    const u8 type = t[off];
    const size_t fixed = type == IVRS_TYPE_IVHD_10 ? sizeof(IvrsIvhd) : sizeof(IvrsIvhdEfr);
    if (len < fixed) return Status::error("IVRS IVHD is shorter than its fixed part (value: offset)", WHERE, off, len);
    if (out.iommu_count == IVRS_MAX_IOMMUS)
        return Status::error("IVRS lists more IOMMUs than evmm accepts", WHERE, off, IVRS_MAX_IOMMUS);
    const IvrsIvhd h = load_unaligned<IvrsIvhd>(t + off);
    if (h.base_address == 0 || !is_aligned(h.base_address, IVHD_BASE_ALIGN))
        return Status::error("IVRS IVHD base address is zero or not 16 KiB aligned (value: offset)", WHERE, off,
                             h.base_address);
    IvrsIommu& m = out.iommus[out.iommu_count];
    m = IvrsIommu{};
    m.type = type;
    m.flags = h.header.flags;
    m.device_id = h.device_id;
    m.capability_offset = h.capability_offset;
    m.base_address = h.base_address;
    m.pci_segment = h.pci_segment;
    m.iommu_info = h.iommu_info;
    m.attributes = h.attributes;
    if (type != IVRS_TYPE_IVHD_10) m.efr_image = load_unaligned<IvrsIvhdEfr>(t + off).efr_image;
    EVMM_TRY(parse_device_entries(t, off + fixed, off + len, m));
    ++out.iommu_count;
    return Status::success();
}

Status parse_ivmd(const u8* t, size_t off, size_t len, IvrsInfo& out) {
    if (len < IVMD_SIZE) return Status::error("IVRS IVMD is shorter than 32 bytes (value: offset)", WHERE, off, len);
    if (out.ivmd_count == IVRS_MAX_IVMDS)
        return Status::error("IVRS lists more IVMDs than evmm accepts", WHERE, off, IVRS_MAX_IVMDS);
    IvrsMemory& m = out.ivmds[out.ivmd_count++];
    m = IvrsMemory{t[off], t[off + 1], load_unaligned<u16>(t + off + IVMD_DEVICE_ID),
                   load_unaligned<u64>(t + off + IVMD_START), load_unaligned<u64>(t + off + IVMD_LENGTH)};
    return Status::success();
}

} // namespace

Status ivrs_parse(const PhysMem& mem, u64 ivrs_pa, IvrsInfo& out) {
    out = IvrsInfo{};
    const u8* t = nullptr;
    u32 len = 0;
    EVMM_TRY(acpi_map_table(mem, ivrs_pa, ACPI_SIG_IVRS, WHERE, sizeof(AcpiSdtHeader), t, len));
    if (len < sizeof(AcpiIvrs)) return Status::error("IVRS Length is smaller than its 48-byte fixed part", WHERE, len);
    out.table_pa = ivrs_pa;
    out.iv_info = load_unaligned<AcpiIvrs>(t).iv_info;

    // §5.2: the blocks fill the rest of the table; each is at least its 4-byte header, so each pass ends after at
    // most Length / 4 steps. Pass 1 checks the framing and finds the newest IVHD type; pass 2 parses.
    u8 ivhd_type = 0;
    for (int pass = 0; pass < 2; ++pass) {
        size_t off = sizeof(AcpiIvrs);
        while (off < len) {
            if (len - off < sizeof(IvrsBlockHeader))
                return Status::error("IVRS block header runs past the table (value: offset)", WHERE, off);
            const IvrsBlockHeader b = load_unaligned<IvrsBlockHeader>(t + off);
            if (b.length < sizeof(IvrsBlockHeader))
                return Status::error("IVRS block Length is below 4 (value: offset)", WHERE, off, b.length);
            if (b.length > len - off)
                return Status::error("IVRS block runs past the table (value: offset)", WHERE, off, b.length);
            if (pass == 0) {
                if (is_ivhd(b.type) && b.type > ivhd_type) ivhd_type = b.type;
            } else if (is_ivhd(b.type) && b.type == ivhd_type) {
                EVMM_TRY(parse_ivhd(t, off, b.length, out));
            } else if (is_ivmd(b.type)) {
                EVMM_TRY(parse_ivmd(t, off, b.length, out));
            } else {
                ++out.other_blocks;
            }
            off += b.length;
        }
    }
    return Status::success();
}

Status ivrs_find_and_parse(const PhysMem& mem, const void* rsdp, size_t rsdp_len, IvrsInfo& out) {
    out = IvrsInfo{};
    u64 pa = 0;
    EVMM_TRY(acpi_find_table(mem, rsdp, rsdp_len, ACPI_SIG_IVRS, pa));
    return ivrs_parse(mem, pa, out);
}

} // namespace evmm
