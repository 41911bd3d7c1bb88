// The packed VMM's decoding (lib/lz4: lz4_decode; lib/formats/vmm_pack: vmm_pack_inspect, vmm_pack_unpack) on any
// bytes, and the packer's encoder (tools/pack) against it. Each input is used three ways:
//  1. as an LZ4 block (after 2 bytes giving the output buffer's size): decoded into a heap buffer of exactly that
//     size, so ASan catches a write past it; out_len must not exceed it;
//  2. as a packed blob: inspected and, when accepted and not too large to unpack here (16 MiB), unpacked into a
//     buffer of exactly raw_size; a success must reproduce raw_hash;
//  3. as raw data: encoded, and the block decoded again: the input must come back, byte for byte.
#include "fuzz_common.h"
#include "lib/formats/vmm_pack.h"
#include "lib/lz4.h"
#include "tools/pack/lz4_encode.h"

using namespace evmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr size_t CAP_BYTES = 2;
    if (size >= CAP_BYTES) {
        const size_t cap = fuzz::le(data, size, 0, CAP_BYTES);
        std::vector<u8> out(cap);
        size_t n = 0;
        const Status s = lz4_decode(data + CAP_BYTES, size - CAP_BYTES, out.data(), cap, n);
        FUZZ_CHECK(n <= cap && (s.ok() || n == 0));
    }

    VmmPackHeader h{};
    if (vmm_pack_inspect(data, size, h).ok()) {
        FUZZ_CHECK(h.packed_size == size - sizeof(VmmPackHeader) && h.raw_size != 0);
        if (h.raw_size <= 16 * MiB) {
            std::vector<u8> out(h.raw_size);
            if (vmm_pack_unpack(data, h, out.data(), out.size()).ok())
                FUZZ_CHECK(vmm_pack_hash(out.data(), out.size()) == h.raw_hash);
        }
    }

    const std::vector<u8> block = pack::lz4_encode(data, size);
    std::vector<u8> back(size);
    size_t n = 0;
    FUZZ_CHECK(lz4_decode(block.data(), block.size(), back.data(), back.size(), n).ok());
    FUZZ_CHECK(n == size && (size == 0 || std::memcmp(back.data(), data, size) == 0));
    return 0;
}
