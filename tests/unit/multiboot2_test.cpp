// Unit tests for loader/multiboot2: well-formed BIOS- and UEFI-style boot information, and malformed input that
// must be rejected with an error naming the problem (run under ASan, so any read past the blob fails the test).
#include "lib/formats/multiboot2.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace evmm;

namespace {

constexpr u32 T_END = 0, T_CMDLINE = 1, T_LOADER = 2, T_MODULE = 3, T_MEMINFO = 4, T_MMAP = 6, T_FB = 8, T_EFI32 = 11,
              T_EFI64 = 12, T_ACPI_OLD = 14, T_ACPI_NEW = 15, T_EFI_MMAP = 17, T_EFI_BS = 18, T_LOAD_BASE = 21;

// Builds a Multiboot2 information blob tag by tag (sizes filled in, tags padded to 8 bytes).
class Builder {
public:
    Builder() { put32(0), put32(0); } // total_size (patched by finish), reserved

    void put8(u8 v) { b_.push_back(v); }
    void put32(u32 v) {
        for (int i = 0; i < 4; ++i) put8(static_cast<u8>(v >> (8 * i)));
    }
    void put64(u64 v) { put32(static_cast<u32>(v)), put32(static_cast<u32>(v >> 32)); }
    void puts(const std::string& s, bool nul = true) {
        for (char c : s) put8(static_cast<u8>(c));
        if (nul) put8(0);
    }

    // Starts a tag; its size is patched by end(). Returns the tag's offset.
    size_t begin(u32 type) {
        pad();
        start_ = b_.size();
        put32(type);
        put32(0);
        return start_;
    }
    void end() { patch32(start_ + 4, static_cast<u32>(b_.size() - start_)); }
    // A tag with a forced size field (payload bytes as given).
    void raw_tag(u32 type, u32 size, size_t payload_bytes) {
        begin(type);
        for (size_t i = 0; i < payload_bytes; ++i) put8(0);
        patch32(start_ + 4, size);
    }

    void string_tag(u32 type, const std::string& s) { begin(type), puts(s), end(); }
    void module(u32 start, u32 end_, const std::string& cmdline) {
        begin(T_MODULE), put32(start), put32(end_), puts(cmdline), end();
    }
    struct MmapEntry {
        u64 base, length;
        u32 type;
    };
    void mmap(const std::vector<MmapEntry>& entries, u32 entry_size = 24) {
        begin(T_MMAP), put32(entry_size), put32(0);
        for (const MmapEntry& e : entries) {
            const size_t at = b_.size();
            put64(e.base), put64(e.length), put32(e.type), put32(0);
            while (b_.size() < at + entry_size) put8(0xee); // a larger entry_size: extra bytes after the fields
        }
        end();
    }
    void put16(u16 v) { put8(static_cast<u8>(v)), put8(static_cast<u8>(v >> 8)); }
    // §3.6.12 framebuffer info, GRUB 2's layout: the common part (a u16 reserved after the type), then the color
    // information (RGB: six u8 fields; indexed: u16 count and 3-byte entries; EGA text: nothing).
    void framebuffer_common(u64 addr, u32 pitch, u32 width, u32 height, u8 bpp, u8 type) {
        begin(T_FB), put64(addr), put32(pitch), put32(width), put32(height), put8(bpp), put8(type), put16(0);
    }
    void framebuffer_rgb(u64 addr, u32 pitch, u32 width, u32 height, u8 bpp, const u8 (&fields)[6]) {
        framebuffer_common(addr, pitch, width, height, bpp, 1);
        for (u8 f : fields) put8(f);
        end();
    }
    void rsdp(u32 type, size_t len) {
        begin(type);
        const char sig[] = "RSD PTR ";
        for (size_t i = 0; i < len; ++i) put8(i < 8 ? static_cast<u8>(sig[i]) : static_cast<u8>(i));
        end();
    }

    // Appends the end tag (unless told not to) and sets total_size.
    std::vector<u8> finish(bool end_tag = true) {
        if (end_tag) {
            begin(T_END);
            end();
        }
        pad();
        patch32(0, static_cast<u32>(b_.size()));
        return b_;
    }

    // total_size rewritten after the bytes were cut (a truncated information).
    static void patch_total(std::vector<u8>& bytes) {
        const u32 n = static_cast<u32>(bytes.size());
        for (int i = 0; i < 4; ++i) bytes[i] = static_cast<u8>(n >> (8 * i));
    }

