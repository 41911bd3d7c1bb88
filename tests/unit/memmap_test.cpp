// Unit tests for lib/memmap: sorting, merging, overlap resolution, carving, and the top-down allocator.
#include "lib/formats/memmap.h"

#include <gtest/gtest.h>

#include <string>

using namespace evmm;

namespace {

struct E {
    u64 base;
    u64 length;
    u32 type;
};

// A map with its own storage.
template <u32 N>
struct TestMap {
    evmm_mmap_entry_t storage[N]{};
    MemoryMap map{storage, N};
};

void expect_map(const MemoryMap& m, std::initializer_list<E> want) {
    ASSERT_EQ(m.count(), want.size());
    u32 i = 0;
    for (const E& w : want) {
        EXPECT_EQ(m[i].base, w.base) << "entry " << i;
        EXPECT_EQ(m[i].length, w.length) << "entry " << i;
        EXPECT_EQ(m[i].type, w.type) << "entry " << i;
        ++i;
    }
}

constexpr u32 U = EVMM_MEM_USABLE;
constexpr u32 R = EVMM_MEM_RESERVED;
constexpr u32 A = EVMM_MEM_ACPI_RECLAIMABLE;
constexpr u32 N = EVMM_MEM_ACPI_NVS;
constexpr u32 B = EVMM_MEM_BAD;

} // namespace

TEST(MemoryMap, AddAppendsAndIgnoresZeroLength) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x1000, 0x1000, U).ok());
    ASSERT_TRUE(t.map.add(0x5000, 0, U).ok());
    expect_map(t.map, {{0x1000, 0x1000, U}});
    EXPECT_EQ(t.map[0].reserved, 0u);
}

TEST(MemoryMap, AddRejectsWrapAround) {
    TestMap<4> t;
    Status s = t.map.add(~u64{0} - 0xfff, 0x1000, U); // ends exactly at 2^64: not representable
    EXPECT_FALSE(s.ok());
    EXPECT_NE(std::string(s.what).find("wraps"), std::string::npos);
    EXPECT_EQ(t.map.count(), 0u);
    EXPECT_TRUE(t.map.add(~u64{0} - 0xfff, 0xfff, U).ok()); // ends at 2^64 - 1: fine
}

TEST(MemoryMap, AddRejectsTypeZero) {
    TestMap<4> t;
    EXPECT_FALSE(t.map.add(0, 0x1000, 0).ok());
    EXPECT_EQ(t.map.count(), 0u);
}

TEST(MemoryMap, AddFailsWhenFull) {
    TestMap<2> t;
    ASSERT_TRUE(t.map.add(0, 1, U).ok());
    ASSERT_TRUE(t.map.add(2, 1, U).ok());
    Status s = t.map.add(4, 1, U);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(std::string(s.what).find("full"), std::string::npos);
    EXPECT_EQ(t.map.count(), 2u);
}

TEST(MemoryMap, SortByBase) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x3000, 0x1000, U).ok());
    ASSERT_TRUE(t.map.add(0x1000, 0x1000, R).ok());
    ASSERT_TRUE(t.map.add(0x2000, 0x1000, U).ok());
    t.map.sort();
    expect_map(t.map, {{0x1000, 0x1000, R}, {0x2000, 0x1000, U}, {0x3000, 0x1000, U}});
}

TEST(MemoryMap, MergeAdjacentAndOverlappingSameType) {
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0x2000, 0x1000, U).ok());
    ASSERT_TRUE(t.map.add(0x0, 0x2000, U).ok());    // touches the first
    ASSERT_TRUE(t.map.add(0x2800, 0x1000, U).ok()); // overlaps it
    ASSERT_TRUE(t.map.add(0x4000, 0x1000, R).ok()); // touches, but another type
    ASSERT_TRUE(t.map.add(0x5000, 0x1000, U).ok());
    t.map.merge();
    expect_map(t.map, {{0x0, 0x3800, U}, {0x4000, 0x1000, R}, {0x5000, 0x1000, U}});
}

TEST(MemoryMap, MergeKeepsContainedSameTypeRange) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    ASSERT_TRUE(t.map.add(0x1000, 0x1000, U).ok());
    t.map.merge();
    expect_map(t.map, {{0x0, 0x10000, U}});
}

