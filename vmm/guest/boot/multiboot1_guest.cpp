// evmm as guest0's Multiboot (version 1) boot loader: see multiboot1_guest.h. Section numbers refer to the
// Multiboot Specification version 0.6.96.
#include "vmm/guest/boot/multiboot1_guest.h"

#include "evmm/unaligned.h"
#include "lib/formats/elf.h"
#include "lib/string.h"
#include "vmm/guest/boot/entry_state.h"

namespace evmm {

using namespace boot_info;

namespace {

// §3.1.1 header layout.
constexpr u64 HDR_MAGIC_OFFSET = offsetof(Mb1ImageHeader, magic);
constexpr u64 HDR_FLAGS_OFFSET = offsetof(Mb1ImageHeader, flags);
constexpr u64 HDR_CHECKSUM_OFFSET = offsetof(Mb1ImageHeader, checksum);
constexpr u64 HDR_HEADER_ADDR_OFFSET = offsetof(Mb1ImageHeader, header_addr);
constexpr u64 HDR_LOAD_ADDR_OFFSET = offsetof(Mb1ImageHeader, load_addr);
constexpr u64 HDR_LOAD_END_ADDR_OFFSET = offsetof(Mb1ImageHeader, load_end_addr);
constexpr u64 HDR_BSS_END_ADDR_OFFSET = offsetof(Mb1ImageHeader, bss_end_addr);
constexpr u64 HDR_ENTRY_ADDR_OFFSET = offsetof(Mb1ImageHeader, entry_addr);
constexpr u64 HDR_MODE_TYPE_OFFSET = offsetof(Mb1ImageHeader, mode_type);
constexpr u64 HDR_WIDTH_OFFSET = offsetof(Mb1ImageHeader, width);
constexpr u64 HDR_HEIGHT_OFFSET = offsetof(Mb1ImageHeader, height);
constexpr u64 HDR_DEPTH_OFFSET = offsetof(Mb1ImageHeader, depth);

// §3.3: the structure's fields are u32; evmm lays out the arrays after it on 8-byte boundaries.
constexpr u64 INFO_ALIGN = 4;
constexpr u64 INFO_PART_ALIGN = 8;
// §3.3 mem_lower / mem_upper (KiB): lower memory from 0 (at most 640 KiB), upper memory from 1 MiB.
constexpr u64 LOWER_MEMORY_MAX = 640 * KiB;
constexpr u64 UPPER_MEMORY_BASE = 1 * MiB;

constexpr size_t LOADER_NAME_MAX = 256; // bound on the boot loader name read from the inputs
constexpr u64 U32_LIMIT = u64{UINT32_MAX};

constexpr const char* WHERE_HEADER = "Multiboot header";
constexpr const char* WHERE_INFO = "Multiboot information";

// §3.1.3 address fields, as named in errors.
constexpr AoutFieldNames ADDRESS_FIELD_NAMES = {
    "Multiboot header address fields", "Multiboot header header_addr",
    "Multiboot header load_addr",      "Multiboot header load_end_addr",
    "Multiboot header bss_end_addr",   "header address fields describe nothing to load",
};

// ---------------------------------------------------------------------------------------------------------------
// Boot information

Status check_inputs(const BootInfoInputs& in) {
    if (in.mmap_count == 0 || in.mmap == nullptr)
        return Status::error("guest0 memory map is empty or missing", WHERE_INFO, in.mmap_count);
    if (in.module_count != 0 && in.modules == nullptr)
        return Status::error("module list missing", WHERE_INFO, in.module_count);
    for (u32 i = 0; i < in.module_count; ++i) {
        if (i == in.skip_module) continue;
        const evmm_boot_module_t& m = in.modules[i];
        // §3.3: mod_start and mod_end are 32-bit physical addresses.
        if (add_overflows(m.start, m.size) || m.start + m.size > U32_LIMIT)
            return Status::error("module does not lie below 4 GiB (mod_start/mod_end are 32-bit)", "module", i,
                                 m.start);
        if (in.require_page_aligned_modules && !is_aligned(m.start, PAGE_SIZE))
            return Status::error("module is not page aligned but the kernel's header flags bit 0 requires it", "module",
                                 i, m.start);
    }
    return Status::success();
}

// Where each part of the information goes, relative to its start.
struct Layout {
    u32 module_entries = 0, mmap_entries = 0;
    u64 mods_off = 0, mmap_off = 0, cmdline_off = 0, name_off = 0, modstr_off = 0, size = 0;
    size_t cmdline_len = 0, name_len = 0;
};

Layout layout(const BootInfoInputs& in) {
    Layout l;
    for (u32 i = 0; i < in.module_count; ++i)
        if (i != in.skip_module) ++l.module_entries;
    for (u32 i = 0; i < in.mmap_count; ++i)
        if (in.mmap[i].length != 0) ++l.mmap_entries;
    l.cmdline_len = in.cmdline != nullptr ? str_len(in.cmdline, in.cmdline_len) : 0;
    l.name_len = in.loader_name != nullptr ? str_len(in.loader_name, LOADER_NAME_MAX) : 0;

    l.mods_off = MB1_INFO_STRUCT_SIZE;
    l.mmap_off = align_up(l.mods_off + u64{l.module_entries} * MB1_MODULE_ENTRY_SIZE, INFO_PART_ALIGN);
    l.cmdline_off = l.mmap_off + u64{l.mmap_entries} * MB1_MMAP_ENTRY_SIZE;
    l.name_off = l.cmdline_off + l.cmdline_len + 1;
    l.modstr_off = l.name_off + (in.loader_name != nullptr ? l.name_len + 1 : 0);
    u64 end = l.modstr_off;
    for (u32 i = 0; i < in.module_count; ++i) {
        if (i == in.skip_module) continue;
        const evmm_boot_module_t& m = in.modules[i];
        const size_t rl = role_len(m), al = args_len(m);
        end += rl + (rl != 0 && al != 0 ? 1 : 0) + al + 1;
    }
    l.size = align_up(end, INFO_PART_ALIGN);
    return l;
}

// Writes the information (inputs checked, buf holds l.size bytes, gpa + l.size <= 4 GiB).
void emit(const BootInfoInputs& in, const Layout& l, u8* buf, u64 gpa) {
    __builtin_memset(buf, 0, l.size);
    const auto addr = [gpa](u64 off) { return static_cast<u32>(gpa + off); };

    u32 flags = MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS | MB1_INFO_MMAP;

    // mem_lower / mem_upper.
    const u64 low = usable_run_end(in.mmap, in.mmap_count, 0);
    const u64 up_end = usable_run_end(in.mmap, in.mmap_count, UPPER_MEMORY_BASE);
    const u64 lower_kib = (low < LOWER_MEMORY_MAX ? low : LOWER_MEMORY_MAX) / KiB;
    const u64 upper_kib = (up_end - UPPER_MEMORY_BASE) / KiB;
    wr32(buf + MB1_INFO_MEM_LOWER_OFFSET, static_cast<u32>(lower_kib));
    wr32(buf + MB1_INFO_MEM_UPPER_OFFSET, static_cast<u32>(upper_kib < U32_LIMIT ? upper_kib : U32_LIMIT));

    // cmdline.
    if (l.cmdline_len != 0) __builtin_memcpy(buf + l.cmdline_off, in.cmdline, l.cmdline_len);
    wr32(buf + MB1_INFO_CMDLINE_OFFSET, addr(l.cmdline_off));

    // boot_loader_name.
    if (in.loader_name != nullptr) {
        __builtin_memcpy(buf + l.name_off, in.loader_name, l.name_len);
        wr32(buf + MB1_INFO_BOOT_LOADER_NAME_OFFSET, addr(l.name_off));
        flags |= MB1_INFO_LOADER_NAME;
    }

    // Modules: {mod_start, mod_end, string, reserved}, strings "ROLE ARGS" as GRUB passes the module line minus
    // the file name.
    wr32(buf + MB1_INFO_MODS_COUNT_OFFSET, l.module_entries);
    wr32(buf + MB1_INFO_MODS_ADDR_OFFSET, l.module_entries != 0 ? addr(l.mods_off) : 0);
    u64 mod = l.mods_off, str = l.modstr_off;
    for (u32 i = 0; i < in.module_count; ++i) {
        if (i == in.skip_module) continue;
        const evmm_boot_module_t& m = in.modules[i];
        const size_t rl = role_len(m), al = args_len(m);
        wr32(buf + mod + offsetof(Mb1ModuleEntry, mod_start), static_cast<u32>(m.start));
        wr32(buf + mod + offsetof(Mb1ModuleEntry, mod_end), static_cast<u32>(m.start + m.size));
        wr32(buf + mod + offsetof(Mb1ModuleEntry, string), addr(str));
        mod += MB1_MODULE_ENTRY_SIZE;
        __builtin_memcpy(buf + str, m.role, rl);
        str += rl;
        if (rl != 0 && al != 0) buf[str++] = ' ';
        __builtin_memcpy(buf + str, m.cmdline, al);
        str += al + 1; // NUL already there
    }

    // Memory map: {u32 size = 20, u64 base_addr, u64 length, u32 type}; mmap_addr points at the first `size`.
    u64 e = l.mmap_off;
    for (u32 i = 0; i < in.mmap_count; ++i) {
        const evmm_mmap_entry_t& ent = in.mmap[i];
        if (ent.length == 0) continue;
        wr32(buf + e + offsetof(Mb1MmapEntry, size), MB1_MMAP_ENTRY_SIZE_FIELD);
        wr64(buf + e + offsetof(Mb1MmapEntry, base_addr), ent.base);
        wr64(buf + e + offsetof(Mb1MmapEntry, length), ent.length);
        wr32(buf + e + offsetof(Mb1MmapEntry, type), multiboot_memory_type(ent.type));
        e += MB1_MMAP_ENTRY_SIZE;
    }
    wr32(buf + MB1_INFO_MMAP_LENGTH_OFFSET, static_cast<u32>(u64{l.mmap_entries} * MB1_MMAP_ENTRY_SIZE));
    wr32(buf + MB1_INFO_MMAP_ADDR_OFFSET, addr(l.mmap_off));

    wr32(buf + MB1_INFO_FLAGS_OFFSET, flags);
}

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// Header

Status mb1_find_header(const u8* image, size_t size, Mb1Header& out) {
    out = Mb1Header{};
    if (image == nullptr || size == 0) return Status::error("kernel image is empty", WHERE_HEADER, size);
    const u64 limit = size < MB1_HEADER_SEARCH_LIMIT ? size : MB1_HEADER_SEARCH_LIMIT;

    Status first_bad = Status::success();
    for (u64 off = 0; off + MB1_HEADER_MIN_SIZE <= limit; off += MB1_HEADER_ALIGN) {
        const u8* h = image + off;
        if (rd32(h + HDR_MAGIC_OFFSET) != MB1_HEADER_MAGIC_VALUE) continue;
        const u32 flags = rd32(h + HDR_FLAGS_OFFSET);
        const u32 checksum = rd32(h + HDR_CHECKSUM_OFFSET);
        // §3.1.2: magic + flags + checksum == 0 (mod 2^32). Like GRUB, a bad candidate is passed over.
        if (static_cast<u32>(MB1_HEADER_MAGIC_VALUE + flags + checksum) != 0) {
            if (first_bad.ok())
                first_bad = Status::error("header checksum is wrong (magic + flags + checksum != 0)", "header checksum",
                                          off, checksum);
            continue;
        }
        // §3.1.2: bits 0-15 are requirements; one evmm does not understand makes the image unloadable.
        const u32 unknown = flags & MB1_FLAGS_REQUIRED_MASK & ~MB1_FLAGS_UNDERSTOOD;
        if (unknown != 0)
            return Status::error(
                "kernel requires a Multiboot feature evmm does not understand (header flags bits "
                "0-15)",
                "header flags", unknown, off);

        Mb1Header r;
        r.offset = static_cast<u32>(off);
        r.flags = flags;
        r.header_length = static_cast<u32>(MB1_HEADER_MIN_SIZE);
        r.modules_page_aligned = (flags & MB1_FLAG_PAGE_ALIGN_MODULES) != 0;
        r.memory_info = (flags & MB1_FLAG_MEMORY_INFO) != 0;
        r.video_mode_requested = (flags & MB1_FLAG_VIDEO_MODE) != 0;
        if ((flags & MB1_FLAG_ADDRESS_FIELDS) != 0) {
            // §3.1.1: the header must lie completely within the first 8192 bytes.
            if (off + MB1_HEADER_ADDR_SIZE > limit)
                return Status::error(
                    "header address fields (flags bit 16) run past the image or its first 8192 "
                    "bytes",
                    "header flags", off, size);
            r.has_address = true;
            r.header_length = static_cast<u32>(MB1_HEADER_ADDR_SIZE);
            r.header_addr = rd32(h + HDR_HEADER_ADDR_OFFSET);
            r.load_addr = rd32(h + HDR_LOAD_ADDR_OFFSET);
            r.load_end_addr = rd32(h + HDR_LOAD_END_ADDR_OFFSET);
            r.bss_end_addr = rd32(h + HDR_BSS_END_ADDR_OFFSET);
            r.entry_addr = rd32(h + HDR_ENTRY_ADDR_OFFSET);
        }
        // §3.1.4: the graphics fields, a preference evmm records but does not act on.
        if (r.video_mode_requested && off + MB1_HEADER_VIDEO_SIZE <= limit) {
            r.has_video_fields = true;
            r.mode_type = rd32(h + HDR_MODE_TYPE_OFFSET);
            r.width = rd32(h + HDR_WIDTH_OFFSET);
            r.height = rd32(h + HDR_HEIGHT_OFFSET);
            r.depth = rd32(h + HDR_DEPTH_OFFSET);
        }
        out = r;
        return Status::success();
    }
    if (!first_bad.ok()) return first_bad;
    return Status::error("no Multiboot header (magic 0x1BADB002) in the first 8192 bytes", "header magic", limit);
}

// ---------------------------------------------------------------------------------------------------------------
// Plan

Status mb1_plan(const u8* image, size_t size, const Mb1Header& hdr, KernelPlan& out) {
    out = KernelPlan{};
    if (image == nullptr || size == 0) return Status::error("kernel image is empty", WHERE_HEADER, size);
    if (hdr.header_length < MB1_HEADER_MIN_SIZE || hdr.offset > size || hdr.header_length > size - hdr.offset ||
        rd32(image + hdr.offset) != MB1_HEADER_MAGIC_VALUE)
        return Status::error("header does not belong to this image", WHERE_HEADER, hdr.offset, hdr.header_length);

    Status s = Status::success();
    if (hdr.has_address) {
        // §3.1.3: load_addr <= header_addr (checked by kernel_plan_aout); entry_addr is the physical entry point.
        AoutFields f;
        f.header_offset = hdr.offset;
        f.header_addr = hdr.header_addr;
        f.load_addr = hdr.load_addr;
        f.load_end_addr = hdr.load_end_addr;
        f.bss_end_addr = hdr.bss_end_addr;
        s = kernel_plan_aout(size, f, ADDRESS_FIELD_NAMES, out);
        out.entry = hdr.entry_addr;
        out.entry_from_tag = true;
    } else if (size < EI_NIDENT || __builtin_memcmp(image + EI_MAG0, ELFMAG, sizeof ELFMAG) != 0) {
        return Status::error("image is not ELF and its Multiboot header has no address fields (flags bit 16)",
                             "ELF e_ident", size);
    } else {
        // Without address fields ELF32 (EM_386) and ELF64 (EM_X86_64) alike, as GRUB's `multiboot` command does
        // (multiboot_elfxx.c, built for both classes): PT_LOADs at p_paddr, e_entry translated to the physical
        // address in its PT_LOAD and below 4 GiB, no segment past 4 GiB (§3.2: the kernel starts in 32-bit
        // protected mode with paging off).
        s = kernel_plan_elf(image, size, false, out);
    }
    if (s.ok()) s = kernel_plan_finish(out, hdr.has_address ? "Multiboot header entry_addr" : "ELF e_entry");
    if (!s.ok()) out = KernelPlan{};
    return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Boot information

void mb1_info_inputs_apply_kernel(const Mb1Header& hdr, BootInfoInputs& in) {
    in.require_page_aligned_modules = hdr.modules_page_aligned;
    in.provide_load_base = false; // no such field in Multiboot1
}

Status mb1_info_size(const BootInfoInputs& in, u64& out_size) {
    out_size = 0;
    EVMM_TRY(check_inputs(in));
    const Layout l = layout(in);
    if (l.size > U32_LIMIT) return Status::error("boot information would exceed 4 GiB", WHERE_INFO, l.size);
    out_size = l.size;
    return Status::success();
}

Status mb1_build_info(const BootInfoInputs& in, GuestMem& mem, u64 gpa, u64 cap, u64& out_size) {
    out_size = 0;
    if (!is_aligned(gpa, INFO_ALIGN))
        return Status::error("boot information address is not 4-byte aligned", WHERE_INFO, gpa);
    u64 size = 0;
    EVMM_TRY(mb1_info_size(in, size));
    // §3.2: EBX and every pointer in the structure are 32-bit physical addresses.
    u8* p = nullptr;
    EVMM_TRY(map_info_area(mem, gpa, size, cap, WHERE_INFO, p));
    emit(in, layout(in), p, gpa);
    out_size = size;
    return Status::success();
}

void mb1_entry_state(evmm_gcpu_state_t& s, u32 entry, u32 info_gpa) {
    gcpu_multiboot2_entry_state(s); // §3.2: CR0.PE, paging off, flat segments, IF/VM clear
    s.gp[EVMM_GP_RAX] = MB1_BOOTLOADER_MAGIC_VALUE;
    s.rip = entry;
    s.gp[EVMM_GP_RBX] = info_gpa;
}

} // namespace evmm