    void patch32(size_t at, u32 v) {
        for (int i = 0; i < 4; ++i) b_[at + i] = static_cast<u8>(v >> (8 * i));
    }

private:
    void pad() {
        while (b_.size() % 8) put8(0);
    }
    std::vector<u8> b_;
    size_t start_ = 0;
};

// A heap copy of exactly `avail` bytes (malloc is 16-byte aligned), so ASan flags any read past it; `shift`
// moves the blob off alignment.
struct Blob {
    u8* mem = nullptr;
    u8* data = nullptr;
    Blob(const std::vector<u8>& bytes, size_t avail, size_t shift = 0) {
        mem = static_cast<u8*>(std::malloc(avail + shift + 1));
        data = mem + shift;
        std::memcpy(data, bytes.data(), avail < bytes.size() ? avail : bytes.size());
    }
    ~Blob() { std::free(mem); }
    Blob(const Blob&) = delete;
    Blob& operator=(const Blob&) = delete;
};

Status parse(const std::vector<u8>& bytes, Mb2Info& info, size_t avail = SIZE_MAX, size_t shift = 0) {
    if (avail == SIZE_MAX) avail = bytes.size();
    Blob blob(bytes, avail, shift);
    // The blob is freed on return, so `info`'s pointers dangle: callers only look at flags, counts and numbers
    // (tests that read strings keep their own Blob).
    return mb2_parse(blob.data, avail, info);
}

std::string str(const Mb2String& s) { return s.str ? std::string(s.str, s.len) : std::string("<none>"); }

#define EXPECT_MB2_ERROR(status, what_part, where_part)                                   \
    do {                                                                                  \
        const Status s_ = (status);                                                       \
        ASSERT_FALSE(s_.ok());                                                            \
        EXPECT_NE(std::string(s_.what).find(what_part), std::string::npos) << s_.what;    \
        ASSERT_NE(s_.where, nullptr);                                                     \
        EXPECT_NE(std::string(s_.where).find(where_part), std::string::npos) << s_.where; \
    } while (0)

std::vector<u8> good_bios() {
    Builder b;
    b.string_tag(T_CMDLINE, "loglevel=debug serial=com2");
    b.string_tag(T_LOADER, "GRUB 2.06");
    b.begin(T_MEMINFO), b.put32(639), b.put32(523264), b.end();
    b.mmap({{0x0, 0x9fc00, 1},
            {0x9fc00, 0x400, 2},
            {0xf0000, 0x0, 1}, // zero length: dropped
            {0x100000, 0x7fe0000, 1},
            {0x7fe0000, 0x20000, 3},
            {0xfeffc000, 0x4000, 4},
            {0xfffc0000, 0x40000, 5},
            {0x100000000, 0x1000, 12}}); // unknown type: reserved
    b.module(0x200000, 0x280000, "guest0 console=ttyS0");
    b.module(0x280000, 0x281234, "initrd");
    b.framebuffer_rgb(0xfd000000, 4096, 1024, 768, 32, {16, 8, 8, 8, 0, 8});
    b.rsdp(T_ACPI_OLD, 20);
    return b.finish();
}

} // namespace

