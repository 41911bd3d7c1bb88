// Unit tests for lib/symtab: table validation in init() and address -> symbol lookup.
#include "lib/symtab.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace evmm;

namespace {

struct Sym {
    u64 addr;
    u32 size;
    const char* name;
};

// A table blob (header + entries + strings), 8-byte aligned like the embedded one.
struct Blob {
    std::vector<u64> words; // u64 storage for alignment
    size_t size = 0;

    u8* bytes() { return reinterpret_cast<u8*>(words.data()); }
    SymtabHeader* header() { return reinterpret_cast<SymtabHeader*>(bytes()); }
    SymtabEntry* entries() { return reinterpret_cast<SymtabEntry*>(bytes() + sizeof(SymtabHeader)); }
    char* strings() { return reinterpret_cast<char*>(entries() + header()->count); }
};

// Builds a valid table; names are stored in order, each NUL-terminated. `pad` extra bytes follow the strings.
Blob build(const std::vector<Sym>& syms, size_t pad = 0) {
    std::string strings;
    std::vector<SymtabEntry> entries;
    for (const Sym& s : syms) {
        entries.push_back(
            SymtabEntry{static_cast<u32>(s.addr), static_cast<u16>(strings.size()), static_cast<u16>(s.size)});
        strings += s.name;
        strings += '\0';
    }
    Blob b;
    b.size = sizeof(SymtabHeader) + entries.size() * sizeof(SymtabEntry) + strings.size() + pad;
    b.words.assign((b.size + 7) / 8, 0);
    SymtabHeader h{};
    std::memcpy(h.magic, SYMTAB_MAGIC, sizeof h.magic);
    h.count = static_cast<u32>(entries.size());
    h.strings_size = static_cast<u32>(strings.size());
    std::memcpy(b.bytes(), &h, sizeof h);
    if (!entries.empty()) std::memcpy(b.entries(), entries.data(), entries.size() * sizeof(SymtabEntry));
    std::memcpy(b.strings(), strings.data(), strings.size());
    return b;
}

const std::vector<Sym> kSyms = {
    {0x1000, 0x20, "alpha"},
    {0x1020, 0x10, "beta"},
    {0x1100, 0, "gamma"}, // size unknown: unbounded up to the next symbol
    {0x2000, 0x8, "delta"},
};

std::string lookup(const Symtab& t, u64 addr, u64* off_out = nullptr) {
    u64 off = 0xdead;
    const char* n = t.lookup(addr, off);
    if (off_out) *off_out = off;
    return n ? std::string(n) : std::string("<null>");
}

} // namespace

TEST(Symtab, InitAcceptsValidTable) {
    Blob b = build(kSyms);
    Symtab t;
    EXPECT_FALSE(t.valid());
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    EXPECT_TRUE(t.valid());
    EXPECT_EQ(t.count(), 4u);
}

TEST(Symtab, InitAcceptsTrailingBytes) {
    Blob b = build(kSyms, 13);
    Symtab t;
    EXPECT_TRUE(t.init(b.bytes(), b.size));
}

TEST(Symtab, LookupExactStartAndInside) {
    Blob b = build(kSyms);
    Symtab t;
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    u64 off = 0;
    EXPECT_EQ(lookup(t, 0x1000, &off), "alpha");
    EXPECT_EQ(off, 0u);
    EXPECT_EQ(lookup(t, 0x101f, &off), "alpha");
    EXPECT_EQ(off, 0x1fu);
    EXPECT_EQ(lookup(t, 0x1020, &off), "beta");
    EXPECT_EQ(off, 0u);
    EXPECT_EQ(lookup(t, 0x1025, &off), "beta");
    EXPECT_EQ(off, 5u);
    EXPECT_EQ(lookup(t, 0x2000, &off), "delta");
    EXPECT_EQ(off, 0u);
    EXPECT_EQ(lookup(t, 0x2007, &off), "delta");
    EXPECT_EQ(off, 7u);
}

TEST(Symtab, LookupPastSizeIsNull) {
    Blob b = build(kSyms);
    Symtab t;
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    EXPECT_EQ(lookup(t, 0x1030), "<null>"); // just past beta (0x1020 + 0x10)
    EXPECT_EQ(lookup(t, 0x10ff), "<null>");
    EXPECT_EQ(lookup(t, 0x2008), "<null>"); // just past delta, the last one
    EXPECT_EQ(lookup(t, UINT64_MAX), "<null>");
}

TEST(Symtab, LookupBeforeFirstIsNull) {
    Blob b = build(kSyms);
    Symtab t;
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    EXPECT_EQ(lookup(t, 0), "<null>");
    EXPECT_EQ(lookup(t, 0xfff), "<null>");

    // Also when the first symbol's size is unknown (no size check to fall back on).
    Blob b2 = build({{0x500, 0, "start"}, {0x600, 0, "next"}});
    Symtab t2;
    ASSERT_TRUE(t2.init(b2.bytes(), b2.size));
    EXPECT_EQ(lookup(t2, 0x4ff), "<null>");
    EXPECT_EQ(lookup(t2, 0), "<null>");
    EXPECT_EQ(lookup(t2, 0x500), "start");
}

TEST(Symtab, LookupSizeZeroIsUnbounded) {
    Blob b = build(kSyms);
    Symtab t;
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    u64 off = 0;
    EXPECT_EQ(lookup(t, 0x1100, &off), "gamma");
    EXPECT_EQ(off, 0u);
    EXPECT_EQ(lookup(t, 0x1fff, &off), "gamma"); // up to the next symbol
    EXPECT_EQ(off, 0xeffu);

    Blob last = build({{0x100, 0x10, "a"}, {0x200, 0, "tail"}});
    Symtab t2;
    ASSERT_TRUE(t2.init(last.bytes(), last.size));
    EXPECT_EQ(lookup(t2, UINT64_MAX, &off), "tail"); // a sizeless last symbol covers everything above
    EXPECT_EQ(off, UINT64_MAX - 0x200);
}

