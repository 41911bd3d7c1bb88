// The fuzz input of fuzz_vmentry_check (and its seeds, fuzz_seeds.cpp): the capability MSRs (12 little-endian
// u64 in VmxCapMsrs order, then MAXPHYADDR as one byte), a bitmap of the fields present (bit i: VMCS_FIELDS[i]),
// then one little-endian u64 per field. Missing bytes read as 0.
#pragma once

#include <vector>

#include "fuzz_common.h"
#include "vmm/vmx/vmentry_check.h"

namespace evmm::fuzz {

inline constexpr size_t VMENTRY_CAPS_U64 = 12;
inline constexpr size_t VMENTRY_PRESENT_OFFSET = VMENTRY_CAPS_U64 * 8 + 1;
inline constexpr size_t VMENTRY_VALUES_OFFSET = VMENTRY_PRESENT_OFFSET + (VMCS_FIELD_COUNT + 7) / 8;
inline constexpr size_t VMENTRY_INPUT_SIZE = VMENTRY_VALUES_OFFSET + VMCS_FIELD_COUNT * 8;

inline u64* vmentry_caps_u64(VmxCapMsrs& c, size_t i) {
    u64* const fields[VMENTRY_CAPS_U64] = {&c.pinbased,   &c.procbased,  &c.procbased2,   &c.exit,
                                           &c.entry,      &c.misc,       &c.cr0_fixed0,   &c.cr0_fixed1,
                                           &c.cr4_fixed0, &c.cr4_fixed1, &c.ept_vpid_cap, &c.vmfunc};
    return fields[i];
}

inline void vmentry_decode(const u8* data, size_t size, VmcsSnapshot& s, VmxCapMsrs& c) {
    for (size_t i = 0; i < VMENTRY_CAPS_U64; ++i) *vmentry_caps_u64(c, i) = le(data, size, i * 8, 8);
    c.phys_addr_bits = static_cast<u8>(le(data, size, VMENTRY_CAPS_U64 * 8, 1));
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i) {
        s.present[i] = (le(data, size, VMENTRY_PRESENT_OFFSET + i / 8, 1) >> (i % 8)) & 1;
        s.value[i] = le(data, size, VMENTRY_VALUES_OFFSET + i * 8, 8);
    }
}

inline std::vector<u8> vmentry_encode(const VmcsSnapshot& s, VmxCapMsrs c) {
    std::vector<u8> b(VMENTRY_INPUT_SIZE, 0);
    auto put = [&](size_t at, u64 v, unsigned n) {
        for (unsigned i = 0; i < n; ++i) b[at + i] = static_cast<u8>(v >> (8 * i));
    };
    for (size_t i = 0; i < VMENTRY_CAPS_U64; ++i) put(i * 8, *vmentry_caps_u64(c, i), 8);
    b[VMENTRY_CAPS_U64 * 8] = c.phys_addr_bits;
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i) {
        if (s.present[i]) b[VMENTRY_PRESENT_OFFSET + i / 8] |= static_cast<u8>(1u << (i % 8));
        put(VMENTRY_VALUES_OFFSET + i * 8, s.value[i], 8);
    }
    return b;
}

} // namespace evmm::fuzz