TEST(MemoryMap, NormalizeReservedInsideUsableSplits) {
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    ASSERT_TRUE(t.map.add(0x4000, 0x1000, R).ok());
    ASSERT_TRUE(t.map.normalize().ok());
    expect_map(t.map, {{0x0, 0x4000, U}, {0x4000, 0x1000, R}, {0x5000, 0xb000, U}});
}

TEST(MemoryMap, NormalizeRestrictiveWinsAtEqualBase) {
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0x0, 0x4000, U).ok());
    ASSERT_TRUE(t.map.add(0x0, 0x1000, A).ok());
    ASSERT_TRUE(t.map.normalize().ok());
    expect_map(t.map, {{0x0, 0x1000, A}, {0x1000, 0x3000, U}});
}

TEST(MemoryMap, NormalizeHigherNonUsableTypeWins) {
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0x1000, 0x3000, R).ok()); // [1000, 4000) reserved
    ASSERT_TRUE(t.map.add(0x2000, 0x3000, N).ok()); // [2000, 5000) NVS beats reserved
    ASSERT_TRUE(t.map.add(0x4800, 0x1000, A).ok()); // [4800, 5800) NVS beats ACPI
    ASSERT_TRUE(t.map.add(0x0, 0x8000, U).ok());    // usable under all of it
    ASSERT_TRUE(t.map.add(0x7000, 0x800, B).ok());  // bad beats usable
    ASSERT_TRUE(t.map.normalize().ok());
    expect_map(t.map, {{0x0, 0x1000, U},
                       {0x1000, 0x1000, R},
                       {0x2000, 0x3000, N},
                       {0x5000, 0x800, A},
                       {0x5800, 0x1800, U},
                       {0x7000, 0x800, B},
                       {0x7800, 0x800, U}});
}

TEST(MemoryMap, NormalizeResultIsSortedAndDisjoint) {
    // A messy firmware map: duplicates, nesting, touching ranges, out of order.
    TestMap<32> t;
    const E in[] = {{0x9f000, 0x1000, R},      {0x0, 0x9fc00, U},     {0x100000, 0x7ff00000, U},
                    {0xe0000, 0x20000, R},     {0x100000, 0x1000, U}, {0x7fee0000, 0x20000, A},
                    {0x7ff00000, 0x100000, N}, {0x0, 0x1000, B},      {0x50000, 0x60000, R}};
    for (const E& e : in) ASSERT_TRUE(t.map.add(e.base, e.length, e.type).ok());
    ASSERT_TRUE(t.map.normalize().ok());
    for (u32 i = 0; i + 1 < t.map.count(); ++i) {
        EXPECT_LE(t.map[i].base + t.map[i].length, t.map[i + 1].base) << i;
        if (t.map[i].base + t.map[i].length == t.map[i + 1].base) {
            EXPECT_NE(t.map[i].type, t.map[i + 1].type) << i;
        }
    }
    // Every original address keeps the most restrictive type that covered it.
    auto type_at = [&](u64 a) -> u32 {
        for (u32 i = 0; i < t.map.count(); ++i)
            if (a >= t.map[i].base && a < t.map[i].base + t.map[i].length) return t.map[i].type;
        return 0;
    };
    EXPECT_EQ(type_at(0x0), B);
    EXPECT_EQ(type_at(0x1000), U);
    EXPECT_EQ(type_at(0x50000), R);
    EXPECT_EQ(type_at(0x9fbff), R);
    EXPECT_EQ(type_at(0xb0000), 0u);
    EXPECT_EQ(type_at(0x100000), U);
    EXPECT_EQ(type_at(0x7fee0000), A);
    EXPECT_EQ(type_at(0x7ff00000), N);
    EXPECT_EQ(type_at(0x7fffffff), N);
    EXPECT_EQ(type_at(0x80000000), 0u);
}

TEST(MemoryMap, NormalizeFailsWhenSplitNeedsRoom) {
    TestMap<2> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    ASSERT_TRUE(t.map.add(0x4000, 0x1000, R).ok());
    Status s = t.map.normalize();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(std::string(s.what).find("full"), std::string::npos);
}

TEST(MemoryMap, RemoveHoleInMiddleSplits) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    ASSERT_TRUE(t.map.remove(0x4000, 0x2000).ok());
    expect_map(t.map, {{0x0, 0x4000, U}, {0x6000, 0xa000, U}});
}

