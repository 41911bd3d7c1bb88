// MTRR read-out and memory-type lookup. See mtrr.h; section numbers refer to Intel SDM Vol. 3A.
#include "arch/x86_64/mtrr.h"

namespace evmm {
namespace {

// §12.11.2.2, Table 12-9: fixed-range MSRs in the order of MtrrState::fixed[].
constexpr u32 FIXED_INDEX_64K = 0; // FIX64K_00000: [0, 0x80000)
constexpr u32 FIXED_INDEX_16K = 1; // FIX16K_80000, FIX16K_A0000: [0x80000, 0xC0000)
constexpr u32 FIXED_INDEX_4K = 3;  // FIX4K_C0000 .. FIX4K_F8000: [0xC0000, 0x100000)
constexpr u32 FIXED_4K_MSR_COUNT = 8;
static_assert(FIXED_INDEX_4K + FIXED_4K_MSR_COUNT == MTRR_FIXED_MSR_COUNT);
static_assert(IA32_MTRR_FIX4K_C0000 + FIXED_4K_MSR_COUNT - 1 == IA32_MTRR_FIX4K_F8000);
static_assert(MTRR_FIX64K_END == MTRR_FIX64K_SIZE * MTRR_FIXED_TYPES_PER_MSR);
static_assert(MTRR_FIX16K_END - MTRR_FIX64K_END == 2 * MTRR_FIX16K_SIZE * MTRR_FIXED_TYPES_PER_MSR);
static_assert(MTRR_FIXED_END - MTRR_FIX16K_END == FIXED_4K_MSR_COUNT * MTRR_FIX4K_SIZE * MTRR_FIXED_TYPES_PER_MSR);
constexpr unsigned BITS_PER_TYPE = 8;
constexpr u64 FIXED_TYPE_MASK = 0xFF;

u8 effective_phys_bits(u8 bits) {
    if (bits == 0) return MTRR_DEFAULT_PHYS_ADDR_BITS;
    return bits > MTRR_MAX_PHYS_ADDR_BITS ? MTRR_MAX_PHYS_ADDR_BITS : bits;
}

// Table 12-8; a reserved encoding (2, 3, 7..255) cannot be written to an MTRR (#GP), so it only comes from a
// broken reader: be conservative.
MemType decode_type(u64 raw) {
    switch (raw) {
    case static_cast<u8>(MemType::UC): return MemType::UC;
    case static_cast<u8>(MemType::WC): return MemType::WC;
    case static_cast<u8>(MemType::WT): return MemType::WT;
    case static_cast<u8>(MemType::WP): return MemType::WP;
    case static_cast<u8>(MemType::WB): return MemType::WB;
    default: return MemType::UC;
    }
}

bool enabled(const MtrrState& st) { return (st.def_type & MTRR_DEF_TYPE_E) != 0; }
bool fixed_enabled(const MtrrState& st) { return (st.def_type & MTRR_DEF_TYPE_FE) != 0 && (st.cap & MTRRCAP_FIX) != 0; }

// A valid variable range as "pa matches iff (pa & mask) == base" (§12.11.2.3), mask limited to address bits
// 12..MAXPHYADDR-1.
struct VarRange {
    u64 mask;
    u64 base;
    MemType type;
};

u64 address_bits_mask(const MtrrState& st) {
    const u64 below_max = (u64{1} << effective_phys_bits(st.phys_addr_bits)) - 1;
    return below_max & ~((u64{1} << MTRR_ADDR_SHIFT) - 1);
}

u32 var_count(const MtrrState& st) { return st.var_count < MTRR_MAX_VAR ? st.var_count : MTRR_MAX_VAR; }

bool var_range(const MtrrState& st, u32 i, VarRange& out) {
    if ((st.var_mask[i] & MTRR_PHYSMASK_VALID) == 0) return false;
    const u64 addr = address_bits_mask(st);
    out.mask = st.var_mask[i] & addr;
    out.base = st.var_base[i] & out.mask;
    out.type = decode_type(st.var_base[i] & MTRR_PHYSBASE_TYPE_MASK);
    return true;
}

bool matches(const VarRange& r, u64 pa) { return (pa & r.mask) == r.base; }

MemType fixed_type(const MtrrState& st, u64 pa) {
    u32 msr;
    u64 slot;
    if (pa < MTRR_FIX64K_END) {
        msr = FIXED_INDEX_64K;
        slot = pa / MTRR_FIX64K_SIZE;
    } else if (pa < MTRR_FIX16K_END) {
        const u64 n = (pa - MTRR_FIX64K_END) / MTRR_FIX16K_SIZE;
        msr = FIXED_INDEX_16K + static_cast<u32>(n / MTRR_FIXED_TYPES_PER_MSR);
        slot = n % MTRR_FIXED_TYPES_PER_MSR;
    } else {
        const u64 n = (pa - MTRR_FIX16K_END) / MTRR_FIX4K_SIZE;
        msr = FIXED_INDEX_4K + static_cast<u32>(n / MTRR_FIXED_TYPES_PER_MSR);
        slot = n % MTRR_FIXED_TYPES_PER_MSR;
    }
    return decode_type((st.fixed[msr] >> (slot * BITS_PER_TYPE)) & FIXED_TYPE_MASK);
}

u32 type_bit(MemType t) { return u32{1} << static_cast<u8>(t); }

// §12.11.4.1 "MTRR Precedences", for an address not handled by the fixed ranges.
MemType variable_type(const MtrrState& st, u64 pa) {
    u32 seen = 0;
    MemType one = MemType::UC;
    for (u32 i = 0; i < var_count(st); ++i) {
        VarRange r{};
        if (!var_range(st, i, r) || !matches(r, pa)) continue;
        seen |= type_bit(r.type);
        one = r.type;
    }
    // "If the physical address is not within a range specified by the variable-range MTRRs, the processor uses
    //  the default memory type."
    if (seen == 0) return decode_type(st.def_type & MTRR_DEF_TYPE_TYPE_MASK);
    // "If two or more variable memory ranges match and the memory types are identical, then that memory type is
    //  used."
    if ((seen & (seen - 1)) == 0) return one;
    // "If two or more variable memory ranges match and one of the memory types is UC, the UC memory type used."
    if ((seen & type_bit(MemType::UC)) != 0) return MemType::UC;
    // "If two or more variable memory ranges match and the memory types are WT and WB, the WT memory type is used."
    if (seen == (type_bit(MemType::WT) | type_bit(MemType::WB))) return MemType::WT;
    // "For overlaps not defined by the above rules, processor behavior is undefined." Be conservative.
    return MemType::UC;
}

// Smallest y >= a with (y & m) == b (b inside m), if any. Bits of y outside m are free; the search keeps the
// prefix of a as long as possible.
bool next_match(u64 a, u64 m, u64 b, u64& y) {
    const u64 diff = (a ^ b) & m;
    if (diff == 0) {
        y = a;
        return true;
    }
    const unsigned i = 63u - static_cast<unsigned>(__builtin_clzll(diff)); // highest fixed bit that differs
    const u64 above_i = i == 63 ? 0 : ~((u64{2} << i) - 1);
    if ((b >> i) & 1) {
        // a has 0 where b needs 1: keep a above i, take b's fixed bits from i down, free bits 0.
        y = (a & above_i) | (b & ~above_i);
        return true;
    }
    // a has 1 where b needs 0: carry into the lowest free bit above i that is 0 in a.
    const u64 candidates = ~m & ~a & above_i;
    if (candidates == 0) return false;
    const unsigned j = static_cast<unsigned>(__builtin_ctzll(candidates));
    const u64 below_j = (u64{1} << j) - 1;
    const u64 above_j = j == 63 ? 0 : ~((u64{2} << j) - 1);
    y = (a & above_j) | (u64{1} << j) | (b & below_j);
    return true;
}

// Smallest y > a (a matching) with (y & m) != b, if any: the end of the aligned run of a's lowest fixed bit.
bool next_mismatch(u64 a, u64 m, u64& y) {
    if (m == 0) return false; // matches every address
    const u64 low = (u64{1} << __builtin_ctzll(m)) - 1;
    if ((a | low) == ~u64{0}) return false;
    y = (a | low) + 1;
    return true;
}

// Smallest address > cur at which some MTRR might change its verdict; false if none.
bool next_boundary(const MtrrState& st, u64 cur, u64& next) {
    if (!enabled(st)) return false;
    if (fixed_enabled(st) && cur < MTRR_FIXED_END) {
        const u64 g = cur < MTRR_FIX64K_END   ? MTRR_FIX64K_SIZE
                      : cur < MTRR_FIX16K_END ? MTRR_FIX16K_SIZE
                                              : MTRR_FIX4K_SIZE;
        next = align_down(cur, g) + g;
        return true;
    }
    bool found = false;
    next = 0;
    for (u32 i = 0; i < var_count(st); ++i) {
        VarRange r{};
        if (!var_range(st, i, r)) continue;
        u64 y = 0;
        const bool ok = matches(r, cur) ? next_mismatch(cur, r.mask, y) : next_match(cur, r.mask, r.base, y);
        if (ok && y > cur && (!found || y < next)) {
            next = y;
            found = true;
        }
    }
    return found;
}

} // namespace

void mtrr_read(const MsrReader& msr, bool mtrr_supported, u8 phys_addr_bits, MtrrState& out) {
    __builtin_memset(&out, 0, sizeof out);
    out.phys_addr_bits = effective_phys_bits(phys_addr_bits);
    if (!mtrr_supported) return; // def_type 0: E clear, everything UC
    out.cap = msr.rdmsr(IA32_MTRRCAP);
    out.def_type = msr.rdmsr(IA32_MTRR_DEF_TYPE);
    if ((out.cap & MTRRCAP_FIX) != 0) {
        out.fixed[FIXED_INDEX_64K] = msr.rdmsr(IA32_MTRR_FIX64K_00000);
        out.fixed[FIXED_INDEX_16K] = msr.rdmsr(IA32_MTRR_FIX16K_80000);
        out.fixed[FIXED_INDEX_16K + 1] = msr.rdmsr(IA32_MTRR_FIX16K_A0000);
        for (u32 i = 0; i < FIXED_4K_MSR_COUNT; ++i)
            out.fixed[FIXED_INDEX_4K + i] = msr.rdmsr(IA32_MTRR_FIX4K_C0000 + i);
    }
    const u64 vcnt = out.cap & MTRRCAP_VCNT_MASK;
    out.var_count = vcnt < MTRR_MAX_VAR ? static_cast<u32>(vcnt) : MTRR_MAX_VAR;
    for (u32 i = 0; i < out.var_count; ++i) {
        out.var_base[i] = msr.rdmsr(IA32_MTRR_PHYSBASE0 + 2 * i);
        out.var_mask[i] = msr.rdmsr(IA32_MTRR_PHYSMASK0 + 2 * i);
    }
}

MemType mtrr_type(const MtrrState& st, u64 pa) {
    // §12.11.2.1: "E (MTRRs enabled) flag ... When cleared, all MTRRs are disabled and the UC memory type is
    // applied to all of physical memory."
    if (!enabled(st)) return MemType::UC;
    // "FE (fixed MTRRs enabled) flag ... When the fixed-range MTRRs are enabled, they take priority over the
    // variable-range MTRRs when overlaps in ranges occur."
    if (fixed_enabled(st) && pa < MTRR_FIXED_END) return fixed_type(st, pa);
    return variable_type(st, pa);
}

bool mtrr_range_type(const MtrrState& st, u64 base, u64 size, MemType& out) {
    if (size == 0 || add_overflows(base, size - 1)) return false;
    const u64 last = base + (size - 1);
    const MemType t = mtrr_type(st, base);
    u64 cur = base;
    for (u32 step = 0; step < MTRR_RANGE_MAX_STEPS; ++step) {
        u64 next = 0;
        if (!next_boundary(st, cur, next) || next > last) {
            out = t;
            return true;
        }
        if (mtrr_type(st, next) != t) return false;
        cur = next;
    }
    return false;
}

} // namespace evmm
