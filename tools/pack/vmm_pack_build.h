// Building a packed VMM blob (lib/formats/vmm_pack.h) on the host: evmm_pack's work, shared with the unit tests and
// the fuzz target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace evmm::pack {

// The blob for raw[0, size): a VmmPackHeader (raw_size, the hash, image_span as given) and raw's LZ4 block.
std::vector<uint8_t> vmm_pack_build(const uint8_t* raw, size_t size, uint64_t image_span);

} // namespace evmm::pack