TEST(MemoryMap, RemoveAtEdges) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    ASSERT_TRUE(t.map.remove(0x0, 0x1000).ok()); // head
    expect_map(t.map, {{0x1000, 0xf000, U}});
    ASSERT_TRUE(t.map.remove(0xf000, 0x5000).ok()); // tail, and beyond the entry
    expect_map(t.map, {{0x1000, 0xe000, U}});
}

TEST(MemoryMap, RemoveWholeEntriesAndAcrossSeveral) {
    TestMap<8> t;
    ASSERT_TRUE(t.map.add(0x0, 0x1000, U).ok());
    ASSERT_TRUE(t.map.add(0x1000, 0x1000, R).ok());
    ASSERT_TRUE(t.map.add(0x2000, 0x2000, U).ok());
    ASSERT_TRUE(t.map.add(0x8000, 0x1000, U).ok());
    ASSERT_TRUE(t.map.remove(0x800, 0x2000).ok()); // tail of 0, all of 1, head of 2
    expect_map(t.map, {{0x0, 0x800, U}, {0x2800, 0x1800, U}, {0x8000, 0x1000, U}});
    ASSERT_TRUE(t.map.remove(0x8000, 0x1000).ok()); // exactly one entry
    expect_map(t.map, {{0x0, 0x800, U}, {0x2800, 0x1800, U}});
    ASSERT_TRUE(t.map.remove(0x10000, 0x1000).ok()); // nothing there
    EXPECT_EQ(t.map.count(), 2u);
    ASSERT_TRUE(t.map.remove(0x5000, 0).ok()); // zero length
    EXPECT_EQ(t.map.count(), 2u);
}

TEST(MemoryMap, RemoveFailsWithoutRoomAndLeavesMapUnchanged) {
    TestMap<1> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    Status s = t.map.remove(0x4000, 0x1000);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, 0x4000u);
    expect_map(t.map, {{0x0, 0x10000, U}});
    EXPECT_TRUE(t.map.remove(0x0, 0x1000).ok()); // an edge needs no room
}

TEST(MemoryMap, RemoveRejectsWrap) {
    TestMap<2> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    EXPECT_FALSE(t.map.remove(~u64{0}, 2).ok());
    EXPECT_EQ(t.map.count(), 1u);
}

TEST(MemoryMap, ReserveCarvesAndInserts) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    ASSERT_TRUE(t.map.reserve(0x4000, 0x2000, R).ok());
    expect_map(t.map, {{0x0, 0x4000, U}, {0x4000, 0x2000, R}, {0x6000, 0xa000, U}});
    // Reserving next to a same-typed range merges with it.
    ASSERT_TRUE(t.map.reserve(0x6000, 0x1000, R).ok());
    expect_map(t.map, {{0x0, 0x4000, U}, {0x4000, 0x3000, R}, {0x7000, 0x9000, U}});
    // Reserving over a hole adds the range.
    ASSERT_TRUE(t.map.reserve(0x20000, 0x1000, R).ok());
    expect_map(t.map, {{0x0, 0x4000, U}, {0x4000, 0x3000, R}, {0x7000, 0x9000, U}, {0x20000, 0x1000, R}});
}

TEST(MemoryMap, ReserveCanDowngradeToUsable) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x3000, R).ok());
    ASSERT_TRUE(t.map.reserve(0x1000, 0x1000, U).ok());
    expect_map(t.map, {{0x0, 0x1000, R}, {0x1000, 0x1000, U}, {0x2000, 0x1000, R}});
}

TEST(MemoryMap, ReserveFailsWhenFullAndLeavesMapUnchanged) {
    TestMap<2> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    Status s = t.map.reserve(0x4000, 0x1000, R); // needs 3 entries
    EXPECT_FALSE(s.ok());
    EXPECT_NE(std::string(s.what).find("full"), std::string::npos);
    expect_map(t.map, {{0x0, 0x10000, U}});
    EXPECT_TRUE(t.map.reserve(0x0, 0x1000, R).ok()); // at an edge: 2 entries suffice
    expect_map(t.map, {{0x0, 0x1000, R}, {0x1000, 0xf000, U}});
}

