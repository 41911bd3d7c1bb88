// Unit tests for vmm/guest/boot/multiboot1_guest: evmm as guest0's Multiboot (version 1) boot loader. Tiny ELF32,
// ELF64 and a.out-kludge kernels are built in memory; loading goes through the shared kernel_load; the information
// structure is read back at the specification's offsets. Runs under ASan/UBSan: a read past an image fails.
#include "vmm/guest/boot/multiboot1_guest.h"

#include "lib/formats/elf.h"
#include "lib/formats/multiboot2.h" // MB2_HEADER_MAGIC_VALUE: a Multiboot2 header is not a Multiboot1 one

#include <gtest/gtest.h>

#include "tests/unit/status_expect.h"

#include <cstring>
#include <string>
#include <vector>

namespace evmm {
namespace {

using test::str;

// ---------------------------------------------------------------------------------------------------------------
// Builders

void put32(std::vector<u8>& b, size_t at, u32 v) {
    if (b.size() < at + 4) b.resize(at + 4, 0);
    std::memcpy(b.data() + at, &v, 4);
}
u32 get32(const u8* p) {
    u32 v;
    std::memcpy(&v, p, 4);
    return v;
}
u64 get64(const u8* p) {
    u64 v;
    std::memcpy(&v, p, 8);
    return v;
}

// Content byte of the test images at file offset `off`: recognizable, never zero.
u8 pattern(u64 off) { return static_cast<u8>((off * 7 + 1) | 1); }

struct AddrFields {
    u32 header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

// A Multiboot header: magic, flags, checksum (+ delta), then the address fields when given (flags bit 16 is the
// caller's), then video fields when `video`.
std::vector<u8> mb1_header(u32 flags, const AddrFields* a = nullptr, bool video = false, u32 checksum_delta = 0) {
    std::vector<u8> h;
    put32(h, 0, MB1_HEADER_MAGIC_VALUE);
    put32(h, 4, flags);
    put32(h, 8, static_cast<u32>(0u - (MB1_HEADER_MAGIC_VALUE + flags)) + checksum_delta);
    if (a != nullptr || video) {
        const AddrFields z = a != nullptr ? *a : AddrFields{0, 0, 0, 0, 0};
        put32(h, 12, z.header_addr);
        put32(h, 16, z.load_addr);
        put32(h, 20, z.load_end_addr);
        put32(h, 24, z.bss_end_addr);
        put32(h, 28, z.entry_addr);
    }
    if (video) {
        put32(h, 32, 1);  // EGA text
        put32(h, 36, 80); // columns
        put32(h, 40, 25); // rows
        put32(h, 44, 0);  // depth (text)
    }
    return h;
}

// A raw image of pattern bytes with `hdr` at `at`.
std::vector<u8> image_with(const std::vector<u8>& hdr, size_t at, size_t file_size = 0x3000) {
    std::vector<u8> f(file_size);
    for (size_t i = 0; i < f.size(); ++i) f[i] = pattern(i);
    if (f.size() < at + hdr.size()) f.resize(at + hdr.size(), 0);
    std::memcpy(f.data() + at, hdr.data(), hdr.size());
    return f;
}

struct SegSpec {
    u64 offset, vaddr, paddr, filesz, memsz;
    u32 type = PT_LOAD;
};

constexpr size_t HDR_OFFSET = 0x200; // where the test ELF images carry their Multiboot header
constexpr u32 KERNEL_BASE = 0x100000;
constexpr u32 HIGH = 0xC0000000;
constexpr u64 HIGH64 = 0xFFFFFFFF80000000; // an x86-64 kernel's higher half (-2 GiB)
constexpr u16 EM_AARCH64 = 183;            // ELF64 for another machine

// An ELF image of class Ehdr/Phdr (ELF32 or ELF64) with the given program headers and the Multiboot header at
// HDR_OFFSET. Values are narrowed to the class's field widths.
template <typename Ehdr, typename Phdr>
std::vector<u8> make_elf(u8 elf_class, const std::vector<SegSpec>& segs, u64 entry, const std::vector<u8>& mb1,
                         u16 machine, size_t file_size) {
    std::vector<u8> f = image_with(mb1, HDR_OFFSET, file_size);
    Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, 4);
    eh.e_ident[EI_CLASS] = elf_class;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = static_cast<decltype(eh.e_entry)>(entry);
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Phdr);
    eh.e_phnum = static_cast<u16>(segs.size());
    std::memcpy(f.data(), &eh, sizeof eh);
    for (size_t i = 0; i < segs.size(); ++i) {
        Phdr p{};
        p.p_type = segs[i].type;
        p.p_flags = PF_R | PF_W | PF_X;
        p.p_offset = static_cast<decltype(p.p_offset)>(segs[i].offset);
        p.p_vaddr = static_cast<decltype(p.p_vaddr)>(segs[i].vaddr);
        p.p_paddr = static_cast<decltype(p.p_paddr)>(segs[i].paddr);
        p.p_filesz = static_cast<decltype(p.p_filesz)>(segs[i].filesz);
        p.p_memsz = static_cast<decltype(p.p_memsz)>(segs[i].memsz);
        p.p_align = PAGE_SIZE;
        std::memcpy(f.data() + sizeof eh + i * sizeof p, &p, sizeof p);
    }
    return f;
}
std::vector<u8> make_elf32(const std::vector<SegSpec>& segs, u32 entry, const std::vector<u8>& mb1,
                           u16 machine = EM_386, size_t file_size = 0x3000) {
    return make_elf<Elf32_Ehdr, Elf32_Phdr>(ELFCLASS32, segs, entry, mb1, machine, file_size);
}
std::vector<u8> make_elf64(const std::vector<SegSpec>& segs, u64 entry, const std::vector<u8>& mb1,
                           u16 machine = EM_X86_64, size_t file_size = 0x3000) {
    return make_elf<Elf64_Ehdr, Elf64_Phdr>(ELFCLASS64, segs, entry, mb1, machine, file_size);
}

// Text at 1 MiB (file 0x1000, 0x800 bytes), data + bss at 1 MiB + 8 KiB (file 0x2000, 0x100 bytes, 0x3000 in
// memory). Higher-half virtual addresses: e_entry 0xC0100010 runs at physical 0x100010.
std::vector<SegSpec> two_segments() {
    return {{0x1000, HIGH + KERNEL_BASE, KERNEL_BASE, 0x800, 0x800},
            {0x2000, HIGH + KERNEL_BASE + 0x2000, KERNEL_BASE + 0x2000, 0x100, 0x3000}};
}
std::vector<u8> elf32_kernel(u32 flags = MB1_FLAG_PAGE_ALIGN_MODULES | MB1_FLAG_MEMORY_INFO) {
    return make_elf32(two_segments(), HIGH + KERNEL_BASE + 0x10, mb1_header(flags));
}

// The same layout as an ELF64 (EM_X86_64) kernel without address fields, as hobby x86-64 kernels are linked: a
// 32-bit boot segment identity-mapped (p_vaddr == p_paddr, e_entry 0x100010 in it), the 64-bit rest in the higher
// half (p_vaddr HIGH64 + p_paddr). Planned and loaded exactly as elf32_kernel().
std::vector<SegSpec> two_segments64() {
    return {{0x1000, KERNEL_BASE, KERNEL_BASE, 0x800, 0x800},
            {0x2000, HIGH64 + KERNEL_BASE + 0x2000, KERNEL_BASE + 0x2000, 0x100, 0x3000}};
}
std::vector<u8> elf64_kernel(u64 entry = KERNEL_BASE + 0x10) {
    return make_elf64(two_segments64(), entry, mb1_header(MB1_FLAG_PAGE_ALIGN_MODULES | MB1_FLAG_MEMORY_INFO));
}

// a.out kludge: a raw image with its Multiboot header at file offset 0x40, linked to run at 2 MiB.
constexpr u32 AOUT_BASE = 0x200000;
constexpr size_t AOUT_HDR_OFFSET = 0x40;
constexpr size_t AOUT_FILE_SIZE = 0x1800;
std::vector<u8> aout_kernel(u32 load_addr, u32 load_end, u32 bss_end, u32 entry = AOUT_BASE + 0x100,
                            u32 header_addr = AOUT_BASE + AOUT_HDR_OFFSET) {
    const AddrFields a{header_addr, load_addr, load_end, bss_end, entry};
    return image_with(mb1_header(MB1_FLAG_ADDRESS_FIELDS | MB1_FLAG_MEMORY_INFO, &a), AOUT_HDR_OFFSET, AOUT_FILE_SIZE);
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

// guest0's memory map: low RAM, the legacy hole, RAM from 1 MiB to 8 MiB, ACPI tables, RAM above 4 GiB.
struct GuestMap {
    evmm_mmap_entry_t storage[16];
    MemoryMap map{storage, 16};
    GuestMap() {
        EXPECT_TRUE(map.add(0, 0x9F000, EVMM_MEM_USABLE).ok());
        EXPECT_TRUE(map.add(0x9F000, 0x61000, EVMM_MEM_RESERVED).ok());
        EXPECT_TRUE(map.add(1 * MiB, GUEST_RAM - 1 * MiB, EVMM_MEM_USABLE).ok());
        EXPECT_TRUE(map.add(GUEST_RAM, 0x10000, EVMM_MEM_ACPI_RECLAIMABLE).ok());
        EXPECT_TRUE(map.add(4 * GiB, 1 * GiB, EVMM_MEM_USABLE).ok());
    }
};

Status find_and_plan(const std::vector<u8>& img, Mb1Header& h, KernelPlan& p) {
    EVMM_TRY(mb1_find_header(img.data(), img.size(), h));
    return mb1_plan(img.data(), img.size(), h, p);
}

// ---------------------------------------------------------------------------------------------------------------
// Header

TEST(Mb1GuestHeader, FindsElfKernelHeader) {
    const auto img = elf32_kernel();
    Mb1Header h;
    ASSERT_OK(mb1_find_header(img.data(), img.size(), h));
    EXPECT_EQ(h.offset, HDR_OFFSET);
    EXPECT_EQ(h.header_length, 12u);
    EXPECT_EQ(h.flags, 3u);
    EXPECT_TRUE(h.modules_page_aligned);
    EXPECT_TRUE(h.memory_info);
    EXPECT_FALSE(h.video_mode_requested);
    EXPECT_FALSE(h.has_address);
}

TEST(Mb1GuestHeader, AddressFields) {
    const auto img = aout_kernel(AOUT_BASE, AOUT_BASE + 0x1000, AOUT_BASE + 0x3000);
    Mb1Header h;
    ASSERT_OK(mb1_find_header(img.data(), img.size(), h));
    EXPECT_EQ(h.offset, AOUT_HDR_OFFSET);
    EXPECT_EQ(h.header_length, 32u);
    EXPECT_TRUE(h.has_address);
    EXPECT_EQ(h.header_addr, AOUT_BASE + AOUT_HDR_OFFSET);
    EXPECT_EQ(h.load_addr, AOUT_BASE);
    EXPECT_EQ(h.load_end_addr, AOUT_BASE + 0x1000);
    EXPECT_EQ(h.bss_end_addr, AOUT_BASE + 0x3000);
    EXPECT_EQ(h.entry_addr, AOUT_BASE + 0x100);
}

TEST(Mb1GuestHeader, VideoModeBitIsAcceptedAndRecorded) {
    const auto img = image_with(mb1_header(MB1_FLAG_VIDEO_MODE, nullptr, true), 0x100);
    Mb1Header h;
    ASSERT_OK(mb1_find_header(img.data(), img.size(), h));
    EXPECT_TRUE(h.video_mode_requested);
    EXPECT_TRUE(h.has_video_fields);
    EXPECT_EQ(h.mode_type, 1u);
    EXPECT_EQ(h.width, 80u);
    EXPECT_EQ(h.height, 25u);
    EXPECT_FALSE(h.has_address); // bit 16 clear: the address fields are not valid
    // Graphics fields cut off by the end of the image: still accepted, fields not recorded.
    const auto shortimg = image_with(mb1_header(MB1_FLAG_VIDEO_MODE), 0, 16);
    ASSERT_OK(mb1_find_header(shortimg.data(), shortimg.size(), h));
    EXPECT_TRUE(h.video_mode_requested);
    EXPECT_FALSE(h.has_video_fields);
}

TEST(Mb1GuestHeader, NotFound) {
    std::vector<u8> none(0x3000, 0x5A);
    Mb1Header h;
    EXPECT_ERR(mb1_find_header(none.data(), none.size(), h), "no Multiboot header", "header magic");
    EXPECT_ERR(mb1_find_header(nullptr, 0, h), "empty", "Multiboot header");
    EXPECT_ERR(mb1_find_header(none.data(), 0, h), "empty", "Multiboot header");
    // Not 4-byte aligned.
    const auto mis = image_with(mb1_header(0), 0x202);
    EXPECT_ERR(mb1_find_header(mis.data(), mis.size(), h), "no Multiboot header", "header magic");
    // A Multiboot2 header is not a Multiboot1 header.
    std::vector<u8> mb2(0x100, 0);
    put32(mb2, 0x40, MB2_HEADER_MAGIC_VALUE);
    EXPECT_ERR(mb1_find_header(mb2.data(), mb2.size(), h), "no Multiboot header", "header magic");
}

TEST(Mb1GuestHeader, MustLieWithinTheFirst8KiB) {
    Mb1Header h;
    // Ends exactly at 8192: found.
    const auto last = image_with(mb1_header(0), 8192 - 12, 0x3000);
    ASSERT_OK(mb1_find_header(last.data(), last.size(), h));
    EXPECT_EQ(h.offset, 8192u - 12);
    // Crosses 8192, or starts at 8192: not found.
    const auto cross = image_with(mb1_header(0), 8192 - 8, 0x3000);
    EXPECT_ERR(mb1_find_header(cross.data(), cross.size(), h), "no Multiboot header", "header magic");
    const auto beyond = image_with(mb1_header(0), 8192, 0x3000);
    EXPECT_ERR(mb1_find_header(beyond.data(), beyond.size(), h), "no Multiboot header", "header magic");
    // Address fields (flags bit 16) past 8192.
    const AddrFields a{0x100000, 0x100000, 0, 0, 0x100000};
    const auto addr = image_with(mb1_header(MB1_FLAG_ADDRESS_FIELDS, &a), 8192 - 16, 0x3000);
    EXPECT_ERR(mb1_find_header(addr.data(), addr.size(), h), "address fields", "header flags");
    // ... or past the end of the image.
    auto trunc = image_with(mb1_header(MB1_FLAG_ADDRESS_FIELDS, &a), 0x100, 0);
    trunc.resize(0x100 + 20);
    EXPECT_ERR(mb1_find_header(trunc.data(), trunc.size(), h), "address fields", "header flags");
    // A header in the last bytes of a short image.
    const auto tiny = mb1_header(0);
    ASSERT_OK(mb1_find_header(tiny.data(), tiny.size(), h));
    EXPECT_ERR(mb1_find_header(tiny.data(), tiny.size() - 1, h), "no Multiboot header", "header magic");
}

TEST(Mb1GuestHeader, BadChecksum) {
    const auto img = image_with(mb1_header(3, nullptr, false, 1), 0x100);
    Mb1Header h;
    const Status s = mb1_find_header(img.data(), img.size(), h);
    EXPECT_ERR(s, "checksum", "header checksum");
    EXPECT_EQ(s.value, 0x100u);
    // A bad candidate followed by a good header: the good one wins.
    auto two = image_with(mb1_header(3, nullptr, false, 1), 0x100);
    const auto good = mb1_header(1);
    std::memcpy(two.data() + 0x180, good.data(), good.size());
    ASSERT_OK(mb1_find_header(two.data(), two.size(), h));
    EXPECT_EQ(h.offset, 0x180u);
    EXPECT_EQ(h.flags, 1u);
}

TEST(Mb1GuestHeader, UnknownRequiredFlagBits) {
    Mb1Header h;
    for (unsigned b = 3; b < 16; ++b) {
        const auto img = image_with(mb1_header(1u << b | MB1_FLAG_MEMORY_INFO), 0x100);
        const Status s = mb1_find_header(img.data(), img.size(), h);
        EXPECT_ERR(s, "does not understand", "header flags");
        EXPECT_EQ(s.value, u64{1} << b);
        EXPECT_EQ(s.value2, 0x100u);
    }
    // Bits 17-31 are optional: ignored.
    const auto opt = image_with(mb1_header(0xFFFE0000u | 3), 0x100);
    ASSERT_OK(mb1_find_header(opt.data(), opt.size(), h));
    EXPECT_FALSE(h.has_address);
}

// ---------------------------------------------------------------------------------------------------------------
// Plan

TEST(Mb1GuestPlan, Elf32SegmentsAndEntryTranslatedToPhysical) {
    const auto img = elf32_kernel();
    Mb1Header h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    EXPECT_EQ(p.format, KernelImageFormat::Elf32);
    ASSERT_EQ(p.segment_count, 2u);
    EXPECT_EQ(p.segments[0].gpa, KERNEL_BASE);
    EXPECT_EQ(p.segments[0].file_offset, 0x1000u);
    EXPECT_EQ(p.segments[0].filesz, 0x800u);
    EXPECT_EQ(p.segments[1].gpa, KERNEL_BASE + 0x2000u);
    EXPECT_EQ(p.segments[1].memsz, 0x3000u);
    EXPECT_EQ(p.entry, KERNEL_BASE + 0x10);
    EXPECT_FALSE(p.entry_from_tag);
    EXPECT_EQ(p.span_base, KERNEL_BASE);
    EXPECT_EQ(p.span_end, KERNEL_BASE + 0x5000u);
}

// GRUB's `multiboot` loads ELF64 (EM_X86_64) kernels too (multiboot_elfxx.c), without address fields: PT_LOADs at
// p_paddr, e_entry translated to its physical address. elf64_kernel() is planned exactly as elf32_kernel().
TEST(Mb1GuestPlan, Elf64WithoutAddressFieldsPlannedLikeElf32) {
    Mb1Header h32, h64;
    KernelPlan p32, p64;
    ASSERT_OK(find_and_plan(elf32_kernel(), h32, p32));
    ASSERT_OK(find_and_plan(elf64_kernel(), h64, p64));
    EXPECT_FALSE(h64.has_address);
    EXPECT_EQ(p64.format, KernelImageFormat::Elf64);
    ASSERT_EQ(p64.segment_count, p32.segment_count);
    for (u32 i = 0; i < p32.segment_count; ++i) {
        const KernelSegment &a = p64.segments[i], &b = p32.segments[i];
        EXPECT_TRUE(a.gpa == b.gpa && a.file_offset == b.file_offset && a.filesz == b.filesz && a.memsz == b.memsz)
            << "segment " << i << " at 0x" << std::hex << a.gpa;
    }
    EXPECT_EQ(p64.entry, p32.entry);
    EXPECT_FALSE(p64.entry_from_tag);
    EXPECT_EQ(p64.span_base, p32.span_base);
    EXPECT_EQ(p64.span_end, p32.span_end);

    // A higher-half e_entry runs at the physical address of the same byte, as GRUB translates it.
    ASSERT_OK(find_and_plan(elf64_kernel(HIGH64 + KERNEL_BASE + 0x2010), h64, p64));
    EXPECT_EQ(p64.entry, KERNEL_BASE + 0x2010u);
}

TEST(Mb1GuestPlan, Elf64Errors) {
    Mb1Header h;
    KernelPlan p;
    const auto hdr = mb1_header(MB1_FLAG_MEMORY_INFO);
    // An entry above 4 GiB (unreachable in 32-bit protected mode): in no PT_LOAD, named with its value.
    const u64 entry_4g = 4 * GiB + KERNEL_BASE + 0x10;
    Status s = find_and_plan(elf64_kernel(entry_4g), h, p);
    EXPECT_ERR(s, "e_entry is not inside any PT_LOAD", "ELF e_entry");
    EXPECT_EQ(s.value, entry_4g);
    EXPECT_EQ(p.segment_count, 0u); // cleared on error
    // A segment at 4 GiB, and one crossing it.
    const auto above = make_elf64({{0x1000, 4 * GiB, 4 * GiB, 0x800, 0x800}}, 4 * GiB, hdr);
    EXPECT_ERR(find_and_plan(above, h, p), "4 GiB", "ELF p_paddr");
    const auto across = make_elf64({{0x1000, 0xFFFFF000, 0xFFFFF000, 0x800, 0x2000}}, 0xFFFFF000, hdr);
    EXPECT_ERR(find_and_plan(across, h, p), "4 GiB", "ELF p_paddr");
    // ELF64 for another machine, or with EM_386.
    s = find_and_plan(make_elf64(two_segments64(), KERNEL_BASE + 0x10, hdr, EM_AARCH64), h, p);
    EXPECT_ERR(s, "EM_X86_64", "ELF e_machine");
    EXPECT_EQ(s.value, EM_AARCH64);
    EXPECT_ERR(find_and_plan(make_elf64(two_segments64(), KERNEL_BASE + 0x10, hdr, EM_386), h, p), "EM_X86_64",
               "ELF e_machine");
    // Neither ELF class.
    auto noclass = elf64_kernel();
    noclass[EI_CLASS] = 3;
    EXPECT_ERR(find_and_plan(noclass, h, p), "ELF class", "EI_CLASS");
}

TEST(Mb1GuestPlan, ElfErrors) {
    Mb1Header h;
    KernelPlan p;
    // Not ELF and no address fields.
    const auto raw = image_with(mb1_header(0), 0x100);
    EXPECT_ERR(find_and_plan(raw, h, p), "not ELF", "ELF e_ident");
    // ELF32 for another machine.
    const auto x64 = make_elf32(two_segments(), HIGH + KERNEL_BASE, mb1_header(0), EM_X86_64);
    EXPECT_ERR(find_and_plan(x64, h, p), "EM_386", "e_machine");
    // Entry outside every segment.
    const auto badentry = make_elf32(two_segments(), HIGH + 0x10, mb1_header(0));
    EXPECT_ERR(find_and_plan(badentry, h, p), "e_entry", "e_entry");
    EXPECT_EQ(p.segment_count, 0u); // cleared on error
    // Segment above 4 GiB.
    const auto high = make_elf32({{0x1000, 0xFFFFF000, 0xFFFFF000, 0x800, 0x2000}}, 0xFFFFF000, mb1_header(0));
    EXPECT_ERR(find_and_plan(high, h, p), "4 GiB", "p_paddr");
    // A header that belongs to another image.
    const auto img = elf32_kernel();
    ASSERT_OK(mb1_find_header(img.data(), img.size(), h));
    EXPECT_ERR(mb1_plan(raw.data(), raw.size(), h, p), "does not belong", "Multiboot header");
    EXPECT_ERR(mb1_plan(img.data(), 0x100, h, p), "does not belong", "Multiboot header");
}

TEST(Mb1GuestPlan, AoutKludge) {
    // Load from file offset 0x20 (header_addr - load_addr = 0x20 below the header), 0x800 file bytes, bss to 8 KiB.
    const auto img = aout_kernel(AOUT_BASE + 0x20, AOUT_BASE + 0x800, AOUT_BASE + 0x2000);
    Mb1Header h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    EXPECT_EQ(p.format, KernelImageFormat::AoutKludge);
    ASSERT_EQ(p.segment_count, 1u);
    EXPECT_EQ(p.segments[0].gpa, AOUT_BASE + 0x20u);
    EXPECT_EQ(p.segments[0].file_offset, 0x20u);
    EXPECT_EQ(p.segments[0].filesz, 0x7E0u);
    EXPECT_EQ(p.segments[0].memsz, 0x1FE0u);
    EXPECT_EQ(p.entry, AOUT_BASE + 0x100u);

    // load_end_addr 0: the rest of the file; bss_end_addr 0: no bss.
    const auto whole = aout_kernel(AOUT_BASE, 0, 0);
    ASSERT_OK(find_and_plan(whole, h, p));
    EXPECT_EQ(p.segments[0].file_offset, 0u);
    EXPECT_EQ(p.segments[0].filesz, AOUT_FILE_SIZE);
    EXPECT_EQ(p.segments[0].memsz, AOUT_FILE_SIZE);

    // Bit 16 wins over ELF headers.
    const AddrFields a{KERNEL_BASE + u32{HDR_OFFSET}, KERNEL_BASE, 0, 0, KERNEL_BASE + 0x10};
    const auto both = make_elf32(two_segments(), HIGH + KERNEL_BASE + 0x10, mb1_header(MB1_FLAG_ADDRESS_FIELDS, &a));
    ASSERT_OK(find_and_plan(both, h, p));
    EXPECT_EQ(p.format, KernelImageFormat::AoutKludge);
    EXPECT_EQ(p.segments[0].gpa, KERNEL_BASE);
}

TEST(Mb1GuestPlan, AoutKludgeErrorsUseMultibootWording) {
    Mb1Header h;
    KernelPlan p;
    // load_addr above header_addr (includes 0xFFFFFFFF, which means something else only in Multiboot2).
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE + 0x100, 0, 0), h, p), "above header_addr",
               "Multiboot header load_addr");
    EXPECT_ERR(find_and_plan(aout_kernel(0xFFFFFFFF, 0, 0), h, p), "above header_addr", "Multiboot header load_addr");
    // header_addr - load_addr larger than the header's file offset.
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE - 0x1000, 0, 0), h, p), "file offset", "Multiboot header load_addr");
    // load_end_addr below load_addr / past the end of the file.
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, AOUT_BASE - 1, 0), h, p), "below load_addr",
               "Multiboot header load_end_addr");
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, AOUT_BASE + 0x10000, 0), h, p), "past the end",
               "Multiboot header load_end_addr");
    // bss_end_addr below load_end_addr.
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, AOUT_BASE + 0x800, AOUT_BASE + 0x400), h, p), "below load_end_addr",
               "Multiboot header bss_end_addr");
    // entry_addr outside the loaded range.
    EXPECT_ERR(find_and_plan(aout_kernel(AOUT_BASE, 0, 0, AOUT_BASE + 0x10000), h, p), "entry point",
               "Multiboot header entry_addr");
    // Above 4 GiB.
    EXPECT_ERR(find_and_plan(aout_kernel(0xFFFFF000, 0, 0, 0xFFFFF000, 0xFFFFF000 + AOUT_HDR_OFFSET), h, p), "4 GiB",
               "Multiboot header load_addr");
}

