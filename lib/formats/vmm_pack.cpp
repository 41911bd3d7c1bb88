// The packed VMM image. See vmm_pack.h.
#include "lib/formats/vmm_pack.h"
#include "evmm/unaligned.h"
#include "lib/lz4.h"

namespace evmm {
namespace {

constexpr u64 FNV64_OFFSET_BASIS = 0xCBF29CE484222325ull;
constexpr u64 FNV64_PRIME = 0x100000001B3ull;
constexpr size_t WORD = sizeof(u64);
// A multiplication carries only upward, so after it the top bits of the state had no say in the bottom ones: two
// words differing only in bit 63 would cancel out (the unit tests' corruption trials found such a pair). Rotating
// the product feeds the high bits back down before the next word.
constexpr unsigned MIX_ROTATE = 29;

inline u64 mix(u64 h, u64 w) {
    const u64 x = (h ^ w) * FNV64_PRIME;
    return x << MIX_ROTATE | x >> (64 - MIX_ROTATE);
}
constexpr const char* WHERE = "VMM pack";

} // namespace

u64 vmm_pack_hash(const u8* data, size_t len) {
    u64 h = FNV64_OFFSET_BASIS;
    size_t i = 0;
    // Four words a round: a quarter of the loop's own instructions (P2 counts them all).
    constexpr size_t ROUND = 4 * WORD;
    for (; i + ROUND <= len; i += ROUND) {
        h = mix(h, rd64(data + i));
        h = mix(h, rd64(data + i + WORD));
        h = mix(h, rd64(data + i + 2 * WORD));
        h = mix(h, rd64(data + i + 3 * WORD));
    }
    for (; i + WORD <= len; i += WORD) h = mix(h, rd64(data + i));
    if (i < len) {
        u64 tail = 0;
        __builtin_memcpy(&tail, data + i, len - i); // little-endian: the bytes fill the word from the bottom
        h = mix(h, tail);
    }
    return mix(h, len);
}

Status vmm_pack_inspect(const u8* blob, size_t blob_size, VmmPackHeader& out) {
    out = VmmPackHeader{};
    if (blob == nullptr || blob_size < sizeof(VmmPackHeader))
        return Status::error("blob is smaller than its header", WHERE, blob_size, sizeof(VmmPackHeader));
    const VmmPackHeader h = load_unaligned<VmmPackHeader>(blob);
    if (__builtin_memcmp(h.magic, VMM_PACK_MAGIC, sizeof VMM_PACK_MAGIC) != 0)
        return Status::error("no \"EVMMPACK\" magic", WHERE, load_unaligned<u64>(h.magic));
    if (h.version != VMM_PACK_VERSION) return Status::error("unknown version", WHERE, h.version, VMM_PACK_VERSION);
    if (h.header_size != sizeof(VmmPackHeader))
        return Status::error("header_size is not 48", WHERE, h.header_size, sizeof(VmmPackHeader));
    if (h.packed_size != blob_size - sizeof(VmmPackHeader))
        return Status::error("packed_size is not the rest of the blob", WHERE, h.packed_size,
                             blob_size - sizeof(VmmPackHeader));
    if (h.raw_size == 0) return Status::error("raw_size is 0", WHERE);
    if (h.image_span == 0) return Status::error("image_span is 0", WHERE);
    out = h;
    return Status::success();
}

Status vmm_pack_unpack(const u8* blob, const VmmPackHeader& h, u8* dest, size_t dest_size) {
    if (h.raw_size > dest_size)
        return Status::error("raw_size is larger than the buffer", WHERE, h.raw_size, dest_size);
    size_t n = 0;
    EVMM_TRY(lz4_decode(blob + h.header_size, h.packed_size, dest, h.raw_size, n));
    if (n != h.raw_size) return Status::error("the LZ4 block ends before raw_size bytes", WHERE, n, h.raw_size);
    const u64 hash = vmm_pack_hash(dest, n);
    if (hash != h.raw_hash)
        return Status::error("hash of the unpacked image differs from raw_hash", WHERE, hash, h.raw_hash);
    return Status::success();
}

} // namespace evmm
