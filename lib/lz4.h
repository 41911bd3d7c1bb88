// The LZ4 block format: the decoder the loader unpacks the embedded VMM with (docs/vmm-pack.md).
//
// A block is a series of sequences. Each sequence is
//   token (1 byte: high nibble = literal count, low nibble = match length - 4),
//   more literal-count bytes when the high nibble is 15 (each added; a byte of 255 means another follows),
//   the literals,
//   a 16-bit little-endian match offset (1..65535 bytes back from the current output position),
//   more match-length bytes when the low nibble is 15 (as for the literal count).
// The last sequence stops after its literals (no offset, no match): the block ends there. A match may overlap
// the bytes it produces (offset < length repeats a pattern: offset 1 is a run of one byte).
//
// Reference: the LZ4 block format description (lz4/doc/lz4_Block_format.md in the LZ4 project). The encoders'
// end-of-block rules (the last 5 bytes are literals, no match starts in the last 12) exist for decoders that copy
// past the end; this decoder checks every length against both buffers instead and does not depend on them.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

inline constexpr size_t LZ4_MIN_MATCH = 4;          // the low nibble counts from here
inline constexpr u32 LZ4_NIBBLE_MAX = 15;           // a nibble of 15: the count continues in more bytes
inline constexpr u32 LZ4_LENGTH_BYTE_MORE = 255;    // a length byte of 255: another length byte follows
inline constexpr size_t LZ4_MAX_OFFSET = 65535;     // 16-bit offsets
inline constexpr size_t LZ4_LAST_LITERALS = 5;      // encoder rule: the block's last 5 bytes are literals
inline constexpr size_t LZ4_MATCH_START_LIMIT = 12; // encoder rule: no match starts in the last 12 bytes

// Decodes the LZ4 block in[0, in_len) into out[0, out_cap); out_len = the bytes produced. Never reads outside
// the input or writes outside [out, out + out_cap), whatever the input: a block that ends inside a sequence or right
// after a match, a length past the end of either buffer, and an offset of 0 or one reaching before `out` are errors
// (where: "LZ4 block"; value: the input offset of the sequence at fault, value2: a detail). An empty input is an
// error too (the shortest block is one token, 0x00, for no bytes). Bytes of `out` past out_len may have been
// written (copies go in 8-byte chunks where both buffers leave room).
Status lz4_decode(const u8* in, size_t in_len, u8* out, size_t out_cap, size_t& out_len);

} // namespace evmm