// ---------------------------------------------------------------------------------------------------------------
// Load (the shared kernel_load with a Multiboot1 plan)

// The segments of elf32_kernel() or elf64_kernel() copied to their p_paddr, bss zeroed, nothing else touched.
void expect_segments_copied(const std::vector<u8>& img) {
    Mb1Header h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    GuestMap gm;
    ASSERT_OK(kernel_load(img.data(), img.size(), p, mem, gm.map, nullptr, 0));
    for (u64 i = 0; i < 0x800; ++i) ASSERT_EQ(mem.buf[KERNEL_BASE + i], pattern(0x1000 + i)) << i;
    EXPECT_EQ(mem.buf[KERNEL_BASE + 0x800], 0xCC);
    for (u64 i = 0; i < 0x100; ++i) ASSERT_EQ(mem.buf[KERNEL_BASE + 0x2000 + i], pattern(0x2000 + i)) << i;
    for (u64 i = 0x100; i < 0x3000; ++i) ASSERT_EQ(mem.buf[KERNEL_BASE + 0x2000 + i], 0) << "bss byte " << i;
    EXPECT_EQ(mem.buf[KERNEL_BASE + 0x5000], 0xCC);
}

TEST(Mb1GuestLoad, CopiesSegmentsAndZeroesBss) { expect_segments_copied(elf32_kernel()); }
TEST(Mb1GuestLoad, Elf64CopiesSegmentsToPaddrAndZeroesBss) { expect_segments_copied(elf64_kernel()); }

