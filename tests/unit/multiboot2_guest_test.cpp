// Unit tests for vmm/guest/boot/multiboot2_guest: evmm as guest0's Multiboot2 boot loader. Tiny ELF32, ELF64
// and a.out-kludge kernels are built in memory; the boot information written for the guest is read back with
// evmm's own parser (lib/formats/multiboot2.h) as a cross-check. Runs under ASan/UBSan: a read past an image fails.
#include "vmm/guest/boot/multiboot2_guest.h"

#include "lib/formats/elf.h"

#include "lib/formats/acpi.h"

#include <gtest/gtest.h>

#include "tests/unit/status_expect.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace evmm {
namespace {

constexpr u16 HT_END = 0, HT_INFO_REQ = 1, HT_ADDRESS = 2, HT_ENTRY = 3, HT_CONSOLE = 4, HT_FB = 5, HT_MODALIGN = 6,
              HT_EFI_BS = 7, HT_EFI32 = 8, HT_EFI64 = 9, HT_RELOC = 10;
constexpr u16 OPTIONAL = 1;
constexpr u32 KERNEL_BASE = 0x100000;

using test::str;

// ---------------------------------------------------------------------------------------------------------------
// Builders

void put16(std::vector<u8>& b, size_t at, u16 v) {
    if (b.size() < at + 2) b.resize(at + 2, 0);
    std::memcpy(b.data() + at, &v, 2);
}
void put32(std::vector<u8>& b, size_t at, u32 v) {
    if (b.size() < at + 4) b.resize(at + 4, 0);
    std::memcpy(b.data() + at, &v, 4);
}
void append32(std::vector<u8>& b, u32 v) { put32(b, b.size(), v); }

// A Multiboot2 header: fixed part, tags (padded to 8), end tag; header_length and checksum computed.
class HeaderBuilder {
public:
    HeaderBuilder& tag(u16 type, u16 flags, const std::vector<u32>& payload) {
        const size_t at = b_.size();
        put16(b_, at, type);
        put16(b_, at + 2, flags);
        put32(b_, at + 4, static_cast<u32>(8 + 4 * payload.size()));
        for (u32 v : payload) append32(b_, v);
        while (b_.size() % 8) b_.push_back(0);
        return *this;
    }
    // A tag with a forced size field.
    HeaderBuilder& raw(u16 type, u16 flags, u32 size, size_t payload_bytes) {
        const size_t at = b_.size();
        put16(b_, at, type);
        put16(b_, at + 2, flags);
        put32(b_, at + 4, size);
        b_.resize(at + 8 + payload_bytes, 0);
        while (b_.size() % 8) b_.push_back(0);
        return *this;
    }
    HeaderBuilder& info_request(u16 flags, const std::vector<u32>& types) { return tag(HT_INFO_REQ, flags, types); }
    HeaderBuilder& address(u32 header_addr, u32 load_addr, u32 load_end, u32 bss_end) {
        return tag(HT_ADDRESS, 0, {header_addr, load_addr, load_end, bss_end});
    }
    HeaderBuilder& entry(u32 e) { return tag(HT_ENTRY, 0, {e}); }

