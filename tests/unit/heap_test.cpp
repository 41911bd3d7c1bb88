// Unit tests of the hypervisor heap (vmm/heap.*): PageHeap and Pool.
#include "vmm/host/heap.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

using namespace evmm;

namespace {

// A page-aligned buffer standing for physical memory at PHYS (2 MiB aligned, like the loader's runtime region).
struct Buffer {
    static constexpr u64 PHYS = 0x40000000;
    explicit Buffer(size_t pages) : size(pages * PAGE_SIZE) {
        mem = static_cast<u8*>(std::aligned_alloc(PAGE_SIZE, size));
        std::memset(mem, 0xA5, size); // garbage: allocations must come back zeroed
    }
    ~Buffer() { std::free(mem); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    u8* mem;
    size_t size;
};

bool all_zero(const void* p, size_t n) {
    const u8* b = static_cast<const u8*>(p);
    for (size_t i = 0; i < n; ++i)
        if (b[i] != 0) return false;
    return true;
}

struct HeapTest : ::testing::Test {
    static constexpr size_t PAGES = 64;
    Buffer buf{PAGES};
    PageHeap heap;
    void SetUp() override { ASSERT_TRUE(heap.init(buf.mem, Buffer::PHYS, buf.size).ok()); }
    u64 phys(const void* p) const { return heap.virt_to_phys(p); }
};

} // namespace

TEST(HeapInit, RejectsBadRanges) {
    Buffer b{8};
    PageHeap h;
    EXPECT_FALSE(h.init(nullptr, 0x1000, b.size).ok());
    EXPECT_FALSE(h.init(b.mem + 8, 0x1000, b.size - PAGE_SIZE).ok());
    EXPECT_FALSE(h.init(b.mem, 0x1008, b.size).ok());
    EXPECT_FALSE(h.init(b.mem, 0x1000, PAGE_SIZE).ok()); // only room for the bitmaps
    EXPECT_FALSE(h.init(b.mem, ~u64{0} & ~(PAGE_SIZE - 1), b.size).ok());
    EXPECT_EQ(h.alloc_pages(1), nullptr); // still uninitialized
    EXPECT_EQ(h.alloc_page(), 0u);
    ASSERT_TRUE(h.init(b.mem, 0x1000, b.size + 123).ok()); // partial page ignored
    EXPECT_FALSE(h.init(b.mem, 0x1000, b.size).ok());
    auto s = h.stats();
    EXPECT_EQ(s.meta_pages, 1u);
    EXPECT_EQ(s.total_pages, 7u);
    EXPECT_EQ(s.free_pages, 7u);
}

TEST_F(HeapTest, BitmapCarvedFromStart) {
    auto s = heap.stats();
    EXPECT_EQ(s.meta_pages, 1u);
    EXPECT_EQ(s.total_pages, PAGES - 1);
    void* p = heap.alloc_pages(1);
    EXPECT_EQ(p, buf.mem + PAGE_SIZE);
    EXPECT_EQ(phys(p), Buffer::PHYS + PAGE_SIZE);
}

TEST_F(HeapTest, ExhaustionReturnsNull) {
    std::vector<void*> pages;
    for (;;) {
        void* p = heap.alloc_pages(1);
        if (p == nullptr) break;
        pages.push_back(p);
    }
    EXPECT_EQ(pages.size(), PAGES - 1);
    EXPECT_EQ(heap.stats().free_pages, 0u);
    EXPECT_EQ(heap.alloc_page(), 0u);
    EXPECT_EQ(heap.alloc_pages(0), nullptr);
    ASSERT_TRUE(heap.free_pages(pages[10], 1).ok());
    EXPECT_EQ(heap.alloc_pages(2), nullptr); // one free page is not a run of two
    EXPECT_EQ(heap.alloc_pages(1), pages[10]);
    EXPECT_EQ(heap.stats().high_water_pages, PAGES - 1);
}

TEST_F(HeapTest, AllocationsAreZeroed) {
    void* p = heap.alloc_pages(3);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(all_zero(p, 3 * PAGE_SIZE));
    std::memset(p, 0xFF, 3 * PAGE_SIZE);
    ASSERT_TRUE(heap.free_pages(p, 3).ok());
    void* q = heap.alloc_pages(3);
    EXPECT_EQ(q, p);
    EXPECT_TRUE(all_zero(q, 3 * PAGE_SIZE));

    const u64 pa = heap.alloc_page();
    ASSERT_NE(pa, 0u);
    EXPECT_TRUE(is_aligned(pa, PAGE_SIZE));
    void* v = heap.phys_to_virt(pa);
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(all_zero(v, PAGE_SIZE));
    EXPECT_EQ(heap.virt_to_phys(v), pa);
    EXPECT_EQ(heap.phys_to_virt(Buffer::PHYS), nullptr); // bitmap page is not handed out
    EXPECT_EQ(heap.phys_to_virt(Buffer::PHYS + PAGES * PAGE_SIZE), nullptr);
}

TEST_F(HeapTest, MultiPageRunsArePhysicallyAligned) {
    void* a = heap.alloc_pages(1);
    ASSERT_NE(a, nullptr);
    void* b = heap.alloc_pages(2, 8); // 32 KiB aligned
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(is_aligned(phys(b), 8 * PAGE_SIZE));
    EXPECT_EQ(phys(b), Buffer::PHYS + 8 * PAGE_SIZE);
    void* c = heap.alloc_pages(4, 16);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(is_aligned(phys(c), 16 * PAGE_SIZE));
    // The gap before b is still usable.
    void* d = heap.alloc_pages(6);
    EXPECT_EQ(d, static_cast<u8*>(a) + PAGE_SIZE);
    EXPECT_EQ(heap.alloc_pages(1, 3), nullptr);          // not a power of two
    EXPECT_EQ(heap.alloc_pages(1, 1ull << 20), nullptr); // no 4 GiB aligned page in this heap
    EXPECT_EQ(heap.alloc_pages(PAGES), nullptr);         // bigger than the heap
    void* e = heap_alloc(heap, 5000, 2 * PAGE_SIZE);
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(is_aligned(phys(e), 2 * PAGE_SIZE));
    EXPECT_TRUE(heap.free_pages(e, 2).ok());
    EXPECT_EQ(heap_alloc(heap, 0, 8), nullptr);
    EXPECT_EQ(heap_alloc(heap, 8, 24), nullptr);
}

TEST_F(HeapTest, FragmentationAndReuse) {
    void* p[8];
    for (auto& x : p) {
        x = heap.alloc_pages(4);
        ASSERT_NE(x, nullptr);
    }
    // Free every other run: 4 holes of 4 pages.
    for (int i = 0; i < 8; i += 2) ASSERT_TRUE(heap.free_pages(p[i], 4).ok());
    EXPECT_EQ(heap.stats().allocations, 4u);
    // A 5-page run does not fit a hole: it goes past the last allocation.
    void* big = heap.alloc_pages(5);
    ASSERT_NE(big, nullptr);
    EXPECT_GT(big, p[7]);
    // Small runs fill the first hole first.
    void* s1 = heap.alloc_pages(3);
    void* s2 = heap.alloc_pages(1);
    EXPECT_EQ(s1, p[0]);
    EXPECT_EQ(s2, static_cast<u8*>(p[0]) + 3 * PAGE_SIZE);
    // Freeing a neighbour merges holes: 4 + 4 + 4 pages around p[3].
    ASSERT_TRUE(heap.free_pages(p[3], 4).ok());
    void* merged = heap.alloc_pages(12);
    EXPECT_EQ(merged, p[2]);
    auto st = heap.stats();
    EXPECT_EQ(st.free_pages, st.total_pages - (3 + 1 + 4 + 12 + 4 + 4 + 5));
}

TEST_F(HeapTest, BadFreesAreDetected) {
    void* a = heap.alloc_pages(3);
    void* b = heap.alloc_pages(2);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    const auto before = heap.stats();
    u8 local[16];
    EXPECT_FALSE(heap.free_pages(local, 1).ok());                           // foreign
    EXPECT_FALSE(heap.free_pages(buf.mem, 1).ok());                         // the bitmap page
    EXPECT_FALSE(heap.free_pages(static_cast<u8*>(a) + 8, 1).ok());         // not page aligned
    EXPECT_FALSE(heap.free_pages(static_cast<u8*>(a) + PAGE_SIZE, 2).ok()); // inside an allocation
    EXPECT_FALSE(heap.free_pages(a, 2).ok());                               // shorter than the run
    EXPECT_FALSE(heap.free_pages(a, 5).ok());                               // spans a and b
    EXPECT_FALSE(heap.free_pages(a, 0).ok());
    EXPECT_FALSE(heap.free_pages(b, 3).ok()); // past the run into free pages
    EXPECT_FALSE(heap.free_pages(b, PAGES * 4).ok());
    EXPECT_FALSE(heap.free_pages(static_cast<u8*>(b) + 2 * PAGE_SIZE, 1).ok()); // never allocated
    const auto mid = heap.stats();
    EXPECT_EQ(mid.free_pages, before.free_pages); // nothing changed
    EXPECT_EQ(mid.allocations, 2u);

    Status ok = heap.free_pages(a, 3);
    EXPECT_TRUE(ok.ok());
    Status dbl = heap.free_pages(a, 3);
    EXPECT_FALSE(dbl.ok());
    EXPECT_STREQ(dbl.what, "double free");
    EXPECT_TRUE(heap.free_pages(b, 2).ok());
    EXPECT_EQ(heap.stats().free_pages, heap.stats().total_pages);
}

TEST(HeapLarge, BitmapSpansSeveralPagesAndWords) {
    // 20000 pages need 2 * 313 bitmap words = 5008 bytes = 2 pages.
    constexpr size_t PAGES = 20000;
    Buffer b{PAGES};
    PageHeap h;
    ASSERT_TRUE(h.init(b.mem, 0x100000, b.size).ok());
    EXPECT_EQ(h.stats().meta_pages, 2u);
    EXPECT_EQ(h.stats().total_pages, PAGES - 2);
    void* first = h.alloc_pages(70); // crosses a bitmap word
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(h.virt_to_phys(first), 0x102000u);
    void* rest = h.alloc_pages(PAGES - 2 - 70);
    ASSERT_NE(rest, nullptr);
    EXPECT_EQ(h.alloc_pages(1), nullptr);
    EXPECT_EQ(h.stats().high_water_pages, PAGES - 2);
    ASSERT_TRUE(h.free_pages(first, 70).ok());
    // The only 256 KiB aligned start in the hole (phys 0x140000, page 62) has no 64 free pages after it.
    EXPECT_EQ(h.alloc_pages(64, 64), nullptr);
    void* a = h.alloc_pages(8, 64);
    EXPECT_EQ(h.virt_to_phys(a), 0x140000u);
    EXPECT_EQ(h.alloc_pages(61), first);
    EXPECT_TRUE(h.free_pages(rest, PAGES - 2 - 70).ok());
}

TEST_F(HeapTest, WorksAsPageAlloc) {
    PageAlloc& pa = heap;
    std::set<u64> seen;
    for (int i = 0; i < 10; ++i) {
        const u64 p = pa.alloc_page();
        ASSERT_NE(p, 0u);
        EXPECT_TRUE(seen.insert(p).second);
        EXPECT_TRUE(all_zero(pa.phys_to_virt(p), PAGE_SIZE));
    }
    EXPECT_EQ(heap.stats().allocations, 10u);
}

// ---------------------------------------------------------------------------------------------------------------

struct PoolTest : HeapTest {
    Pool pool;
};

TEST_F(PoolTest, InitChecks) {
    Pool p;
    EXPECT_EQ(p.alloc(), nullptr);
    int x;
    EXPECT_FALSE(p.free(&x).ok());
    EXPECT_FALSE(p.init(heap, 0, 16).ok());
    EXPECT_FALSE(p.init(heap, 32, 24).ok());
    EXPECT_FALSE(p.init(heap, 32, 2 * PAGE_SIZE).ok());
    ASSERT_TRUE(p.init(heap, 3, 1).ok());
    EXPECT_EQ(p.stats().obj_size, 8u); // room for the free-list link
    EXPECT_FALSE(p.init(heap, 32, 16).ok());
}

TEST_F(PoolTest, ReuseAndZeroing) {
    ASSERT_TRUE(pool.init(heap, 40, 16).ok());
    EXPECT_EQ(pool.stats().obj_size, 48u);
    void* a = pool.alloc();
    void* b = pool.alloc();
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    EXPECT_TRUE(is_aligned(uptr(a), 16));
    EXPECT_TRUE(all_zero(a, 40));
    std::memset(a, 0xEE, 40);
    ASSERT_TRUE(pool.free(a).ok());
    void* c = pool.alloc();
    EXPECT_EQ(c, a); // LIFO reuse
    EXPECT_TRUE(all_zero(c, 40));
    EXPECT_EQ(pool.stats().in_use, 2u);
    EXPECT_EQ(pool.stats().slabs, 1u);
}

TEST_F(PoolTest, GrowsAcrossPagesAndReportsStats) {
    ASSERT_TRUE(pool.init(heap, 64, 64).ok());
    const u64 per = pool.stats().capacity; // 0 before the first slab
    EXPECT_EQ(per, 0u);
    std::vector<void*> objs;
    std::set<void*> uniq;
    for (int i = 0; i < 200; ++i) {
        void* o = pool.alloc();
        ASSERT_NE(o, nullptr);
        EXPECT_TRUE(is_aligned(uptr(o), 64));
        EXPECT_TRUE(uniq.insert(o).second);
        std::memset(o, i, 64); // objects must not overlap anything the pool uses
        objs.push_back(o);
    }
    auto s = pool.stats();
    const u64 per_slab = (PAGE_SIZE - 64) / 64; // header rounded up to 64
    EXPECT_EQ(s.slabs, (200 + per_slab - 1) / per_slab);
    EXPECT_EQ(s.pages, s.slabs);
    EXPECT_EQ(s.capacity, s.slabs * per_slab);
    EXPECT_EQ(s.in_use, 200u);
    for (int i = 0; i < 200; ++i) EXPECT_EQ(static_cast<u8*>(objs[i])[63], u8(i));
    for (void* o : objs) ASSERT_TRUE(pool.free(o).ok());
    EXPECT_EQ(pool.stats().in_use, 0u);
    EXPECT_EQ(pool.stats().high_water, 200u);
    EXPECT_EQ(heap.stats().allocations, s.slabs); // slabs are kept
}

TEST_F(PoolTest, LargeObjectsUseMultiPageSlabs) {
    ASSERT_TRUE(pool.init(heap, 5000, 8).ok());
    void* a = pool.alloc();
    void* b = pool.alloc();
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(all_zero(a, 5000));
    std::memset(a, 1, 5000);
    std::memset(b, 2, 5000);
    auto s = pool.stats();
    EXPECT_EQ(s.pages % s.slabs, 0u);
    EXPECT_GE(s.pages / s.slabs, 2u);
    EXPECT_TRUE(pool.free(b).ok());
    EXPECT_FALSE(pool.free(static_cast<u8*>(a) + PAGE_SIZE).ok()); // inside an object, in the slab's 2nd page
    EXPECT_TRUE(pool.free(a).ok());
}

TEST_F(PoolTest, PoolExhaustsWithHeap) {
    ASSERT_TRUE(pool.init(heap, 2048, 8).ok()); // 1 per page (header takes room)
    int n = 0;
    while (pool.alloc() != nullptr) ++n;
    EXPECT_EQ(u64(n), heap.stats().total_pages);
    EXPECT_EQ(pool.alloc(), nullptr);
}

TEST_F(PoolTest, BadFreesAreDetected) {
    ASSERT_TRUE(pool.init(heap, 32, 16).ok());
    Pool other;
    ASSERT_TRUE(other.init(heap, 32, 16).ok());
    void* a = pool.alloc();
    void* b = pool.alloc();
    void* o = other.alloc();
    ASSERT_TRUE(a && b && o);
    int local = 0;
    EXPECT_FALSE(pool.free(&local).ok());                  // not in the heap
    EXPECT_FALSE(pool.free(o).ok());                       // another pool's object
    EXPECT_FALSE(pool.free(static_cast<u8*>(a) + 8).ok()); // misaligned
    void* page = heap.alloc_pages(1);
    EXPECT_FALSE(pool.free(static_cast<u8*>(page) + 64).ok());                           // heap page that is no slab
    EXPECT_FALSE(pool.free(reinterpret_cast<u8*>(uptr(a) & ~uptr(PAGE_SIZE - 1))).ok()); // slab header
    EXPECT_FALSE(pool.free(static_cast<u8*>(b) + 32 * 10).ok());                         // never handed out
    EXPECT_EQ(pool.stats().in_use, 2u);
    ASSERT_TRUE(pool.free(a).ok());
    Status dbl = pool.free(a);
    EXPECT_FALSE(dbl.ok());
    EXPECT_STREQ(dbl.what, "double free");
    EXPECT_EQ(pool.stats().in_use, 1u);
    // The free list is intact after rejected frees: a comes back, then fresh objects.
    EXPECT_EQ(pool.alloc(), a);
    void* c = pool.alloc();
    EXPECT_NE(c, a);
    EXPECT_NE(c, b);
    EXPECT_TRUE(other.free(o).ok());
}
