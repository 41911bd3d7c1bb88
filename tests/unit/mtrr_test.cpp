// Unit tests for arch/x86_64/mtrr: MTRR read-out through a fake MSR reader, type lookup, range uniformity.
#include "arch/x86_64/mtrr.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <vector>

namespace evmm {
namespace {

class FakeMsr final : public MsrReader {
public:
    std::map<u32, u64> regs;
    mutable std::vector<u32> reads;
    u64 rdmsr(u32 msr) const override {
        reads.push_back(msr);
        auto it = regs.find(msr);
        return it == regs.end() ? 0 : it->second;
    }
};

constexpr u8 UCb = static_cast<u8>(MemType::UC);
constexpr u8 WCb = static_cast<u8>(MemType::WC);
constexpr u8 WTb = static_cast<u8>(MemType::WT);
constexpr u8 WPb = static_cast<u8>(MemType::WP);
constexpr u8 WBb = static_cast<u8>(MemType::WB);

constexpr u8 PHYS_BITS = 39;
constexpr u64 ADDR_MASK = ((u64{1} << PHYS_BITS) - 1) & ~u64{0xFFF};

u64 fixed_all(u8 t) { return 0x0101010101010101ull * t; }

// Variable range [base, base + size) (size a power of two, base aligned to it) as a PHYSBASE/PHYSMASK pair.
void set_var(FakeMsr& m, u32 i, u64 base, u64 size, u8 type) {
    m.regs[IA32_MTRR_PHYSBASE0 + 2 * i] = base | type;
    m.regs[IA32_MTRR_PHYSMASK0 + 2 * i] = (~(size - 1) & ADDR_MASK) | MTRR_PHYSMASK_VALID;
}

MtrrState read(const FakeMsr& m, bool supported = true, u8 bits = PHYS_BITS) {
    MtrrState st;
    std::memset(&st, 0xA5, sizeof st);
    mtrr_read(m, supported, bits, st);
    return st;
}

FakeMsr typical(u32 vcnt = 8) {
    FakeMsr m;
    m.regs[IA32_MTRRCAP] = MTRRCAP_FIX | MTRRCAP_WC | vcnt;
    m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | WBb;
    m.regs[IA32_MTRR_FIX64K_00000] = fixed_all(WBb);
    m.regs[IA32_MTRR_FIX16K_80000] = fixed_all(WBb);
    m.regs[IA32_MTRR_FIX16K_A0000] = fixed_all(UCb);
    for (u32 i = 0; i < 8; ++i) m.regs[IA32_MTRR_FIX4K_C0000 + i] = fixed_all(WPb);
    set_var(m, 0, 0xC0000000, 0x40000000, UCb); // the PCI hole [3 GiB, 4 GiB)
    return m;
}

bool range(const MtrrState& st, u64 base, u64 size, MemType* t = nullptr) {
    MemType out = MemType::WC;
    const bool r = mtrr_range_type(st, base, size, out);
    if (t) *t = out;
    return r;
}

// ----------------------------------------------------------------------------------------------------------------

TEST(Mtrr, NotSupportedReadsNothingAndIsUc) {
    FakeMsr m = typical();
    MtrrState st = read(m, false);
    EXPECT_TRUE(m.reads.empty());
    EXPECT_EQ(st.var_count, 0u);
    EXPECT_EQ(st.phys_addr_bits, PHYS_BITS);
    EXPECT_EQ(mtrr_type(st, 0), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0x12345000), MemType::UC);
    MemType t;
    EXPECT_TRUE(range(st, 0, u64{1} << 40, &t));
    EXPECT_EQ(t, MemType::UC);
}

TEST(Mtrr, DisabledByDefTypeIsUc) {
    FakeMsr m = typical();
    m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_FE | WBb; // E clear
    MtrrState st = read(m);
    EXPECT_EQ(mtrr_type(st, 0), MemType::UC); // fixed ranges off too
    EXPECT_EQ(mtrr_type(st, 0x1000'0000), MemType::UC);
    MemType t;
    EXPECT_TRUE(range(st, 0, 8 * GiB, &t));
    EXPECT_EQ(t, MemType::UC);
}

TEST(Mtrr, ReadsExactlyTheArchitecturalMsrs) {
    FakeMsr m = typical(2);
    MtrrState st = read(m);
    std::set<u32> got(m.reads.begin(), m.reads.end());
    std::set<u32> want = {IA32_MTRRCAP,           IA32_MTRR_DEF_TYPE,      IA32_MTRR_FIX64K_00000,
                          IA32_MTRR_FIX16K_80000, IA32_MTRR_FIX16K_A0000,  IA32_MTRR_PHYSBASE0,
                          IA32_MTRR_PHYSMASK0,    IA32_MTRR_PHYSBASE0 + 2, IA32_MTRR_PHYSMASK0 + 2};
    for (u32 i = IA32_MTRR_FIX4K_C0000; i <= IA32_MTRR_FIX4K_F8000; ++i) want.insert(i);
    EXPECT_EQ(got, want);
    EXPECT_EQ(st.var_count, 2u);
    EXPECT_EQ(st.fixed[2], fixed_all(UCb));
    EXPECT_EQ(st.var_base[0], 0xC0000000u | UCb);

    // Without MTRRCAP.FIX no fixed-range MSR is touched.
    FakeMsr nf = typical(1);
    nf.regs[IA32_MTRRCAP] = 1;
    read(nf);
    for (u32 r : nf.reads) EXPECT_FALSE(r >= IA32_MTRR_FIX64K_00000 && r <= IA32_MTRR_FIX4K_F8000) << std::hex << r;

    // VCNT beyond what the MSR space can hold is clamped.
    FakeMsr big = typical();
    big.regs[IA32_MTRRCAP] = MTRRCAP_VCNT_MASK;
    EXPECT_EQ(read(big).var_count, MTRR_MAX_VAR);
    EXPECT_EQ(MTRR_MAX_VAR, 40u);

    // Unknown MAXPHYADDR -> 36; nonsense -> 52.
    EXPECT_EQ(read(m, true, 0).phys_addr_bits, 36);
    EXPECT_EQ(read(m, true, 64).phys_addr_bits, 52);
}

TEST(Mtrr, DefaultWbWithUcHole) {
    MtrrState st = read(typical());
    EXPECT_EQ(mtrr_type(st, 0x100000), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 0xBFFFFFFF), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 0xC0000000), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0xFEE00000), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0xFFFFFFFF), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0x100000000), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 0x40'0000'0000), MemType::WB);
}