    std::vector<u8> build(bool end_tag = true, u32 arch = 0, u32 checksum_delta = 0) const {
        std::vector<u8> h(16, 0);
        h.insert(h.end(), b_.begin(), b_.end());
        if (end_tag) {
            const size_t at = h.size();
            put16(h, at, HT_END), put16(h, at + 2, 0), put32(h, at + 4, 8);
        }
        const u32 len = static_cast<u32>(h.size());
        put32(h, 0, MB2_HEADER_MAGIC_VALUE);
        put32(h, 4, arch);
        put32(h, 8, len);
        put32(h, 12, static_cast<u32>(0u - (MB2_HEADER_MAGIC_VALUE + arch + len)) + checksum_delta);
        return h;
    }

private:
    std::vector<u8> b_;
};

struct SegSpec {
    u64 offset, vaddr, paddr, filesz, memsz;
    u32 type = PT_LOAD;
};

constexpr size_t HDR_OFFSET = 0x200; // where the test ELF images carry their Multiboot2 header

// Content byte of the test images at file offset `off`: recognizable, never zero.
u8 pattern(u64 off) { return static_cast<u8>((off * 7 + 1) | 1); }

// An ELF32 (EM_386) or ELF64 (EM_X86_64) image with the given program headers, the Multiboot2 header at
// HDR_OFFSET, and pattern bytes everywhere else up to `file_size`.
std::vector<u8> make_elf(bool is64, const std::vector<SegSpec>& segs, u64 entry, const std::vector<u8>& mb2,
                         size_t file_size = 0x3000, u16 machine = 0) {
    std::vector<u8> f(file_size);
    for (size_t i = 0; i < f.size(); ++i) f[i] = pattern(i);
    if (is64) {
        Elf64_Ehdr eh{};
        std::memcpy(eh.e_ident, ELFMAG, 4);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = ET_EXEC;
        eh.e_machine = machine != 0 ? machine : EM_X86_64;
        eh.e_version = EV_CURRENT;
        eh.e_entry = entry;
        eh.e_phoff = sizeof eh;
        eh.e_ehsize = sizeof eh;
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = static_cast<u16>(segs.size());
        std::memcpy(f.data(), &eh, sizeof eh);
        for (size_t i = 0; i < segs.size(); ++i) {
            Elf64_Phdr p{};
            p.p_type = segs[i].type;
            p.p_flags = PF_R | PF_W | PF_X;
            p.p_offset = segs[i].offset;
            p.p_vaddr = segs[i].vaddr;
            p.p_paddr = segs[i].paddr;
            p.p_filesz = segs[i].filesz;
            p.p_memsz = segs[i].memsz;
            p.p_align = PAGE_SIZE;
            std::memcpy(f.data() + sizeof eh + i * sizeof p, &p, sizeof p);
        }
    } else {
        Elf32_Ehdr eh{};
        std::memcpy(eh.e_ident, ELFMAG, 4);
        eh.e_ident[EI_CLASS] = ELFCLASS32;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = ET_EXEC;
        eh.e_machine = machine != 0 ? machine : EM_386;
        eh.e_version = EV_CURRENT;
        eh.e_entry = static_cast<u32>(entry);
        eh.e_phoff = sizeof eh;
        eh.e_ehsize = sizeof eh;
        eh.e_phentsize = sizeof(Elf32_Phdr);
        eh.e_phnum = static_cast<u16>(segs.size());
        std::memcpy(f.data(), &eh, sizeof eh);
        for (size_t i = 0; i < segs.size(); ++i) {
            Elf32_Phdr p{};
            p.p_type = segs[i].type;
            p.p_flags = PF_R | PF_W | PF_X;
            p.p_offset = static_cast<u32>(segs[i].offset);
            p.p_vaddr = static_cast<u32>(segs[i].vaddr);
            p.p_paddr = static_cast<u32>(segs[i].paddr);
            p.p_filesz = static_cast<u32>(segs[i].filesz);
            p.p_memsz = static_cast<u32>(segs[i].memsz);
            p.p_align = PAGE_SIZE;
            std::memcpy(f.data() + sizeof eh + i * sizeof p, &p, sizeof p);
        }
    }
    if (f.size() < HDR_OFFSET + mb2.size()) f.resize(HDR_OFFSET + mb2.size(), 0);
    std::memcpy(f.data() + HDR_OFFSET, mb2.data(), mb2.size());
    return f;
}

std::vector<u8> basic_header() { return HeaderBuilder().info_request(0, {1, 3, 6}).build(); }

// Text at 1 MiB (file 0x1000, 0x800 bytes), data + bss at 1 MiB + 8 KiB (file 0x2000, 0x100 bytes, 0x3000 in
// memory). Higher-half virtual addresses: e_entry 0xC0100010 runs at physical 0x100010.
constexpr u64 HIGH = 0xC0000000;
std::vector<SegSpec> two_segments() {
    return {{0x1000, HIGH + KERNEL_BASE, KERNEL_BASE, 0x800, 0x800},
            {0x2000, HIGH + KERNEL_BASE + 0x2000, KERNEL_BASE + 0x2000, 0x100, 0x3000}};
}

std::vector<u8> elf32_kernel(const std::vector<u8>& mb2 = basic_header()) {
    return make_elf(false, two_segments(), HIGH + KERNEL_BASE + 0x10, mb2);
}
std::vector<u8> elf64_kernel(const std::vector<u8>& mb2 = basic_header()) {
    return make_elf(true, two_segments(), HIGH + KERNEL_BASE + 0x10, mb2);
}

// a.out kludge: a raw image with its Multiboot2 header at file offset 0x40, linked to run at 2 MiB.
constexpr u32 AOUT_BASE = 0x200000;
constexpr size_t AOUT_HDR_OFFSET = 0x40;
constexpr size_t AOUT_FILE_SIZE = 0x1800;
std::vector<u8> aout_kernel(u32 load_addr, u32 load_end, u32 bss_end, bool with_entry = true,
                            u32 header_addr = AOUT_BASE + AOUT_HDR_OFFSET) {
    HeaderBuilder hb;
    hb.address(header_addr, load_addr, load_end, bss_end);
    if (with_entry) hb.entry(AOUT_BASE + 0x100);
    const std::vector<u8> h = hb.build();
    std::vector<u8> f(AOUT_FILE_SIZE);
    for (size_t i = 0; i < f.size(); ++i) f[i] = pattern(i);
    std::memcpy(f.data() + AOUT_HDR_OFFSET, h.data(), h.size());
    return f;
}

// Guest memory: [0, size) backed by a buffer (pre-filled with 0xCC so zeroing is visible).
constexpr u64 GUEST_RAM = 8 * MiB;
class BufMem final : public GuestMem {
public:
    explicit BufMem(u64 size = GUEST_RAM) : buf(size, 0xCC) {}
    u8* map(u64 gpa, u64 len) override {
        if (gpa > buf.size() || len > buf.size() - gpa) return nullptr;
        return buf.data() + gpa;
    }
    std::vector<u8> buf;
};

// guest0's memory map: low RAM, the legacy hole, RAM from 1 MiB to 8 MiB.
struct GuestMap {
    evmm_mmap_entry_t storage[16];
    MemoryMap map{storage, 16};
    GuestMap() {
        EXPECT_TRUE(map.add(0, 0x9F000, EVMM_MEM_USABLE).ok());
        EXPECT_TRUE(map.add(0x9F000, 0x61000, EVMM_MEM_RESERVED).ok());
        EXPECT_TRUE(map.add(1 * MiB, GUEST_RAM - 1 * MiB, EVMM_MEM_USABLE).ok());
    }
};

Status find_and_plan(const std::vector<u8>& img, Mb2KernelHeader& h, KernelPlan& p) {
    EVMM_TRY(mb2_kernel_find_header(img.data(), img.size(), h));
    return mb2_kernel_plan(img.data(), img.size(), h, p);
}

// ---------------------------------------------------------------------------------------------------------------
// Header

TEST(Mb2GuestHeader, FindsHeaderAndRecordsTags) {
    const auto mb2 = HeaderBuilder()
                         .info_request(0, {1, 6})
                         .info_request(OPTIONAL, {8, 4, 200})
                         .tag(HT_CONSOLE, OPTIONAL, {MB2_CONSOLE_FLAG_EGA_TEXT})
                         .tag(HT_FB, OPTIONAL, {1024, 768, 32})
                         .tag(HT_MODALIGN, 0, {})
                         .tag(HT_RELOC, OPTIONAL, {0x100000, 0x10000000, 0x1000, 1})
                         .tag(HT_EFI_BS, OPTIONAL, {})
                         .tag(HT_EFI64, OPTIONAL, {0x100020})
                         .tag(HT_EFI32, OPTIONAL, {0x100030})
                         .tag(0x77, OPTIONAL, {1, 2, 3}) // unknown but optional: skipped
                         .entry(0x100040)
                         .build();
    const auto img = elf32_kernel(mb2);
    Mb2KernelHeader h;
    ASSERT_OK(mb2_kernel_find_header(img.data(), img.size(), h));
    EXPECT_EQ(h.offset, HDR_OFFSET);
    EXPECT_EQ(h.header_length, mb2.size());
    EXPECT_EQ(h.required_types, bit(1) | bit(6));
    EXPECT_EQ(h.requested_types, bit(1) | bit(4) | bit(6) | bit(8));
    EXPECT_TRUE(h.has_console_flags);
    EXPECT_EQ(h.console_flags, MB2_CONSOLE_FLAG_EGA_TEXT);
    EXPECT_TRUE(h.has_framebuffer);
    EXPECT_EQ(h.fb_width, 1024u);
    EXPECT_EQ(h.fb_depth, 32u);
    EXPECT_TRUE(h.modules_page_aligned);
    EXPECT_TRUE(h.relocatable);
    EXPECT_EQ(h.reloc_max_addr, 0x10000000u);
    EXPECT_EQ(h.reloc_preference, 1u);
    EXPECT_TRUE(h.efi_boot_services);
    EXPECT_TRUE(h.has_efi_entry);
    EXPECT_TRUE(h.has_entry);
    EXPECT_EQ(h.entry_addr, 0x100040u);
    EXPECT_FALSE(h.has_address);
}

TEST(Mb2GuestHeader, NotFound) {
    std::vector<u8> zeros(0x9000, 0);
    Mb2KernelHeader h;
    EXPECT_ERR(mb2_kernel_find_header(zeros.data(), zeros.size(), h), "no Multiboot2 header", "magic");
    EXPECT_ERR(mb2_kernel_find_header(nullptr, 0, h), "empty", "header");
    // A header that starts at byte 32768 is outside the search area.
    std::vector<u8> far(0x9000, 0);
    const auto mb2 = basic_header();
    std::memcpy(far.data() + MB2_HEADER_SEARCH_LIMIT, mb2.data(), mb2.size());
    EXPECT_ERR(mb2_kernel_find_header(far.data(), far.size(), h), "no Multiboot2 header", "magic");
    // Multiboot (1) magic is not Multiboot2.
    std::vector<u8> mb1(64, 0);
    put32(mb1, 0, 0x1BADB002), put32(mb1, 4, 0), put32(mb1, 8, 0u - 0x1BADB002u);
    EXPECT_ERR(mb2_kernel_find_header(mb1.data(), mb1.size(), h), "no Multiboot2 header", "magic");
}

TEST(Mb2GuestHeader, HeaderAtEndOfSearchAreaMustFitInside) {
    const auto mb2 = basic_header();
    // Fixed part inside the first 32768 bytes, tags beyond it.
    std::vector<u8> img(0x9000, 0);
    const size_t at = MB2_HEADER_SEARCH_LIMIT - 16;
    std::memcpy(img.data() + at, mb2.data(), mb2.size());
    Mb2KernelHeader h;
    EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "past the first 32768 bytes", "header_length");
}