TEST(Multiboot2, GoodBiosStyleInfo) {
    const std::vector<u8> bytes = good_bios();
    Blob blob(bytes, bytes.size());
    Mb2Info info;
    const Status s = mb2_parse(blob.data, bytes.size(), info);
    ASSERT_TRUE(s.ok()) << s.what << " @ " << (s.where ? s.where : "") << " " << s.value;
    EXPECT_EQ(info.total_size, bytes.size());
    EXPECT_EQ(str(info.cmdline), "loglevel=debug serial=com2");
    EXPECT_EQ(info.cmdline.str[info.cmdline.len], '\0');
    EXPECT_EQ(str(info.loader_name), "GRUB 2.06");
    EXPECT_TRUE(info.has_meminfo);
    EXPECT_EQ(info.mem_lower_kib, 639u);
    EXPECT_EQ(info.mem_upper_kib, 523264u);

    ASSERT_TRUE(info.has_mmap);
    EXPECT_EQ(info.mmap_entry_size, 24u);
    EXPECT_EQ(info.mmap_entry_version, 0u);
    EXPECT_EQ(info.mmap_raw_count, 8u);
    ASSERT_NE(info.mmap_raw, nullptr);
    ASSERT_EQ(info.mmap_count, 7u);
    EXPECT_EQ(info.mmap[0].base, 0u);
    EXPECT_EQ(info.mmap[0].length, 0x9fc00u);
    EXPECT_EQ(info.mmap[0].type, EVMM_MEM_USABLE);
    EXPECT_EQ(info.mmap[1].type, EVMM_MEM_RESERVED);
    EXPECT_EQ(info.mmap[2].base, 0x100000u); // the zero-length entry is gone
    EXPECT_EQ(info.mmap[3].type, EVMM_MEM_ACPI_RECLAIMABLE);
    EXPECT_EQ(info.mmap[4].type, EVMM_MEM_ACPI_NVS);
    EXPECT_EQ(info.mmap[5].type, EVMM_MEM_BAD);
    EXPECT_EQ(info.mmap[6].base, 0x100000000u);
    EXPECT_EQ(info.mmap[6].type, EVMM_MEM_RESERVED);

    ASSERT_EQ(info.module_count, 2u);
    EXPECT_EQ(info.modules[0].mod_start, 0x200000u);
    EXPECT_EQ(info.modules[0].mod_end, 0x280000u);
    EXPECT_EQ(str(info.modules[0].cmdline), "guest0 console=ttyS0");
    EXPECT_EQ(info.modules[1].mod_start, 0x280000u); // adjacent, not overlapping
    EXPECT_EQ(str(info.modules[1].cmdline), "initrd");

    ASSERT_NE(info.acpi_old_rsdp, nullptr);
    EXPECT_EQ(info.acpi_old_rsdp_len, 20u);
    EXPECT_EQ(std::memcmp(info.acpi_old_rsdp, "RSD PTR ", 8), 0);
    EXPECT_EQ(info.acpi_new_rsdp, nullptr);
    EXPECT_EQ(info.rsdp(), info.acpi_old_rsdp);
    EXPECT_EQ(info.rsdp_len(), 20u);

    EXPECT_FALSE(info.has_efi64_system_table);
    EXPECT_FALSE(info.has_efi32_system_table);
    EXPECT_FALSE(info.has_efi_mmap);
    EXPECT_FALSE(info.efi_boot_services_active);
    EXPECT_FALSE(info.has_load_base);

    ASSERT_TRUE(info.has_framebuffer);
    EXPECT_EQ(info.framebuffer.addr, 0xfd000000u);
    EXPECT_EQ(info.framebuffer.pitch, 4096u);
    EXPECT_EQ(info.framebuffer.width, 1024u);
    EXPECT_EQ(info.framebuffer.height, 768u);
    EXPECT_EQ(info.framebuffer.bpp, 32u);
    EXPECT_EQ(info.framebuffer.type, 1u);
    EXPECT_EQ(info.framebuffer.red_pos, 16u);
    EXPECT_EQ(info.framebuffer.red_size, 8u);
    EXPECT_EQ(info.framebuffer.green_pos, 8u);
    EXPECT_EQ(info.framebuffer.blue_pos, 0u);
    EXPECT_EQ(info.framebuffer.blue_size, 8u);
}

TEST(Multiboot2, GoodUefiStyleInfo) {
    Builder b;
    b.string_tag(T_CMDLINE, "");
    b.begin(T_EFI64), b.put64(0x7f9e5018), b.end();
    b.begin(T_EFI32), b.put32(0x7f9e0000), b.end();
    b.rsdp(T_ACPI_OLD, 20);
    b.rsdp(T_ACPI_NEW, 36);
    b.mmap({{0x0, 0xa0000, 1}, {0x100000, 0x7f000000, 1}}, 32); // a larger entry_size than 24
    b.begin(T_EFI_MMAP), b.put32(48), b.put32(1), b.put64(0), b.end();
    b.begin(T_EFI_BS), b.end();
    b.begin(T_LOAD_BASE), b.put32(0x1000000), b.end();
    b.raw_tag(99, 13, 5); // unknown type with an odd size: skipped, padding honoured
    const std::vector<u8> bytes = b.finish();
    Blob blob(bytes, bytes.size());
    Mb2Info info;
    const Status s = mb2_parse(blob.data, bytes.size(), info);
    ASSERT_TRUE(s.ok()) << s.what << " @ " << (s.where ? s.where : "");
    ASSERT_NE(info.cmdline.str, nullptr);
    EXPECT_EQ(info.cmdline.len, 0u);
    EXPECT_EQ(info.loader_name.str, nullptr);
    EXPECT_FALSE(info.has_meminfo);
    EXPECT_TRUE(info.has_efi64_system_table);
    EXPECT_EQ(info.efi64_system_table, 0x7f9e5018u);
    EXPECT_TRUE(info.has_efi32_system_table);
    EXPECT_EQ(info.efi32_system_table, 0x7f9e0000u);
    ASSERT_NE(info.acpi_new_rsdp, nullptr);
    EXPECT_EQ(info.acpi_new_rsdp_len, 36u);
    EXPECT_EQ(info.rsdp(), info.acpi_new_rsdp); // the new one is preferred
    EXPECT_EQ(info.rsdp_len(), 36u);
    EXPECT_NE(info.acpi_old_rsdp, nullptr);
    EXPECT_EQ(info.mmap_entry_size, 32u);
    ASSERT_EQ(info.mmap_count, 2u);
    EXPECT_EQ(info.mmap[1].base, 0x100000u);
    EXPECT_EQ(info.mmap[1].length, 0x7f000000u);
    EXPECT_TRUE(info.has_efi_mmap);
    EXPECT_TRUE(info.efi_boot_services_active);
    EXPECT_TRUE(info.has_load_base);
    EXPECT_EQ(info.load_base, 0x1000000u);
    EXPECT_EQ(info.module_count, 0u);
}

