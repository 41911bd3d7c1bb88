// Unit tests for the test TEE's MAC (tests/guests/lib/siphash.h): SipHash-2-4's known answers from its paper
// (Aumasson, Bernstein 2012: key 00..0f, message 00..0e; appendix A) and the reference implementation's vectors
// (key 00..0f, message 00..len-1), and the key derivation's properties.
#include "tests/guests/lib/siphash.h"

#include <gtest/gtest.h>

using guest::siphash24;
using guest::SipKey;

namespace {

constexpr SipKey REF_KEY{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull}; // bytes 00..0f

uint64_t ref_mac(size_t len) {
    uint8_t msg[64];
    for (size_t i = 0; i < sizeof msg; ++i) msg[i] = static_cast<uint8_t>(i);
    return siphash24(REF_KEY, msg, len);
}

} // namespace

TEST(SipHash, PaperVector) { EXPECT_EQ(ref_mac(15), 0xa129ca6149be45e5ull); }

TEST(SipHash, ReferenceVectors) {
    EXPECT_EQ(ref_mac(0), 0x726fdb47dd0e0e31ull);  // vectors.h vectors_sip64[0]: 31 0e 0e dd 47 db 6f 72
    EXPECT_EQ(ref_mac(1), 0x74f839c593dc67fdull);  // [1]: fd 67 dc 93 c5 39 f8 74
    EXPECT_EQ(ref_mac(63), 0x958a324ceb064572ull); // [63]: 72 45 06 eb 4c 32 8a 95
}

TEST(SipHash, KeyAndMessageMatter) {
    uint8_t msg[32] = {};
    const uint64_t a = siphash24(REF_KEY, msg, sizeof msg);
    EXPECT_EQ(siphash24(REF_KEY, msg, sizeof msg), a);
    msg[17] ^= 1;
    EXPECT_NE(siphash24(REF_KEY, msg, sizeof msg), a);
    msg[17] ^= 1;
    EXPECT_NE(siphash24(SipKey{REF_KEY.k0 ^ 1, REF_KEY.k1}, msg, sizeof msg), a);
    EXPECT_NE(siphash24(REF_KEY, msg, sizeof msg - 1), a); // the length is part of the last word
}

TEST(SipHash, DerivedKey) {
    uint8_t seed[32];
    for (int i = 0; i < 32; ++i) seed[i] = static_cast<uint8_t>(0xA0 + i);
    const SipKey k = guest::siphash_derive_key(seed);
    const SipKey again = guest::siphash_derive_key(seed);
    EXPECT_EQ(k.k0, again.k0);
    EXPECT_EQ(k.k1, again.k1);
    EXPECT_NE(k.k0, k.k1);
    seed[31] ^= 0x80; // any seed byte changes both words
    const SipKey other = guest::siphash_derive_key(seed);
    EXPECT_NE(other.k0, k.k0);
    EXPECT_NE(other.k1, k.k1);
    seed[31] ^= 0x80;
    seed[0] ^= 1;
    EXPECT_NE(guest::siphash_derive_key(seed).k0, k.k0);
}