TEST(Mb2GuestHeader, BadChecksum) {
    const auto img = elf32_kernel(HeaderBuilder().build(true, 0, 1));
    Mb2KernelHeader h;
    EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "checksum", "checksum");
}

TEST(Mb2GuestHeader, BadChecksumSkippedWhenAValidHeaderFollows) {
    auto img = elf32_kernel(HeaderBuilder().build(true, 0, 1));
    const auto good = basic_header();
    std::memcpy(img.data() + HDR_OFFSET + 0x100, good.data(), good.size());
    Mb2KernelHeader h;
    ASSERT_OK(mb2_kernel_find_header(img.data(), img.size(), h));
    EXPECT_EQ(h.offset, HDR_OFFSET + 0x100);
}

TEST(Mb2GuestHeader, WrongArchitecture) {
    const auto img = elf32_kernel(HeaderBuilder().build(true, 4)); // 4: MIPS
    Mb2KernelHeader h;
    EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "not i386", "architecture");
}

TEST(Mb2GuestHeader, Misaligned) {
    std::vector<u8> img(0x1000, 0);
    const auto mb2 = basic_header();
    std::memcpy(img.data() + 0x104, mb2.data(), mb2.size()); // 4-byte aligned only
    Mb2KernelHeader h;
    EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "not 8-byte aligned", "offset");
}

TEST(Mb2GuestHeader, HeaderLengthPastEndOfImage) {
    const auto mb2 = basic_header();
    std::vector<u8> img(0x100 + mb2.size() - 8); // the end tag is cut off by the end of the image
    std::memcpy(img.data() + 0x100, mb2.data(), img.size() - 0x100);
    Mb2KernelHeader h;
    EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "runs past the end of the image", "header_length");
}

TEST(Mb2GuestHeader, HeaderLengthTooSmall) {
    auto mb2 = basic_header();
    // header_length 16 (no room for an end tag) with a matching checksum.
    put32(mb2, 8, 16);
    put32(mb2, 12, 0u - (MB2_HEADER_MAGIC_VALUE + 16));
    const auto img = elf32_kernel(mb2);
    Mb2KernelHeader h;
    EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "smaller than the fixed part", "header_length");
}

TEST(Mb2GuestHeader, MalformedTags) {
    Mb2KernelHeader h;
    {
        const auto img = elf32_kernel(HeaderBuilder().info_request(0, {1}).build(false));
        EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "no end tag", "header");
    }
    {
        const auto img = elf32_kernel(HeaderBuilder().raw(HT_ENTRY, 0, 4, 8).build());
        EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "smaller than 8", "entry address tag");
    }
    {
        const auto img = elf32_kernel(HeaderBuilder().raw(HT_ENTRY, 0, 0x1000, 8).build());
        EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "runs past header_length", "entry address");
    }
    {
        const auto img = elf32_kernel(HeaderBuilder().raw(HT_ADDRESS, 0, 16, 8).build());
        EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "too short", "address tag");
    }
    {
        const auto img = elf32_kernel(HeaderBuilder().raw(HT_INFO_REQ, 0, 14, 6).build());
        EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "8 + 4 * n", "information request");
    }
    {
        const auto img = elf32_kernel(HeaderBuilder().entry(1).entry(2).build());
        EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "duplicate", "entry address tag");
    }
    {
        const auto img = elf32_kernel(HeaderBuilder().raw(HT_END, 0, 16, 8).build());
        EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "end tag size", "end tag");
    }
}

TEST(Mb2GuestHeader, RequiredInformationEvmmDoesNotProvide) {
    Mb2KernelHeader h;
    const auto img = elf32_kernel(HeaderBuilder().info_request(0, {1, 6, 8}).build());
    EXPECT_ERR(mb2_kernel_find_header(img.data(), img.size(), h), "does not provide", "framebuffer info (type 8)");
    const auto img2 = elf32_kernel(HeaderBuilder().info_request(0, {12}).build());
    EXPECT_ERR(mb2_kernel_find_header(img2.data(), img2.size(), h), "does not provide", "EFI 64-bit system table");
    const auto img3 = elf32_kernel(HeaderBuilder().info_request(0, {4000}).build());
    EXPECT_ERR(mb2_kernel_find_header(img3.data(), img3.size(), h), "does not provide", "unknown type");
    // The same as optional requests: fine.
    const auto ok = elf32_kernel(HeaderBuilder().info_request(OPTIONAL, {8, 12, 4000}).build());
    EXPECT_OK(mb2_kernel_find_header(ok.data(), ok.size(), h));
    // Everything evmm provides may be required.
    const auto all = elf32_kernel(HeaderBuilder().info_request(0, {1, 2, 3, 4, 6, 14, 15, 21}).build());
    EXPECT_OK(mb2_kernel_find_header(all.data(), all.size(), h));
    for (u32 t : {1u, 2u, 3u, 4u, 6u, 14u, 15u, 21u}) EXPECT_TRUE(mb2_info_type_provided(t)) << t;
    for (u32 t : {5u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 16u, 17u, 18u, 19u, 20u, 22u})
        EXPECT_FALSE(mb2_info_type_provided(t)) << t;
}

TEST(Mb2GuestHeader, EfiTagsRequired) {
    Mb2KernelHeader h;
    const auto bs = elf32_kernel(HeaderBuilder().tag(HT_EFI_BS, 0, {}).build());
    EXPECT_ERR(mb2_kernel_find_header(bs.data(), bs.size(), h), "requires EFI boot services", "EFI boot services tag");
    const auto e32 = elf32_kernel(HeaderBuilder().tag(HT_EFI32, 0, {0x100000}).build());
    EXPECT_ERR(mb2_kernel_find_header(e32.data(), e32.size(), h), "requires an EFI entry point", "EFI i386");
    const auto e64 = elf32_kernel(HeaderBuilder().tag(HT_EFI64, 0, {0x100000}).build());
    EXPECT_ERR(mb2_kernel_find_header(e64.data(), e64.size(), h), "requires an EFI entry point", "EFI amd64");
}

TEST(Mb2GuestHeader, UnknownRequiredTagAndRequiredConsole) {
    Mb2KernelHeader h;
    const auto unk = elf32_kernel(HeaderBuilder().tag(0x77, 0, {1}).build());
    EXPECT_ERR(mb2_kernel_find_header(unk.data(), unk.size(), h), "unsupported required header tag", "header tag");
    const auto con = elf32_kernel(HeaderBuilder().tag(HT_CONSOLE, 0, {MB2_CONSOLE_FLAG_REQUIRED}).build());
    EXPECT_ERR(mb2_kernel_find_header(con.data(), con.size(), h), "requires a console", "console flags tag");
    const auto con_ok = elf32_kernel(HeaderBuilder().tag(HT_CONSOLE, 0, {MB2_CONSOLE_FLAG_EGA_TEXT}).build());
    EXPECT_OK(mb2_kernel_find_header(con_ok.data(), con_ok.size(), h));
}

// ---------------------------------------------------------------------------------------------------------------
// Plan

