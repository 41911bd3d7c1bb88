// evmm as guest0's Multiboot2 boot loader: see multiboot2_guest.h. Section numbers refer to the Multiboot2
// Specification version 2.0.
#include "vmm/guest/boot/multiboot2_guest.h"

#include "evmm/unaligned.h"
#include "lib/formats/acpi.h"
#include "lib/formats/elf.h"
#include "lib/string.h"
#include "vmm/guest/boot/entry_state.h"

namespace evmm {

using namespace boot_info;

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Layouts

// §3.1.1 header fixed part.
constexpr u64 HDR_MAGIC_OFFSET = 0;
constexpr u64 HDR_ARCH_OFFSET = 4;
constexpr u64 HDR_LENGTH_OFFSET = 8;
constexpr u64 HDR_CHECKSUM_OFFSET = 12;
// A header of the fixed part and an end tag only.
constexpr u64 HDR_END_TAG_SIZE = 8;
constexpr u64 HDR_MIN_LENGTH = MB2_HEADER_FIXED_SIZE + HDR_END_TAG_SIZE;
// The magic at a 4-byte aligned offset: the Multiboot (1) alignment, a likely mistake worth naming.
constexpr u64 MB1_STYLE_ALIGN = 4;

// §3.1.3 header tag: u16 type, u16 flags, u32 size (size includes the 8-byte header, excludes padding).
constexpr u64 HTAG_TYPE_OFFSET = 0;
constexpr u64 HTAG_FLAGS_OFFSET = 2;
constexpr u64 HTAG_SIZE_OFFSET = 4;
constexpr u64 HTAG_HEADER_SIZE = 8;
constexpr u64 HTAG_PAYLOAD = 8; // first field after the tag header

// §3.1.4 information request: u32 mbi_tag_types[].
constexpr u64 INFO_REQ_ENTRY_SIZE = 4;
// §3.1.5 address tag: header_addr, load_addr, load_end_addr, bss_end_addr.
constexpr u64 ADDR_TAG_SIZE = HTAG_PAYLOAD + 4 * sizeof(u32);
// §3.1.6/§3.1.7/§3.1.8 entry address tags: u32 entry_addr.
constexpr u64 ENTRY_TAG_SIZE = HTAG_PAYLOAD + sizeof(u32);
// §3.1.9 flags tag: u32 console_flags.
constexpr u64 CONSOLE_TAG_SIZE = HTAG_PAYLOAD + sizeof(u32);
// §3.1.10 framebuffer tag: width, height, depth.
constexpr u64 FB_TAG_SIZE = HTAG_PAYLOAD + 3 * sizeof(u32);
// §3.1.11 / §3.1.12: header only.
constexpr u64 EMPTY_TAG_SIZE = HTAG_HEADER_SIZE;
// §3.1.13 relocatable tag: min_addr, max_addr, align, preference.
constexpr u64 RELOC_TAG_SIZE = HTAG_PAYLOAD + 4 * sizeof(u32);

// §3.6.1 information: u32 total_size, u32 reserved; tags u32 type, u32 size; 8-byte alignment throughout.
constexpr u64 INFO_ALIGN = 8;
constexpr u64 INFO_TAG_ALIGN = 8;
// §3.6.4 basic memory information (KiB): lower memory from 0 (at most 640 KiB), upper memory from 1 MiB.
constexpr u64 LOWER_MEMORY_MAX = 640 * KiB;
constexpr u64 UPPER_MEMORY_BASE = 1 * MiB;
// §3.6.8 memory map entry: u64 base_addr, u64 length, u32 type, u32 reserved; version 0.
constexpr u32 MMAP_ENTRY_SIZE = 24;
constexpr u32 MMAP_ENTRY_VERSION = 0;

constexpr size_t LOADER_NAME_MAX = 256; // bound on the boot loader name string read from the inputs

constexpr u64 U32_LIMIT = u64{UINT32_MAX}; // the largest 32-bit value

constexpr const char* WHERE_HEADER = "Multiboot2 header";
constexpr const char* WHERE_ADDR = "address tag";
constexpr const char* WHERE_INFO = "guest boot information";

// [off, off + len) inside [0, size), without wrapping.
bool in_file(u64 off, u64 len, u64 size) { return off <= size && len <= size - off; }

// ---------------------------------------------------------------------------------------------------------------
// Header tags

const char* header_tag_name(u16 type) {
    switch (static_cast<Mb2HeaderTagType>(type)) {
    case Mb2HeaderTagType::End: return "header end tag";
    case Mb2HeaderTagType::InformationRequest: return "information request tag";
    case Mb2HeaderTagType::Address: return WHERE_ADDR;
    case Mb2HeaderTagType::EntryAddress: return "entry address tag";
    case Mb2HeaderTagType::ConsoleFlags: return "console flags tag";
    case Mb2HeaderTagType::Framebuffer: return "framebuffer tag";
    case Mb2HeaderTagType::ModuleAlign: return "module alignment tag";
    case Mb2HeaderTagType::EfiBootServices: return "EFI boot services tag";
    case Mb2HeaderTagType::EntryAddressEfi32: return "EFI i386 entry address tag";
    case Mb2HeaderTagType::EntryAddressEfi64: return "EFI amd64 entry address tag";
    case Mb2HeaderTagType::Relocatable: return "relocatable tag";
    }
    return "header tag";
}

// Names of information tag types (§3.6), for "the kernel requires X" errors.
const char* info_type_name(u32 type) {
    switch (static_cast<Mb2TagType>(type)) {
    case Mb2TagType::End: return "end tag (type 0)";
    case Mb2TagType::Cmdline: return "boot command line (type 1)";
    case Mb2TagType::BootLoaderName: return "boot loader name (type 2)";
    case Mb2TagType::Module: return "modules (type 3)";
    case Mb2TagType::BasicMeminfo: return "basic memory information (type 4)";
    case Mb2TagType::BootDevice: return "BIOS boot device (type 5)";
    case Mb2TagType::Mmap: return "memory map (type 6)";
    case Mb2TagType::Vbe: return "VBE info (type 7)";
    case Mb2TagType::Framebuffer: return "framebuffer info (type 8)";
    case Mb2TagType::ElfSections: return "ELF symbols (type 9)";
    case Mb2TagType::Apm: return "APM table (type 10)";
    case Mb2TagType::Efi32SystemTable: return "EFI 32-bit system table pointer (type 11)";
    case Mb2TagType::Efi64SystemTable: return "EFI 64-bit system table pointer (type 12)";
    case Mb2TagType::Smbios: return "SMBIOS tables (type 13)";
    case Mb2TagType::AcpiOldRsdp: return "ACPI old RSDP (type 14)";
    case Mb2TagType::AcpiNewRsdp: return "ACPI new RSDP (type 15)";
    case Mb2TagType::Network: return "networking information (type 16)";
    case Mb2TagType::EfiMmap: return "EFI memory map (type 17)";
    case Mb2TagType::EfiBootServicesNotTerminated: return "EFI boot services not terminated (type 18)";
    case Mb2TagType::Efi32ImageHandle: return "EFI 32-bit image handle (type 19)";
    case Mb2TagType::Efi64ImageHandle: return "EFI 64-bit image handle (type 20)";
    case Mb2TagType::LoadBaseAddr: return "image load base address (type 21)";
    }
    return "information tag of an unknown type";
}

// One header tag at image + toff (header fits, size >= 8 and inside header_length: checked by the caller).
Status parse_header_tag(const u8* tag, u32 tsize, u64 toff, Mb2KernelHeader& out, bool& seen_end) {
    const u16 type = rd16(tag + HTAG_TYPE_OFFSET);
    const bool optional = (rd16(tag + HTAG_FLAGS_OFFSET) & MB2_HEADER_TAG_FLAG_OPTIONAL) != 0;
    const char* where = header_tag_name(type);
    auto need = [&](u64 min) -> Status {
        if (tsize < min) return Status::error("header tag is too short for its type", where, toff, tsize);
        return Status::success();
    };
    auto duplicate = [&]() { return Status::error("duplicate header tag", where, toff); };
    const u8* payload = tag + HTAG_PAYLOAD;

    switch (static_cast<Mb2HeaderTagType>(type)) {
    case Mb2HeaderTagType::End:
        if (tsize != HDR_END_TAG_SIZE) return Status::error("header end tag size is not 8", where, toff, tsize);
        seen_end = true;
        return Status::success();

    case Mb2HeaderTagType::InformationRequest: {
        const u64 bytes = tsize - HTAG_PAYLOAD;
        if (bytes % INFO_REQ_ENTRY_SIZE != 0)
            return Status::error("information request size is not 8 + 4 * n", where, toff, tsize);
        for (u64 i = 0; i < bytes / INFO_REQ_ENTRY_SIZE; ++i) {
            const u32 t = rd32(payload + i * INFO_REQ_ENTRY_SIZE);
            // §3.1.4: a non-optional request must be understood and served when the information exists.
            if (!optional && !mb2_info_type_provided(t))
                return Status::error("kernel requires information evmm does not provide", info_type_name(t), t, toff);
            if (t < MB2_INFO_TYPE_BITS) {
                out.requested_types |= bit(t);
                if (!optional) out.required_types |= bit(t);
            }
        }
        return Status::success();
    }

    case Mb2HeaderTagType::Address:
        EVMM_TRY(need(ADDR_TAG_SIZE));
        if (out.has_address) return duplicate();
        out.has_address = true;
        out.header_addr = rd32(payload + 0 * sizeof(u32));
        out.load_addr = rd32(payload + 1 * sizeof(u32));
        out.load_end_addr = rd32(payload + 2 * sizeof(u32));
        out.bss_end_addr = rd32(payload + 3 * sizeof(u32));
        return Status::success();

    case Mb2HeaderTagType::EntryAddress:
        EVMM_TRY(need(ENTRY_TAG_SIZE));
        if (out.has_entry) return duplicate();
        out.has_entry = true;
        out.entry_addr = rd32(payload);
        return Status::success();

    case Mb2HeaderTagType::ConsoleFlags:
        EVMM_TRY(need(CONSOLE_TAG_SIZE));
        if (out.has_console_flags) return duplicate();
        out.has_console_flags = true;
        out.console_flags = rd32(payload);
        // §3.1.9: bit 0 = a console must be present and described in the information. evmm writes no
        // framebuffer tag, so it cannot honour a non-optional tag asking for that.
        if (!optional && (out.console_flags & MB2_CONSOLE_FLAG_REQUIRED) != 0)
            return Status::error("kernel requires a console description evmm does not provide", where, toff,
                                 out.console_flags);
        return Status::success();

    case Mb2HeaderTagType::Framebuffer:
        EVMM_TRY(need(FB_TAG_SIZE));
        if (out.has_framebuffer) return duplicate();
        // §3.1.10: only a preferred mode ("boot loader may choose a different mode"); evmm sets none.
        out.has_framebuffer = true;
        out.fb_width = rd32(payload + 0 * sizeof(u32));
        out.fb_height = rd32(payload + 1 * sizeof(u32));
        out.fb_depth = rd32(payload + 2 * sizeof(u32));
        return Status::success();

    case Mb2HeaderTagType::ModuleAlign:
        EVMM_TRY(need(EMPTY_TAG_SIZE));
        out.modules_page_aligned = true;
        return Status::success();

    case Mb2HeaderTagType::EfiBootServices:
        EVMM_TRY(need(EMPTY_TAG_SIZE));
        // §3.1.12: the kernel wants to start with boot services still running; long gone under evmm.
        if (!optional) return Status::error("kernel requires EFI boot services", where, toff);
        out.efi_boot_services = true;
        return Status::success();

    case Mb2HeaderTagType::EntryAddressEfi32:
    case Mb2HeaderTagType::EntryAddressEfi64:
        EVMM_TRY(need(ENTRY_TAG_SIZE));
        // §3.1.7/§3.1.8: EFI-only entry points; evmm starts guest0 in the §3.3 i386 state.
        if (!optional) return Status::error("kernel requires an EFI entry point", where, toff, rd32(payload));
        out.has_efi_entry = true;
        return Status::success();

    case Mb2HeaderTagType::Relocatable:
        EVMM_TRY(need(RELOC_TAG_SIZE));
        if (out.relocatable) return duplicate();
        // §3.1.13: evmm loads the image at its link address, which a relocatable image also accepts.
        out.relocatable = true;
        out.reloc_min_addr = rd32(payload + 0 * sizeof(u32));
        out.reloc_max_addr = rd32(payload + 1 * sizeof(u32));
        out.reloc_align = rd32(payload + 2 * sizeof(u32));
        out.reloc_preference = rd32(payload + 3 * sizeof(u32));
        return Status::success();
    }

    // §3.1.3: an unknown tag may be skipped only when marked optional.
    if (!optional) return Status::error("unsupported required header tag", where, type, toff);
    return Status::success();
}

// The header at `off` (magic, checksum and architecture already checked).
Status parse_header(const u8* image, size_t size, u64 off, Mb2KernelHeader& out) {
    const u64 len = rd32(image + off + HDR_LENGTH_OFFSET);
    if (len < HDR_MIN_LENGTH)
        return Status::error("header_length is smaller than the fixed part and an end tag", "header_length", len, off);
    if (!in_file(off, len, size))
        return Status::error("header_length runs past the end of the image", "header_length", len, size - off);
    if (off + len > MB2_HEADER_SEARCH_LIMIT)
        return Status::error("header extends past the first 32768 bytes of the image", "header_length", len, off);
    out.offset = static_cast<u32>(off);
    out.header_length = static_cast<u32>(len);

    const u64 end = off + len;
    u64 t = off + MB2_HEADER_FIXED_SIZE; // a multiple of 8 (off is)
    bool seen_end = false;
    while (!seen_end) {
        if (t + HTAG_HEADER_SIZE > end) return Status::error("header has no end tag", WHERE_HEADER, off, len);
        const u8* tag = image + t;
        const u32 tsize = rd32(tag + HTAG_SIZE_OFFSET);
        const char* where = header_tag_name(rd16(tag + HTAG_TYPE_OFFSET));
        if (tsize < HTAG_HEADER_SIZE) return Status::error("header tag size is smaller than 8", where, t, tsize);
        if (tsize > end - t) return Status::error("header tag runs past header_length", where, t, tsize);
        EVMM_TRY(parse_header_tag(tag, tsize, t, out, seen_end));
        t += align_up(tsize, MB2_HEADER_TAG_ALIGN);
    }
    return Status::success();
}

// magic + architecture + header_length + checksum == 0 (mod 2^32), §3.1.2.
bool checksum_ok(const u8* h) {
    const u32 sum = rd32(h + HDR_MAGIC_OFFSET) + rd32(h + HDR_ARCH_OFFSET) + rd32(h + HDR_LENGTH_OFFSET) +
                    rd32(h + HDR_CHECKSUM_OFFSET);
    return sum == 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Plan

// §3.1.5 address tag fields, as named in errors.
constexpr AoutFieldNames ADDRESS_TAG_NAMES = {
    WHERE_ADDR,
    "address tag header_addr",
    "address tag load_addr",
    "address tag load_end_addr",
    "address tag bss_end_addr",
    "address tag describes nothing to load",
};

Status plan_aout(size_t size, const Mb2KernelHeader& h, KernelPlan& out) {
    AoutFields f;
    f.header_offset = h.offset;
    f.header_addr = h.header_addr;
    f.load_addr = h.load_addr;
    f.load_end_addr = h.load_end_addr;
    f.bss_end_addr = h.bss_end_addr;
    f.load_from_file_start = h.load_addr == MB2_LOAD_ADDR_FROM_FILE_START; // §3.1.5: load_addr -1
    EVMM_TRY(kernel_plan_aout(size, f, ADDRESS_TAG_NAMES, out));
    // GRUB refuses the same: without ELF headers, only the entry address tag says where to start.
    if (!h.has_entry) return Status::error("address tag without an entry address tag", WHERE_ADDR, out.segments[0].gpa);
    return Status::success();
}

Status plan_elf(const u8* image, size_t size, const Mb2KernelHeader& h, KernelPlan& out) {
    if (size < EI_NIDENT || __builtin_memcmp(image + EI_MAG0, ELFMAG, sizeof ELFMAG) != 0)
        return Status::error("image is neither ELF nor has an address tag (spec 3.1.5)", "ELF e_ident", size);
    return kernel_plan_elf(image, size, h.has_entry, out);
}

// ---------------------------------------------------------------------------------------------------------------
// Boot information writer: counts when buf is null, writes otherwise; never past cap.

class InfoWriter {
public:
    InfoWriter(u8* buf, u64 cap) : buf_(buf), cap_(cap) {}

    u64 pos() const { return pos_; }
    bool overflow() const { return overflow_; }

    void put(const void* src, u64 n) {
        if (n == 0) return;
        if (n > cap_ - pos_) {
            overflow_ = true;
            pos_ = cap_;
            return;
        }
        if (buf_ != nullptr) __builtin_memcpy(buf_ + pos_, src, n);
        pos_ += n;
    }
    void put8(u8 v) { put(&v, sizeof v); }
    void put32(u32 v) { put(&v, sizeof v); }
    void put64(u64 v) { put(&v, sizeof v); }
    void zeros(u64 n) {
        for (u64 i = 0; i < n && !overflow_; ++i) put8(0);
    }
    void align(u64 a) { zeros(align_up(pos_, a) - pos_); }

    // §3.6.1: tag header (u32 type, u32 size); end_tag() patches the size and pads to 8 bytes.
    u64 begin_tag(Mb2TagType type) {
        align(INFO_TAG_ALIGN);
        const u64 start = pos_;
        put32(static_cast<u32>(type));
        put32(0);
        return start;
    }
    void end_tag(u64 start) {
        patch32(start + sizeof(u32), static_cast<u32>(pos_ - start));
        align(INFO_TAG_ALIGN);
    }
    void patch32(u64 at, u32 v) {
        if (buf_ != nullptr && !overflow_ && at + sizeof v <= cap_) __builtin_memcpy(buf_ + at, &v, sizeof v);
    }

private:
    u8* buf_;
    u64 cap_;
    u64 pos_ = 0;
    bool overflow_ = false;
};

Status check_info_inputs(const BootInfoInputs& in) {
    if (in.mmap_count != 0 && in.mmap == nullptr) return Status::error("memory map missing", WHERE_INFO, in.mmap_count);
    if (in.module_count != 0 && in.modules == nullptr)
        return Status::error("module list missing", WHERE_INFO, in.module_count);
    for (u32 i = 0; i < in.module_count; ++i) {
        if (i == in.skip_module) continue;
        const evmm_boot_module_t& m = in.modules[i];
        // §3.6.6: mod_start and mod_end are 32-bit physical addresses.
        if (add_overflows(m.start, m.size) || m.start + m.size > U32_LIMIT)
            return Status::error("module does not lie below 4 GiB (mod_start/mod_end are 32-bit)", "module tag", i,
                                 m.start);
        if (in.require_page_aligned_modules && !is_aligned(m.start, PAGE_SIZE))
            return Status::error("module is not page aligned but the kernel's module alignment tag requires it",
                                 "module tag", i, m.start);
    }
    if (in.rsdp != nullptr) {
        if (in.rsdp_len < ACPI_RSDP_V1_SIZE)
            return Status::error("RSDP copy is shorter than 20 bytes", "ACPI old RSDP tag", in.rsdp_len);
        if (__builtin_memcmp(in.rsdp, ACPI_RSDP_SIGNATURE, sizeof ACPI_RSDP_SIGNATURE) != 0)
            return Status::error("RSDP signature is not \"RSD PTR \"", "ACPI old RSDP tag");
        if (in.rsdp[offsetof(AcpiRsdp, revision)] >= ACPI_RSDP_REVISION_2 && in.rsdp_len < ACPI_RSDP_V2_SIZE)
            return Status::error("ACPI 2.0+ RSDP copy is shorter than 36 bytes", "ACPI new RSDP tag", in.rsdp_len);
    }
    return Status::success();
}

// Emits the whole information (inputs already checked).
void emit_info(const BootInfoInputs& in, InfoWriter& w) {
    // §3.6.1 fixed part: total_size (patched at the end), reserved (0).
    w.put32(0);
    w.put32(0);

    // §3.6.2 boot command line.
    {
        const size_t n = in.cmdline != nullptr ? str_len(in.cmdline, in.cmdline_len) : 0;
        const u64 t = w.begin_tag(Mb2TagType::Cmdline);
        w.put(in.cmdline, n);
        w.put8(0);
        w.end_tag(t);
    }
    // §3.6.3 boot loader name.
    if (in.loader_name != nullptr) {
        const u64 t = w.begin_tag(Mb2TagType::BootLoaderName);
        w.put(in.loader_name, str_len(in.loader_name, LOADER_NAME_MAX));
        w.put8(0);
        w.end_tag(t);
    }
    // §3.6.4 basic memory information: contiguous usable RAM from 0 (at most 640 KiB) and from 1 MiB, in KiB.
    {
        const u64 low = usable_run_end(in.mmap, in.mmap_count, 0);
        const u64 up_end = usable_run_end(in.mmap, in.mmap_count, UPPER_MEMORY_BASE);
        const u64 lower_kib = (low < LOWER_MEMORY_MAX ? low : LOWER_MEMORY_MAX) / KiB;
        const u64 upper_kib = (up_end - UPPER_MEMORY_BASE) / KiB;
        const u64 t = w.begin_tag(Mb2TagType::BasicMeminfo);
        w.put32(static_cast<u32>(lower_kib));
        w.put32(static_cast<u32>(upper_kib < U32_LIMIT ? upper_kib : U32_LIMIT));
        w.end_tag(t);
    }
    // §3.6.8 memory map.
    if (in.mmap_count != 0) {
        const u64 t = w.begin_tag(Mb2TagType::Mmap);
        w.put32(MMAP_ENTRY_SIZE);
        w.put32(MMAP_ENTRY_VERSION);
        for (u32 i = 0; i < in.mmap_count; ++i) {
            const evmm_mmap_entry_t& e = in.mmap[i];
            if (e.length == 0) continue;
            w.put64(e.base);
            w.put64(e.length);
            w.put32(multiboot_memory_type(e.type));
            w.put32(0);
        }
        w.end_tag(t);
    }
    // §3.6.6 modules: the module line as GRUB passes it (file name dropped): "ROLE ARGS".
    for (u32 i = 0; i < in.module_count; ++i) {
        if (i == in.skip_module) continue;
        const evmm_boot_module_t& m = in.modules[i];
        const size_t rl = role_len(m), al = args_len(m);
        const u64 t = w.begin_tag(Mb2TagType::Module);
        w.put32(static_cast<u32>(m.start));
        w.put32(static_cast<u32>(m.start + m.size));
        w.put(m.role, rl);
        if (rl != 0 && al != 0) w.put8(' ');
        w.put(m.cmdline, al);
        w.put8(0);
        w.end_tag(t);
    }
    // §3.6.14/§3.6.15 ACPI RSDP copies: the ACPI 1.0 part always, the 2.0+ structure when revision >= 2.
    if (in.rsdp != nullptr) {
        const u64 t = w.begin_tag(Mb2TagType::AcpiOldRsdp);
        w.put(in.rsdp, ACPI_RSDP_V1_SIZE);
        w.end_tag(t);
        if (in.rsdp[offsetof(AcpiRsdp, revision)] >= ACPI_RSDP_REVISION_2) {
            const u64 t2 = w.begin_tag(Mb2TagType::AcpiNewRsdp);
            w.put(in.rsdp, ACPI_RSDP_V2_SIZE);
            w.end_tag(t2);
        }
    }
    // §3.6.20 image load base physical address (relocatable images only).
    if (in.provide_load_base) {
        const u64 t = w.begin_tag(Mb2TagType::LoadBaseAddr);
        w.put32(in.load_base);
        w.end_tag(t);
    }
    // §3.6.1 end tag.
    {
        const u64 t = w.begin_tag(Mb2TagType::End);
        w.end_tag(t);
    }
    w.patch32(0, static_cast<u32>(w.pos()));
}

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// Header

bool mb2_info_type_provided(u32 type) {
    switch (static_cast<Mb2TagType>(type)) {
    case Mb2TagType::End:
    case Mb2TagType::Cmdline:
    case Mb2TagType::BootLoaderName:
    case Mb2TagType::Module:
    case Mb2TagType::BasicMeminfo:
    case Mb2TagType::Mmap:
    case Mb2TagType::AcpiOldRsdp:
    case Mb2TagType::AcpiNewRsdp:
    case Mb2TagType::LoadBaseAddr: return true;
    default: return false;
    }
}

Status mb2_kernel_find_header(const u8* image, size_t size, Mb2KernelHeader& out) {
    out = Mb2KernelHeader{};
    if (image == nullptr || size == 0) return Status::error("kernel image is empty", WHERE_HEADER, size);
    const u64 limit = size < MB2_HEADER_SEARCH_LIMIT ? size : MB2_HEADER_SEARCH_LIMIT;

    Status first_bad = Status::success();
    for (u64 off = 0; off + MB2_HEADER_FIXED_SIZE <= limit; off += MB2_HEADER_ALIGN) {
        const u8* h = image + off;
        if (rd32(h + HDR_MAGIC_OFFSET) != MB2_HEADER_MAGIC_VALUE) continue;
        // Like GRUB, a candidate with a bad checksum or another architecture is passed over; it is reported only
        // when no valid header follows.
        if (!checksum_ok(h)) {
            if (first_bad.ok())
                first_bad = Status::error(
                    "header checksum is wrong (magic + architecture + header_length + checksum "
                    "!= 0)",
                    "header checksum", off, rd32(h + HDR_CHECKSUM_OFFSET));
            continue;
        }
        const u32 arch = rd32(h + HDR_ARCH_OFFSET);
        if (arch != MB2_ARCHITECTURE_I386) {
            if (first_bad.ok())
                first_bad = Status::error("header architecture is not i386 (0)", "header architecture", off, arch);
            continue;
        }
        Status s = parse_header(image, size, off, out);
        if (!s.ok()) out = Mb2KernelHeader{};
        return s;
    }
    if (!first_bad.ok()) return first_bad;
    // A valid header at an offset that is only 4-byte aligned: say so rather than "not found".
    for (u64 off = MB1_STYLE_ALIGN; off + MB2_HEADER_FIXED_SIZE <= limit; off += MB2_HEADER_ALIGN) {
        const u8* h = image + off;
        if (rd32(h + HDR_MAGIC_OFFSET) == MB2_HEADER_MAGIC_VALUE && checksum_ok(h))
            return Status::error("header is not 8-byte aligned", "header offset", off);
    }
    return Status::error("no Multiboot2 header (magic 0xE85250D6) in the first 32768 bytes", "header magic", limit);
}

// ---------------------------------------------------------------------------------------------------------------
// Plan

Status mb2_kernel_plan(const u8* image, size_t size, const Mb2KernelHeader& hdr, KernelPlan& out) {
    out = KernelPlan{};
    if (image == nullptr || size == 0) return Status::error("kernel image is empty", WHERE_HEADER, size);
    if (hdr.header_length == 0 || !in_file(hdr.offset, hdr.header_length, size))
        return Status::error("header does not belong to this image", WHERE_HEADER, hdr.offset, hdr.header_length);

    Status s = hdr.has_address ? plan_aout(size, hdr, out) : plan_elf(image, size, hdr, out);
    if (!s.ok()) {
        out = KernelPlan{};
        return s;
    }
    if (hdr.has_entry) {
        out.entry = hdr.entry_addr;
        out.entry_from_tag = true;
    }
    s = kernel_plan_finish(out, hdr.has_entry ? "entry address tag entry_addr" : "ELF e_entry");
    if (!s.ok()) out = KernelPlan{};
    return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Boot information

void mb2_info_inputs_apply_kernel(const Mb2KernelHeader& hdr, const KernelPlan& plan, BootInfoInputs& in) {
    in.require_page_aligned_modules = hdr.modules_page_aligned;
    in.provide_load_base = hdr.relocatable;
    in.load_base = plan.span_base <= U32_LIMIT ? static_cast<u32>(plan.span_base) : 0;
}

Status mb2_guest_info_size(const BootInfoInputs& in, u64& out_size) {
    out_size = 0;
    EVMM_TRY(check_info_inputs(in));
    InfoWriter counter(nullptr, UINT64_MAX);
    emit_info(in, counter);
    if (counter.overflow() || counter.pos() > U32_LIMIT)
        return Status::error("boot information would exceed 4 GiB (total_size is 32-bit)", WHERE_INFO, counter.pos());
    out_size = counter.pos();
    return Status::success();
}

Status mb2_build_guest_info(const BootInfoInputs& in, GuestMem& mem, u64 gpa, u64 cap, u64& out_size) {
    out_size = 0;
    // §3.6: "The boot information must be 64-bit aligned"; EBX carries its 32-bit address (§3.3).
    if (!is_aligned(gpa, INFO_ALIGN))
        return Status::error("boot information address is not 8-byte aligned", WHERE_INFO, gpa);
    u64 size = 0;
    EVMM_TRY(mb2_guest_info_size(in, size));
    u8* p = nullptr;
    EVMM_TRY(map_info_area(mem, gpa, size, cap, WHERE_INFO, p));
    InfoWriter w(p, size);
    emit_info(in, w);
    if (w.overflow() || w.pos() != size)
        return Status::error("boot information size changed while writing", WHERE_INFO, w.pos(), size);
    out_size = size;
    return Status::success();
}

void mb2_guest_entry_state(evmm_gcpu_state_t& s, u32 entry, u32 info_gpa) {
    gcpu_multiboot2_entry_state(s); // §3.3: EAX magic, CR0.PE, paging off, flat segments, IF/VM clear
    s.rip = entry;
    s.gp[EVMM_GP_RBX] = info_gpa;
}

} // namespace evmm
