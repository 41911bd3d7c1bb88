// The LZ4 block decoder. See lz4.h for the format and its reference.
//
// Speed matters here (P2, docs/performance.md: Bochs counts every instruction, and the loader unpacks ~190 KiB of
// VMM at boot): bytes move in 8-byte chunks, as one load and one store each, wherever both buffers have room for the
// whole last chunk; only near the end of a buffer does a copy finish byte by byte. Every length is checked against
// both buffers before anything is copied, so a corrupt block stops with an error, never an overrun.
#include "lib/lz4.h"
#include "evmm/unaligned.h"

namespace evmm {
namespace {

constexpr size_t CHUNK = sizeof(u64);
constexpr u32 NIBBLE_BITS = 4;
constexpr u32 NIBBLE_MASK = 0xF;
constexpr size_t OFFSET_BYTES = 2;
constexpr const char* WHERE = "LZ4 block";
// The fast path: a literal run of at most 14 bytes (nibble below 15) moves as 2 chunks, a match of at most 18 bytes
// (4 + a nibble below 15) as 3. It reads the token, 16 literal bytes (the 2-byte offset lies within the first 14 + 2
// after the literals) and writes up to 14 + 3 chunks past the output position.
constexpr size_t FAST_LITERAL_BYTES = 2 * CHUNK;
constexpr size_t FAST_MATCH_BYTES = 3 * CHUNK;
constexpr size_t FAST_LITERALS_MAX = LZ4_NIBBLE_MAX - 1;
constexpr size_t FAST_IN = 1 + FAST_LITERAL_BYTES + 1; // token, literals; offset <= token + 14 + 2
constexpr size_t FAST_OUT = FAST_LITERALS_MAX + FAST_MATCH_BYTES;
constexpr size_t FAST_TOKEN_END = LZ4_NIBBLE_MAX << NIBBLE_BITS; // tokens below: a literal nibble below 15
static_assert(FAST_LITERALS_MAX <= FAST_LITERAL_BYTES && LZ4_MIN_MATCH + LZ4_NIBBLE_MAX - 1 <= FAST_MATCH_BYTES);
static_assert(1 + FAST_LITERALS_MAX + OFFSET_BYTES <= FAST_IN && FAST_LITERAL_BYTES <= FAST_OUT);

// The smallest multiple of a match offset below 8 that is at least 8: a pattern of period `offset` also repeats
// with this period, which lets an overlapping match move in whole chunks (index 0: no such offset).
constexpr u8 PATTERN_STRIDE[CHUNK] = {0, 8, 8, 9, 8, 10, 12, 14};

// Adds the length bytes that follow a nibble of 15; false when the block ends before the last of them.
inline bool read_more_length(const u8*& ip, const u8* iend, size_t& len) {
    u32 b = 0;
    do {
        if (ip == iend) return false;
        b = *ip++;
        len += b;
    } while (b == LZ4_LENGTH_BYTE_MORE);
    return true;
}

// Copies n bytes forward from s to d, where s is either another buffer or at least 8 bytes behind d in the same
// one (each chunk then reads only bytes already written). `room` (>= n) bytes may be written from d and read
// from s: when the whole last chunk fits, the copy overshoots n instead of finishing byte by byte.
inline void copy_forward(u8* d, const u8* s, size_t n, size_t room) {
    size_t i = 0;
    if (align_up(n, CHUNK) <= room) {
        for (; i < n; i += CHUNK) store_unaligned(d + i, load_unaligned<u64>(s + i));
        return;
    }
    for (; i + CHUNK <= n; i += CHUNK) store_unaligned(d + i, load_unaligned<u64>(s + i));
    for (; i < n; ++i) d[i] = s[i];
}

// A match closer than one chunk: the first bytes one by one, until the pattern has been written out far enough
// that the rest can be read PATTERN_STRIDE[offset] bytes back, in chunks.
inline void copy_pattern(u8* d, size_t offset, size_t n, size_t room) {
    const size_t stride = PATTERN_STRIDE[offset];
    size_t head = stride - offset;
    if (head > n) head = n;
    const u8* const src = d - offset;
    for (size_t i = 0; i < head; ++i) d[i] = src[i];
    copy_forward(d + head, d + head - stride, n - head, room - head);
}

} // namespace

Status lz4_decode(const u8* in, size_t in_len, u8* out, size_t out_cap, size_t& out_len) {
    out_len = 0;
    if (in_len == 0 || in == nullptr) return Status::error("empty block (the shortest is one token)", WHERE);
    if (out == nullptr && out_cap != 0) return Status::error("output buffer is null", WHERE, out_cap);
    const u8* ip = in;
    const u8* const iend = in + in_len;
    u8* op = out;
    u8* const oend = out + out_cap;
    // The fast path runs while ip < in_fast_end and op < out_fast_end, compared as integers (no pointer outside a
    // buffer is ever formed); a buffer too small for it gives 0, below every pointer, null included.
    const uptr in_fast_end = in_len >= FAST_IN ? reinterpret_cast<uptr>(iend) - FAST_IN + 1 : 0;
    const uptr out_fast_end = out_cap >= FAST_OUT ? reinterpret_cast<uptr>(oend) - FAST_OUT + 1 : 0;
    for (;;) {
        if (reinterpret_cast<uptr>(ip) < in_fast_end && reinterpret_cast<uptr>(op) < out_fast_end) {
            // Fast path (nearly every sequence): at most 14 literals, moved as two chunks, then at most 18 bytes
            // from at least 8 back, moved as three. Both buffers have room for all five chunks, the offset lies
            // inside the FAST_IN input bytes checked, and the offset is checked against the output so far.
            const size_t token = *ip;
            const size_t lit = token >> NIBBLE_BITS;
            const size_t len = token & NIBBLE_MASK;
            if (token < FAST_TOKEN_END && len != LZ4_NIBBLE_MAX) {
                const size_t offset = rd16(ip + 1 + lit);
                u8* const mp = op + lit;
                if (offset >= CHUNK && offset <= static_cast<size_t>(mp - out)) {
                    const u8* const src = mp - offset;
                    store_unaligned(op, load_unaligned<u64>(ip + 1));
                    store_unaligned(op + CHUNK, load_unaligned<u64>(ip + 1 + CHUNK));
                    store_unaligned(mp, load_unaligned<u64>(src));
                    store_unaligned(mp + CHUNK, load_unaligned<u64>(src + CHUNK));
                    store_unaligned(mp + 2 * CHUNK, load_unaligned<u64>(src + 2 * CHUNK));
                    ip += 1 + lit + OFFSET_BYTES;
                    op = mp + len + LZ4_MIN_MATCH;
                    continue;
                }
            }
        }

        // Any sequence, every length checked against both buffers.
        const u64 seq = static_cast<u64>(ip - in);
        if (ip == iend)
            return Status::error("block ends after a match (the last sequence must end with literals)", WHERE, seq);
        const u32 token = *ip++;
        size_t lit = token >> NIBBLE_BITS;
        if (lit == LZ4_NIBBLE_MAX && !read_more_length(ip, iend, lit))
            return Status::error("block ends inside a literal count", WHERE, seq);
        const size_t in_room = static_cast<size_t>(iend - ip);
        const size_t out_room = static_cast<size_t>(oend - op);
        if (lit > in_room) return Status::error("literals run past the end of the block", WHERE, seq, lit);
        if (lit > out_room) return Status::error("literals run past the end of the output", WHERE, seq, lit);
        copy_forward(op, ip, lit, in_room < out_room ? in_room : out_room);
        ip += lit;
        op += lit;
        if (ip == iend) break; // the last sequence: literals only

        if (static_cast<size_t>(iend - ip) < OFFSET_BYTES)
            return Status::error("block ends inside a match offset", WHERE, seq);
        const size_t offset = rd16(ip);
        ip += OFFSET_BYTES;
        if (offset == 0) return Status::error("match offset 0", WHERE, seq);
        if (offset > static_cast<size_t>(op - out))
            return Status::error("match offset reaches before the start of the output", WHERE, seq, offset);
        size_t len = token & NIBBLE_MASK;
        if (len == LZ4_NIBBLE_MAX && !read_more_length(ip, iend, len))
            return Status::error("block ends inside a match length", WHERE, seq);
        len += LZ4_MIN_MATCH;
        const size_t room = static_cast<size_t>(oend - op);
        if (len > room) return Status::error("match runs past the end of the output", WHERE, seq, len);
        if (offset >= CHUNK)
            copy_forward(op, op - offset, len, room);
        else
            copy_pattern(op, offset, len, room);
        op += len;
    }
    out_len = static_cast<size_t>(op - out);
    return Status::success();
}

} // namespace evmm
