// Multiboot2 boot information parser: see multiboot2.h. Section numbers refer to the Multiboot2 specification,
// version 2.0, section 3.6 "Boot information format".
#include "lib/formats/multiboot2.h"
#include "evmm/unaligned.h"

namespace evmm {

namespace {

// 3.6: "The boot information must be 64-bit aligned" and 3.6.1: tags are padded so each starts 8-byte aligned.
constexpr u64 MB2_INFO_ALIGN = 8;
constexpr u64 MB2_TAG_ALIGN = 8;

// 3.6.1 fixed part: u32 total_size, u32 reserved (the spec says reserved is always 0 and "must be ignored by OS
// image", so it is not checked).
constexpr u64 MB2_INFO_TOTAL_SIZE_OFFSET = 0;
constexpr u64 MB2_INFO_HEADER_SIZE = 8;

// 3.6.1 tag header: u32 type, u32 size (size includes the header, excludes the padding).
constexpr u64 MB2_TAG_TYPE_OFFSET = 0;
constexpr u64 MB2_TAG_SIZE_OFFSET = 4;
constexpr u64 MB2_TAG_HEADER_SIZE = 8;
// The end tag (3.6.1): type 0, size 8.
constexpr u64 MB2_END_TAG_SIZE = 8;
// Smallest possible information: the fixed part and the end tag.
constexpr u64 MB2_INFO_MIN_SIZE = MB2_INFO_HEADER_SIZE + MB2_END_TAG_SIZE;

// 3.6.2 / 3.6.3 boot command line, boot loader name: header, then a NUL-terminated string (at least the NUL).
constexpr u64 MB2_STRING_OFFSET = 8;
constexpr u64 MB2_STRING_TAG_MIN_SIZE = MB2_STRING_OFFSET + 1;

// 3.6.6 modules: header, u32 mod_start, u32 mod_end, NUL-terminated string.
constexpr u64 MB2_MODULE_START_OFFSET = 8;
constexpr u64 MB2_MODULE_END_OFFSET = 12;
constexpr u64 MB2_MODULE_STRING_OFFSET = 16;
constexpr u64 MB2_MODULE_TAG_MIN_SIZE = MB2_MODULE_STRING_OFFSET + 1;

// 3.6.4 basic memory information: header, u32 mem_lower, u32 mem_upper (KiB).
constexpr u64 MB2_MEMINFO_LOWER_OFFSET = 8;
constexpr u64 MB2_MEMINFO_UPPER_OFFSET = 12;
constexpr u64 MB2_MEMINFO_TAG_SIZE = 16;

// 3.6.8 memory map: header, u32 entry_size, u32 entry_version, entries. Entry: u64 base_addr, u64 length,
// u32 type, u32 reserved; entry_size is "guaranteed to be a multiple of 8".
constexpr u64 MB2_MMAP_ENTRY_SIZE_OFFSET = 8;
constexpr u64 MB2_MMAP_ENTRY_VERSION_OFFSET = 12;
constexpr u64 MB2_MMAP_ENTRIES_OFFSET = 16;
constexpr u64 MB2_MMAP_ENTRY_BASE_OFFSET = 0;
constexpr u64 MB2_MMAP_ENTRY_LENGTH_OFFSET = 8;
constexpr u64 MB2_MMAP_ENTRY_TYPE_OFFSET = 16;
constexpr u64 MB2_MMAP_ENTRY_MIN_SIZE = 24;
constexpr u64 MB2_MMAP_ENTRY_SIZE_MULTIPLE = 8;

// 3.6.11 / 3.6.12 EFI system table pointers: header, then u32 or u64 pointer.
constexpr u64 MB2_EFI_POINTER_OFFSET = 8;
constexpr u64 MB2_EFI32_TAG_MIN_SIZE = MB2_EFI_POINTER_OFFSET + sizeof(u32);
constexpr u64 MB2_EFI64_TAG_MIN_SIZE = MB2_EFI_POINTER_OFFSET + sizeof(u64);

// 3.6.14 / 3.6.15 ACPI RSDP copies: header, then the RSDP. ACPI 6.5 section 5.2.5.3: the ACPI 1.0 RSDP is 20
// bytes, the 2.0+ one (with XsdtAddress) 36.
constexpr u64 MB2_RSDP_OFFSET = 8;
constexpr u64 ACPI_RSDP_V1_SIZE = 20;
constexpr u64 ACPI_RSDP_V2_SIZE = 36;

// §3.6.12 framebuffer info: header, u64 framebuffer_addr, u32 pitch, u32 width, u32 height, u8 bpp, u8 type, then
// (GRUB 2's multiboot_tag_framebuffer_common) a u16 reserved: the color information starts at 32. Indexed color:
// u16 framebuffer_palette_num_colors, then that many 3-byte (r, g, b) entries. Direct RGB: six u8 fields (red
// position, red mask size, green ..., blue ...). EGA text: nothing.
constexpr u64 MB2_FB_ADDR_OFFSET = 8;
constexpr u64 MB2_FB_PITCH_OFFSET = 16;
constexpr u64 MB2_FB_WIDTH_OFFSET = 20;
constexpr u64 MB2_FB_HEIGHT_OFFSET = 24;
constexpr u64 MB2_FB_BPP_OFFSET = 28;
constexpr u64 MB2_FB_TYPE_OFFSET = 29;
constexpr u64 MB2_FB_COLOR_INFO_OFFSET = 32;
constexpr u64 MB2_FB_COMMON_SIZE = MB2_FB_COLOR_INFO_OFFSET;
constexpr u64 MB2_FB_RGB_FIELDS = 6; // red_field_position, red_mask_size, green ..., blue ...
constexpr u64 MB2_FB_RGB_TAG_MIN_SIZE = MB2_FB_COLOR_INFO_OFFSET + MB2_FB_RGB_FIELDS;
constexpr u64 MB2_FB_PALETTE_OFFSET = MB2_FB_COLOR_INFO_OFFSET + sizeof(u16);
constexpr u64 MB2_FB_PALETTE_ENTRY_SIZE = 3;

// VGA text mode as a BIOS leaves it (mode 3): 80x25 cells of 2 bytes at 0xB8000 (IBM VGA Technical Reference, the
// color text buffer at B8000h).
constexpr u64 VGA_TEXT_ADDR = 0xB8000;
constexpr u32 VGA_TEXT_COLUMNS = 80;
constexpr u32 VGA_TEXT_ROWS = 25;
constexpr u32 VGA_TEXT_CELL_BYTES = 2;
constexpr u8 VGA_TEXT_CELL_BITS = 16;

// 3.6.17 EFI memory map: header, u32 descriptor_size, u32 descriptor_version, descriptors.
constexpr u64 MB2_EFI_MMAP_TAG_MIN_SIZE = 16;

// 3.6.18 EFI boot services not terminated: header only.
// 3.6.20 image load base physical address: header, u32 load_base_addr.
constexpr u64 MB2_LOAD_BASE_OFFSET = 8;
constexpr u64 MB2_LOAD_BASE_TAG_MIN_SIZE = 12;

constexpr const char* WHERE_INFO = "boot information";
constexpr const char* WHERE_MODULE = "module tag";

const char* tag_name(Mb2TagType type) {
    switch (type) {
    case Mb2TagType::End: return "end tag";
    case Mb2TagType::Cmdline: return "cmdline tag";
    case Mb2TagType::BootLoaderName: return "boot loader name tag";
    case Mb2TagType::Module: return WHERE_MODULE;
    case Mb2TagType::BasicMeminfo: return "basic meminfo tag";
    case Mb2TagType::Mmap: return "mmap tag";
    case Mb2TagType::Efi32SystemTable: return "EFI32 system table tag";
    case Mb2TagType::Efi64SystemTable: return "EFI64 system table tag";
    case Mb2TagType::AcpiOldRsdp: return "ACPI old RSDP tag";
    case Mb2TagType::AcpiNewRsdp: return "ACPI new RSDP tag";
    case Mb2TagType::EfiMmap: return "EFI mmap tag";
    case Mb2TagType::LoadBaseAddr: return "load base address tag";
    case Mb2TagType::Framebuffer: return "framebuffer tag";
    default: return "tag";
    }
}

// Multiboot2 memory type (3.6.8) -> EVMM_MEM_*; anything unknown is reserved.
u32 map_memory_type(u32 mb2_type) {
    switch (static_cast<Mb2MemoryType>(mb2_type)) {
    case Mb2MemoryType::Available: return EVMM_MEM_USABLE;
    case Mb2MemoryType::Reserved: return EVMM_MEM_RESERVED;
    case Mb2MemoryType::AcpiReclaimable: return EVMM_MEM_ACPI_RECLAIMABLE;
    case Mb2MemoryType::Nvs: return EVMM_MEM_ACPI_NVS;
    case Mb2MemoryType::BadRam: return EVMM_MEM_BAD;
    }
    return EVMM_MEM_RESERVED;
}

// The NUL-terminated string in [p, p + n): error if there is no NUL in it.
Status read_string(const u8* p, u64 n, Mb2String& out, const char* where, u64 value) {
    for (u64 i = 0; i < n; ++i) {
        if (p[i] == 0) {
            out.str = reinterpret_cast<const char*>(p);
            out.len = static_cast<size_t>(i);
            return Status::success();
        }
    }
    return Status::error("string is not NUL-terminated inside the tag", where, value);
}

// One tag: `tag` points at its header, `size` is checked to be >= 8 and to fit, `off` is its offset.
Status parse_tag(const u8* tag, u32 size, u64 off, Mb2Info& out, bool& seen_end) {
    const Mb2TagType type = static_cast<Mb2TagType>(rd32(tag + MB2_TAG_TYPE_OFFSET));
    const char* where = tag_name(type);
    auto too_short = [&](u64 min) { return Status::error("tag is too short for its type", where, off, min); };
    auto duplicate = [&]() { return Status::error("duplicate tag", where, off); };

    switch (type) {
    case Mb2TagType::End:
        if (size != MB2_END_TAG_SIZE) return Status::error("end tag size is not 8", where, off, size);
        seen_end = true;
        return Status::success();

    case Mb2TagType::Cmdline:
    case Mb2TagType::BootLoaderName: {
        Mb2String& s = type == Mb2TagType::Cmdline ? out.cmdline : out.loader_name;
        if (s.str != nullptr) return duplicate();
        if (size < MB2_STRING_TAG_MIN_SIZE) return too_short(MB2_STRING_TAG_MIN_SIZE);
        return read_string(tag + MB2_STRING_OFFSET, size - MB2_STRING_OFFSET, s, where, off);
    }

    case Mb2TagType::Module: {
        const u32 index = out.module_count;
        if (size < MB2_MODULE_TAG_MIN_SIZE) return Status::error("module tag is too short", where, index, off);
        if (index >= EVMM_MAX_BOOT_MODULES)
            return Status::error("too many modules", where, index, EVMM_MAX_BOOT_MODULES);
        Mb2Module& m = out.modules[index];
        m.mod_start = rd32(tag + MB2_MODULE_START_OFFSET);
        m.mod_end = rd32(tag + MB2_MODULE_END_OFFSET);
        // mod_start/mod_end are 32-bit, so an end below the start is the only way a module range can wrap.
        if (m.mod_end < m.mod_start)
            return Status::error("module ends before it starts (range wraps)", where, index, off);
        EVMM_TRY(read_string(tag + MB2_MODULE_STRING_OFFSET, size - MB2_MODULE_STRING_OFFSET, m.cmdline, where, index));
        out.module_count = index + 1;
        return Status::success();
    }

    case Mb2TagType::BasicMeminfo:
        if (out.has_meminfo) return duplicate();
        if (size < MB2_MEMINFO_TAG_SIZE) return too_short(MB2_MEMINFO_TAG_SIZE);
        out.has_meminfo = true;
        out.mem_lower_kib = rd32(tag + MB2_MEMINFO_LOWER_OFFSET);
        out.mem_upper_kib = rd32(tag + MB2_MEMINFO_UPPER_OFFSET);
        return Status::success();

    case Mb2TagType::Mmap: {
        if (out.has_mmap) return duplicate();
        if (size < MB2_MMAP_ENTRIES_OFFSET) return too_short(MB2_MMAP_ENTRIES_OFFSET);
        const u32 entry_size = rd32(tag + MB2_MMAP_ENTRY_SIZE_OFFSET);
        if (entry_size == 0) return Status::error("mmap entry_size is 0", where, off);
        if (entry_size < MB2_MMAP_ENTRY_MIN_SIZE)
            return Status::error("mmap entry_size is smaller than 24", where, off, entry_size);
        if (entry_size % MB2_MMAP_ENTRY_SIZE_MULTIPLE != 0)
            return Status::error("mmap entry_size is not a multiple of 8", where, off, entry_size);
        const u64 bytes = size - MB2_MMAP_ENTRIES_OFFSET;
        if (bytes % entry_size != 0) return Status::error("mmap entries do not fit the tag size", where, off, size);
        const u64 raw_count = bytes / entry_size;
        const u8* entries = tag + MB2_MMAP_ENTRIES_OFFSET;
        u32 count = 0;
        for (u64 i = 0; i < raw_count; ++i) {
            const u8* e = entries + i * entry_size;
            const u64 base = rd64(e + MB2_MMAP_ENTRY_BASE_OFFSET);
            const u64 length = rd64(e + MB2_MMAP_ENTRY_LENGTH_OFFSET);
            if (length == 0) continue;
            if (add_overflows(base, length))
                return Status::error("mmap entry wraps past the end of the address space", where, i, base);
            if (count >= EVMM_MAX_MMAP) return Status::error("too many mmap entries", where, raw_count, EVMM_MAX_MMAP);
            out.mmap[count++] =
                evmm_mmap_entry_t{base, length, map_memory_type(rd32(e + MB2_MMAP_ENTRY_TYPE_OFFSET)), 0};
        }
        out.has_mmap = true;
        out.mmap_entry_size = entry_size;
        out.mmap_entry_version = rd32(tag + MB2_MMAP_ENTRY_VERSION_OFFSET);
        out.mmap_raw = entries;
        out.mmap_raw_count = static_cast<u32>(raw_count); // < 2^32 / 24
        out.mmap_count = count;
        return Status::success();
    }

    case Mb2TagType::Efi32SystemTable:
        if (out.has_efi32_system_table) return duplicate();
        if (size < MB2_EFI32_TAG_MIN_SIZE) return too_short(MB2_EFI32_TAG_MIN_SIZE);
        out.has_efi32_system_table = true;
        out.efi32_system_table = rd32(tag + MB2_EFI_POINTER_OFFSET);
        return Status::success();

    case Mb2TagType::Efi64SystemTable:
        if (out.has_efi64_system_table) return duplicate();
        if (size < MB2_EFI64_TAG_MIN_SIZE) return too_short(MB2_EFI64_TAG_MIN_SIZE);
        out.has_efi64_system_table = true;
        out.efi64_system_table = rd64(tag + MB2_EFI_POINTER_OFFSET);
        return Status::success();

    case Mb2TagType::AcpiOldRsdp:
    case Mb2TagType::AcpiNewRsdp: {
        const bool is_new = type == Mb2TagType::AcpiNewRsdp;
        const u8*& ptr = is_new ? out.acpi_new_rsdp : out.acpi_old_rsdp;
        u32& len = is_new ? out.acpi_new_rsdp_len : out.acpi_old_rsdp_len;
        const u64 min = MB2_RSDP_OFFSET + (is_new ? ACPI_RSDP_V2_SIZE : ACPI_RSDP_V1_SIZE);
        if (ptr != nullptr) return duplicate();
        if (size < min) return too_short(min);
        ptr = tag + MB2_RSDP_OFFSET;
        len = static_cast<u32>(size - MB2_RSDP_OFFSET);
        return Status::success();
    }

    case Mb2TagType::EfiMmap:
        if (size < MB2_EFI_MMAP_TAG_MIN_SIZE) return too_short(MB2_EFI_MMAP_TAG_MIN_SIZE);
        out.has_efi_mmap = true;
        return Status::success();

    case Mb2TagType::EfiBootServicesNotTerminated: out.efi_boot_services_active = true; return Status::success();

    case Mb2TagType::Framebuffer: {
        if (out.has_framebuffer) return duplicate();
        if (size < MB2_FB_COMMON_SIZE) return too_short(MB2_FB_COMMON_SIZE);
        Mb2Framebuffer fb{};
        fb.addr = rd64(tag + MB2_FB_ADDR_OFFSET);
        fb.pitch = rd32(tag + MB2_FB_PITCH_OFFSET);
        fb.width = rd32(tag + MB2_FB_WIDTH_OFFSET);
        fb.height = rd32(tag + MB2_FB_HEIGHT_OFFSET);
        fb.bpp = tag[MB2_FB_BPP_OFFSET];
        fb.type = tag[MB2_FB_TYPE_OFFSET];
        const u8* color = tag + MB2_FB_COLOR_INFO_OFFSET;
        switch (static_cast<Mb2FramebufferType>(fb.type)) {
        case Mb2FramebufferType::DirectRgb:
            if (size < MB2_FB_RGB_TAG_MIN_SIZE) return too_short(MB2_FB_RGB_TAG_MIN_SIZE);
            fb.red_pos = color[0], fb.red_size = color[1];
            fb.green_pos = color[2], fb.green_size = color[3];
            fb.blue_pos = color[4], fb.blue_size = color[5];
            break;
        case Mb2FramebufferType::Indexed:
            if (size < MB2_FB_PALETTE_OFFSET) return too_short(MB2_FB_PALETTE_OFFSET);
            fb.palette_colors = static_cast<u16>(color[0] | color[1] << 8);
            if (size < MB2_FB_PALETTE_OFFSET + u64{fb.palette_colors} * MB2_FB_PALETTE_ENTRY_SIZE)
                return Status::error("framebuffer palette runs past the tag", where, off, fb.palette_colors);
            break;
        case Mb2FramebufferType::EgaText: break;
        }
        out.has_framebuffer = true;
        out.framebuffer = fb;
        return Status::success();
    }

    case Mb2TagType::LoadBaseAddr:
        if (out.has_load_base) return duplicate();
        if (size < MB2_LOAD_BASE_TAG_MIN_SIZE) return too_short(MB2_LOAD_BASE_TAG_MIN_SIZE);
        out.has_load_base = true;
        out.load_base = rd32(tag + MB2_LOAD_BASE_OFFSET);
        return Status::success();

    default:
        // VBE, ELF sections, APM, SMBIOS, network, image handles, and types from later spec
        // revisions: not needed, skipped (their size was checked by the caller).
        return Status::success();
    }
}

// [addr, addr + bytes) ends at or below limit (and does not wrap).
bool below(u64 addr, u64 bytes, u64 limit) { return !add_overflows(addr, bytes) && addr + bytes <= limit; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

} // namespace

Status mb2_parse(const u8* info, size_t avail, Mb2Info& out) {
    out = Mb2Info{};
    if (info == nullptr) return Status::error("boot information pointer is null", WHERE_INFO);
    if (!is_aligned(reinterpret_cast<uptr>(info), MB2_INFO_ALIGN))
        return Status::error("boot information is not 8-byte aligned", WHERE_INFO, reinterpret_cast<uptr>(info));
    if (avail < MB2_INFO_HEADER_SIZE) return Status::error("boot information header is truncated", WHERE_INFO, avail);

    const u32 total = rd32(info + MB2_INFO_TOTAL_SIZE_OFFSET);
    if (total < MB2_INFO_MIN_SIZE) return Status::error("total_size is smaller than 16", WHERE_INFO, total);
    if (total > avail)
        return Status::error("total_size runs past the readable bytes (truncated)", WHERE_INFO, total, avail);
    out.total_size = total;

    bool seen_end = false;
    u64 off = MB2_INFO_HEADER_SIZE; // always a multiple of MB2_TAG_ALIGN
    while (!seen_end && off + MB2_TAG_HEADER_SIZE <= total) {
        const u8* tag = info + off;
        const u32 size = rd32(tag + MB2_TAG_SIZE_OFFSET);
        const char* where = tag_name(static_cast<Mb2TagType>(rd32(tag + MB2_TAG_TYPE_OFFSET)));
        if (size == 0) return Status::error("tag size is 0", where, off);
        if (size < MB2_TAG_HEADER_SIZE)
            return Status::error("tag size is smaller than its 8-byte header", where, off, size);
        if (off + size > total) return Status::error("tag size runs past end of info", where, off, size);
        EVMM_TRY(parse_tag(tag, size, off, out, seen_end));
        off += align_up(size, MB2_TAG_ALIGN);
    }
    if (!seen_end) return Status::error("missing end tag", WHERE_INFO, total);

    for (u32 i = 0; i < out.module_count; ++i) {
        const Mb2Module& a = out.modules[i];
        for (u32 j = i + 1; j < out.module_count; ++j) {
            const Mb2Module& b = out.modules[j];
            if (ranges_overlap(a.mod_start, a.mod_end - a.mod_start, b.mod_start, b.mod_end - b.mod_start))
                return Status::error("modules overlap", WHERE_MODULE, i, j);
        }
    }
    return Status::success();
}

Status mb2_screen(const Mb2Info& info, u64 limit, evmm_screen_t& out) {
    constexpr const char* where = "framebuffer tag";
    out = evmm_screen_t{};
    out.type = EVMM_SCREEN_NONE;
    if (!info.has_framebuffer) {
        // No tag: a BIOS boot (no EFI system table, §3.6.13/§3.6.14) still has VGA text mode; UEFI has no screen.
        if (info.has_efi32_system_table || info.has_efi64_system_table) return Status::success();
        out.addr = VGA_TEXT_ADDR;
        out.width = VGA_TEXT_COLUMNS;
        out.height = VGA_TEXT_ROWS;
        out.pitch = VGA_TEXT_COLUMNS * VGA_TEXT_CELL_BYTES;
        out.bpp = VGA_TEXT_CELL_BITS;
        out.type = EVMM_SCREEN_EGA_TEXT;
        return Status::success();
    }
    const Mb2Framebuffer& fb = info.framebuffer;
    u8 type = EVMM_SCREEN_NONE;
    switch (static_cast<Mb2FramebufferType>(fb.type)) {
    case Mb2FramebufferType::DirectRgb: type = EVMM_SCREEN_RGB; break;
    case Mb2FramebufferType::EgaText: type = EVMM_SCREEN_EGA_TEXT; break;
    case Mb2FramebufferType::Indexed: return Status::error("indexed-color framebuffer (not supported)", where, fb.bpp);
    default: return Status::error("unknown framebuffer type", where, fb.type);
    }
    if (!below(fb.addr, u64{fb.pitch} * fb.height, limit))
        return Status::error("framebuffer ends past the identity map", where, fb.addr, u64{fb.pitch} * fb.height);
    out.addr = fb.addr;
    out.pitch = fb.pitch;
    out.width = fb.width;
    out.height = fb.height;
    out.bpp = fb.bpp;
    out.type = type;
    out.red_pos = fb.red_pos, out.red_size = fb.red_size;
    out.green_pos = fb.green_pos, out.green_size = fb.green_size;
    out.blue_pos = fb.blue_pos, out.blue_size = fb.blue_size;
    return Status::success();
}

Status mb2_split_module_cmdline(const char* cmdline, size_t len, char* role, size_t role_cap, char* args,
                                size_t args_cap) {
    constexpr const char* where = "module command line";
    if (role == nullptr || args == nullptr || role_cap == 0 || args_cap == 0)
        return Status::error("no room for the module role and arguments", where);
    role[0] = '\0';
    args[0] = '\0';
    size_t n = 0;
    if (cmdline != nullptr) {
        while (n < len && cmdline[n] != '\0') ++n;
    }

    size_t i = 0;
    while (i < n && is_space(cmdline[i])) ++i;
    const size_t role_start = i;
    while (i < n && !is_space(cmdline[i])) ++i;
    const size_t role_len = i - role_start;
    if (role_len == 0) return Status::error(MB2_ERR_NO_ROLE, where);
    if (role_len >= role_cap) return Status::error(MB2_ERR_ROLE_TOO_LONG, where, role_len, role_cap - 1);
    while (i < n && is_space(cmdline[i])) ++i;
    const size_t args_len = n - i;
    if (args_len >= args_cap) return Status::error(MB2_ERR_ARGS_TOO_LONG, where, args_len, args_cap - 1);

    __builtin_memcpy(role, cmdline + role_start, role_len);
    role[role_len] = '\0';
    __builtin_memcpy(args, cmdline + i, args_len);
    args[args_len] = '\0';
    return Status::success();
}

} // namespace evmm