TEST(Mb1GuestLoad, AoutKludgeHeaderLandsAtHeaderAddr) {
    const auto img = aout_kernel(AOUT_BASE + 0x20, AOUT_BASE + 0x800, AOUT_BASE + 0x2000);
    Mb1Header h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    GuestMap gm;
    ASSERT_OK(kernel_load(img.data(), img.size(), p, mem, gm.map, nullptr, 0));
    EXPECT_EQ(mem.buf[AOUT_BASE + 0x1F], 0xCC);
    EXPECT_EQ(get32(mem.buf.data() + AOUT_BASE + AOUT_HDR_OFFSET), MB1_HEADER_MAGIC_VALUE);
    for (u64 i = 0x800; i < 0x2000; ++i) ASSERT_EQ(mem.buf[AOUT_BASE + i], 0) << i;
}

TEST(Mb1GuestLoad, OutsideUsableRamAndForbiddenOverlap) {
    const auto img = elf32_kernel();
    Mb1Header h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    evmm_mmap_entry_t st[4];
    MemoryMap small(st, 4);
    ASSERT_TRUE(small.add(1 * MiB, 0x3000, EVMM_MEM_USABLE).ok());
    KernelLoadDiag d;
    EXPECT_ERR(kernel_load(img.data(), img.size(), p, mem, small, nullptr, 0, &d), "not inside usable RAM",
               "memory map");
    EXPECT_EQ(d.segment, 1u);
    EXPECT_EQ(mem.buf[KERNEL_BASE], 0xCC); // nothing written

    GuestMap gm;
    const NamedRange forbidden[] = {{KERNEL_BASE + 0x4000, 0x2000, "module 2 (initrd)"}};
    const Status s = kernel_load(img.data(), img.size(), p, mem, gm.map, forbidden, 1, &d);
    EXPECT_ERR(s, "must not be loaded over", "module 2 (initrd)");
    EXPECT_STREQ(d.message, "segment 1 at 0x102000-0x105000 overlaps module 2 (initrd) at 0x104000-0x106000");
    EXPECT_EQ(mem.buf[KERNEL_BASE], 0xCC);
}

