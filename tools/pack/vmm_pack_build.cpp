// Building a packed VMM blob. See vmm_pack_build.h.
#include "tools/pack/vmm_pack_build.h"

#include <cstring>

#include "lib/formats/vmm_pack.h"
#include "tools/pack/lz4_encode.h"

namespace evmm::pack {

std::vector<uint8_t> vmm_pack_build(const uint8_t* raw, size_t size, uint64_t image_span) {
    const std::vector<uint8_t> block = lz4_encode(raw, size);
    VmmPackHeader h{};
    std::memcpy(h.magic, VMM_PACK_MAGIC, sizeof h.magic);
    h.version = VMM_PACK_VERSION;
    h.header_size = sizeof h;
    h.raw_size = size;
    h.packed_size = block.size();
    h.raw_hash = vmm_pack_hash(raw, size);
    h.image_span = image_span;
    std::vector<uint8_t> blob(sizeof h + block.size());
    std::memcpy(blob.data(), &h, sizeof h);
    std::memcpy(blob.data() + sizeof h, block.data(), block.size()); // (never empty: at least one token)
    return blob;
}

} // namespace evmm::pack