TEST(MemoryMap, TopOfMemoryIgnoresReservedAndBad) {
    TestMap<8> t;
    EXPECT_EQ(t.map.top_of_memory(), 0u);
    ASSERT_TRUE(t.map.add(0x0, 0x9f000, U).ok());
    ASSERT_TRUE(t.map.add(0x100000, 0x1000000, U).ok());
    ASSERT_TRUE(t.map.add(0x1100000, 0x10000, N).ok());
    ASSERT_TRUE(t.map.add(0xfec00000, 0x1000, R).ok());
    ASSERT_TRUE(t.map.add(0x2000000, 0x1000, B).ok());
    EXPECT_EQ(t.map.top_of_memory(), 0x1110000u);
    ASSERT_TRUE(t.map.add(0x1200000, 0x1000, A).ok());
    EXPECT_EQ(t.map.top_of_memory(), 0x1201000u);
}

TEST(MemoryMap, UsableBytes) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x9f000, U).ok());
    ASSERT_TRUE(t.map.add(0x9f000, 0x1000, R).ok());
    ASSERT_TRUE(t.map.add(0x100000, 0x100000, U).ok());
    EXPECT_EQ(t.map.usable_bytes(), 0x9f000u + 0x100000u);
}

TEST(MemoryMap, FindFreeTopDownPicksHighestAligned) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x100000, 0x7ff00000, U).ok()); // [1 MiB, 2 GiB)
    ASSERT_TRUE(t.map.add(0x0, 0x9f000, U).ok());
    u64 base = 0;
    ASSERT_TRUE(t.map.find_free_top_down(0x200000, 0x200000, ~u64{0}, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0x80000000u - 0x200000u);
    // Unaligned top: the base is rounded down.
    TestMap<2> t2;
    ASSERT_TRUE(t2.map.add(0x100000, 0x1234000, U).ok()); // ends at 0x1334000
    ASSERT_TRUE(t2.map.find_free_top_down(0x200000, 0x200000, ~u64{0}, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0x1000000u);
    EXPECT_EQ(base % 0x200000, 0u);
    EXPECT_LE(base + 0x200000, 0x1334000u);
}

TEST(MemoryMap, FindFreeHonorsLimit) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x100000, 0x1ff00000, U).ok());    // up to 512 MiB
    ASSERT_TRUE(t.map.add(0x100000000, 0x40000000, U).ok()); // above 4 GiB
    u64 base = 0;
    ASSERT_TRUE(t.map.find_free_top_down(0x1000, 0x1000, 0x100000000, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0x20000000u - 0x1000u);
    ASSERT_TRUE(t.map.find_free_top_down(0x1000, 0x1000, 0x10000000, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0x10000000u - 0x1000u); // ends exactly at the limit
    EXPECT_FALSE(t.map.find_free_top_down(0x1000, 0x1000, 0x100fff, nullptr, 0, base).ok());
}

TEST(MemoryMap, FindFreeHonorsAvoidRanges) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x1000000, U).ok()); // [0, 16 MiB)
    const MemoryMap::Range avoid[] = {
        {0xf00000, 0x100000}, // top MiB
        {0xe80000, 0x10000},  // inside the next candidate
        {0x0, 0},             // empty: ignored
    };
    u64 base = 0;
    ASSERT_TRUE(t.map.find_free_top_down(0x100000, 0x100000, ~u64{0}, avoid, 3, base).ok());
    EXPECT_EQ(base, 0xd00000u);
    ASSERT_TRUE(t.map.find_free_top_down(0x1000, 0x1000, ~u64{0}, avoid, 3, base).ok());
    EXPECT_EQ(base, 0xeff000u);
}

TEST(MemoryMap, FindFreeAvoidsOtherTypesAndFailsWhenNothingFits) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    ASSERT_TRUE(t.map.add(0x8000, 0x8000, R).ok()); // overlapping, not normalized: still avoided
    u64 base = 0;
    ASSERT_TRUE(t.map.find_free_top_down(0x2000, 0x1000, ~u64{0}, nullptr, 0, base).ok());
    EXPECT_EQ(base, 0x6000u);
    Status s = t.map.find_free_top_down(0x9000, 0x1000, ~u64{0}, nullptr, 0, base);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(std::string(s.what).find("no free"), std::string::npos);
    const MemoryMap::Range wrap[] = {{0x1000, ~u64{0}}}; // wraps: treated as reaching the top
    ASSERT_TRUE(t.map.find_free_top_down(0x1000, 0x1000, ~u64{0}, wrap, 1, base).ok());
    EXPECT_EQ(base, 0x0u);
}

