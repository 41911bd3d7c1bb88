// The LZ4 block encoder. See lz4_encode.h.
#include "tools/pack/lz4_encode.h"

#include <algorithm>

#include "lib/lz4.h"

namespace evmm::pack {
namespace {

constexpr unsigned HASH_BITS = 16;
constexpr size_t CHAIN_DEPTH = 4096;       // candidates tried per position: the VMM packs in well under a second
constexpr size_t SHORT_LENGTHS_TRIED = 32; // the parse weighs match lengths 4..4+this, and the longest
constexpr size_t TOKEN_AND_OFFSET = 3;     // output bytes a match costs besides its length bytes
// What the parse charges a match on top of its bytes, in bytes: the decoder's time. Every sequence costs the loader
// about 40 instructions however short (P2, docs/vmm-pack.md), so a match must save more than its own bytes to be
// taken. On the VMM (194,880 bytes; packed bytes / sequences / instructions to decode): 0: 114,332 / 18,253 /
// 761 K; 1: 120,405 / 13,000 / 634 K; 2: 128,284 / 9,311 / 546 K. 1 buys a sixth of the decode time for 5 % more.
constexpr size_t SEQUENCE_COST = 3;
// A match this long ends the search at its position, and the positions it covers (but its last LONG_MATCH - 1)
// take the same match, shortened, without a search of their own: long runs (zero pages) pack in linear time.
constexpr size_t LONG_MATCH = 256;
constexpr size_t NO_POS = SIZE_MAX;

size_t hash4(const uint8_t* p) {
    constexpr uint32_t KNUTH = 2654435761u; // Knuth's multiplicative hash constant (2^32 / golden ratio)
    const uint32_t v = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    return (v * KNUTH) >> (32 - HASH_BITS);
}

// Bytes a length field takes beyond its nibble.
size_t length_bytes(size_t n) { return n < LZ4_NIBBLE_MAX ? 0 : 1 + (n - LZ4_NIBBLE_MAX) / LZ4_LENGTH_BYTE_MORE; }

void put_length(std::vector<uint8_t>& out, size_t n) {
    if (n < LZ4_NIBBLE_MAX) return;
    n -= LZ4_NIBBLE_MAX;
    for (; n >= LZ4_LENGTH_BYTE_MORE; n -= LZ4_LENGTH_BYTE_MORE) out.push_back(LZ4_LENGTH_BYTE_MORE);
    out.push_back(static_cast<uint8_t>(n));
}

// One sequence: literals, then a match (length 0: none, the block's last sequence).
void put_sequence(std::vector<uint8_t>& out, const uint8_t* lit, size_t nlit, size_t offset, size_t len) {
    const size_t m = len == 0 ? 0 : len - LZ4_MIN_MATCH;
    out.push_back(
        static_cast<uint8_t>(std::min<size_t>(nlit, LZ4_NIBBLE_MAX) << 4 | std::min<size_t>(m, LZ4_NIBBLE_MAX)));
    put_length(out, nlit);
    out.insert(out.end(), lit, lit + nlit);
    if (len == 0) return;
    out.push_back(static_cast<uint8_t>(offset));
    out.push_back(static_cast<uint8_t>(offset >> 8));
    put_length(out, m);
}

} // namespace

std::vector<uint8_t> lz4_encode(const uint8_t* data, size_t size) {
    // Longest match at each position where the end-of-block rules allow one.
    std::vector<size_t> match_len(size, 0), match_off(size, 0);
    if (size > LZ4_MATCH_START_LIMIT) {
        std::vector<size_t> head(size_t{1} << HASH_BITS, NO_POS), prev(size, NO_POS);
        const size_t last_start = size - LZ4_MATCH_START_LIMIT;
        const auto insert = [&](size_t i) {
            const size_t h = hash4(data + i);
            prev[i] = head[h];
            head[h] = i;
        };
        for (size_t i = 0; i <= last_start; ++i) {
            const size_t h = hash4(data + i);
            const size_t limit = size - LZ4_LAST_LITERALS - i;
            size_t best = 0, best_off = 0, depth = CHAIN_DEPTH;
            for (size_t j = head[h]; j != NO_POS && i - j <= LZ4_MAX_OFFSET && depth-- > 0; j = prev[j]) {
                if (best != 0 && data[j + best] != data[i + best]) continue; // cannot beat best
                size_t n = 0;
                while (n < limit && data[j + n] == data[i + n]) ++n;
                if (n > best) {
                    best = n;
                    best_off = i - j;
                    if (n == limit || n >= LONG_MATCH) break;
                }
            }
            insert(i);
            if (best < LZ4_MIN_MATCH) continue;
            match_len[i] = best;
            match_off[i] = best_off;
            if (best < LONG_MATCH) continue;
            for (size_t k = 1; k <= best - LONG_MATCH; ++k) {
                match_len[i + k] = best - k;
                match_off[i + k] = best_off;
                insert(i + k);
            }
            i += best - LONG_MATCH;
        }
    }

    // Cheapest cover of [i, size) in output bytes (plus SEQUENCE_COST a match), from the end: a literal (1 byte; the
    // occasional length byte of a long literal run is not counted) or a match of a length the parse weighs.
    std::vector<size_t> cost(size + 1, 0), choice(size, 0);
    for (size_t i = size; i-- > 0;) {
        cost[i] = cost[i + 1] + 1;
        const size_t longest = match_len[i];
        if (longest == 0) continue;
        const size_t shortest_long = std::max(LZ4_MIN_MATCH, std::min(longest, LZ4_MIN_MATCH + SHORT_LENGTHS_TRIED));
        for (size_t len = longest;; len = len > shortest_long ? shortest_long : len - 1) {
            const size_t c = SEQUENCE_COST + TOKEN_AND_OFFSET + length_bytes(len - LZ4_MIN_MATCH) + cost[i + len];
            if (c < cost[i]) {
                cost[i] = c;
                choice[i] = len;
            }
            if (len == LZ4_MIN_MATCH) break;
        }
    }

    std::vector<uint8_t> out;
    size_t anchor = 0, i = 0;
    while (i < size) {
        if (choice[i] == 0) {
            ++i;
            continue;
        }
        put_sequence(out, data + anchor, i - anchor, match_off[i], choice[i]);
        i += choice[i];
        anchor = i;
    }
    put_sequence(out, data + anchor, size - anchor, 0, 0);
    return out;
}

} // namespace evmm::pack
