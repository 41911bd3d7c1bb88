// The packed VMM image: how the build embeds the stripped VMM ELF in build/evmm.elf, LZ4-compressed, and how the
// loader gets it back (docs/vmm-pack.md). Written by the host tool tools/pack (evmm_pack), read by loader/stage1.
//
// Layout (little-endian): a VmmPackHeader, then packed_size bytes: one LZ4 block (lib/lz4.h) that decodes to the
// raw_size bytes of the ELF file, whose vmm_pack_hash is raw_hash.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

inline constexpr char VMM_PACK_MAGIC[8] = {'E', 'V', 'M', 'M', 'P', 'A', 'C', 'K'};
inline constexpr u32 VMM_PACK_VERSION = 1;

struct VmmPackHeader {
    char magic[8];   // VMM_PACK_MAGIC
    u32 version;     // VMM_PACK_VERSION
    u32 header_size; // sizeof(VmmPackHeader): the LZ4 block starts here
    u64 raw_size;    // bytes of the ELF file once unpacked (> 0)
    u64 packed_size; // bytes of the LZ4 block: the rest of the blob, exactly
    u64 raw_hash;    // vmm_pack_hash() of the unpacked file: a corrupt blob or a bad unpack is caught at boot
    // The memory the ELF's PT_LOAD segments span (max_vaddr - min_vaddr, bss included), recorded by the packer so
    // that the loader can plan the runtime region, and where to unpack inside it, before it unpacks; the loader
    // checks it against the unpacked ELF.
    u64 image_span;
};
static_assert(sizeof(VmmPackHeader) == 48);
static_assert(offsetof(VmmPackHeader, raw_size) == 16);
static_assert(offsetof(VmmPackHeader, image_span) == 40);

// A hash of `len` bytes for corruption checks (not against an attacker: whoever can change the blob can change the
// hash): FNV-1a's 64-bit offset basis and prime, applied to 64-bit little-endian words instead of bytes (an
// eighth of the multiplications, P2), each product rotated left by 29 bits (so that high bits reach the low ones),
// the last partial word zero-padded, then the length. Any change confined to one word changes the result (each
// step is a bijection of the state for a fixed word, and of the word for a fixed state).
u64 vmm_pack_hash(const u8* data, size_t len);

// Checks a packed blob's header: blob_size at least the header, the magic, the version, header_size, packed_size
// == blob_size - header_size (nothing missing, nothing trailing), raw_size and image_span not 0. out = the header.
Status vmm_pack_inspect(const u8* blob, size_t blob_size, VmmPackHeader& out);

// Unpacks the blob (already accepted by vmm_pack_inspect, header `h`) into dest[0, raw_size): dest_size must be at
// least raw_size; the decoder writes nothing past raw_size. Errors: the LZ4 block's (lz4_decode), a block that
// decodes to fewer bytes than raw_size, a hash that differs from raw_hash (value: computed, value2: expected).
Status vmm_pack_unpack(const u8* blob, const VmmPackHeader& h, u8* dest, size_t dest_size);

} // namespace evmm