TEST(Mb2GuestPlan, Elf32SegmentsAndEntryTranslatedToPhysical) {
    const auto img = elf32_kernel();
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    EXPECT_EQ(p.format, KernelImageFormat::Elf32);
    ASSERT_EQ(p.segment_count, 2u);
    EXPECT_EQ(p.segments[0].gpa, KERNEL_BASE);
    EXPECT_EQ(p.segments[0].file_offset, 0x1000u);
    EXPECT_EQ(p.segments[0].filesz, 0x800u);
    EXPECT_EQ(p.segments[1].gpa, KERNEL_BASE + 0x2000u);
    EXPECT_EQ(p.segments[1].memsz, 0x3000u);
    EXPECT_EQ(p.entry, KERNEL_BASE + 0x10u); // e_entry 0xC0100010 -> physical
    EXPECT_FALSE(p.entry_from_tag);
    EXPECT_EQ(p.span_base, KERNEL_BASE);
    EXPECT_EQ(p.span_end, KERNEL_BASE + 0x5000u);
}

TEST(Mb2GuestPlan, Elf64) {
    const auto img = elf64_kernel();
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    EXPECT_EQ(p.format, KernelImageFormat::Elf64);
    EXPECT_EQ(p.segment_count, 2u);
    EXPECT_EQ(p.entry, KERNEL_BASE + 0x10u);
}

TEST(Mb2GuestPlan, EntryTagOverridesEEntry) {
    const auto img = elf64_kernel(HeaderBuilder().entry(KERNEL_BASE + 0x2100).build());
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    EXPECT_EQ(p.entry, KERNEL_BASE + 0x2100u); // in the bss of segment 1: still a loaded segment
    EXPECT_TRUE(p.entry_from_tag);
}

TEST(Mb2GuestPlan, EntryOutsideSegments) {
    Mb2KernelHeader h;
    KernelPlan p;
    const auto tag = elf32_kernel(HeaderBuilder().entry(KERNEL_BASE + 0x1000).build()); // the gap
    EXPECT_ERR(find_and_plan(tag, h, p), "not inside a loaded segment", "entry address tag");
    const auto elf = make_elf(false, two_segments(), HIGH + 0x50000, basic_header());
    EXPECT_ERR(find_and_plan(elf, h, p), "not inside any PT_LOAD", "e_entry");
}

TEST(Mb2GuestPlan, MalformedElf) {
    Mb2KernelHeader h;
    KernelPlan p;
    // Wrong machine for the class.
    const auto m32 = make_elf(false, two_segments(), HIGH + KERNEL_BASE, basic_header(), 0x3000, EM_X86_64);
    EXPECT_ERR(find_and_plan(m32, h, p), "not EM_386", "e_machine");
    const auto m64 = make_elf(true, two_segments(), HIGH + KERNEL_BASE, basic_header(), 0x3000, EM_386);
    EXPECT_ERR(find_and_plan(m64, h, p), "not EM_X86_64", "e_machine");
    // filesz > memsz.
    auto segs = two_segments();
    segs[0].filesz = 0x900;
    EXPECT_ERR(find_and_plan(make_elf(false, segs, HIGH + KERNEL_BASE, basic_header()), h, p), "p_filesz is larger",
               "p_filesz");
    // File bytes past the end.
    segs = two_segments();
    segs[1].offset = 0x2F80;
    EXPECT_ERR(find_and_plan(make_elf(false, segs, HIGH + KERNEL_BASE, basic_header()), h, p), "past the end",
               "p_offset");
    // Above 4 GiB (ELF64 p_paddr).
    segs = two_segments();
    segs[1].paddr = 0x100000000ull;
    EXPECT_ERR(find_and_plan(make_elf(true, segs, HIGH + KERNEL_BASE, basic_header()), h, p), "below 4 GiB", "p_paddr");
    // Crossing 4 GiB.
    segs = two_segments();
    segs[1].paddr = 0xFFFFF000ull;
    EXPECT_ERR(find_and_plan(make_elf(true, segs, HIGH + KERNEL_BASE, basic_header()), h, p), "below 4 GiB", "p_paddr");
    // Overlapping segments.
    segs = two_segments();
    segs[1].paddr = KERNEL_BASE + 0x400;
    EXPECT_ERR(find_and_plan(make_elf(false, segs, HIGH + KERNEL_BASE, basic_header()), h, p), "overlap", "p_paddr");
    // No PT_LOAD.
    segs = two_segments();
    segs[0].type = segs[1].type = PT_NULL;
    EXPECT_ERR(find_and_plan(make_elf(false, segs, HIGH + KERNEL_BASE, basic_header()), h, p), "no loadable segment",
               "program header");
    // Program header table past the end.
    auto img = elf32_kernel();
    Elf32_Ehdr eh;
    std::memcpy(&eh, img.data(), sizeof eh);
    eh.e_phoff = static_cast<u32>(img.size() - 8);
    std::memcpy(img.data(), &eh, sizeof eh);
    EXPECT_ERR(find_and_plan(img, h, p), "program header table runs past", "e_phoff");
    // Not ELF at all, and no address tag.
    auto raw = elf32_kernel();
    raw[1] = 'X';
    EXPECT_ERR(find_and_plan(raw, h, p), "neither ELF nor has an address tag", "e_ident");
    // Big-endian.
    auto be = elf32_kernel();
    be[EI_DATA] = 2;
    EXPECT_ERR(find_and_plan(be, h, p), "little-endian", "EI_DATA");
}

TEST(Mb2GuestPlan, AoutKludge) {
    Mb2KernelHeader h;
    KernelPlan p;
    // Load from file offset 0: header_addr - load_addr == header offset.
    const u32 load_end = AOUT_BASE + 0x1000;
    const auto img = aout_kernel(AOUT_BASE, load_end, AOUT_BASE + 0x4000);
    ASSERT_OK(find_and_plan(img, h, p));
    EXPECT_EQ(p.format, KernelImageFormat::AoutKludge);
    ASSERT_EQ(p.segment_count, 1u);
    EXPECT_EQ(p.segments[0].gpa, AOUT_BASE);
    EXPECT_EQ(p.segments[0].file_offset, 0u);
    EXPECT_EQ(p.segments[0].filesz, 0x1000u);
    EXPECT_EQ(p.segments[0].memsz, 0x4000u);
    EXPECT_EQ(p.entry, AOUT_BASE + 0x100u);
    EXPECT_TRUE(p.entry_from_tag);

    // load_addr above the file start: loading begins inside the file (header offset - (header_addr - load_addr)).
    const auto inner = aout_kernel(AOUT_BASE + 0x20, AOUT_BASE + 0x800, 0);
    ASSERT_OK(find_and_plan(inner, h, p));
    EXPECT_EQ(p.segments[0].gpa, AOUT_BASE + 0x20u);
    EXPECT_EQ(p.segments[0].file_offset, 0x20u);
    EXPECT_EQ(p.segments[0].filesz, 0x7E0u);
    EXPECT_EQ(p.segments[0].memsz, 0x7E0u); // bss_end_addr 0: no bss

    // load_addr -1: from the file's beginning, at header_addr - header offset; load_end_addr 0: the whole file.
    const auto whole = aout_kernel(MB2_LOAD_ADDR_FROM_FILE_START, 0, 0);
    ASSERT_OK(find_and_plan(whole, h, p));
    EXPECT_EQ(p.segments[0].gpa, AOUT_BASE);
    EXPECT_EQ(p.segments[0].file_offset, 0u);
    EXPECT_EQ(p.segments[0].filesz, AOUT_FILE_SIZE);
}