TEST(Mtrr, FixedRanges) {
    FakeMsr m = typical();
    // FIX4K_C0000: types per 4 KiB page C0000..C7000 = WP WP WP WT WP WP WP WP
    m.regs[IA32_MTRR_FIX4K_C0000] = (fixed_all(WPb) & ~(0xFFull << 24)) | (u64{WTb} << 24);
    // FIX16K_80000: 80000..9BFFF WB, 9C000..9FFFF UC (top 16 KiB slot)
    m.regs[IA32_MTRR_FIX16K_80000] = fixed_all(WBb) & ~(0xFFull << 56);
    // FIX4K_F8000: last slot (FF000) WC
    m.regs[IA32_MTRR_FIX4K_F8000] = (fixed_all(WPb) & ~(0xFFull << 56)) | (u64{WCb} << 56);
    set_var(m, 1, 0, 0x100000, UCb); // a variable range over the first MiB: the fixed ranges win
    MtrrState st = read(m);

    EXPECT_EQ(mtrr_type(st, 0), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 0x7FFFF), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 0x9BFFF), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 0x9C000), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0xA0000), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0xBFFFF), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0xC0000), MemType::WP);
    EXPECT_EQ(mtrr_type(st, 0xC2FFF), MemType::WP);
    EXPECT_EQ(mtrr_type(st, 0xC3000), MemType::WT);
    EXPECT_EQ(mtrr_type(st, 0xC4000), MemType::WP);
    EXPECT_EQ(mtrr_type(st, 0xFEFFF), MemType::WP);
    EXPECT_EQ(mtrr_type(st, 0xFF000), MemType::WC);
    EXPECT_EQ(mtrr_type(st, 0x100000), MemType::WB); // above 1 MiB: variable/default again

    MemType t;
    EXPECT_TRUE(range(st, 0, 0x9C000, &t));
    EXPECT_EQ(t, MemType::WB);
    EXPECT_FALSE(range(st, 0, 0x9C001));
    EXPECT_TRUE(range(st, 0x9C000, 0x24000, &t));
    EXPECT_EQ(t, MemType::UC);
    EXPECT_FALSE(range(st, 0, 2 * MiB)); // the 2 MiB page at 0 is mixed
    EXPECT_TRUE(range(st, 0xC3000, 0x1000, &t));
    EXPECT_EQ(t, MemType::WT);
    EXPECT_FALSE(range(st, 0xC3000, 0x1001));
    EXPECT_FALSE(range(st, 0xFF000, 0x2000)); // WC page then WB above 1 MiB

    // FE clear: below 1 MiB the variable range (UC) applies.
    m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_E | WBb;
    st = read(m);
    EXPECT_EQ(mtrr_type(st, 0), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0xC3000), MemType::UC);
    EXPECT_TRUE(range(st, 0, 1 * MiB, &t));
    EXPECT_EQ(t, MemType::UC);
}