TEST(MemoryMap, FindFreeRejectsBadArguments) {
    TestMap<2> t;
    ASSERT_TRUE(t.map.add(0x0, 0x10000, U).ok());
    u64 base = 0;
    EXPECT_FALSE(t.map.find_free_top_down(0, 0x1000, ~u64{0}, nullptr, 0, base).ok());
    EXPECT_FALSE(t.map.find_free_top_down(0x1000, 0, ~u64{0}, nullptr, 0, base).ok());
    EXPECT_FALSE(t.map.find_free_top_down(0x1000, 0x3000, ~u64{0}, nullptr, 0, base).ok());
    EXPECT_FALSE(t.map.find_free_top_down(0x1000, 0x1000, ~u64{0}, nullptr, 1, base).ok());
}

TEST(MemoryMap, CopyTo) {
    TestMap<4> t;
    ASSERT_TRUE(t.map.add(0x0, 0x1000, U).ok());
    ASSERT_TRUE(t.map.add(0x2000, 0x1000, R).ok());
    evmm_mmap_entry_t dst[2]{};
    u32 n = 99;
    ASSERT_TRUE(t.map.copy_to(dst, 2, n).ok());
    EXPECT_EQ(n, 2u);
    EXPECT_EQ(dst[1].base, 0x2000u);
    EXPECT_EQ(dst[1].type, R);
    EXPECT_FALSE(t.map.copy_to(dst, 1, n).ok());
    EXPECT_EQ(n, 0u);
}

namespace {

// Small deterministic PRNG (xorshift64) for the randomized cross-check below.
struct Rng {
    u64 s;
    u64 next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    u64 below(u64 n) { return next() % n; }
};

u32 rank_of(u32 type) { return type == U ? 0 : type; }

} // namespace

// normalize() and reserve() against a brute-force per-unit model on a small grid of addresses.
TEST(MemoryMap, RandomizedAgainstModel) {
    constexpr u64 UNITS = 48;
    constexpr u64 UNIT = 0x1000;
    Rng rng{0x9e3779b97f4a7c15ull};
    for (int round = 0; round < 2000; ++round) {
        TestMap<64> t;
        u32 model[UNITS] = {}; // 0: not in the map
        const int n = 1 + static_cast<int>(rng.below(8));
        for (int k = 0; k < n; ++k) {
            const u64 b = rng.below(UNITS), len = 1 + rng.below(UNITS - b);
            const u32 type = 1 + static_cast<u32>(rng.below(5));
            ASSERT_TRUE(t.map.add(b * UNIT, len * UNIT, type).ok());
            for (u64 u = b; u < b + len; ++u)
                if (model[u] == 0 || rank_of(type) > rank_of(model[u])) model[u] = type;
        }
        ASSERT_TRUE(t.map.normalize().ok());
        if (rng.below(2)) {
            const u64 b = rng.below(UNITS), len = 1 + rng.below(UNITS - b);
            const u32 type = 1 + static_cast<u32>(rng.below(5));
            ASSERT_TRUE(t.map.reserve(b * UNIT, len * UNIT, type).ok());
            for (u64 u = b; u < b + len; ++u) model[u] = type;
        }
        if (rng.below(2)) {
            const u64 b = rng.below(UNITS), len = 1 + rng.below(UNITS - b);
            ASSERT_TRUE(t.map.remove(b * UNIT, len * UNIT).ok());
            for (u64 u = b; u < b + len; ++u) model[u] = 0;
        }
        for (u32 i = 0; i + 1 < t.map.count(); ++i) {
            ASSERT_LE(t.map[i].base + t.map[i].length, t.map[i + 1].base) << "round " << round;
        }
        for (u64 u = 0; u < UNITS; ++u) {
            u32 got = 0;
            for (u32 i = 0; i < t.map.count(); ++i)
                if (u * UNIT >= t.map[i].base && u * UNIT < t.map[i].base + t.map[i].length) got = t.map[i].type;
            ASSERT_EQ(got, model[u]) << "round " << round << " unit " << u;
        }
    }
}