TEST(Mb2GuestPlan, AoutKludgeErrors) {
    Mb2KernelHeader h;
    KernelPlan p;
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, AOUT_BASE + 0x1000, 0, false), h, p),
               "without an entry address tag", "address tag");
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE + 0x80, AOUT_BASE + 0x1000, 0), h, p),
               "load_addr is above header_addr", "load_addr");
    // header_addr - load_addr (0x1040) larger than the header's file offset (0x40).
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE - 0x1000, AOUT_BASE + 0x1000, 0), h, p),
               "larger than the header's file offset", "load_addr");
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, AOUT_BASE + AOUT_FILE_SIZE + 1, 0), h, p),
               "past the end of the image", "load_end_addr");
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, AOUT_BASE - 1, 0), h, p), "below load_addr", "load_end_addr");
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, AOUT_BASE + 0x1000, AOUT_BASE + 0x800), h, p),
               "bss_end_addr is below", "bss_end_addr");
    // load_addr -1 with header_addr below the header's offset.
    EXPECT_ERR(find_and_plan(aout_kernel(MB2_LOAD_ADDR_FROM_FILE_START, 0, 0, true, 0x10), h, p),
               "below the header's file offset", "header_addr");
}

// ---------------------------------------------------------------------------------------------------------------
// Load

TEST(Mb2GuestLoad, CopiesSegmentsAndZeroesBss) {
    const auto img = elf32_kernel();
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    GuestMap gm;
    ASSERT_OK(kernel_load(img.data(), img.size(), p, mem, gm.map, nullptr, 0));
    for (u64 i = 0; i < 0x800; ++i) ASSERT_EQ(mem.buf[KERNEL_BASE + i], pattern(0x1000 + i)) << i;
    // The gap between the segments is not touched.
    EXPECT_EQ(mem.buf[KERNEL_BASE + 0x800], 0xCC);
    EXPECT_EQ(mem.buf[KERNEL_BASE + 0x1FFF], 0xCC);
    for (u64 i = 0; i < 0x100; ++i) ASSERT_EQ(mem.buf[KERNEL_BASE + 0x2000 + i], pattern(0x2000 + i)) << i;
    for (u64 i = 0x100; i < 0x3000; ++i) ASSERT_EQ(mem.buf[KERNEL_BASE + 0x2000 + i], 0) << "bss byte " << i;
    EXPECT_EQ(mem.buf[KERNEL_BASE + 0x5000], 0xCC);
}

TEST(Mb2GuestLoad, AoutKludgeLoad) {
    const auto img = aout_kernel(AOUT_BASE + 0x20, AOUT_BASE + 0x800, AOUT_BASE + 0x2000);
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    GuestMap gm;
    ASSERT_OK(kernel_load(img.data(), img.size(), p, mem, gm.map, nullptr, 0));
    EXPECT_EQ(mem.buf[AOUT_BASE + 0x1F], 0xCC);
    for (u64 i = 0; i < 0x7E0; ++i) ASSERT_EQ(mem.buf[AOUT_BASE + 0x20 + i], img[0x20 + i]) << i;
    for (u64 i = 0x800; i < 0x2000; ++i) ASSERT_EQ(mem.buf[AOUT_BASE + i], 0) << i;
    // The header landed at header_addr.
    u32 magic;
    std::memcpy(&magic, mem.buf.data() + AOUT_BASE + AOUT_HDR_OFFSET, 4);
    EXPECT_EQ(magic, MB2_HEADER_MAGIC_VALUE);
}

TEST(Mb2GuestLoad, SegmentOutsideUsableRam) {
    const auto img = elf32_kernel();
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    // RAM ends in the middle of segment 1's bss.
    evmm_mmap_entry_t st[4];
    MemoryMap m(st, 4);
    ASSERT_TRUE(m.add(1 * MiB, 0x3000, EVMM_MEM_USABLE).ok());
    KernelLoadDiag d;
    EXPECT_ERR(kernel_load(img.data(), img.size(), p, mem, m, nullptr, 0, &d), "not inside usable RAM", "memory map");
    EXPECT_EQ(d.segment, 1u);
    EXPECT_EQ(d.seg_base, KERNEL_BASE + 0x2000u);
    EXPECT_EQ(d.seg_end, KERNEL_BASE + 0x5000u);
    EXPECT_NE(std::string(d.message).find("segment 1 at 0x102000-0x105000"), std::string::npos) << d.message;
    EXPECT_NE(std::string(d.message).find("0x103000"), std::string::npos) << d.message;
    EXPECT_EQ(mem.buf[KERNEL_BASE], 0xCC); // nothing written

    // Usable RAM with a reserved range in it (an unnormalized map): refused as well.
    evmm_mmap_entry_t st2[4];
    MemoryMap m2(st2, 4);
    ASSERT_TRUE(m2.add(1 * MiB, 4 * MiB, EVMM_MEM_USABLE).ok());
    ASSERT_TRUE(m2.add(KERNEL_BASE + 0x4000, 0x1000, EVMM_MEM_ACPI_NVS).ok());
    EXPECT_ERR(kernel_load(img.data(), img.size(), p, mem, m2, nullptr, 0, &d), "not inside usable RAM", "memory map");

    // Usable RAM made of two touching entries is fine.
    evmm_mmap_entry_t st3[4];
    MemoryMap m3(st3, 4);
    ASSERT_TRUE(m3.add(KERNEL_BASE + 0x3000, 4 * MiB, EVMM_MEM_USABLE).ok());
    ASSERT_TRUE(m3.add(1 * MiB, 0x3000, EVMM_MEM_USABLE).ok());
    EXPECT_OK(kernel_load(img.data(), img.size(), p, mem, m3, nullptr, 0));
}

TEST(Mb2GuestLoad, OverlapWithForbiddenRangeNamesIt) {
    const auto img = elf32_kernel();
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    GuestMap gm;
    const NamedRange forbidden[] = {
        {0x400000, 0x10000, "guest0 kernel image"},
        {KERNEL_BASE + 0x4000, 0x2000, "module 2 (initrd)"},
    };
    KernelLoadDiag d;
    const Status s = kernel_load(img.data(), img.size(), p, mem, gm.map, forbidden, 2, &d);
    EXPECT_ERR(s, "must not be loaded over", "module 2 (initrd)");
    EXPECT_EQ(s.value, KERNEL_BASE + 0x2000u);
    EXPECT_EQ(s.value2, KERNEL_BASE + 0x5000u);
    EXPECT_EQ(d.segment, 1u);
    EXPECT_EQ(d.range, 1u);
    EXPECT_STREQ(d.message, "segment 1 at 0x102000-0x105000 overlaps module 2 (initrd) at 0x104000-0x106000");
    EXPECT_EQ(mem.buf[KERNEL_BASE], 0xCC); // checked before anything was written

    // Touching is not overlapping.
    const NamedRange touching[] = {{KERNEL_BASE + 0x5000, 0x1000, "module 1 (next)"}, {0, KERNEL_BASE, "low"}};
    EXPECT_OK(kernel_load(img.data(), img.size(), p, mem, gm.map, touching, 2));
}