TEST(Mtrr, FeWithoutFixCapabilityUsesVariableRanges) {
    FakeMsr m = typical();
    m.regs[IA32_MTRRCAP] = 8; // no MTRRCAP.FIX, yet DEF_TYPE.FE set
    set_var(m, 1, 0, 0x100000, WTb);
    MtrrState st = read(m);
    EXPECT_EQ(mtrr_type(st, 0xA0000), MemType::WT);
    EXPECT_EQ(mtrr_type(st, 0x100000), MemType::WB);
    MemType t;
    EXPECT_TRUE(range(st, 0, 1 * MiB, &t));
    EXPECT_EQ(t, MemType::WT);
}

TEST(Mtrr, OverlapPrecedence) {
    FakeMsr m;
    m.regs[IA32_MTRRCAP] = 8;
    m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_E | UCb;
    set_var(m, 0, 0, 2 * GiB, WBb);                         // [0, 2G) WB
    set_var(m, 1, 1 * GiB, 512 * MiB, WTb);                 // [1G, 1.5G) WT over WB -> WT
    set_var(m, 2, 1 * GiB + 256 * MiB, 1 * MiB, UCb);       // UC over WT and WB -> UC
    set_var(m, 3, 1792 * MiB, 256 * MiB, WCb);              // [1.75G, 2G) WC over WB: undefined -> UC
    set_var(m, 4, 0x100000, 0x100000, WBb);                 // WB over WB -> WB
    m.regs[IA32_MTRR_PHYSBASE0 + 2 * 5] = 0x80000000 | WCb; // not valid (V clear): ignored
    m.regs[IA32_MTRR_PHYSMASK0 + 2 * 5] = ~u64{0x7FFFFFFF} & ADDR_MASK;
    MtrrState st = read(m);

    EXPECT_EQ(mtrr_type(st, 0x100000), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 1 * GiB - 1), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 1 * GiB), MemType::WT);
    EXPECT_EQ(mtrr_type(st, 1 * GiB + 256 * MiB), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 1 * GiB + 257 * MiB), MemType::WT);
    EXPECT_EQ(mtrr_type(st, 1536 * MiB), MemType::WB);
    EXPECT_EQ(mtrr_type(st, 1792 * MiB), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 2 * GiB), MemType::UC); // default; the invalid WC range is ignored

    MemType t;
    EXPECT_TRUE(range(st, 1 * GiB, 256 * MiB, &t));
    EXPECT_EQ(t, MemType::WT);
    EXPECT_FALSE(range(st, 1 * GiB, 512 * MiB));
    EXPECT_TRUE(range(st, 1 * GiB + 256 * MiB, 1 * MiB, &t));
    EXPECT_EQ(t, MemType::UC);
    // [1.75G, 4G) is UC throughout: the undefined WC/WB overlap, then the UC default.
    EXPECT_TRUE(range(st, 1792 * MiB, 2304 * MiB, &t));
    EXPECT_EQ(t, MemType::UC);
}

