// Unit tests for lib/lz4 (the loader's LZ4 block decoder) with tools/pack's encoder: round trips of varied data,
// hand-made blocks, and every way a block can be cut short or corrupted.
#include "lib/lz4.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "status_expect.h"
#include "tools/pack/lz4_encode.h"

namespace evmm {
namespace {

using Bytes = std::vector<u8>;

Bytes encode(const Bytes& b) { return pack::lz4_encode(b.data(), b.size()); }

// Decodes into a heap buffer of exactly `cap` bytes (ASan catches a write past it); out_len through `n`.
Status decode(const Bytes& block, size_t cap, Bytes& out) {
    out.assign(cap, 0xA5);
    size_t n = 0;
    const Status s = lz4_decode(block.data(), block.size(), out.data(), cap, n);
    EXPECT_LE(n, cap);
    if (s.ok()) out.resize(n);
    return s;
}

void expect_round_trip(const Bytes& raw) {
    const Bytes block = encode(raw);
    Bytes out;
    ASSERT_OK(decode(block, raw.size(), out));
    ASSERT_EQ(out, raw);
    // A larger buffer changes nothing but the room the chunked copies may use.
    ASSERT_OK(decode(block, raw.size() + 100, out));
    ASSERT_EQ(out, raw);
    // Never much larger than the input, however incompressible (a length byte per 255 literals, one token).
    EXPECT_LE(block.size(), raw.size() + raw.size() / 255 + 16);
}

Bytes random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& x : b) x = static_cast<u8>(rng());
    return b;
}

// Text-like data with many repeats at varied distances (like code: short matches, short literal runs).
Bytes mixed(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    static const char* const words[] = {"mov ",  "rax, ",        "[rbp-0x8]",    "call ", "vmm_main",
                                        "ret\n", "\x48\x89\xe5", "\x00\x00\x00", "evmm",  "loader: "};
    Bytes b;
    while (b.size() < n) {
        const std::string w = words[rng() % 10];
        b.insert(b.end(), w.begin(), w.end());
        if (rng() % 4 == 0) b.push_back(static_cast<u8>(rng()));
    }
    b.resize(n);
    return b;
}

TEST(Lz4, RoundTripsSmallInputs) {
    // Below 13 bytes no match is allowed (end-of-block rules): literals only.
    for (size_t n = 0; n <= 40; ++n) {
        expect_round_trip(Bytes(n, 0));
        expect_round_trip(random_bytes(n, static_cast<unsigned>(n)));
        expect_round_trip(mixed(n, static_cast<unsigned>(n)));
    }
}

TEST(Lz4, EmptyInputIsOneToken) {
    EXPECT_EQ(encode({}), Bytes{0x00});
    Bytes out;
    ASSERT_OK(decode({0x00}, 0, out));
    EXPECT_TRUE(out.empty());
    size_t n = 1;
    EXPECT_OK(lz4_decode(Bytes{0x00}.data(), 1, nullptr, 0, n)); // no output buffer needed for no bytes
    EXPECT_EQ(n, 0u);
}

TEST(Lz4, RoundTripsIncompressibleData) {
    for (size_t n : {100u, 255u, 270u, 4096u, 65536u, 300000u}) expect_round_trip(random_bytes(n, 7));
}

TEST(Lz4, RoundTripsLongRuns) {
    expect_round_trip(Bytes(1 * MiB, 0));
    expect_round_trip(Bytes(70000, 0xFF));
    Bytes b = random_bytes(1000, 1);
    b.insert(b.end(), 100000, 0); // a zero page run after code, as in the VMM's segments
    const Bytes tail = random_bytes(777, 2);
    b.insert(b.end(), tail.begin(), tail.end());
    expect_round_trip(b);
    EXPECT_LT(encode(b).size(), 3000u);
}