TEST(Mb2GuestLoad, SegmentOverTheImageItself) {
    const auto elf = elf32_kernel();
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(elf, h, p));
    BufMem mem;
    GuestMap gm;
    // The image sits in guest memory right where segment 0 goes (a caller that forgot to list it as forbidden).
    std::memcpy(mem.buf.data() + KERNEL_BASE - 0x800, elf.data(), elf.size());
    const u8* img = mem.buf.data() + KERNEL_BASE - 0x800;
    EXPECT_ERR(kernel_load(img, elf.size(), p, mem, gm.map, nullptr, 0), "copied from", "kernel image");
}

TEST(Mb2GuestLoad, UnmappableGuestMemoryAndBadPlans) {
    const auto img = elf32_kernel();
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem small(KERNEL_BASE + 0x1000); // segment 1 not backed
    GuestMap gm;
    EXPECT_ERR(kernel_load(img.data(), img.size(), p, small, gm.map, nullptr, 0), "not accessible", "segment");
    KernelPlan bad = p;
    bad.segments[0].file_offset = img.size();
    BufMem mem;
    EXPECT_ERR(kernel_load(img.data(), img.size(), bad, mem, gm.map, nullptr, 0), "past the end", "segment");
    bad = p;
    bad.segment_count = 0;
    EXPECT_ERR(kernel_load(img.data(), img.size(), bad, mem, gm.map, nullptr, 0), "no or too many", "segment");
}

// ---------------------------------------------------------------------------------------------------------------
// Boot information

struct TestDesc {
    evmm_desc_t d{};
    TestDesc() {
        auto mod = [&](u32 i, u64 start, u64 size, const char* role, const char* args) {
            d.boot_modules[i].start = start;
            d.boot_modules[i].size = size;
            std::strncpy(d.boot_modules[i].role, role, sizeof d.boot_modules[i].role - 1);
            std::strncpy(d.boot_modules[i].cmdline, args, sizeof d.boot_modules[i].cmdline - 1);
        };
        d.boot_module_count = 3;
        mod(0, 0x300000, 0x2345, "initrd", "rootfs ro");
        mod(1, 0x400000, 0x3000, "guest0", "console=ttyS0 quiet");
        mod(2, 0x500000, 0x100, "blob", "");
        d.guest0_boot_module = 1;
        const evmm_mmap_entry_t mm[] = {
            {0, 0x9F000, EVMM_MEM_USABLE, 0},
            {0x9F000, 0x61000, EVMM_MEM_RESERVED, 0},
            {1 * MiB, GUEST_RAM - 1 * MiB, EVMM_MEM_USABLE, 0},
            {GUEST_RAM, 0x10000, EVMM_MEM_ACPI_RECLAIMABLE, 0},
            {GUEST_RAM + 0x10000, 0x1000, EVMM_MEM_ACPI_NVS, 0},
            {0xFEC00000, 0x1000, EVMM_MEM_RESERVED, 0},
        };
        d.guest0_mmap_count = 6;
        std::memcpy(d.guest0_mmap, mm, sizeof mm);
    }
};

std::vector<u8> rsdp_bytes(u8 revision) {
    std::vector<u8> r(ACPI_RSDP_V2_SIZE);
    for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<u8>(0x40 + i);
    std::memcpy(r.data(), "RSD PTR ", 8);
    r[offsetof(AcpiRsdp, revision)] = revision;
    return r;
}

constexpr u64 INFO_GPA = 0x600000;

TEST(Mb2GuestInfo, RoundTripsThroughTheParser) {
    TestDesc t;
    const auto rsdp = rsdp_bytes(2);
    BootInfoInputs in;
    boot_info_inputs_from_desc(t.d, in);
    in.rsdp = rsdp.data();
    in.rsdp_len = static_cast<u32>(rsdp.size());
    u64 size = 0;
    ASSERT_OK(mb2_guest_info_size(in, size));
    EXPECT_EQ(size % 8, 0u);
    BufMem mem;
    u64 written = 0;
    ASSERT_OK(mb2_build_guest_info(in, mem, INFO_GPA, size, written));
    EXPECT_EQ(written, size);
    EXPECT_EQ(mem.buf[INFO_GPA + size], 0xCC); // nothing written past it

    Mb2Info info;
    ASSERT_OK(mb2_parse(mem.buf.data() + INFO_GPA, size, info));
    EXPECT_EQ(info.total_size, size);
    u32 reserved;
    std::memcpy(&reserved, mem.buf.data() + INFO_GPA + 4, 4);
    EXPECT_EQ(reserved, 0u);
    ASSERT_NE(info.cmdline.str, nullptr);
    EXPECT_EQ(std::string(info.cmdline.str, info.cmdline.len), "console=ttyS0 quiet");
    ASSERT_NE(info.loader_name.str, nullptr);
    EXPECT_EQ(std::string(info.loader_name.str, info.loader_name.len), "evmm");
    EXPECT_TRUE(info.has_meminfo);
    EXPECT_EQ(info.mem_lower_kib, 0x9F000u / 1024);
    EXPECT_EQ(info.mem_upper_kib, (GUEST_RAM - 1 * MiB) / 1024);

    ASSERT_TRUE(info.has_mmap);
    EXPECT_EQ(info.mmap_entry_size, 24u);
    EXPECT_EQ(info.mmap_entry_version, 0u);
    ASSERT_EQ(info.mmap_count, t.d.guest0_mmap_count);
    for (u32 i = 0; i < info.mmap_count; ++i) {
        EXPECT_EQ(info.mmap[i].base, t.d.guest0_mmap[i].base) << i;
        EXPECT_EQ(info.mmap[i].length, t.d.guest0_mmap[i].length) << i;
        EXPECT_EQ(info.mmap[i].type, t.d.guest0_mmap[i].type) << i;
    }

    ASSERT_EQ(info.module_count, 2u); // guest0's own module is not passed on
    EXPECT_EQ(info.modules[0].mod_start, 0x300000u);
    EXPECT_EQ(info.modules[0].mod_end, 0x302345u);
    EXPECT_EQ(std::string(info.modules[0].cmdline.str, info.modules[0].cmdline.len), "initrd rootfs ro");
    EXPECT_EQ(info.modules[1].mod_start, 0x500000u);
    EXPECT_EQ(info.modules[1].mod_end, 0x500100u);
    EXPECT_EQ(std::string(info.modules[1].cmdline.str, info.modules[1].cmdline.len), "blob");

    ASSERT_NE(info.acpi_old_rsdp, nullptr);
    EXPECT_EQ(info.acpi_old_rsdp_len, ACPI_RSDP_V1_SIZE);
    EXPECT_EQ(std::memcmp(info.acpi_old_rsdp, rsdp.data(), ACPI_RSDP_V1_SIZE), 0);
    ASSERT_NE(info.acpi_new_rsdp, nullptr);
    EXPECT_EQ(info.acpi_new_rsdp_len, ACPI_RSDP_V2_SIZE);
    EXPECT_EQ(std::memcmp(info.acpi_new_rsdp, rsdp.data(), ACPI_RSDP_V2_SIZE), 0);
    EXPECT_FALSE(info.has_load_base);
}