// ---------------------------------------------------------------------------------------------------------------
// Boot information

struct Modules {
    evmm_boot_module_t m[3] = {};
    Modules() {
        m[0].start = 0x400000, m[0].size = 0x3000; // guest0 itself: skipped
        std::strcpy(m[0].role, "guest0");
        std::strcpy(m[0].cmdline, "console=ttyS0 quiet");
        m[1].start = 0x500000, m[1].size = 0x1234;
        std::strcpy(m[1].role, "initrd");
        std::strcpy(m[1].cmdline, "root=/dev/ram0");
        m[2].start = 0x600000, m[2].size = 0x800;
        std::strcpy(m[2].role, "blob");
    }
};

BootInfoInputs inputs(const GuestMap& gm, const Modules& mods) {
    BootInfoInputs in;
    in.cmdline = mods.m[0].cmdline;
    in.cmdline_len = sizeof mods.m[0].cmdline;
    in.mmap = gm.map.entries();
    in.mmap_count = gm.map.count();
    in.modules = mods.m;
    in.module_count = 3;
    in.skip_module = 0;
    return in;
}

std::string cstr_at(const BufMem& mem, u32 gpa) {
    std::string s;
    for (u64 a = gpa; a < mem.buf.size() && mem.buf[a] != 0; ++a) s.push_back(static_cast<char>(mem.buf[a]));
    return s;
}

