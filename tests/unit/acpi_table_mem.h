// Fake physical memory holding ACPI tables, for the table parsers' tests (dmar_test, ivrs_test): byte regions placed
// at physical addresses, and the two helpers their table builders share.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "lib/formats/acpi.h"

namespace evmm::test {

class AcpiTableMem final : public PhysMem {
public:
    void put(u64 pa, std::vector<u8> bytes) { regions_.push_back(Region{pa, std::move(bytes)}); }
    const void* map(u64 pa, size_t len) const override {
        for (const Region& r : regions_)
            if (pa >= r.pa && len <= r.bytes.size() && pa - r.pa <= r.bytes.size() - len)
                return r.bytes.data() + (pa - r.pa);
        return nullptr;
    }

private:
    struct Region {
        u64 pa;
        std::vector<u8> bytes;
    };
    std::vector<Region> regions_;
};

// Appends the bytes of a packed structure.
template <typename T>
void append(std::vector<u8>& v, const T& x) {
    const u8* p = reinterpret_cast<const u8*>(&x);
    v.insert(v.end(), p, p + sizeof x);
}

// Sets the table's checksum so that its bytes sum to zero (ACPI 6.5 §5.2.6).
inline void fix_checksum(std::vector<u8>& v) {
    v[offsetof(AcpiSdtHeader, checksum)] = 0;
    u8 sum = 0;
    for (u8 b : v) sum = static_cast<u8>(sum + b);
    v[offsetof(AcpiSdtHeader, checksum)] = static_cast<u8>(-sum);
}

} // namespace evmm::test