TEST(Mb2GuestInfo, Acpi1RsdpOnlyOldTagAndNoModules) {
    TestDesc t;
    t.d.boot_module_count = 2; // initrd + guest0
    const auto rsdp = rsdp_bytes(0);
    BootInfoInputs in;
    boot_info_inputs_from_desc(t.d, in);
    in.skip_module = 0; // pretend module 0 is guest0: module 1 is passed on
    in.rsdp = rsdp.data();
    in.rsdp_len = ACPI_RSDP_V1_SIZE;
    BufMem mem;
    u64 written = 0;
    ASSERT_OK(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written));
    Mb2Info info;
    ASSERT_OK(mb2_parse(mem.buf.data() + INFO_GPA, written, info));
    ASSERT_NE(info.acpi_old_rsdp, nullptr);
    EXPECT_EQ(info.acpi_new_rsdp, nullptr);
    ASSERT_EQ(info.module_count, 1u);
    EXPECT_EQ(std::string(info.modules[0].cmdline.str, info.modules[0].cmdline.len), "guest0 console=ttyS0 quiet");

    // No modules, no RSDP, no command line, no memory map: still a valid structure.
    BootInfoInputs bare;
    ASSERT_OK(mb2_build_guest_info(bare, mem, INFO_GPA, 4096, written));
    ASSERT_OK(mb2_parse(mem.buf.data() + INFO_GPA, written, info));
    EXPECT_EQ(info.module_count, 0u);
    EXPECT_FALSE(info.has_mmap);
    ASSERT_NE(info.cmdline.str, nullptr);
    EXPECT_EQ(info.cmdline.len, 0u);
    EXPECT_EQ(info.mem_lower_kib, 0u);
    EXPECT_EQ(info.mem_upper_kib, 0u);
}

TEST(Mb2GuestInfo, LoadBaseForRelocatableKernelAndModuleAlignment) {
    const auto img = elf32_kernel(
        HeaderBuilder().tag(HT_RELOC, OPTIONAL, {0x100000, 0x1000000, 0x1000, 0}).tag(HT_MODALIGN, 0, {}).build());
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    TestDesc t;
    BootInfoInputs in;
    boot_info_inputs_from_desc(t.d, in);
    mb2_info_inputs_apply_kernel(h, p, in);
    EXPECT_TRUE(in.require_page_aligned_modules);
    BufMem mem;
    u64 written = 0;
    ASSERT_OK(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written));
    Mb2Info info;
    ASSERT_OK(mb2_parse(mem.buf.data() + INFO_GPA, written, info));
    EXPECT_TRUE(info.has_load_base);
    EXPECT_EQ(info.load_base, KERNEL_BASE);

    t.d.boot_modules[2].start = 0x500010; // not page aligned
    EXPECT_ERR(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written), "not page aligned", "module tag");
}

TEST(Mb2GuestInfo, Errors) {
    TestDesc t;
    BootInfoInputs in;
    boot_info_inputs_from_desc(t.d, in);
    u64 size = 0;
    ASSERT_OK(mb2_guest_info_size(in, size));
    BufMem mem;
    u64 written = 0;
    // Too small for cap: nothing written.
    const Status s = mb2_build_guest_info(in, mem, INFO_GPA, size - 8, written);
    EXPECT_ERR(s, "does not fit", "boot information");
    EXPECT_EQ(s.value, size);
    EXPECT_EQ(s.value2, size - 8);
    EXPECT_EQ(written, 0u);
    EXPECT_EQ(mem.buf[INFO_GPA], 0xCC);
    // Exactly enough.
    EXPECT_OK(mb2_build_guest_info(in, mem, INFO_GPA, size, written));
    // Misaligned, not below 4 GiB, not mappable.
    EXPECT_ERR(mb2_build_guest_info(in, mem, INFO_GPA + 4, 4096, written), "not 8-byte aligned", "boot information");
    EXPECT_ERR(mb2_build_guest_info(in, mem, MB2_ADDRESS_LIMIT - 8, 4096, written), "below 4 GiB", "boot information");
    EXPECT_ERR(mb2_build_guest_info(in, mem, GUEST_RAM - 8, 4096, written), "not accessible", "boot information");
    // A module above 4 GiB cannot be described (32-bit mod_start/mod_end).
    t.d.boot_modules[0].start = 0xFFFFF000;
    EXPECT_ERR(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written), "below 4 GiB", "module tag");
    t.d.boot_modules[0].start = 0x300000;
    // A bad RSDP copy.
    auto rsdp = rsdp_bytes(2);
    in.rsdp = rsdp.data();
    in.rsdp_len = ACPI_RSDP_V1_SIZE; // revision 2 but only 20 bytes
    EXPECT_ERR(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written), "shorter than 36", "ACPI new RSDP");
    in.rsdp_len = 8;
    EXPECT_ERR(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written), "shorter than 20", "ACPI old RSDP");
    in.rsdp_len = ACPI_RSDP_V2_SIZE;
    rsdp[0] = 'X';
    EXPECT_ERR(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written), "signature", "ACPI old RSDP");
}

// guest0's longest command line (2047 characters) and a module's arrive whole in the guest's information.
TEST(Mb2GuestInfo, LongestCommandLinesArriveWhole) {
    TestDesc t;
    std::string g0, mod;
    for (u32 i = 0; i < EVMM_BOOT_MODULE_CMDLINE_MAX - 1; ++i) {
        g0 += static_cast<char>('a' + i % 26);
        mod += static_cast<char>('0' + i % 10);
    }
    std::memcpy(t.d.boot_modules[1].cmdline, g0.c_str(), g0.size() + 1);
    std::memcpy(t.d.boot_modules[0].cmdline, mod.c_str(), mod.size() + 1);
    BootInfoInputs in;
    boot_info_inputs_from_desc(t.d, in);
    u64 size = 0, written = 0;
    ASSERT_OK(mb2_guest_info_size(in, size));
    EXPECT_GT(size, 2 * 2047u);
    BufMem mem;
    ASSERT_OK(mb2_build_guest_info(in, mem, INFO_GPA, size, written));
    Mb2Info info;
    ASSERT_OK(mb2_parse(mem.buf.data() + INFO_GPA, written, info));
    EXPECT_EQ(std::string(info.cmdline.str, info.cmdline.len), g0);
    EXPECT_EQ(std::string(info.modules[0].cmdline.str, info.modules[0].cmdline.len), "initrd " + mod);
}

TEST(Mb2GuestInfo, UnterminatedModuleStringsStayInBounds) {
    TestDesc t;
    std::memset(t.d.boot_modules[0].role, 'r', sizeof t.d.boot_modules[0].role);
    std::memset(t.d.boot_modules[0].cmdline, 'a', sizeof t.d.boot_modules[0].cmdline);
    BootInfoInputs in;
    boot_info_inputs_from_desc(t.d, in);
    BufMem mem;
    u64 written = 0;
    ASSERT_OK(mb2_build_guest_info(in, mem, INFO_GPA, 4096, written));
    Mb2Info info;
    ASSERT_OK(mb2_parse(mem.buf.data() + INFO_GPA, written, info));
    EXPECT_EQ(info.modules[0].cmdline.len, EVMM_ROLE_MAX + 1 + EVMM_BOOT_MODULE_CMDLINE_MAX);
}

// ---------------------------------------------------------------------------------------------------------------
// Placement and entry state