// guest0's longest command line (2047 characters) and a module's arrive whole; the information grows to hold them.
TEST(Mb1GuestInfo, LongestCommandLinesArriveWhole) {
    GuestMap gm;
    Modules mods;
    std::string g0, mod;
    for (u32 i = 0; i < EVMM_BOOT_MODULE_CMDLINE_MAX - 1; ++i) {
        g0 += static_cast<char>('a' + i % 26);
        mod += static_cast<char>('0' + i % 10);
    }
    std::memcpy(mods.m[0].cmdline, g0.c_str(), g0.size() + 1);
    std::memcpy(mods.m[1].cmdline, mod.c_str(), mod.size() + 1);
    const BootInfoInputs in = inputs(gm, mods);
    BufMem mem;
    constexpr u64 GPA = 0x7000;
    u64 size = 0, written = 0;
    ASSERT_OK(mb1_info_size(in, size));
    EXPECT_GT(size, 2 * 2047u);
    ASSERT_OK(mb1_build_info(in, mem, GPA, size, written));
    const u8* b = mem.buf.data() + GPA;
    EXPECT_EQ(cstr_at(mem, get32(b + 16)), g0);
    EXPECT_EQ(cstr_at(mem, get32(mem.buf.data() + get32(b + 24) + 8)), "initrd " + mod);
}