TEST(Multiboot2, MinimalInfoIsJustAnEndTag) {
    Builder b;
    const std::vector<u8> bytes = b.finish();
    ASSERT_EQ(bytes.size(), 16u);
    Mb2Info info;
    EXPECT_TRUE(parse(bytes, info).ok());
    EXPECT_FALSE(info.has_mmap);
    EXPECT_EQ(info.cmdline.str, nullptr);
}

TEST(Multiboot2, BytesAfterEndTagAreIgnored) {
    Builder b;
    b.begin(T_END), b.end();
    b.raw_tag(T_MMAP, 0, 8); // garbage after the end tag
    const std::vector<u8> bytes = b.finish(false);
    Mb2Info info;
    EXPECT_TRUE(parse(bytes, info).ok());
}

TEST(Multiboot2, RejectsNull) {
    Mb2Info info;
    EXPECT_MB2_ERROR(mb2_parse(nullptr, 64, info), "null", "boot information");
}

TEST(Multiboot2, RejectsTruncated) {
    const std::vector<u8> bytes = good_bios();
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(bytes, info, bytes.size() - 8), "truncated", "boot information");
    EXPECT_MB2_ERROR(parse(bytes, info, 4), "truncated", "boot information"); // not even the header
    // Every shorter `avail` fails (and, under ASan, reads nothing past it).
    for (size_t avail = 0; avail < bytes.size(); ++avail) EXPECT_FALSE(parse(bytes, info, avail).ok()) << avail;
}

TEST(Multiboot2, RejectsTotalSizeBelowMinimum) {
    std::vector<u8> bytes = Builder().finish();
    bytes[0] = 8; // total_size 8: the fixed part only
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(bytes, info), "smaller than 16", "boot information");
}

TEST(Multiboot2, RejectsMisalignedInfo) {
    const std::vector<u8> bytes = good_bios();
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(bytes, info, bytes.size(), 4), "8-byte aligned", "boot information");
}

TEST(Multiboot2, RejectsTagSizePastEnd) {
    Builder b;
    b.string_tag(T_CMDLINE, "abc");
    std::vector<u8> bytes = b.finish();
    // The cmdline tag (offset 8) claims to be larger than the whole information.
    bytes[12] = 0xf0;
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(bytes, info), "past end of info", "cmdline tag");
}

TEST(Multiboot2, RejectsZeroSizeTag) {
    Builder b;
    b.raw_tag(T_MMAP, 0, 8);
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(), info), "size is 0", "mmap tag");
}

TEST(Multiboot2, RejectsTagSizeBelowHeader) {
    Builder b;
    b.raw_tag(T_LOADER, 4, 8);
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(), info), "smaller than its 8-byte header", "boot loader name tag");
}

TEST(Multiboot2, RejectsMissingEndTag) {
    Builder b;
    b.string_tag(T_CMDLINE, "x");
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(false), info), "missing end tag", "boot information");
}

TEST(Multiboot2, RejectsEndTagWithWrongSize) {
    Builder b;
    b.raw_tag(T_END, 16, 8);
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(false), info), "end tag size", "end tag");
}

TEST(Multiboot2, RejectsBadMmapEntrySize) {
    Mb2Info info;
    {
        Builder b;
        b.begin(T_MMAP), b.put32(0), b.put32(0), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "entry_size is 0", "mmap tag");
    }
    {
        Builder b;
        b.begin(T_MMAP), b.put32(20), b.put32(0), b.put64(0), b.put64(0x1000), b.put32(1), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "smaller than 24", "mmap tag");
    }
    {
        Builder b;
        b.mmap({{0, 0x1000, 1}}, 28);
        EXPECT_MB2_ERROR(parse(b.finish(), info), "multiple of 8", "mmap tag");
    }
}

TEST(Multiboot2, RejectsMmapEntriesNotFitting) {
    Builder b;
    b.begin(T_MMAP), b.put32(24), b.put32(0);
    b.put64(0), b.put64(0x1000), b.put32(1), b.put32(0);
    b.put64(0x2000); // a partial second entry
    b.end();
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(), info), "do not fit", "mmap tag");
}

TEST(Multiboot2, RejectsMmapTagShorterThanHeader) {
    Builder b;
    b.begin(T_MMAP), b.put32(24), b.end(); // size 12
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "mmap tag");
}

TEST(Multiboot2, RejectsWrappingMmapEntry) {
    Builder b;
    b.mmap({{0x1000, 0x1000, 1}, {0xfffffffffffff000, 0x2000, 2}});
    Mb2Info info;
    const Status s = parse(b.finish(), info);
    EXPECT_MB2_ERROR(s, "wraps", "mmap tag");
    EXPECT_EQ(s.value, 1u); // the entry's index
}