TEST(Lz4, RoundTripsOverlappingMatches) {
    // Patterns of every period 1..20 (offsets below, at and above the decoder's 8-byte chunk), of many lengths.
    for (size_t period = 1; period <= 20; ++period)
        for (size_t len : {13u, 19u, 20u, 21u, 64u, 279u, 1000u}) {
            Bytes b = random_bytes(period, static_cast<unsigned>(period));
            while (b.size() < len) b.push_back(b[b.size() - period]);
            b.push_back(0x11);
            expect_round_trip(b);
        }
}

TEST(Lz4, RoundTripsMixedData) {
    for (unsigned seed = 0; seed < 20; ++seed) expect_round_trip(mixed(1000 + seed * 3001, seed));
    const Bytes m = mixed(200000, 99);
    expect_round_trip(m);
    EXPECT_LT(encode(m).size(), m.size() / 3);
}

TEST(Lz4, UsesNoOffsetBeyond64KiB) {
    // A 64 KiB + 1 distance cannot be expressed: the repeat must come out as literals (or nearer matches).
    Bytes a = random_bytes(5000, 3);
    Bytes b = a;
    const Bytes gap = random_bytes(LZ4_MAX_OFFSET + 1 - a.size(), 4);
    b.insert(b.end(), gap.begin(), gap.end());
    b.insert(b.end(), a.begin(), a.end());
    ASSERT_EQ(b.size(), LZ4_MAX_OFFSET + 1 + a.size());
    expect_round_trip(b);
    // ... while exactly 65535 back is the farthest match.
    Bytes c = a;
    c.insert(c.end(), gap.begin(), gap.end() - 1);
    c.insert(c.end(), a.begin(), a.end());
    expect_round_trip(c);
    EXPECT_LT(encode(c).size(), c.size() - 4000);
}

TEST(Lz4, DecodesHandMadeBlocks) {
    Bytes out;
    // 'a', then 8 bytes from offset 1 (a run), then the last literals "bcdef".
    ASSERT_OK(decode({0x14, 'a', 0x01, 0x00, 0x50, 'b', 'c', 'd', 'e', 'f'}, 14, out));
    EXPECT_EQ(std::string(out.begin(), out.end()), "aaaaaaaaabcdef");
    // Literal count 15 + 0 (a length byte of 0 still follows a nibble of 15) and a match length 4 + 15 + 1 = 20.
    Bytes blk{0xFF, 0x00};
    for (int i = 0; i < 15; ++i) blk.push_back(static_cast<u8>('A' + i));
    blk.insert(blk.end(), {0x0F, 0x00, 0x01}); // offset 15, length byte 1
    blk.push_back(0x00);                       // last sequence: no literals
    ASSERT_OK(decode(blk, 35, out));
    ASSERT_EQ(out.size(), 35u);
    for (size_t i = 0; i < 35; ++i) EXPECT_EQ(out[i], 'A' + i % 15) << i;
    // Literal count 15 + 255 + 3 = 273: three bytes of count.
    Bytes lit{0xF0, 0xFF, 0x03};
    const Bytes r = random_bytes(273, 5);
    lit.insert(lit.end(), r.begin(), r.end());
    ASSERT_OK(decode(lit, 273, out));
    EXPECT_EQ(out, r);
}

TEST(Lz4, RejectsEmptyAndNull) {
    size_t n = 99;
    u8 buf[4];
    EXPECT_ERR(lz4_decode(nullptr, 0, buf, sizeof buf, n), "empty block", "LZ4 block");
    EXPECT_EQ(n, 0u);
    const u8 token = 0x10;
    EXPECT_ERR(lz4_decode(&token, 1, nullptr, 4, n), "output buffer is null", "LZ4 block");
    // A block long enough for the fast path into no buffer at all (what fuzz_lz4 found: the fast path's room check
    // let a null output through and formed null + literal count).
    Bytes blk{0x60, 'a', 'b', 'c', 'd', 'e', 'f', 0x06, 0x00};
    blk.insert(blk.end(), 30, 0x00);
    EXPECT_ERR(lz4_decode(blk.data(), blk.size(), nullptr, 0, n), "past the end of the output", "LZ4 block");
}