TEST(Mb1GuestInfo, FieldsAtTheirSpecOffsets) {
    GuestMap gm;
    Modules mods;
    const BootInfoInputs in = inputs(gm, mods);
    BufMem mem;
    constexpr u64 GPA = 0x7000;
    u64 size = 0, written = 0;
    ASSERT_OK(mb1_info_size(in, size));
    EXPECT_EQ(size % 8, 0u);
    ASSERT_OK(mb1_build_info(in, mem, GPA, size, written));
    EXPECT_EQ(written, size);
    const u8* b = mem.buf.data() + GPA;
    EXPECT_EQ(mem.buf[GPA + size], 0xCC); // nothing written past the area

    EXPECT_EQ(get32(b + 0), (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9)); // flags
    EXPECT_EQ(get32(b + 4), 0x9F000u / 1024);                                           // mem_lower: 636 KiB
    EXPECT_EQ(get32(b + 8), (GUEST_RAM - 1 * MiB) / 1024);                              // mem_upper: to the hole
    EXPECT_EQ(get32(b + 12), 0u);                                                       // boot_device not given
    EXPECT_EQ(cstr_at(mem, get32(b + 16)), "console=ttyS0 quiet");                      // cmdline
    EXPECT_EQ(cstr_at(mem, get32(b + 64)), "evmm");                                     // boot_loader_name
    for (u64 off : {28, 32, 36, 40, 52, 56, 60, 68, 72, 76, 80, 84}) EXPECT_EQ(get32(b + off), 0u) << off;

    // Modules: guest0's own skipped.
    ASSERT_EQ(get32(b + 20), 2u);
    const u32 mods_addr = get32(b + 24);
    ASSERT_GE(mods_addr, GPA + MB1_INFO_STRUCT_SIZE);
    ASSERT_LE(mods_addr + 2 * 16, GPA + size);
    const u8* m = mem.buf.data() + mods_addr;
    EXPECT_EQ(get32(m + 0), 0x500000u);
    EXPECT_EQ(get32(m + 4), 0x501234u);
    EXPECT_EQ(cstr_at(mem, get32(m + 8)), "initrd root=/dev/ram0");
    EXPECT_EQ(get32(m + 12), 0u);
    EXPECT_EQ(get32(m + 16), 0x600000u);
    EXPECT_EQ(get32(m + 20), 0x600800u);
    EXPECT_EQ(cstr_at(mem, get32(m + 24)), "blob");

    // Every pointer lies inside the area.
    for (u32 ptr : {get32(b + 16), get32(b + 64), get32(m + 8), get32(m + 24), get32(b + 48)}) {
        EXPECT_GE(ptr, GPA + MB1_INFO_STRUCT_SIZE);
        EXPECT_LT(ptr, GPA + size);
    }

    // Memory map: walk by the size fields.
    const u32 mmap_len = get32(b + 44), mmap_addr = get32(b + 48);
    ASSERT_EQ(mmap_len, 5u * 24);
    ASSERT_LE(mmap_addr + mmap_len, GPA + size);
    struct E {
        u64 base, len;
        u32 type;
    };
    const E want[] = {{0, 0x9F000, 1},
                      {0x9F000, 0x61000, 2},
                      {1 * MiB, GUEST_RAM - 1 * MiB, 1},
                      {GUEST_RAM, 0x10000, 3},
                      {4 * GiB, 1 * GiB, 1}};
    u32 n = 0;
    for (u64 a = mmap_addr; a < u64{mmap_addr} + mmap_len; a += get32(mem.buf.data() + a) + 4, ++n) {
        const u8* e = mem.buf.data() + a;
        ASSERT_EQ(get32(e), 20u);
        ASSERT_LT(n, 5u);
        EXPECT_EQ(get64(e + 4), want[n].base) << n;
        EXPECT_EQ(get64(e + 12), want[n].len) << n;
        EXPECT_EQ(get32(e + 20), want[n].type) << n;
    }
    EXPECT_EQ(n, 5u);
}

