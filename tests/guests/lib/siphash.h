// SipHash-2-4 (Aumasson, Bernstein: "SipHash: a fast short-input PRF", 2012), the test TEE's MAC
// (tests/guests/tee.cpp, EVMM_TEE_SVC_MAC) and teeclient's reference. Pure, header-only, no library calls, so it
// builds freestanding (the TEE, the guests) and on the host (tests/unit/siphash_test.cpp: the paper's vectors).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace guest {

inline constexpr uint64_t SIPHASH_V0 = 0x736f6d6570736575ull; // "somepseu"
inline constexpr uint64_t SIPHASH_V1 = 0x646f72616e646f6dull; // "dorandom"
inline constexpr uint64_t SIPHASH_V2 = 0x6c7967656e657261ull; // "lygenera"
inline constexpr uint64_t SIPHASH_V3 = 0x7465646279746573ull; // "tedbytes"
inline constexpr int SIPHASH_C_ROUNDS = 2;                    // per message word
inline constexpr int SIPHASH_D_ROUNDS = 4;                    // finalization
inline constexpr uint64_t SIPHASH_FINAL_XOR = 0xff;

struct SipKey {
    uint64_t k0 = 0, k1 = 0; // the 16 key bytes as two little-endian words
};

constexpr uint64_t siphash_rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

constexpr void siphash_round(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
    v0 += v1;
    v1 = siphash_rotl(v1, 13);
    v1 ^= v0;
    v0 = siphash_rotl(v0, 32);
    v2 += v3;
    v3 = siphash_rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = siphash_rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = siphash_rotl(v1, 17);
    v1 ^= v2;
    v2 = siphash_rotl(v2, 32);
}

// Little-endian load of n (<= 8) bytes, one at a time (no alignment assumption, no memcpy call).
constexpr uint64_t siphash_load(const volatile uint8_t* p, size_t n) {
    uint64_t w = 0;
    for (size_t i = 0; i < n; ++i) w |= static_cast<uint64_t>(p[i]) << (8 * i);
    return w;
}

// SipHash-2-4 of data[0, len) under key. `volatile`: the TEE reads guest0's buffer, which guest0 may change
// meanwhile; every byte is read exactly once.
inline uint64_t siphash24(SipKey key, const volatile uint8_t* data, size_t len) {
    uint64_t v0 = key.k0 ^ SIPHASH_V0, v1 = key.k1 ^ SIPHASH_V1, v2 = key.k0 ^ SIPHASH_V2, v3 = key.k1 ^ SIPHASH_V3;
    const size_t whole = len & ~size_t{7};
    for (size_t i = 0; i < whole; i += 8) {
        const uint64_t m = siphash_load(data + i, 8);
        v3 ^= m;
        for (int r = 0; r < SIPHASH_C_ROUNDS; ++r) siphash_round(v0, v1, v2, v3);
        v0 ^= m;
    }
    const uint64_t last = (static_cast<uint64_t>(len) << 56) | siphash_load(data + whole, len - whole);
    v3 ^= last;
    for (int r = 0; r < SIPHASH_C_ROUNDS; ++r) siphash_round(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= SIPHASH_FINAL_XOR;
    for (int r = 0; r < SIPHASH_D_ROUNDS; ++r) siphash_round(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

// The key the test TEE MACs with, derived from the device seed (evmm_tee_seed_t.seed, 32 bytes): SipHash-2-4
// keyed with the seed's first 16 bytes over its last 16 bytes, once with the label byte 0 and once with 1 appended
// (k0, k1). A one-way step: neither the seed nor the key ever leaves TEE memory.
inline constexpr uint8_t SIPHASH_KDF_LABEL_K0 = 0, SIPHASH_KDF_LABEL_K1 = 1;
inline SipKey siphash_derive_key(const uint8_t seed[32]) {
    const SipKey master{siphash_load(seed, 8), siphash_load(seed + 8, 8)};
    uint8_t msg[17] = {};
    for (int i = 0; i < 16; ++i) msg[i] = seed[16 + i];
    msg[16] = SIPHASH_KDF_LABEL_K0;
    const uint64_t k0 = siphash24(master, msg, sizeof msg);
    msg[16] = SIPHASH_KDF_LABEL_K1;
    const uint64_t k1 = siphash24(master, msg, sizeof msg);
    return SipKey{k0, k1};
}

} // namespace guest