TEST(Multiboot2, RejectsTooManyMmapEntries) {
    std::vector<Builder::MmapEntry> entries;
    for (u64 i = 0; i <= EVMM_MAX_MMAP; ++i) entries.push_back({i * 0x2000, 0x1000, 1});
    Builder b;
    b.mmap(entries);
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(), info), "too many mmap entries", "mmap tag");
    // Exactly the maximum, plus zero-length entries (which do not count), is fine.
    entries.pop_back();
    entries.push_back({0x5000000, 0, 1});
    Builder ok;
    ok.mmap(entries);
    ASSERT_TRUE(parse(ok.finish(), info).ok());
    EXPECT_EQ(info.mmap_count, EVMM_MAX_MMAP);
}

TEST(Multiboot2, RejectsDuplicateTags) {
    Mb2Info info;
    {
        Builder b;
        b.mmap({{0, 0x1000, 1}});
        b.mmap({{0x2000, 0x1000, 1}});
        EXPECT_MB2_ERROR(parse(b.finish(), info), "duplicate", "mmap tag");
    }
    {
        Builder b;
        b.string_tag(T_CMDLINE, "a");
        b.string_tag(T_CMDLINE, "b");
        EXPECT_MB2_ERROR(parse(b.finish(), info), "duplicate", "cmdline tag");
    }
    {
        Builder b;
        b.rsdp(T_ACPI_NEW, 36);
        b.rsdp(T_ACPI_NEW, 36);
        EXPECT_MB2_ERROR(parse(b.finish(), info), "duplicate", "ACPI new RSDP tag");
    }
}

TEST(Multiboot2, RejectsStringsWithoutNul) {
    Mb2Info info;
    {
        Builder b;
        b.begin(T_CMDLINE), b.puts("abcdefgh", false), b.end(); // size 16, no NUL
        EXPECT_MB2_ERROR(parse(b.finish(), info), "NUL-terminated", "cmdline tag");
    }
    {
        Builder b;
        b.begin(T_CMDLINE), b.end(); // size 8: not even the NUL
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "cmdline tag");
    }
}

TEST(Multiboot2, RejectsShortModuleTag) {
    Builder b;
    b.begin(T_MODULE), b.put32(0x100000), b.put32(0x200000), b.end(); // size 16: no string
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "module tag");
}

TEST(Multiboot2, RejectsModuleCmdlineWithoutNul) {
    Builder b;
    b.begin(T_MODULE), b.put32(0x100000), b.put32(0x200000), b.puts("guest0", false), b.end();
    Mb2Info info;
    EXPECT_MB2_ERROR(parse(b.finish(), info), "NUL-terminated", "module tag");
}

TEST(Multiboot2, RejectsModuleEndingBeforeStart) {
    Builder b;
    b.module(0x100000, 0x200000, "a");
    b.module(0x300000, 0x2fffff, "b");
    Mb2Info info;
    const Status s = parse(b.finish(), info);
    EXPECT_MB2_ERROR(s, "ends before it starts", "module tag");
    EXPECT_EQ(s.value, 1u);
}

TEST(Multiboot2, RejectsOverlappingModules) {
    Builder b;
    b.module(0x100000, 0x200000, "a");
    b.module(0x400000, 0x500000, "b");
    b.module(0x1ff000, 0x201000, "c"); // overlaps the first
    Mb2Info info;
    const Status s = parse(b.finish(), info);
    EXPECT_MB2_ERROR(s, "modules overlap", "module tag");
    EXPECT_EQ(s.value, 0u);
    EXPECT_EQ(s.value2, 2u);
}

TEST(Multiboot2, EmptyModulesDoNotOverlap) {
    Builder b;
    b.module(0x100000, 0x200000, "a");
    b.module(0x180000, 0x180000, "empty");
    Mb2Info info;
    ASSERT_TRUE(parse(b.finish(), info).ok());
    EXPECT_EQ(info.module_count, 2u);
}

TEST(Multiboot2, RejectsTooManyModules) {
    Builder b;
    for (u32 i = 0; i <= EVMM_MAX_BOOT_MODULES; ++i)
        b.module(0x100000 + i * 0x1000, 0x100000 + i * 0x1000 + 0x800, "m");
    Mb2Info info;
    const Status s = parse(b.finish(), info);
    EXPECT_MB2_ERROR(s, "too many modules", "module tag");
    EXPECT_EQ(s.value, EVMM_MAX_BOOT_MODULES);
}