TEST(Mb2GuestInfoPlacement, LowestFreeSlotAboveOneMiB) {
    GuestMap gm;
    const MemoryMap::Range avoid[] = {{KERNEL_BASE, 0x3800}, {0x200000, 0x10000}};
    u64 gpa = 0;
    ASSERT_OK(choose_info_gpa(gm.map, 0x1000, avoid, 2, gpa));
    EXPECT_EQ(gpa, KERNEL_BASE + 0x4000u); // page after the kernel
    ASSERT_OK(choose_info_gpa(gm.map, 0x100000, avoid, 2, gpa));
    EXPECT_EQ(gpa, 0x210000u); // does not fit before the module: after it
    ASSERT_OK(choose_info_gpa(gm.map, 0x1000, nullptr, 0, gpa));
    EXPECT_EQ(gpa, 1 * MiB);
    EXPECT_ERR(choose_info_gpa(gm.map, GUEST_RAM, avoid, 2, gpa), "no room", "memory map");
    EXPECT_ERR(choose_info_gpa(gm.map, 0, avoid, 2, gpa), "bad boot information size", "boot information");
    const MemoryMap::Range wrap[] = {{UINT64_MAX - 4, 0x10}};
    EXPECT_ERR(choose_info_gpa(gm.map, 0x1000, wrap, 1, gpa), "wraps", "boot information");

    // A reserved range inside usable RAM (unnormalized map) is avoided; RAM above 4 GiB is not used.
    evmm_mmap_entry_t st[4];
    MemoryMap m(st, 4);
    ASSERT_TRUE(m.add(0xFFFF0000ull, 0x200000000ull, EVMM_MEM_USABLE).ok());
    ASSERT_TRUE(m.add(0xFFFF0000ull, 0x8000, EVMM_MEM_RESERVED).ok());
    ASSERT_OK(choose_info_gpa(m, 0x1000, nullptr, 0, gpa));
    EXPECT_EQ(gpa, 0xFFFF8000ull);
    EXPECT_ERR(choose_info_gpa(m, 0x10000, nullptr, 0, gpa), "no room", "memory map");
}

TEST(Mb2GuestEntry, I386MachineState) {
    evmm_gcpu_state_t s;
    std::memset(&s, 0xAB, sizeof s);
    mb2_guest_entry_state(s, 0x100010, 0x104000);
    EXPECT_EQ(s.gp[EVMM_GP_RAX], MB2_BOOTLOADER_MAGIC_VALUE);
    EXPECT_EQ(s.gp[EVMM_GP_RBX], 0x104000u);
    EXPECT_EQ(s.rip, 0x100010u);
    EXPECT_EQ(s.cr0 & 1, 1u);             // PE
    EXPECT_EQ(s.cr0 & (1ull << 31), 0u);  // PG
    EXPECT_EQ(s.rflags & (1u << 9), 0u);  // IF
    EXPECT_EQ(s.rflags & (1u << 17), 0u); // VM
    EXPECT_EQ(s.efer, 0u);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].base, 0u);
    EXPECT_EQ(s.seg[EVMM_SEG_CS].limit, 0xFFFFFFFFu);
    EXPECT_NE(s.seg[EVMM_SEG_CS].attributes & (1u << 14), 0u); // D/B: 32-bit code
    EXPECT_EQ(s.seg[EVMM_SEG_SS].limit, 0xFFFFFFFFu);
}

// ---------------------------------------------------------------------------------------------------------------
// End to end, and robustness

TEST(Mb2GuestEndToEnd, Elf64KernelBootsWithInfo) {
    const auto img = elf64_kernel(HeaderBuilder().info_request(0, {1, 3, 6, 14, 15}).tag(HT_MODALIGN, 0, {}).build());
    TestDesc t;
    BufMem mem;
    GuestMap gm;
    Mb2KernelHeader h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));

    // Forbidden: every module (guest0's own file included).
    NamedRange forbidden[EVMM_MAX_BOOT_MODULES];
    MemoryMap::Range avoid[EVMM_MAX_BOOT_MODULES + KERNEL_MAX_SEGMENTS];
    u32 nf = 0, na = 0;
    for (u32 i = 0; i < t.d.boot_module_count; ++i) {
        forbidden[nf++] = {t.d.boot_modules[i].start, t.d.boot_modules[i].size, t.d.boot_modules[i].role};
        avoid[na++] = {t.d.boot_modules[i].start, t.d.boot_modules[i].size};
    }
    ASSERT_OK(kernel_load(img.data(), img.size(), p, mem, gm.map, forbidden, nf));
    avoid[na++] = {p.span_base, p.span_end - p.span_base}; // the whole span, gaps included (GRUB reserves it too)

    const auto rsdp = rsdp_bytes(2);
    BootInfoInputs in;
    boot_info_inputs_from_desc(t.d, in);
    mb2_info_inputs_apply_kernel(h, p, in);
    in.rsdp = rsdp.data();
    in.rsdp_len = ACPI_RSDP_V2_SIZE;
    u64 size = 0, gpa = 0, written = 0;
    ASSERT_OK(mb2_guest_info_size(in, size));
    ASSERT_OK(choose_info_gpa(gm.map, size, avoid, na, gpa));
    EXPECT_EQ(gpa, KERNEL_BASE + 0x5000u);
    ASSERT_OK(mb2_build_guest_info(in, mem, gpa, size, written));
    evmm_gcpu_state_t s;
    mb2_guest_entry_state(s, p.entry, static_cast<u32>(gpa));
    EXPECT_EQ(s.rip, KERNEL_BASE + 0x10u);
    EXPECT_EQ(s.gp[EVMM_GP_RBX], gpa);

    Mb2Info info;
    ASSERT_OK(mb2_parse(mem.buf.data() + s.gp[EVMM_GP_RBX], written, info));
    EXPECT_EQ(info.module_count, 2u);
    // The kernel bytes are intact after the information was written.
    for (u64 i = 0; i < 0x800; ++i) ASSERT_EQ(mem.buf[KERNEL_BASE + i], pattern(0x1000 + i)) << i;
}

// Every truncation and many single-byte corruptions of a kernel: errors, never a read out of bounds (ASan).
TEST(Mb2GuestRobustness, TruncatedAndCorruptedImages) {
    const std::vector<std::vector<u8>> kernels = {
        elf32_kernel(), elf64_kernel(), aout_kernel(AOUT_BASE, AOUT_BASE + 0x1000, AOUT_BASE + 0x2000),
        elf32_kernel(
            HeaderBuilder().info_request(0, {1, 2}).tag(HT_RELOC, OPTIONAL, {1, 2, 3, 4}).entry(KERNEL_BASE).build())};
    GuestMap gm;
    BufMem mem;
    for (const auto& k : kernels) {
        for (size_t len = 0; len <= k.size(); len += (len < 0x400 ? 1 : 61)) {
            std::vector<u8> cut(k.begin(), k.begin() + static_cast<std::ptrdiff_t>(len));
            cut.shrink_to_fit();
            Mb2KernelHeader h;
            KernelPlan p;
            if (find_and_plan(cut, h, p).ok()) (void)kernel_load(cut.data(), cut.size(), p, mem, gm.map, nullptr, 0);
        }
        u32 rng = 12345;
        for (int round = 0; round < 3000; ++round) {
            std::vector<u8> bad = k;
            rng = rng * 1103515245u + 12345u;
            const size_t at = (rng >> 8) % (HDR_OFFSET + 0x80 < bad.size() ? HDR_OFFSET + 0x80 : bad.size());
            rng = rng * 1103515245u + 12345u;
            bad[at] = static_cast<u8>(rng >> 16);
            Mb2KernelHeader h;
            KernelPlan p;
            if (find_and_plan(bad, h, p).ok()) (void)kernel_load(bad.data(), bad.size(), p, mem, gm.map, nullptr, 0);
        }
    }
}

} // namespace
} // namespace evmm
