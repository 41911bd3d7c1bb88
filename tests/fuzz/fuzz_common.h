// What the fuzz targets share: guest0's memory as the boot loaders see it (a buffer for [0, 64 MiB) and the map
// the unit tests use), the check that fails a run, and little-endian reads of the fuzz input.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "evmm/base.h"
#include "lib/formats/memmap.h"
#include "vmm/guest/boot/guest_mem.h"

namespace evmm::fuzz {

// A broken invariant of a parser's result (not only a memory error): abort, so libFuzzer records the input.
#define FUZZ_CHECK(cond)                                                                        \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                       \
        }                                                                                       \
    } while (0)

inline constexpr u64 GUEST_MEM_SIZE = 64 * MiB;

// Guest-physical memory [0, 64 MiB) in one buffer (allocated once; its pages are touched only where written).
class BufGuestMem final : public GuestMem {
public:
    u8* map(u64 gpa, u64 len) override {
        static std::vector<u8> buf(GUEST_MEM_SIZE);
        if (gpa > buf.size() || len > buf.size() - gpa) return nullptr;
        return buf.data() + gpa;
    }
};

// guest0's map as the unit tests build it: low RAM, the BIOS area reserved, RAM from 1 MiB to 64 MiB.
struct GuestMap {
    evmm_mmap_entry_t storage[8];
    MemoryMap map{storage, 8};
    GuestMap() {
        (void)map.add(0, 0x9F000, EVMM_MEM_USABLE);
        (void)map.add(0xF0000, 0x10000, EVMM_MEM_RESERVED);
        (void)map.add(1 * MiB, 63 * MiB, EVMM_MEM_USABLE);
    }
};

// The n-byte little-endian value at data[at], the bytes past size read as 0.
inline u64 le(const u8* data, size_t size, size_t at, unsigned n) {
    u64 v = 0;
    for (unsigned i = 0; i < n; ++i)
        if (at + i < size) v |= u64{data[at + i]} << (8 * i);
    return v;
}

} // namespace evmm::fuzz