TEST(Symtab, LookupManySymbols) {
    // Enough entries to exercise the binary search at every position.
    std::vector<std::string> names;
    std::vector<Sym> syms;
    for (u32 i = 0; i < 37; ++i) names.push_back("f" + std::to_string(i));
    for (u32 i = 0; i < 37; ++i) syms.push_back({0x10000 + u64{i} * 0x100, 0x80, names[i].c_str()});
    Blob b = build(syms);
    Symtab t;
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    for (u32 i = 0; i < 37; ++i) {
        u64 off = 0;
        EXPECT_EQ(lookup(t, syms[i].addr + 0x7f, &off), names[i]);
        EXPECT_EQ(off, 0x7fu);
        EXPECT_EQ(lookup(t, syms[i].addr + 0x80), "<null>") << i;
    }
}

TEST(Symtab, DuplicateAddressesAreAccepted) {
    Blob b = build({{0x100, 0x10, "first"}, {0x100, 0x10, "alias"}, {0x200, 0x10, "next"}});
    Symtab t;
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    std::string n = lookup(t, 0x105);
    EXPECT_TRUE(n == "first" || n == "alias") << n;
}

TEST(Symtab, EmptyTableLooksUpNothing) {
    Blob b = build({});
    // No entries means no strings; give it one NUL so strings_size is not 0.
    b.size += 1;
    b.words.assign((b.size + 7) / 8, 0);
    SymtabHeader h{};
    std::memcpy(h.magic, SYMTAB_MAGIC, sizeof h.magic);
    h.strings_size = 1;
    std::memcpy(b.bytes(), &h, sizeof h);
    Symtab t;
    ASSERT_TRUE(t.init(b.bytes(), b.size));
    EXPECT_EQ(t.count(), 0u);
    EXPECT_EQ(lookup(t, 0x1000), "<null>");
}

TEST(Symtab, UninitializedLooksUpNothing) {
    Symtab t;
    EXPECT_EQ(lookup(t, 0x1000), "<null>");
}

TEST(Symtab, InitRejectsNullAndShort) {
    Symtab t;
    EXPECT_FALSE(t.init(nullptr, 100));
    Blob b = build(kSyms);
    EXPECT_FALSE(t.init(b.bytes(), sizeof(SymtabHeader) - 1));
    EXPECT_FALSE(t.init(b.bytes(), 0));
    EXPECT_FALSE(t.valid());
}

TEST(Symtab, InitRejectsBadMagic) {
    Blob b = build(kSyms);
    b.header()->magic[7] = 'X';
    Symtab t;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
    EXPECT_FALSE(t.valid());
    EXPECT_EQ(lookup(t, 0x1000), "<null>");
}

TEST(Symtab, InitRejectsTruncated) {
    Blob b = build(kSyms);
    Symtab t;
    EXPECT_FALSE(t.init(b.bytes(), b.size - 1));                                     // last string byte missing
    EXPECT_FALSE(t.init(b.bytes(), sizeof(SymtabHeader) + 2 * sizeof(SymtabEntry))); // entries cut
    EXPECT_FALSE(t.valid());
    // A count that claims more entries than the blob holds.
    b.header()->count = 1000;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
    b.header()->count = UINT32_MAX;
    b.header()->strings_size = UINT32_MAX;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
    // count * sizeof(SymtabEntry) = 2^32: must not wrap to 0 in 32-bit arithmetic and pass the size check.
    Blob c = build(kSyms);
    c.header()->count = 0x20000000;
    EXPECT_FALSE(t.init(c.bytes(), c.size));
}

TEST(Symtab, InitRejectsUnsorted) {
    Blob b = build({{0x100, 0, "a"}, {0x300, 0, "b"}, {0x200, 0, "c"}});
    Symtab t;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
    EXPECT_FALSE(t.valid());
}

TEST(Symtab, InitRejectsNameOutOfRange) {
    Blob b = build(kSyms);
    const u32 ssize = b.header()->strings_size;
    b.entries()[2].name = static_cast<u16>(ssize); // one past the strings
    Symtab t;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
    b.entries()[2].name = static_cast<u16>(ssize - 1); // the final NUL: an empty name, but inside
    EXPECT_TRUE(t.init(b.bytes(), b.size));
    b.entries()[0].name = UINT16_MAX;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
}

TEST(Symtab, InitRejectsUnterminatedStrings) {
    Blob b = build(kSyms);
    b.strings()[b.header()->strings_size - 1] = 'x';
    Symtab t;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
    EXPECT_FALSE(t.valid());
}

TEST(Symtab, InitRejectsZeroStringsSize) {
    Blob b = build(kSyms);
    b.header()->strings_size = 0;
    Symtab t;
    EXPECT_FALSE(t.init(b.bytes(), b.size));
}

TEST(Symtab, FailedReinitInvalidates) {
    Blob good = build(kSyms);
    Blob bad = build(kSyms);
    bad.header()->magic[0] = 'x';
    Symtab t;
    ASSERT_TRUE(t.init(good.bytes(), good.size));
    EXPECT_FALSE(t.init(bad.bytes(), bad.size));
    EXPECT_FALSE(t.valid());
    EXPECT_EQ(lookup(t, 0x1000), "<null>");
}