TEST(Multiboot2, RejectsShortFixedSizeTags) {
    Mb2Info info;
    {
        Builder b;
        b.rsdp(T_ACPI_OLD, 19);
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "ACPI old RSDP tag");
    }
    {
        Builder b;
        b.rsdp(T_ACPI_NEW, 20); // a v1-sized RSDP in the "new" tag
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "ACPI new RSDP tag");
    }
    {
        Builder b;
        b.begin(T_EFI64), b.put32(0x1000), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "EFI64 system table tag");
    }
    {
        Builder b;
        b.begin(T_MEMINFO), b.put32(639), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "basic meminfo tag");
    }
    {
        Builder b;
        b.begin(T_LOAD_BASE), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "load base address tag");
    }
}

// §3.6.12: the framebuffer tag of each type, and the screen evmm takes from the information (mb2_screen).
TEST(Multiboot2Framebuffer, EgaTextTagFromGrubOnBios) {
    Builder b;
    b.framebuffer_common(0xb8000, 160, 80, 25, 16, 2), b.end(); // what GRUB 2 gives in text mode: no color info
    Mb2Info info;
    ASSERT_TRUE(parse(b.finish(), info).ok());
    ASSERT_TRUE(info.has_framebuffer);
    EXPECT_EQ(info.framebuffer.type, 2u);
    evmm_screen_t scr{};
    ASSERT_TRUE(mb2_screen(info, 4ull << 30, scr).ok());
    EXPECT_EQ(scr.type, EVMM_SCREEN_EGA_TEXT);
    EXPECT_EQ(scr.addr, 0xb8000u);
    EXPECT_EQ(scr.width, 80u);
    EXPECT_EQ(scr.height, 25u);
    EXPECT_EQ(scr.pitch, 160u);
    EXPECT_EQ(scr.bpp, 16u);
    EXPECT_EQ(scr.cursor_row, 0u);
    EXPECT_EQ(scr.text_addr, 0u);
}

TEST(Multiboot2Framebuffer, RgbTagGivesTheScreenWithItsChannels) {
    Builder b;
    b.begin(T_EFI64), b.put64(0x7f9e5018), b.end();
    b.framebuffer_rgb(0x80000000, 5120, 1280, 800, 32, {16, 8, 8, 8, 0, 8});
    Mb2Info info;
    ASSERT_TRUE(parse(b.finish(), info).ok());
    evmm_screen_t scr{};
    ASSERT_TRUE(mb2_screen(info, 4ull << 30, scr).ok());
    EXPECT_EQ(scr.type, EVMM_SCREEN_RGB);
    EXPECT_EQ(scr.addr, 0x80000000u);
    EXPECT_EQ(scr.pitch, 5120u);
    EXPECT_EQ(scr.width, 1280u);
    EXPECT_EQ(scr.height, 800u);
    EXPECT_EQ(scr.bpp, 32u);
    EXPECT_EQ(scr.red_pos, 16u);
    EXPECT_EQ(scr.red_size, 8u);
    EXPECT_EQ(scr.green_pos, 8u);
    EXPECT_EQ(scr.green_size, 8u);
    EXPECT_EQ(scr.blue_pos, 0u);
    EXPECT_EQ(scr.blue_size, 8u);
}

TEST(Multiboot2Framebuffer, NoTagMeansVgaTextOnBiosAndNothingOnUefi) {
    {
        Builder b;
        b.string_tag(T_CMDLINE, "");
        Mb2Info info;
        ASSERT_TRUE(parse(b.finish(), info).ok());
        EXPECT_FALSE(info.has_framebuffer);
        evmm_screen_t scr{};
        ASSERT_TRUE(mb2_screen(info, 4ull << 30, scr).ok());
        EXPECT_EQ(scr.type, EVMM_SCREEN_EGA_TEXT);
        EXPECT_EQ(scr.addr, 0xb8000u);
        EXPECT_EQ(scr.width, 80u);
        EXPECT_EQ(scr.height, 25u);
        EXPECT_EQ(scr.pitch, 160u);
    }
    for (u32 efi : {T_EFI32, T_EFI64}) {
        Builder b;
        b.begin(efi), b.put64(0x7f9e5018), b.end();
        Mb2Info info;
        ASSERT_TRUE(parse(b.finish(), info).ok());
        evmm_screen_t scr{};
        scr.addr = 0x1234; // must be cleared
        ASSERT_TRUE(mb2_screen(info, 4ull << 30, scr).ok());
        EXPECT_EQ(scr.type, EVMM_SCREEN_NONE) << efi;
        EXPECT_EQ(scr.addr, 0u);
    }
}

