// The LZ4 block encoder of the host tool evmm_pack (and of the unit tests and the fuzz target, which check it
// against the loader's decoder, lib/lz4.h). Host C++ only: it never runs in evmm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace evmm::pack {

// One LZ4 block holding `size` bytes of `data` (lib/lz4.h). Near-optimal parse: the longest earlier match at each
// position (hash chains over the whole 64 KiB window), then the cheapest cover of the input by literals and
// matches, counted in output bytes plus a charge per match for the decoder's time (SEQUENCE_COST). The block keeps the
// format's end-of-block rules (the last 5 bytes are literals, no match starts in the last 12), so any LZ4 decoder reads
// it. Empty input: the one-token block 0x00.
std::vector<uint8_t> lz4_encode(const uint8_t* data, size_t size);

} // namespace evmm::pack