TEST(Mtrr, RangeUniformityAcrossBoundaries) {
    FakeMsr m = typical();
    MtrrState st = read(m);
    MemType t;
    // 2 MiB pages: inside WB, inside UC, straddling 3 GiB.
    EXPECT_TRUE(range(st, 0xBFE00000, 2 * MiB, &t));
    EXPECT_EQ(t, MemType::WB);
    EXPECT_TRUE(range(st, 0xC0000000, 2 * MiB, &t));
    EXPECT_EQ(t, MemType::UC);
    EXPECT_FALSE(range(st, 0xBFF00000, 2 * MiB));
    EXPECT_FALSE(range(st, 0xBFFFF000, 0x2000));
    EXPECT_TRUE(range(st, 0xBFFFF000, 0x1000, &t));
    // 1 GiB pages.
    EXPECT_TRUE(range(st, 1 * GiB, 1 * GiB, &t));
    EXPECT_EQ(t, MemType::WB);
    EXPECT_TRUE(range(st, 3 * GiB, 1 * GiB, &t));
    EXPECT_EQ(t, MemType::UC);
    EXPECT_FALSE(range(st, 2 * GiB, 2 * GiB));
    EXPECT_FALSE(range(st, 3 * GiB, 2 * GiB));
    // A huge range above the hole (512 GiB: must not step 4 KiB at a time; the test would time out).
    EXPECT_TRUE(range(st, 4 * GiB, 508 * GiB, &t));
    EXPECT_EQ(t, MemType::WB);
    EXPECT_FALSE(range(st, 1 * MiB, 512 * GiB));
    // Degenerate inputs.
    EXPECT_FALSE(range(st, 0x1000, 0));
    EXPECT_FALSE(range(st, ~u64{0} - 0xFFF, 0x2000));
    EXPECT_TRUE(range(st, ~u64{0} - 0xFFF, 0x1000, &t)); // ends exactly at 2^64
}

TEST(Mtrr, AdjacentRangesOfTheSameTypeAreUniform) {
    FakeMsr m;
    m.regs[IA32_MTRRCAP] = 8;
    m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_E | UCb;
    set_var(m, 0, 0, 2 * GiB, WBb);
    set_var(m, 1, 2 * GiB, 1 * GiB, WBb);
    set_var(m, 2, 3 * GiB, 256 * MiB, WBb);
    MtrrState st = read(m);
    MemType t;
    EXPECT_TRUE(range(st, 0, 3 * GiB + 256 * MiB, &t));
    EXPECT_EQ(t, MemType::WB);
    EXPECT_FALSE(range(st, 0, 3 * GiB + 256 * MiB + 1));
    EXPECT_TRUE(range(st, 3 * GiB + 256 * MiB, 768 * MiB, &t));
    EXPECT_EQ(t, MemType::UC);
}

TEST(Mtrr, MaskBitsAbovePhysAddrBitsIgnored) {
    FakeMsr m;
    m.regs[IA32_MTRRCAP] = 1;
    m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_E | WBb;
    m.regs[IA32_MTRR_PHYSBASE0] = 0xC0000000 | (u64{1} << 45) | UCb; // junk above MAXPHYADDR
    m.regs[IA32_MTRR_PHYSMASK0] = 0xFFFF'FFFF'C000'0000 | MTRR_PHYSMASK_VALID;
    MtrrState st = read(m, true, 36);
    EXPECT_EQ(mtrr_type(st, 0xC0000000), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0x80000000), MemType::WB);
}

