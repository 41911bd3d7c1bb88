// evmm as guest0's Multiboot2 boot loader: see multiboot2_guest.h. Section numbers refer to the Multiboot2
// Specification version 2.0.
#include "vmm/guest/boot/multiboot2_guest.h"

#include "lib/format.h"
#include "lib/string.h"
#include "lib/formats/acpi.h"
#include "vmm/guest/boot/entry_state.h"
#include "evmm/unaligned.h"

namespace evmm {

// Shared with the Multiboot1 loader (declared in multiboot2_guest.h).
namespace mbinfo {

u64 entry_end(const evmm_mmap_entry_t& e) { return add_overflows(e.base, e.length) ? UINT64_MAX : e.base + e.length; }

// Walks usable entries covering [from, ...) contiguously; returns the end of that coverage (== from: none).
u64 usable_run_end(const evmm_mmap_entry_t* m, u32 n, u64 from) {
    u64 cur = from;
    for (u32 step = 0; step <= n; ++step) {
        bool advanced = false;
        for (u32 i = 0; i < n; ++i) {
            if (m[i].type != EVMM_MEM_USABLE || m[i].length == 0) continue;
            const u64 end = entry_end(m[i]);
            if (m[i].base <= cur && cur < end) {
                cur = end;
                advanced = true;
                break;
            }
        }
        if (!advanced) break;
    }
    return cur;
}

u32 mb2_memory_type(u32 evmm_type) {
    switch (evmm_type) {
    case EVMM_MEM_USABLE: return static_cast<u32>(Mb2MemoryType::Available);
    case EVMM_MEM_ACPI_RECLAIMABLE: return static_cast<u32>(Mb2MemoryType::AcpiReclaimable);
    case EVMM_MEM_ACPI_NVS: return static_cast<u32>(Mb2MemoryType::Nvs);
    case EVMM_MEM_BAD: return static_cast<u32>(Mb2MemoryType::BadRam);
    default: return static_cast<u32>(Mb2MemoryType::Reserved);
    }
}

size_t role_len(const evmm_module_t& m) { return str_len(m.role, sizeof m.role); }
size_t args_len(const evmm_module_t& m) { return str_len(m.cmdline, sizeof m.cmdline); }

Status map_info_area(GuestMem& mem, u64 gpa, u64 size, u64 cap, const char* where, u8*& out) {
    out = nullptr;
    if (size > cap) return Status::error("boot information does not fit in its area", where, size, cap);
    if (add_overflows(gpa, size) || gpa + size > MB2_ADDRESS_LIMIT)
        return Status::error("boot information does not lie below 4 GiB", where, gpa, size);
    out = mem.map(gpa, size);
    if (out == nullptr)
        return Status::error("boot information area is not accessible in guest memory", where, gpa, size);
    return Status::success();
}

} // namespace mbinfo
using namespace mbinfo;

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

// Where the information may go (mb2_choose_info_gpa): at or above 1 MiB, on page boundaries.
constexpr u64 INFO_PLACEMENT_MIN = 1 * MiB;
constexpr u64 INFO_PLACEMENT_ALIGN = PAGE_SIZE;

constexpr size_t LOADER_NAME_MAX = 256; // bound on the boot loader name string read from the inputs

constexpr u64 U32_LIMIT = u64{UINT32_MAX}; // the largest 32-bit value

constexpr const char* WHERE_HEADER = "Multiboot2 header";
constexpr const char* WHERE_ADDR = "address tag";
constexpr const char* WHERE_ELF = "ELF header";
constexpr const char* WHERE_PHDR = "ELF program header";
constexpr const char* WHERE_INFO = "guest boot information";
constexpr const char* WHERE_LOAD = "guest0 kernel segment";

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

Status check_segment_addr(u64 gpa, u64 memsz, const char* where, u64 index) {
    if (add_overflows(gpa, memsz) || gpa + memsz > MB2_ADDRESS_LIMIT)
        return Status::error("segment does not end below 4 GiB (unreachable in 32-bit protected mode)", where, index,
                             gpa);
    return Status::success();
}

Status plan_aout(size_t size, const Mb2KernelHeader& h, Mb2KernelPlan& out) {
    // §3.1.5: header_addr is where the header's first byte lands; loading starts at file offset
    // header_offset - (header_addr - load_addr), or at 0 when load_addr is -1.
    const u64 hoff = h.offset;
    u64 load = 0, file_start = 0;
    if (h.load_addr == MB2_LOAD_ADDR_FROM_FILE_START) {
        if (h.header_addr < hoff)
            return Status::error("header_addr is below the header's file offset (load_addr -1: load from file start)",
                                 "address tag header_addr", h.header_addr, hoff);
        load = h.header_addr - hoff;
        file_start = 0;
    } else {
        if (h.load_addr > h.header_addr)
            return Status::error("load_addr is above header_addr", "address tag load_addr", h.load_addr, h.header_addr);
        const u64 delta = h.header_addr - h.load_addr;
        if (delta > hoff)
            return Status::error("header_addr - load_addr is larger than the header's file offset",
                                 "address tag load_addr", delta, hoff);
        load = h.load_addr;
        file_start = hoff - delta;
    }
    // file_start <= hoff < size.
    u64 filesz = 0;
    if (h.load_end_addr == 0) {
        filesz = size - file_start; // "text and data occupy the whole OS image file"
    } else {
        if (h.load_end_addr < load)
            return Status::error("load_end_addr is below load_addr", "address tag load_end_addr", h.load_end_addr,
                                 load);
        filesz = h.load_end_addr - load;
        if (filesz > size - file_start)
            return Status::error("load_end_addr runs past the end of the image", "address tag load_end_addr",
                                 h.load_end_addr, load + (size - file_start));
    }
    u64 memsz = filesz;
    if (h.bss_end_addr != 0) {
        if (h.bss_end_addr < load + filesz)
            return Status::error("bss_end_addr is below load_end_addr", "address tag bss_end_addr", h.bss_end_addr,
                                 load + filesz);
        memsz = h.bss_end_addr - load;
    }
    if (memsz == 0) return Status::error("address tag describes nothing to load", WHERE_ADDR, load);
    EVMM_TRY(check_segment_addr(load, memsz, "address tag load_addr", 0));
    // GRUB refuses the same: without ELF headers, only the entry address tag says where to start.
    if (!h.has_entry) return Status::error("address tag without an entry address tag", WHERE_ADDR, load);

    out.format = Mb2ImageFormat::AoutKludge;
    out.segment_count = 1;
    out.segments[0] = Mb2Segment{load, file_start, filesz, memsz};
    return Status::success();
}

// A program header in a class-independent form.
struct Phdr {
    u32 type;
    u64 offset, vaddr, paddr, filesz, memsz;
};

void read_phdr(const u8* image, u64 at, bool is64, Phdr& p) {
    if (is64) {
        Elf64_Phdr ph;
        __builtin_memcpy(&ph, image + at, sizeof ph);
        p = Phdr{ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz};
    } else {
        Elf32_Phdr ph;
        __builtin_memcpy(&ph, image + at, sizeof ph);
        p = Phdr{ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz};
    }
}

Status plan_elf(const u8* image, size_t size, const Mb2KernelHeader& h, Mb2KernelPlan& out) {
    if (size < EI_NIDENT || __builtin_memcmp(image + EI_MAG0, ELFMAG, sizeof ELFMAG) != 0)
        return Status::error("image is neither ELF nor has an address tag (spec 3.1.5)", "ELF e_ident", size);
    const u8 cls = image[EI_CLASS];
    if (cls != ELFCLASS32 && cls != ELFCLASS64)
        return Status::error("ELF class is neither ELFCLASS32 nor ELFCLASS64", "ELF e_ident[EI_CLASS]", cls);
    if (image[EI_DATA] != ELFDATA2LSB)
        return Status::error("ELF image is not little-endian", "ELF e_ident[EI_DATA]", image[EI_DATA]);
    if (image[EI_VERSION] != EV_CURRENT)
        return Status::error("ELF version is not EV_CURRENT", "ELF e_ident[EI_VERSION]", image[EI_VERSION]);
    const bool is64 = cls == ELFCLASS64;

    u16 type = 0, machine = 0, phentsize = 0, phnum = 0;
    u64 entry = 0, phoff = 0;
    if (is64) {
        if (size < sizeof(Elf64_Ehdr)) return Status::error("image is shorter than an ELF64 header", WHERE_ELF, size);
        Elf64_Ehdr eh;
        __builtin_memcpy(&eh, image, sizeof eh);
        type = eh.e_type, machine = eh.e_machine, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        entry = eh.e_entry, phoff = eh.e_phoff;
        if (machine != EM_X86_64)
            return Status::error("ELF64 image is not EM_X86_64", "ELF e_machine", machine, EM_X86_64);
        if (phentsize != sizeof(Elf64_Phdr))
            return Status::error("e_phentsize is not the ELF64 program header size", "ELF e_phentsize", phentsize);
    } else {
        if (size < sizeof(Elf32_Ehdr)) return Status::error("image is shorter than an ELF32 header", WHERE_ELF, size);
        Elf32_Ehdr eh;
        __builtin_memcpy(&eh, image, sizeof eh);
        type = eh.e_type, machine = eh.e_machine, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        entry = eh.e_entry, phoff = eh.e_phoff;
        if (machine != EM_386) return Status::error("ELF32 image is not EM_386", "ELF e_machine", machine, EM_386);
        if (phentsize != sizeof(Elf32_Phdr))
            return Status::error("e_phentsize is not the ELF32 program header size", "ELF e_phentsize", phentsize);
    }
    if (type != ET_EXEC && type != ET_DYN)
        return Status::error("ELF type is neither ET_EXEC nor ET_DYN", "ELF e_type", type);
    if (phnum == 0) return Status::error("ELF image has no program headers", "ELF e_phnum", 0);
    if (phnum == PN_XNUM)
        return Status::error("extended program header numbering (PN_XNUM) is not supported", "ELF e_phnum", phnum);
    if (!in_file(phoff, u64{phnum} * phentsize, size))
        return Status::error("program header table runs past the end of the image", "ELF e_phoff", phoff, phnum);

    u64 vaddrs[MB2_MAX_SEGMENTS] = {};
    u32 count = 0;
    for (u32 i = 0; i < phnum; ++i) {
        Phdr p{};
        read_phdr(image, phoff + u64{i} * phentsize, is64, p);
        if (p.type != PT_LOAD || p.memsz == 0) continue;
        if (p.filesz > p.memsz)
            return Status::error("PT_LOAD p_filesz is larger than p_memsz", "ELF p_filesz", i, p.filesz);
        if (p.filesz != 0 && !in_file(p.offset, p.filesz, size))
            return Status::error("PT_LOAD file bytes run past the end of the image", "ELF p_offset", i, p.offset);
        EVMM_TRY(check_segment_addr(p.paddr, p.memsz, "ELF p_paddr", i));
        if (add_overflows(p.vaddr, p.memsz))
            return Status::error("PT_LOAD virtual range wraps", "ELF p_vaddr", i, p.vaddr);
        if (count >= MB2_MAX_SEGMENTS)
            return Status::error("too many PT_LOAD segments", WHERE_PHDR, i, MB2_MAX_SEGMENTS);
        for (u32 j = 0; j < count; ++j) {
            const Mb2Segment& o = out.segments[j];
            if (ranges_overlap(p.paddr, p.memsz, o.gpa, o.memsz))
                return Status::error("PT_LOAD segments overlap in physical memory", "ELF p_paddr", i, p.paddr);
        }
        out.segments[count] = Mb2Segment{p.paddr, p.filesz != 0 ? p.offset : 0, p.filesz, p.memsz};
        vaddrs[count] = p.vaddr;
        ++count;
    }
    if (count == 0) return Status::error("ELF image has no loadable segment (PT_LOAD)", WHERE_PHDR, phnum);
    out.format = is64 ? Mb2ImageFormat::Elf64 : Mb2ImageFormat::Elf32;
    out.segment_count = count;

    if (!h.has_entry) {
        // e_entry is a virtual address; like GRUB, run it at the physical address of the same byte.
        u32 i = 0;
        while (i < count && !(vaddrs[i] <= entry && entry - vaddrs[i] < out.segments[i].memsz)) ++i;
        if (i == count) return Status::error("e_entry is not inside any PT_LOAD segment", "ELF e_entry", entry);
        const u64 phys = entry - vaddrs[i] + out.segments[i].gpa;
        if (phys > U32_LIMIT) return Status::error("entry point is not below 4 GiB", "ELF e_entry", entry, phys);
        out.entry = static_cast<u32>(phys);
    }
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Memory map helpers

// [base, base + len) inside usable entries and overlapping no entry of another type. `bad` = first problem byte.
bool in_usable_ram(const MemoryMap& map, u64 base, u64 len, u64& bad) {
    const u64 end = base + len;
    const u64 run = usable_run_end(map.entries(), map.count(), base);
    if (run < end) {
        bad = run;
        return false;
    }
    for (u32 i = 0; i < map.count(); ++i) {
        const evmm_mmap_entry_t& e = map[i];
        if (e.type == EVMM_MEM_USABLE) continue;
        if (ranges_overlap(base, len, e.base, entry_end(e) - e.base)) {
            bad = e.base > base ? e.base : base;
            return false;
        }
    }
    return true;
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

Status check_info_inputs(const Mb2GuestInfoInputs& in) {
    if (in.mmap_count != 0 && in.mmap == nullptr) return Status::error("memory map missing", WHERE_INFO, in.mmap_count);
    if (in.module_count != 0 && in.modules == nullptr)
        return Status::error("module list missing", WHERE_INFO, in.module_count);
    for (u32 i = 0; i < in.module_count; ++i) {
        if (i == in.skip_module) continue;
        const evmm_module_t& m = in.modules[i];
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
void emit_info(const Mb2GuestInfoInputs& in, InfoWriter& w) {
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
            w.put32(mb2_memory_type(e.type));
            w.put32(0);
        }
        w.end_tag(t);
    }
    // §3.6.6 modules: the module line as GRUB passes it (file name dropped): "ROLE ARGS".
    for (u32 i = 0; i < in.module_count; ++i) {
        if (i == in.skip_module) continue;
        const evmm_module_t& m = in.modules[i];
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

Status mb2_kernel_plan(const u8* image, size_t size, const Mb2KernelHeader& hdr, Mb2KernelPlan& out) {
    out = Mb2KernelPlan{};
    if (image == nullptr || size == 0) return Status::error("kernel image is empty", WHERE_HEADER, size);
    if (hdr.header_length == 0 || !in_file(hdr.offset, hdr.header_length, size))
        return Status::error("header does not belong to this image", WHERE_HEADER, hdr.offset, hdr.header_length);

    Status s = hdr.has_address ? plan_aout(size, hdr, out) : plan_elf(image, size, hdr, out);
    if (!s.ok()) {
        out = Mb2KernelPlan{};
        return s;
    }
    if (hdr.has_entry) {
        out.entry = hdr.entry_addr;
        out.entry_from_tag = true;
    }
    bool inside = false;
    out.span_base = UINT64_MAX;
    for (u32 i = 0; i < out.segment_count; ++i) {
        const Mb2Segment& g = out.segments[i];
        if (g.gpa <= out.entry && out.entry - g.gpa < g.memsz) inside = true;
        if (g.gpa < out.span_base) out.span_base = g.gpa;
        if (g.gpa + g.memsz > out.span_end) out.span_end = g.gpa + g.memsz;
    }
    if (!inside) {
        const u32 entry = out.entry;
        out = Mb2KernelPlan{};
        return Status::error("entry point is not inside a loaded segment",
                             hdr.has_entry ? "entry address tag entry_addr" : "ELF e_entry", entry);
    }
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Load

Status mb2_kernel_load(const u8* image, size_t size, const Mb2KernelPlan& plan, GuestMem& mem,
                       const MemoryMap& guest_map, const Mb2NamedRange* forbidden, u32 forbidden_count,
                       Mb2LoadDiag* diag) {
    if (diag != nullptr) *diag = Mb2LoadDiag{};
    if (image == nullptr || size == 0) return Status::error("kernel image is empty", WHERE_LOAD, size);
    if (plan.segment_count == 0 || plan.segment_count > MB2_MAX_SEGMENTS)
        return Status::error("load plan has no or too many segments", WHERE_LOAD, plan.segment_count);
    if (forbidden_count != 0 && forbidden == nullptr)
        return Status::error("forbidden ranges missing", WHERE_LOAD, forbidden_count);

    auto fail = [&](u32 i, u32 r, const Status& s, const char* fmt_what, u64 extra_a, u64 extra_b) {
        if (diag != nullptr) {
            const Mb2Segment& g = plan.segments[i];
            diag->segment = i;
            diag->range = r;
            diag->seg_base = g.gpa;
            diag->seg_end = g.gpa + g.memsz;
            if (r != UINT32_MAX) {
                const char* name = forbidden[r].name != nullptr ? forbidden[r].name : "a forbidden range";
                format(diag->message, sizeof diag->message, "segment %u at 0x%lx-0x%lx overlaps %s at 0x%lx-0x%lx", i,
                       g.gpa, g.gpa + g.memsz, name, extra_a, extra_b);
            } else {
                format(diag->message, sizeof diag->message, "segment %u at 0x%lx-0x%lx: %s (0x%lx)", i, g.gpa,
                       g.gpa + g.memsz, fmt_what, extra_a);
            }
        }
        return s;
    };

    // Check every segment before writing a byte.
    const uptr img_lo = reinterpret_cast<uptr>(image);
    for (u32 i = 0; i < plan.segment_count; ++i) {
        const Mb2Segment& g = plan.segments[i];
        if (g.memsz == 0 || g.filesz > g.memsz)
            return fail(i, UINT32_MAX, Status::error("segment sizes are inconsistent", WHERE_LOAD, i, g.memsz),
                        "segment sizes are inconsistent", g.filesz, 0);
        if (g.filesz != 0 && !in_file(g.file_offset, g.filesz, size))
            return fail(i, UINT32_MAX,
                        Status::error("segment file bytes run past the end of the image", WHERE_LOAD, i, g.file_offset),
                        "file bytes run past the end of the image", g.file_offset, 0);
        if (add_overflows(g.gpa, g.memsz) || g.gpa + g.memsz > MB2_ADDRESS_LIMIT)
            return fail(i, UINT32_MAX, Status::error("segment does not end below 4 GiB", WHERE_LOAD, g.gpa, g.memsz),
                        "does not end below 4 GiB", g.gpa, 0);
        const u64 end = g.gpa + g.memsz;
        u64 bad = 0;
        if (!in_usable_ram(guest_map, g.gpa, g.memsz, bad))
            return fail(i, UINT32_MAX,
                        Status::error("segment is not inside usable RAM of guest0's memory map", "guest0 memory map",
                                      g.gpa, end),
                        "not inside usable RAM of guest0's memory map; first bad byte", bad, 0);
        for (u32 r = 0; r < forbidden_count; ++r) {
            const Mb2NamedRange& f = forbidden[r];
            const u64 f_end = add_overflows(f.base, f.length) ? UINT64_MAX : f.base + f.length;
            if (ranges_overlap(g.gpa, g.memsz, f.base, f_end - f.base))
                return fail(i, r,
                            Status::error("segment overlaps a range the kernel must not be loaded over",
                                          f.name != nullptr ? f.name : "forbidden range", g.gpa, end),
                            nullptr, f.base, f_end);
        }
        const u8* p = mem.map(g.gpa, g.memsz);
        if (p == nullptr)
            return fail(i, UINT32_MAX,
                        Status::error("segment is not accessible in guest memory", WHERE_LOAD, g.gpa, end),
                        "not accessible in guest memory", g.gpa, 0);
        // The copy source must survive the copy (the caller should also list the image as forbidden).
        const uptr p_lo = reinterpret_cast<uptr>(p);
        if (ranges_overlap(p_lo, g.memsz, img_lo, size))
            return fail(
                i, UINT32_MAX,
                Status::error("segment overlaps the kernel image it is copied from", "guest0 kernel image", g.gpa, end),
                "overlaps the kernel image it is copied from", g.gpa, 0);
    }

    for (u32 i = 0; i < plan.segment_count; ++i) {
        const Mb2Segment& g = plan.segments[i];
        u8* p = mem.map(g.gpa, g.memsz);
        if (p == nullptr) return Status::error("segment is not accessible in guest memory", WHERE_LOAD, g.gpa, i);
        if (g.filesz != 0) __builtin_memcpy(p, image + g.file_offset, g.filesz);
        __builtin_memset(p + g.filesz, 0, g.memsz - g.filesz);
    }
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Boot information

void mb2_info_inputs_from_desc(const evmm_desc_t& d, Mb2GuestInfoInputs& in) {
    const u32 module_count = d.module_count < EVMM_MAX_MODULES ? d.module_count : EVMM_MAX_MODULES;
    in.cmdline = nullptr;
    in.cmdline_len = 0;
    if (d.guest0_module < module_count) {
        const evmm_module_t& g0 = d.modules[d.guest0_module];
        in.cmdline = g0.cmdline;
        in.cmdline_len = str_len(g0.cmdline, sizeof g0.cmdline);
    }
    in.mmap = d.guest0_mmap;
    in.mmap_count = d.guest0_mmap_count < EVMM_MAX_MMAP ? d.guest0_mmap_count : EVMM_MAX_MMAP;
    in.modules = d.modules;
    in.module_count = module_count;
    in.skip_module = d.guest0_module;
}

void mb2_info_inputs_apply_kernel(const Mb2KernelHeader& hdr, const Mb2KernelPlan& plan, Mb2GuestInfoInputs& in) {
    in.require_page_aligned_modules = hdr.modules_page_aligned;
    in.provide_load_base = hdr.relocatable;
    in.load_base = plan.span_base <= U32_LIMIT ? static_cast<u32>(plan.span_base) : 0;
}

Status mb2_guest_info_size(const Mb2GuestInfoInputs& in, u64& out_size) {
    out_size = 0;
    EVMM_TRY(check_info_inputs(in));
    InfoWriter counter(nullptr, UINT64_MAX);
    emit_info(in, counter);
    if (counter.overflow() || counter.pos() > U32_LIMIT)
        return Status::error("boot information would exceed 4 GiB (total_size is 32-bit)", WHERE_INFO, counter.pos());
    out_size = counter.pos();
    return Status::success();
}

Status mb2_build_guest_info(const Mb2GuestInfoInputs& in, GuestMem& mem, u64 gpa, u64 cap, u64& out_size) {
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

Status mb2_choose_info_gpa(const MemoryMap& guest_map, u64 size, const MemoryMap::Range* avoid, u32 n, u64& out) {
    out = 0;
    if (size == 0 || size > MB2_ADDRESS_LIMIT) return Status::error("bad boot information size", WHERE_INFO, size);
    if (n != 0 && avoid == nullptr) return Status::error("ranges to avoid missing", WHERE_INFO, n);
    for (u32 a = 0; a < n; ++a)
        if (add_overflows(avoid[a].base, avoid[a].length))
            return Status::error("range to avoid wraps past 2^64", WHERE_INFO, a, avoid[a].base);

    const u32 count = guest_map.count();
    bool found = false;
    u64 best = 0;
    for (u32 e = 0; e < count; ++e) {
        const evmm_mmap_entry_t& ent = guest_map[e];
        if (ent.type != EVMM_MEM_USABLE || ent.length == 0) continue;
        const u64 e_end = entry_end(ent);
        const u64 lo = ent.base > INFO_PLACEMENT_MIN ? ent.base : INFO_PLACEMENT_MIN;
        const u64 hi = e_end < MB2_ADDRESS_LIMIT ? e_end : MB2_ADDRESS_LIMIT;
        if (lo >= hi) continue;
        u64 c = align_up(lo, INFO_PLACEMENT_ALIGN); // lo < 4 GiB: no wrap
        // Each bump moves c past the end of one range it overlapped, never to be overlapped again, so at most
        // n + count bumps.
        for (u64 step = 0; step <= u64{n} + count; ++step) {
            if (c >= hi || size > hi - c) break;
            u64 bump_to = 0;
            for (u32 a = 0; a < n && bump_to == 0; ++a)
                if (ranges_overlap(c, size, avoid[a].base, avoid[a].length)) bump_to = avoid[a].base + avoid[a].length;
            for (u32 x = 0; x < count && bump_to == 0; ++x) {
                const evmm_mmap_entry_t& o = guest_map[x];
                if (o.type != EVMM_MEM_USABLE && ranges_overlap(c, size, o.base, entry_end(o) - o.base))
                    bump_to = entry_end(o);
            }
            if (bump_to == 0) {
                if (!found || c < best) best = c;
                found = true;
                break;
            }
            if (bump_to >= hi) break;
            c = align_up(bump_to, INFO_PLACEMENT_ALIGN);
        }
    }
    if (!found)
        return Status::error("no room for the boot information in usable RAM between 1 MiB and 4 GiB",
                             "guest0 memory map", size);
    out = best;
    return Status::success();
}

void mb2_guest_entry_state(evmm_gcpu_state_t& s, u32 entry, u32 info_gpa) {
    gcpu_multiboot2_entry_state(s); // §3.3: EAX magic, CR0.PE, paging off, flat segments, IF/VM clear
    s.rip = entry;
    s.gp[EVMM_GP_RBX] = info_gpa;
}

} // namespace evmm