TEST(Multiboot2Framebuffer, IndexedUnknownAndHighFramebuffersAreNotUsed) {
    evmm_screen_t scr{};
    {
        Builder b;
        b.framebuffer_common(0xa0000, 320, 320, 200, 8, 0), b.put16(2), b.put8(0), b.put8(0), b.put8(0);
        b.put8(0xff), b.put8(0xff), b.put8(0xff), b.end();
        Mb2Info info;
        ASSERT_TRUE(parse(b.finish(), info).ok());
        EXPECT_EQ(info.framebuffer.palette_colors, 2u);
        EXPECT_MB2_ERROR(mb2_screen(info, 4ull << 30, scr), "indexed-color", "framebuffer tag");
        EXPECT_EQ(scr.type, EVMM_SCREEN_NONE);
    }
    {
        Builder b;
        b.framebuffer_common(0xa0000, 320, 320, 200, 8, 7), b.end(); // a type of a later revision: kept, not used
        Mb2Info info;
        ASSERT_TRUE(parse(b.finish(), info).ok());
        EXPECT_EQ(info.framebuffer.type, 7u);
        EXPECT_MB2_ERROR(mb2_screen(info, 4ull << 30, scr), "unknown framebuffer type", "framebuffer tag");
    }
    {
        Builder b;
        b.framebuffer_rgb(0x4000000000, 5120, 1280, 800, 32, {16, 8, 8, 8, 0, 8}); // above 4 GiB
        Mb2Info info;
        ASSERT_TRUE(parse(b.finish(), info).ok());
        EXPECT_MB2_ERROR(mb2_screen(info, 4ull << 30, scr), "past the identity map", "framebuffer tag");
        EXPECT_EQ(scr.type, EVMM_SCREEN_NONE);
    }
    {
        Builder b;
        b.framebuffer_rgb(0xfffff000, 5120, 1280, 800, 32, {16, 8, 8, 8, 0, 8}); // starts below, ends above 4 GiB
        Mb2Info info;
        ASSERT_TRUE(parse(b.finish(), info).ok());
        EXPECT_MB2_ERROR(mb2_screen(info, 4ull << 30, scr), "past the identity map", "framebuffer tag");
    }
    {
        Builder b;
        b.framebuffer_rgb(0xfffffffffffff000, 0xffffffff, 1280, 0xffffffff, 32, {16, 8, 8, 8, 0, 8}); // wraps
        Mb2Info info;
        ASSERT_TRUE(parse(b.finish(), info).ok());
        EXPECT_MB2_ERROR(mb2_screen(info, 4ull << 30, scr), "past the identity map", "framebuffer tag");
    }
}

TEST(Multiboot2Framebuffer, RejectsTruncatedAndDuplicateTags) {
    Mb2Info info;
    {
        Builder b;
        b.raw_tag(T_FB, 31, 23); // one byte short of the common part
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "framebuffer tag");
    }
    {
        Builder b; // RGB without all six color fields
        b.framebuffer_common(0x80000000, 5120, 1280, 800, 32, 1), b.put8(16), b.put8(8), b.put8(8), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "framebuffer tag");
    }
    {
        Builder b; // indexed without its color count
        b.framebuffer_common(0xa0000, 320, 320, 200, 8, 0), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "too short", "framebuffer tag");
    }
    {
        Builder b; // a palette of 16 colors with room for one
        b.framebuffer_common(0xa0000, 320, 320, 200, 8, 0), b.put16(16), b.put8(1), b.put8(2), b.put8(3), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "palette runs past the tag", "framebuffer tag");
    }
    {
        Builder b; // the tag's size runs past the information
        b.framebuffer_rgb(0x80000000, 5120, 1280, 800, 32, {16, 8, 8, 8, 0, 8});
        std::vector<u8> bytes = b.finish();
        bytes.resize(bytes.size() - 16); // end tag and the last 8 bytes gone
        Builder::patch_total(bytes);
        EXPECT_FALSE(parse(bytes, info).ok());
    }
    {
        Builder b;
        b.framebuffer_common(0xb8000, 160, 80, 25, 16, 2), b.end();
        b.framebuffer_common(0xb8000, 160, 80, 25, 16, 2), b.end();
        EXPECT_MB2_ERROR(parse(b.finish(), info), "duplicate", "framebuffer tag");
    }
}

// Corrupt every byte of a good blob in a few ways: the parser must never read out of bounds (ASan) and must
// either succeed or return an error with a message.
TEST(Multiboot2, SurvivesByteCorruption) {
    const std::vector<u8> good = good_bios();
    const u8 values[] = {0x00, 0x01, 0x07, 0x08, 0x7f, 0xff};
    size_t failures = 0;
    for (size_t i = 0; i < good.size(); ++i) {
        for (u8 v : values) {
            std::vector<u8> bad = good;
            bad[i] = v;
            Mb2Info info;
            const Status s = parse(bad, info);
            if (!s.ok()) {
                ++failures;
                ASSERT_NE(s.what, nullptr);
                ASSERT_NE(s.where, nullptr);
            }
        }
    }
    EXPECT_GT(failures, 0u);
}