TEST(Mtrr, ReservedTypeEncodingIsUc) {
    FakeMsr m;
    m.regs[IA32_MTRRCAP] = 1;
    m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_E | 2; // reserved
    set_var(m, 0, 0x100000, 0x100000, 7);             // reserved
    MtrrState st = read(m);
    EXPECT_EQ(mtrr_type(st, 0x100000), MemType::UC);
    EXPECT_EQ(mtrr_type(st, 0x300000), MemType::UC);
}

// Cross-check mtrr_range_type against a 4 KiB brute force on a small physical address space, with random states
// including non-contiguous masks and overlaps.
TEST(Mtrr, RangeTypeMatchesBruteForce) {
    constexpr u8 bits = 24; // 16 MiB of physical address space: 4096 pages
    constexpr u64 space = u64{1} << bits;
    const u8 types[] = {UCb, WCb, WTb, WPb, WBb};
    u64 seed = 0x9E3779B97F4A7C15ull;
    auto rnd = [&]() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    for (int iter = 0; iter < 60; ++iter) {
        FakeMsr m;
        const u32 n = 1 + rnd() % 4;
        m.regs[IA32_MTRRCAP] = MTRRCAP_FIX | n;
        m.regs[IA32_MTRR_DEF_TYPE] = MTRR_DEF_TYPE_E | (iter % 2 ? MTRR_DEF_TYPE_FE : 0) | types[rnd() % 5];
        for (u32 f = 0; f < MTRR_FIXED_MSR_COUNT; ++f) {
            u64 v = 0;
            for (u32 b = 0; b < 8; ++b) v |= u64{types[(rnd() % 8) < 6 ? 4 : rnd() % 5]} << (8 * b);
            m.regs[f == 0  ? IA32_MTRR_FIX64K_00000
                   : f < 3 ? IA32_MTRR_FIX16K_80000 + f - 1
                           : IA32_MTRR_FIX4K_C0000 + f - 3] = v;
        }
        for (u32 i = 0; i < n; ++i) {
            u64 mask;
            if (rnd() % 3 == 0) {
                mask = rnd() & (space - 1) & ~u64{0xFFF}; // arbitrary, possibly non-contiguous
            } else {
                const unsigned sz = 12 + rnd() % (bits - 12);
                mask = ~((u64{1} << sz) - 1) & (space - 1);
            }
            m.regs[IA32_MTRR_PHYSBASE0 + 2 * i] = (rnd() & (space - 1) & ~u64{0xFFF}) | types[rnd() % 5];
            m.regs[IA32_MTRR_PHYSMASK0 + 2 * i] = mask | (rnd() % 8 ? MTRR_PHYSMASK_VALID : 0);
        }
        MtrrState st = read(m, true, bits);
        std::vector<MemType> page(space / PAGE_SIZE);
        for (u64 p = 0; p < page.size(); ++p) page[p] = mtrr_type(st, p * PAGE_SIZE);
        // Spot-check that the type is constant within a page.
        EXPECT_EQ(mtrr_type(st, 5 * PAGE_SIZE + 0x123), page[5]);

        for (int q = 0; q < 200; ++q) {
            const u64 first = rnd() % page.size();
            const u64 count = 1 + rnd() % (page.size() - first);
            bool uniform = true;
            for (u64 p = first + 1; p < first + count && uniform; ++p) uniform = page[p] == page[first];
            MemType t = MemType::WC;
            const bool got = mtrr_range_type(st, first * PAGE_SIZE, count * PAGE_SIZE, t);
            ASSERT_EQ(got, uniform) << "iter " << iter << " range " << std::hex << first * PAGE_SIZE << "+"
                                    << count * PAGE_SIZE;
            if (got) {
                ASSERT_EQ(t, page[first]);
            }
        }
    }
}

} // namespace
} // namespace evmm