TEST(Mb1GuestInfo, NoModulesNoCmdlineNoLoaderName) {
    GuestMap gm;
    BootInfoInputs in;
    in.mmap = gm.map.entries();
    in.mmap_count = gm.map.count();
    in.loader_name = nullptr;
    BufMem mem;
    u64 written = 0;
    ASSERT_OK(mb1_build_info(in, mem, 0x8000, 0x1000, written));
    const u8* b = mem.buf.data() + 0x8000;
    EXPECT_EQ(get32(b + 0), (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6));
    EXPECT_EQ(get32(b + 20), 0u);
    EXPECT_EQ(get32(b + 24), 0u);
    EXPECT_EQ(cstr_at(mem, get32(b + 16)), "");
    EXPECT_EQ(get32(b + 64), 0u);
    EXPECT_LE(written, 88u + 5 * 24 + 8);
}

TEST(Mb1GuestInfo, MemUpperStopsAtTheFirstHole) {
    evmm_mmap_entry_t st[8];
    MemoryMap m(st, 8);
    ASSERT_TRUE(m.add(0, 0x80000, EVMM_MEM_USABLE).ok());       // 512 KiB low
    ASSERT_TRUE(m.add(1 * MiB, 2 * MiB, EVMM_MEM_USABLE).ok()); // 1-3 MiB
    ASSERT_TRUE(m.add(3 * MiB, 1 * MiB, EVMM_MEM_USABLE).ok()); // touching: 1-4 MiB
    ASSERT_TRUE(m.add(5 * MiB, 3 * MiB, EVMM_MEM_USABLE).ok()); // after a hole
    BootInfoInputs in;
    in.mmap = m.entries();
    in.mmap_count = m.count();
    BufMem mem;
    u64 written = 0;
    ASSERT_OK(mb1_build_info(in, mem, 0x8000, 0x1000, written));
    EXPECT_EQ(get32(mem.buf.data() + 0x8000 + 4), 512u);
    EXPECT_EQ(get32(mem.buf.data() + 0x8000 + 8), 3u * 1024);
}

TEST(Mb1GuestInfo, Errors) {
    GuestMap gm;
    Modules mods;
    BootInfoInputs in = inputs(gm, mods);
    BufMem mem;
    u64 size = 0, written = 0;
    ASSERT_OK(mb1_info_size(in, size));
    // Cap too small.
    const Status s = mb1_build_info(in, mem, 0x8000, size - 1, written);
    EXPECT_ERR(s, "does not fit", "Multiboot information");
    EXPECT_EQ(s.value, size);
    EXPECT_EQ(s.value2, size - 1);
    EXPECT_EQ(written, 0u);
    EXPECT_EQ(mem.buf[0x8000], 0xCC);
    // Misaligned, above 4 GiB, not mappable.
    EXPECT_ERR(mb1_build_info(in, mem, 0x8002, 0x1000, written), "aligned", "Multiboot information");
    EXPECT_ERR(mb1_build_info(in, mem, 4 * GiB - 0x100, 0x1000, written), "4 GiB", "Multiboot information");
    EXPECT_ERR(mb1_build_info(in, mem, GUEST_RAM - 0x10, 0x1000, written), "not accessible", "Multiboot information");
    // Module not page aligned when the kernel's flags bit 0 asks for it.
    Mb1Header h;
    h.modules_page_aligned = true;
    mb1_info_inputs_apply_kernel(h, in);
    EXPECT_TRUE(in.require_page_aligned_modules);
    ASSERT_OK(mb1_build_info(in, mem, 0x8000, 0x1000, written));
    mods.m[2].start = 0x600010;
    EXPECT_ERR(mb1_build_info(in, mem, 0x8000, 0x1000, written), "page aligned", "module");
    // Module above 4 GiB.
    mods.m[2].start = 4 * GiB;
    in.require_page_aligned_modules = false;
    EXPECT_ERR(mb1_build_info(in, mem, 0x8000, 0x1000, written), "4 GiB", "module");
    // Empty map.
    BootInfoInputs empty;
    EXPECT_ERR(mb1_info_size(empty, size), "memory map", "Multiboot information");
}

