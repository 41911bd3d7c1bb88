// Unit tests for lib/formats/vmm_pack (the packed VMM the loader embeds) with tools/pack's builder: the header
// checks, the hash, unpacking, and corrupt or cut blobs.
#include "lib/formats/vmm_pack.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "status_expect.h"
#include "tools/pack/vmm_pack_build.h"

namespace evmm {
namespace {

using Bytes = std::vector<u8>;

Bytes sample(size_t n) {
    std::mt19937 rng(42);
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = i % 3 == 0 ? static_cast<u8>(rng() % 4) : static_cast<u8>(i >> 4);
    return b;
}

Bytes build(const Bytes& raw, u64 span = 0x3d000) { return pack::vmm_pack_build(raw.data(), raw.size(), span); }

VmmPackHeader header_of(const Bytes& blob) {
    VmmPackHeader h{};
    std::memcpy(&h, blob.data(), sizeof h);
    return h;
}
void set_header(Bytes& blob, const VmmPackHeader& h) { std::memcpy(blob.data(), &h, sizeof h); }

TEST(VmmPack, RoundTrip) {
    for (size_t n : {1u, 7u, 8u, 9u, 100u, 4096u, 200000u}) {
        const Bytes raw = sample(n);
        const Bytes blob = build(raw);
        VmmPackHeader h{};
        ASSERT_OK(vmm_pack_inspect(blob.data(), blob.size(), h));
        EXPECT_EQ(h.raw_size, n);
        EXPECT_EQ(h.image_span, 0x3d000u);
        EXPECT_EQ(h.raw_hash, vmm_pack_hash(raw.data(), raw.size()));
        Bytes out(n);
        ASSERT_OK(vmm_pack_unpack(blob.data(), h, out.data(), out.size()));
        EXPECT_EQ(out, raw);
    }
}

TEST(VmmPack, HashSeesEveryByteAndTheLength) {
    const Bytes raw = sample(1001);
    const u64 h0 = vmm_pack_hash(raw.data(), raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
        Bytes b = raw;
        b[i] ^= static_cast<u8>(1u << (i % 8));
        EXPECT_NE(vmm_pack_hash(b.data(), b.size()), h0) << i;
    }
    // Zero padding of the last word does not hide the length.
    const u8 zeros[16] = {};
    for (size_t n = 0; n < 16; ++n) EXPECT_NE(vmm_pack_hash(zeros, n), vmm_pack_hash(zeros, n + 1)) << n;
    // FNV-1a's constants on an empty input: (basis ^ 0) * prime, rotated left by 29.
    const u64 x = 0xCBF29CE484222325ull * 0x100000001B3ull;
    EXPECT_EQ(vmm_pack_hash(nullptr, 0), x << 29 | x >> 35);
    // Two words that differ only in bit 63 (a plain multiply-xor hash cancels these out).
    u64 w[4] = {1, 2, 3, 4};
    const u64 hw = vmm_pack_hash(reinterpret_cast<const u8*>(w), sizeof w);
    w[1] ^= u64{1} << 63;
    w[2] ^= u64{1} << 63;
    EXPECT_NE(vmm_pack_hash(reinterpret_cast<const u8*>(w), sizeof w), hw);
}

TEST(VmmPack, InspectRejectsBadHeaders) {
    const Bytes blob = build(sample(5000));
    VmmPackHeader h{};
    EXPECT_ERR(vmm_pack_inspect(nullptr, 0, h), "smaller than its header", "VMM pack");
    EXPECT_ERR(vmm_pack_inspect(blob.data(), sizeof(VmmPackHeader) - 1, h), "smaller than its header", "VMM pack");
    const auto bad = [&](auto change, const char* what) {
        Bytes b = blob;
        VmmPackHeader x = header_of(b);
        change(x);
        set_header(b, x);
        VmmPackHeader out{};
        EXPECT_ERR(vmm_pack_inspect(b.data(), b.size(), out), what, "VMM pack");
    };
    bad([](VmmPackHeader& x) { x.magic[0] = 'X'; }, "magic");
    bad([](VmmPackHeader& x) { x.version = 2; }, "unknown version");
    bad([](VmmPackHeader& x) { x.header_size = 40; }, "header_size");
    bad([](VmmPackHeader& x) { x.packed_size += 1; }, "packed_size");
    bad([](VmmPackHeader& x) { x.raw_size = 0; }, "raw_size is 0");
    bad([](VmmPackHeader& x) { x.image_span = 0; }, "image_span is 0");
    // Every cut, and a trailing byte: packed_size no longer matches.
    for (size_t cut = sizeof(VmmPackHeader); cut < blob.size(); ++cut)
        EXPECT_ERR(vmm_pack_inspect(blob.data(), cut, h), "packed_size", "VMM pack");
    Bytes longer = blob;
    longer.push_back(0);
    EXPECT_ERR(vmm_pack_inspect(longer.data(), longer.size(), h), "packed_size", "VMM pack");
}

TEST(VmmPack, UnpackRejectsCorruptBlobs) {
    const Bytes raw = sample(20000);
    const Bytes blob = build(raw);
    VmmPackHeader h{};
    ASSERT_OK(vmm_pack_inspect(blob.data(), blob.size(), h));
    Bytes out(raw.size());
    EXPECT_ERR(vmm_pack_unpack(blob.data(), h, out.data(), out.size() - 1), "larger than the buffer", "VMM pack");

    // raw_size beyond what the block holds; raw_size short of it (the decoder may not write past raw_size).
    VmmPackHeader more = h;
    more.raw_size += 1;
    Bytes big(raw.size() + 1);
    EXPECT_ERR(vmm_pack_unpack(blob.data(), more, big.data(), big.size()), "ends before raw_size", "VMM pack");
    VmmPackHeader less = h;
    less.raw_size -= 1;
    EXPECT_ERR(vmm_pack_unpack(blob.data(), less, out.data(), less.raw_size), "past the end of the output",
               "LZ4 block");

    // A wrong hash.
    VmmPackHeader wrong = h;
    wrong.raw_hash ^= 1;
    const Status s = vmm_pack_unpack(blob.data(), wrong, out.data(), out.size());
    EXPECT_ERR(s, "hash", "VMM pack");
    EXPECT_EQ(s.value, h.raw_hash);

    // Every truncation of the block (packed_size fixed up to match, as a blob cut and re-headed would be).
    for (size_t cut = 1; cut < h.packed_size; ++cut) {
        VmmPackHeader c = h;
        c.packed_size = cut;
        EXPECT_FALSE(vmm_pack_unpack(blob.data(), c, out.data(), out.size()).ok()) << cut;
    }
    // Any one byte of the block changed: an LZ4 error or a hash mismatch, or (an offset changed to another copy of
    // the same bytes) exactly the original image; never a different image accepted.
    std::mt19937 rng(7);
    int refused = 0;
    constexpr int TRIALS = 2000;
    for (int trial = 0; trial < TRIALS; ++trial) {
        Bytes b = blob;
        const size_t at = sizeof(VmmPackHeader) + rng() % h.packed_size;
        b[at] ^= static_cast<u8>(1 + rng() % 255);
        if (!vmm_pack_unpack(b.data(), h, out.data(), out.size()).ok())
            ++refused;
        else if (out != raw) {
            size_t d = 0;
            while (out[d] == raw[d]) ++d;
            ADD_FAILURE() << "corrupt byte at " << at << " accepted; first difference at " << d << " of " << raw.size()
                          << " hash " << std::hex << vmm_pack_hash(out.data(), out.size()) << " vs " << h.raw_hash;
        }
    }
    EXPECT_GT(refused, TRIALS * 9 / 10);
}

} // namespace
} // namespace evmm