TEST(Multiboot2SplitModuleCmdline, RoleAndArgs) {
    char role[EVMM_ROLE_MAX], args[EVMM_BOOT_MODULE_CMDLINE_MAX];
    const char* cl = "  guest0   console=ttyS0 quiet";
    ASSERT_TRUE(mb2_split_module_cmdline(cl, std::strlen(cl), role, sizeof role, args, sizeof args).ok());
    EXPECT_STREQ(role, "guest0");
    EXPECT_STREQ(args, "console=ttyS0 quiet");
}

TEST(Multiboot2SplitModuleCmdline, RoleOnlyAndTabs) {
    char role[EVMM_ROLE_MAX], args[EVMM_BOOT_MODULE_CMDLINE_MAX];
    ASSERT_TRUE(mb2_split_module_cmdline("initrd\t", 7, role, sizeof role, args, sizeof args).ok());
    EXPECT_STREQ(role, "initrd");
    EXPECT_STREQ(args, "");
    // len stops the scan even without a NUL; an embedded NUL stops it too.
    ASSERT_TRUE(mb2_split_module_cmdline("abcdef", 3, role, sizeof role, args, sizeof args).ok());
    EXPECT_STREQ(role, "abc");
    ASSERT_TRUE(mb2_split_module_cmdline("ab\0cd", 5, role, sizeof role, args, sizeof args).ok());
    EXPECT_STREQ(role, "ab");
    EXPECT_STREQ(args, "");
}

// evmm's limit for a module's arguments is Linux's COMMAND_LINE_SIZE: 2047 characters pass whole, 2048 are refused
// with their length and the limit (never cut), and the error is the one stage 1 tells apart.
TEST(Multiboot2SplitModuleCmdline, ArgumentsAtAndAboveTheLimit) {
    static char role[EVMM_ROLE_MAX], args[EVMM_BOOT_MODULE_CMDLINE_MAX];
    std::string at = "guest0 ";
    for (u32 i = 0; i < EVMM_BOOT_MODULE_CMDLINE_MAX - 1; ++i) at += static_cast<char>('0' + i % 10);
    ASSERT_TRUE(mb2_split_module_cmdline(at.c_str(), at.size(), role, sizeof role, args, sizeof args).ok());
    EXPECT_STREQ(role, "guest0");
    EXPECT_EQ(std::string(args), at.substr(7));
    EXPECT_EQ(std::strlen(args), 2047u);

    const std::string above = at + "x";
    const Status s = mb2_split_module_cmdline(above.c_str(), above.size(), role, sizeof role, args, sizeof args);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.what, MB2_ERR_ARGS_TOO_LONG);
    EXPECT_EQ(s.value, 2048u);
    EXPECT_EQ(s.value2, 2047u);
    EXPECT_STREQ(args, "");
    EXPECT_STREQ(role, "");
    const std::string far_above = "guest0 " + std::string(10000, 'y');
    EXPECT_EQ(mb2_split_module_cmdline(far_above.c_str(), far_above.size(), role, sizeof role, args, sizeof args).what,
              MB2_ERR_ARGS_TOO_LONG);
    EXPECT_EQ(mb2_split_module_cmdline("   ", 3, role, sizeof role, args, sizeof args).what, MB2_ERR_NO_ROLE);
    const std::string long_role(EVMM_ROLE_MAX, 'r');
    EXPECT_EQ(mb2_split_module_cmdline(long_role.c_str(), long_role.size(), role, sizeof role, args, sizeof args).what,
              MB2_ERR_ROLE_TOO_LONG);
}

TEST(Multiboot2SplitModuleCmdline, Errors) {
    char role[EVMM_ROLE_MAX], args[8];
    EXPECT_MB2_ERROR(mb2_split_module_cmdline("   ", 3, role, sizeof role, args, sizeof args), "no role", "module");
    EXPECT_MB2_ERROR(mb2_split_module_cmdline("", 0, role, sizeof role, args, sizeof args), "no role", "module");
    EXPECT_MB2_ERROR(mb2_split_module_cmdline(nullptr, 0, role, sizeof role, args, sizeof args), "no role", "module");
    const std::string long_role(EVMM_ROLE_MAX, 'r'); // one too many for the NUL
    EXPECT_MB2_ERROR(
        mb2_split_module_cmdline(long_role.c_str(), long_role.size(), role, sizeof role, args, sizeof args),
        "role is too long", "module");
    const std::string fits_role(EVMM_ROLE_MAX - 1, 'r');
    EXPECT_TRUE(
        mb2_split_module_cmdline(fits_role.c_str(), fits_role.size(), role, sizeof role, args, sizeof args).ok());
    EXPECT_MB2_ERROR(mb2_split_module_cmdline("g 12345678", 10, role, sizeof role, args, sizeof args), "too long",
                     "module");
    EXPECT_TRUE(mb2_split_module_cmdline("g 1234567", 9, role, sizeof role, args, sizeof args).ok());
    EXPECT_STREQ(args, "1234567");
}