TEST(Mb1GuestInfo, UnterminatedModuleStringsStayInBounds) {
    GuestMap gm;
    Modules mods;
    std::memset(mods.m[1].role, 'R', sizeof mods.m[1].role);
    std::memset(mods.m[1].cmdline, 'A', sizeof mods.m[1].cmdline);
    BootInfoInputs in = inputs(gm, mods);
    BufMem mem;
    u64 size = 0, written = 0;
    ASSERT_OK(mb1_info_size(in, size));
    ASSERT_OK(mb1_build_info(in, mem, 0x8000, size, written));
    const u8* m = mem.buf.data() + get32(mem.buf.data() + 0x8000 + 24);
    EXPECT_EQ(cstr_at(mem, get32(m + 8)),
              std::string(sizeof mods.m[1].role, 'R') + " " + std::string(sizeof mods.m[1].cmdline, 'A'));
}

// ---------------------------------------------------------------------------------------------------------------
// Entry state and end to end

TEST(Mb1GuestEntry, I386MachineState) {
    evmm_gcpu_state_t s;
    std::memset(&s, 0xAB, sizeof s);
    mb1_entry_state(s, 0x100010, 0x104000);
    EXPECT_EQ(s.gp[EVMM_GP_RAX], 0x2BADB002u);
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
    EXPECT_EQ(s.seg[EVMM_SEG_DS].limit, 0xFFFFFFFFu);
    EXPECT_EQ(s.seg[EVMM_SEG_SS].limit, 0xFFFFFFFFu);
}

// elf32_kernel() or elf64_kernel() loaded with its information: the same §3.2 state for either ELF class (32-bit
// protected mode, EIP = the physical entry, EAX = 0x2BADB002, EBX = the information).
void expect_boots_with_info(const std::vector<u8>& img) {
    Mb1Header h;
    KernelPlan p;
    ASSERT_OK(find_and_plan(img, h, p));
    BufMem mem;
    GuestMap gm;
    Modules mods;
    const NamedRange forbidden[] = {{0x400000, 0x3000, "guest0 kernel image"},
                                    {0x500000, 0x1234, "module 1 (initrd)"},
                                    {0x600000, 0x800, "module 2 (blob)"}};
    ASSERT_OK(kernel_load(img.data(), img.size(), p, mem, gm.map, forbidden, 3));
    BootInfoInputs in = inputs(gm, mods);
    mb1_info_inputs_apply_kernel(h, in);
    u64 size = 0, gpa = 0, written = 0;
    ASSERT_OK(mb1_info_size(in, size));
    const MemoryMap::Range avoid[] = {
        {p.span_base, p.span_end - p.span_base}, {0x400000, 0x3000}, {0x500000, 0x1234}, {0x600000, 0x800}};
    ASSERT_OK(choose_info_gpa(gm.map, size, avoid, 4, gpa));
    EXPECT_EQ(gpa, KERNEL_BASE + 0x5000u);
    ASSERT_OK(mb1_build_info(in, mem, gpa, size, written));
    evmm_gcpu_state_t s;
    mb1_entry_state(s, p.entry, static_cast<u32>(gpa));
    EXPECT_EQ(s.rip, KERNEL_BASE + 0x10u);
    EXPECT_EQ(s.gp[EVMM_GP_RAX], MB1_BOOTLOADER_MAGIC_VALUE);
    EXPECT_EQ(s.gp[EVMM_GP_RBX], gpa);
    EXPECT_EQ(s.efer, 0u);
    EXPECT_EQ(get32(mem.buf.data() + gpa + 20), 2u);
    EXPECT_EQ(mem.buf[KERNEL_BASE], pattern(0x1000));
}

TEST(Mb1GuestEndToEnd, Elf32KernelBootsWithInfo) { expect_boots_with_info(elf32_kernel()); }
TEST(Mb1GuestEndToEnd, Elf64KernelBootsWithInfo) { expect_boots_with_info(elf64_kernel()); }

TEST(Mb1GuestRobustness, TruncatedAndCorruptedImages) {
    const auto elf = elf32_kernel();
    const auto elf64 = elf64_kernel();
    const auto aout = aout_kernel(AOUT_BASE + 0x20, AOUT_BASE + 0x800, AOUT_BASE + 0x2000);
    for (const auto* full : {&elf, &elf64, &aout}) {
        for (size_t n = 0; n <= full->size(); n += (n < 0x300 ? 1 : 0x40)) {
            // An exact-size heap copy so ASan catches any read past the end.
            std::vector<u8> cut(full->begin(), full->begin() + static_cast<std::ptrdiff_t>(n));
            cut.shrink_to_fit();
            Mb1Header h;
            KernelPlan p;
            (void)find_and_plan(cut, h, p);
        }
        for (size_t i = 0; i < 0x260; ++i) {
            std::vector<u8> bad = *full;
            bad[i] ^= 0xFF;
            Mb1Header h;
            KernelPlan p;
            (void)find_and_plan(bad, h, p);
        }
    }
}

} // namespace
} // namespace evmm