TEST(Lz4, EveryTruncationIsCaught) {
    // A block cut short either fails or decodes to fewer bytes than the original (the pack's raw_size check,
    // lib/formats/vmm_pack.h, rejects that): never the original size, never an overrun.
    for (const Bytes& raw : {mixed(3000, 1), random_bytes(600, 2), Bytes(5000, 0)}) {
        const Bytes block = encode(raw);
        for (size_t cut = 0; cut < block.size(); ++cut) {
            const Bytes part(block.begin(), block.begin() + static_cast<long>(cut));
            Bytes out;
            const Status s = decode(part, raw.size(), out);
            if (s.ok()) {
                EXPECT_LT(out.size(), raw.size()) << "cut " << cut;
            }
        }
    }
}

TEST(Lz4, RejectsTruncatedFields) {
    Bytes out;
    EXPECT_ERR(decode({0xF0}, 100, out), "inside a literal count", "LZ4 block");
    EXPECT_ERR(decode({0xF0, 0xFF}, 1000, out), "inside a literal count", "LZ4 block");
    EXPECT_ERR(decode({0x30, 'a', 'b'}, 100, out), "literals run past the end of the block", "LZ4 block");
    EXPECT_ERR(decode({0x10, 'a', 0x01}, 100, out), "inside a match offset", "LZ4 block");
    EXPECT_ERR(decode({0x1F, 'a', 0x01, 0x00}, 100, out), "inside a match length", "LZ4 block");
    EXPECT_ERR(decode({0x1F, 'a', 0x01, 0x00, 0xFF}, 1000, out), "inside a match length", "LZ4 block");
    EXPECT_ERR(decode({0x10, 'a', 0x01, 0x00}, 100, out), "ends after a match", "LZ4 block");
}

TEST(Lz4, RejectsBadOffsetsAndLengths) {
    Bytes out;
    // Offset 0.
    EXPECT_ERR(decode({0x10, 'a', 0x00, 0x00, 0x00}, 100, out), "match offset 0", "LZ4 block");
    // Offset 2 with 1 byte of output so far: before the start.
    Status s = decode({0x10, 'a', 0x02, 0x00, 0x00}, 100, out);
    EXPECT_ERR(s, "before the start of the output", "LZ4 block");
    EXPECT_EQ(s.value2, 2u);
    // Offset 0xFFFF at the very start.
    EXPECT_ERR(decode({0x00, 0xFF, 0xFF, 0x00}, 100, out), "before the start of the output", "LZ4 block");
    // Literals past the output: 3 literals into 2 bytes.
    EXPECT_ERR(decode({0x30, 'a', 'b', 'c'}, 2, out), "literals run past the end of the output", "LZ4 block");
    // A match past the output: 1 literal + 4 into 4 bytes; a huge length from 255-bytes.
    EXPECT_ERR(decode({0x10, 'a', 0x01, 0x00, 0x00}, 4, out), "match runs past the end of the output", "LZ4 block");
    Bytes huge{0x1F, 'a', 0x01, 0x00};
    huge.insert(huge.end(), 1000, 0xFF);
    huge.insert(huge.end(), {0x00, 0x00});
    EXPECT_ERR(decode(huge, 4096, out), "match runs past the end of the output", "LZ4 block");
    // The error's value is the offset of the sequence at fault.
    s = decode({0x10, 'a', 0x01, 0x00, 0x10, 'b', 0x09, 0x00, 0x00}, 100, out);
    EXPECT_ERR(s, "before the start of the output", "LZ4 block");
    EXPECT_EQ(s.value, 4u);
}

TEST(Lz4, SurvivesCorruption) {
    // Random byte changes in valid blocks: an error or some output, inside the buffer (ASan), and no hang.
    std::mt19937 rng(12345);
    const Bytes raw = mixed(20000, 3);
    const Bytes block = encode(raw);
    for (int trial = 0; trial < 3000; ++trial) {
        Bytes bad = block;
        const int flips = 1 + static_cast<int>(rng() % 3);
        for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<u8>(rng());
        Bytes out;
        (void)decode(bad, raw.size(), out);
    }
}

} // namespace
} // namespace evmm
