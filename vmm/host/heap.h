// The hypervisor's heap: one contiguous range handed over by the loader (evmm_desc_t.heap_base / heap_size,
// identity mapped, so on the machine virt == phys). Host tests give a buffer (virt) and a made-up phys base.
//
//  - PageHeap: 4 KiB pages, first fit, two bitmaps (used, run start) carved from the start of the range.
//    Alignment requests are in PHYSICAL address terms (what page tables / VMX structures need).
//    It is also the PageAlloc page tables are built with (alloc_page() gives a physical address).
//  - Pool: fixed-size objects on slabs taken from a PageHeap on demand; free list; checked frees.
//
// PageHeap's alloc_pages/free_pages take a spin lock (CPUs allocate their VMX structures concurrently at boot);
// Pool is not thread safe: callers serialize.
// Both have constexpr constructors, so globals of them need no run-time constructor.
#pragma once

#include "evmm/base.h"
#include "evmm/physmem.h"
#include "evmm/spinlock.h"
#include "evmm/status.h"

namespace evmm {

class PageHeap final : public PageAlloc {
public:
    constexpr PageHeap() = default;
    PageHeap(const PageHeap&) = delete;
    PageHeap& operator=(const PageHeap&) = delete;

    // Takes over [base_phys, base_phys + size), addressable at base_virt. Both bases 4 KiB aligned; size is
    // rounded down to whole pages and must leave at least one page after the bitmaps. Error if called twice.
    Status init(void* base_virt, u64 base_phys, u64 size);

    // n contiguous, zeroed pages whose physical address is a multiple of align_pages * 4 KiB (a power of two), or
    // nullptr (n == 0, bad alignment, no such run).
    void* alloc_pages(u64 n, u64 align_pages = 1);
    // Frees a whole run exactly as allocated (p its first page, n its length). Errors: p not from this heap or not
    // page aligned, p not the start of an allocation, double free, n not the run's length. On error nothing changes.
    Status free_pages(void* p, u64 n);

    // PageAlloc: a zeroed page's physical address, 0 when out of memory; phys_to_virt for pages of this heap
    // (nullptr outside it).
    u64 alloc_page() override;
    void* phys_to_virt(u64 pa) override;
    // Physical address of p, 0 if p is outside the heap.
    u64 virt_to_phys(const void* p) const;
    bool contains(const void* p) const;            // p inside the allocatable pages
    bool is_allocation_start(const void* p) const; // p is the first page of a live run

    struct Stats {
        u64 total_pages; // allocatable pages (bitmap pages not counted)
        u64 free_pages;
        u64 high_water_pages; // most pages ever in use at once
        u64 meta_pages;       // pages the bitmaps take
        u64 allocations;      // live runs
    };
    Stats stats() const;

private:
    bool test(const u64* map, u64 i) const { return (map[i / 64] >> (i % 64)) & 1; }
    u64 find_used(u64 from, u64 to) const; // first used page index in [from, to), or to
    void set_range(u64* map, u64 from, u64 n, bool value);

    u8* virt_ = nullptr; // first allocatable page
    u64 phys_ = 0;
    u64 pages_ = 0;
    u64* used_ = nullptr;  // bit i: page i allocated
    u64* start_ = nullptr; // bit i: page i starts an allocation
    u64 free_ = 0;
    u64 high_water_ = 0;
    u64 meta_pages_ = 0;
    u64 allocations_ = 0;
    SpinLock lock_;
};

// Helper for boot-time structures: bytes rounded up to pages, align (bytes, power of two) >= page honoured.
void* heap_alloc(PageHeap& heap, size_t bytes, size_t align = PAGE_SIZE);

class Pool {
public:
    constexpr Pool() = default;
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // Objects of obj_size bytes aligned to obj_align (power of two, <= 4 KiB); both rounded up to at least 8.
    Status init(PageHeap& heap, u64 obj_size, u64 obj_align = 16);

    // A zeroed object, or nullptr (not initialized, heap exhausted).
    void* alloc();
    // Errors: p not in one of this pool's slabs, p not on an object boundary, p not allocated (double free).
    Status free(void* p);

    struct Stats {
        u64 obj_size; // stride between objects
        u64 slabs;
        u64 pages;    // heap pages held
        u64 capacity; // objects in all slabs
        u64 in_use;
        u64 high_water;
    };
    Stats stats() const;

    // A slab is a power-of-two number of pages, aligned (physically) to its size, holding at most MAX_PER_SLAB
    // objects after its header; a small object's slab is one page.
    static constexpr u64 MAX_PER_SLAB = 256;

private:
    struct Slab;
    Slab* slab_of(const void* obj) const; // the slab obj would lie in (not checked to be ours)
    bool grow();

    PageHeap* heap_ = nullptr;
    u64 stride_ = 0;
    u64 first_offset_ = 0; // offset of object 0 from the slab start
    u64 per_slab_ = 0;
    u64 slab_pages_ = 0;
    Slab* slabs_ = nullptr;
    void* free_list_ = nullptr;
    u64 slab_count_ = 0;
    u64 in_use_ = 0;
    u64 high_water_ = 0;
};

} // namespace evmm
