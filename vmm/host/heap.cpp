// The hypervisor's page heap and object pools. See heap.h.
#include "vmm/host/heap.h"

namespace evmm {
namespace {

constexpr const char* WHERE_HEAP = "heap";
constexpr const char* WHERE_POOL = "pool";
constexpr u64 BITS_PER_WORD = 64;
constexpr u64 MIN_OBJ = sizeof(void*); // a free object holds the free-list link
// Largest alignment / object a request may ask for (keeps page counts * PAGE_SIZE far from wrapping).
constexpr u64 MAX_ALIGN_PAGES = bit(40);
constexpr u64 MAX_POOL_OBJ = bit(32);
constexpr u64 SLAB_MAGIC = 0x62616c5350565645ull; // "EVVPSlab"

constexpr u64 words_for(u64 bits) { return (bits + BITS_PER_WORD - 1) / BITS_PER_WORD; }
constexpr u64 pages_for(u64 bytes) { return (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }
constexpr u64 round_pow2(u64 v) {
    u64 r = 1;
    while (r < v) r <<= 1;
    return r;
}

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// PageHeap

Status PageHeap::init(void* base_virt, u64 base_phys, u64 size) {
    if (pages_ != 0) return Status::error("heap already initialized", WHERE_HEAP);
    if (base_virt == nullptr) return Status::error("heap base is null", WHERE_HEAP);
    if (!is_aligned(uptr(base_virt), PAGE_SIZE) || !is_aligned(base_phys, PAGE_SIZE))
        return Status::error("heap base not page aligned", WHERE_HEAP, base_phys, uptr(base_virt));
    if (add_overflows(base_phys, size) || add_overflows(uptr(base_virt), size))
        return Status::error("heap range wraps", WHERE_HEAP, base_phys, size);
    const u64 total = size / PAGE_SIZE;
    const u64 words = words_for(total);
    const u64 meta = pages_for(2 * words * sizeof(u64)); // used + start bitmaps
    if (total <= meta) return Status::error("heap too small", WHERE_HEAP, size);

    u8* base = static_cast<u8*>(base_virt);
    __builtin_memset(base, 0, meta * PAGE_SIZE);
    used_ = reinterpret_cast<u64*>(base);
    start_ = used_ + words;
    meta_pages_ = meta;
    virt_ = base + meta * PAGE_SIZE;
    phys_ = base_phys + meta * PAGE_SIZE;
    pages_ = total - meta;
    free_ = pages_;
    high_water_ = 0;
    allocations_ = 0;
    return Status::success();
}

u64 PageHeap::find_used(u64 from, u64 to) const {
    u64 i = from;
    while (i < to) {
        const u64 w = used_[i / BITS_PER_WORD] >> (i % BITS_PER_WORD);
        if (w != 0) {
            const u64 r = i + u64(__builtin_ctzll(w));
            return r < to ? r : to;
        }
        i = (i / BITS_PER_WORD + 1) * BITS_PER_WORD;
    }
    return to;
}

void PageHeap::set_range(u64* map, u64 from, u64 n, bool value) {
    for (u64 i = from; i < from + n; ++i) {
        const u64 m = bit(unsigned(i % BITS_PER_WORD));
        if (value)
            map[i / BITS_PER_WORD] |= m;
        else
            map[i / BITS_PER_WORD] &= ~m;
    }
}

void* PageHeap::alloc_pages(u64 n, u64 align_pages) {
    LockGuard guard(lock_);
    if (pages_ == 0 || n == 0 || n > free_ || !is_pow2(align_pages) || align_pages > MAX_ALIGN_PAGES) return nullptr;
    const u64 align = align_pages * PAGE_SIZE;
    u64 i = 0;
    for (;;) {
        // First index at or after i whose physical address is aligned.
        const u64 pa = phys_ + i * PAGE_SIZE;
        if (add_overflows(pa, align - 1)) return nullptr;
        i = (align_up(pa, align) - phys_) / PAGE_SIZE;
        if (i > pages_ || n > pages_ - i) return nullptr;
        const u64 u = find_used(i, i + n);
        if (u == i + n) break;
        i = u + 1;
    }
    set_range(used_, i, n, true);
    set_range(start_, i, 1, true);
    free_ -= n;
    ++allocations_;
    if (pages_ - free_ > high_water_) high_water_ = pages_ - free_;
    u8* p = virt_ + i * PAGE_SIZE;
    __builtin_memset(p, 0, n * PAGE_SIZE);
    return p;
}

Status PageHeap::free_pages(void* p, u64 n) {
    LockGuard guard(lock_);
    if (!contains(p)) return Status::error("free of a pointer not from the heap", WHERE_HEAP, uptr(p));
    const u64 off = u64(static_cast<u8*>(p) - virt_);
    if (!is_aligned(off, PAGE_SIZE)) return Status::error("free of a pointer not page aligned", WHERE_HEAP, uptr(p));
    const u64 i = off / PAGE_SIZE;
    if (!test(start_, i)) {
        if (!test(used_, i)) return Status::error("double free", WHERE_HEAP, uptr(p));
        return Status::error("free of a pointer inside an allocation", WHERE_HEAP, uptr(p));
    }
    if (n == 0 || n > pages_ - i) return Status::error("free with a bad page count", WHERE_HEAP, uptr(p), n);
    for (u64 k = i + 1; k < i + n; ++k) {
        if (!test(used_, k) || test(start_, k))
            return Status::error("free longer than the allocation", WHERE_HEAP, uptr(p), n);
    }
    const u64 end = i + n;
    if (end < pages_ && test(used_, end) && !test(start_, end))
        return Status::error("free shorter than the allocation", WHERE_HEAP, uptr(p), n);
    set_range(used_, i, n, false);
    set_range(start_, i, 1, false);
    free_ += n;
    --allocations_;
    return Status::success();
}

u64 PageHeap::alloc_page() {
    void* p = alloc_pages(1);
    // The bitmaps come first, so no allocatable page sits at physical 0 (which would read as "out of memory").
    return p == nullptr ? 0 : virt_to_phys(p);
}

void* PageHeap::phys_to_virt(u64 pa) {
    if (pa < phys_ || pa - phys_ >= pages_ * PAGE_SIZE) return nullptr;
    return virt_ + (pa - phys_);
}

u64 PageHeap::virt_to_phys(const void* p) const {
    if (!contains(p)) return 0;
    return phys_ + u64(static_cast<const u8*>(p) - virt_);
}

bool PageHeap::contains(const void* p) const {
    const uptr a = uptr(p);
    const uptr b = uptr(virt_);
    return pages_ != 0 && a >= b && a - b < pages_ * PAGE_SIZE;
}

bool PageHeap::is_allocation_start(const void* p) const {
    if (!contains(p)) return false;
    const u64 off = u64(static_cast<const u8*>(p) - virt_);
    return is_aligned(off, PAGE_SIZE) && test(start_, off / PAGE_SIZE);
}

PageHeap::Stats PageHeap::stats() const { return Stats{pages_, free_, high_water_, meta_pages_, allocations_}; }

void* heap_alloc(PageHeap& heap, size_t bytes, size_t align) {
    if (bytes == 0 || !is_pow2(align) || add_overflows(bytes, PAGE_SIZE - 1)) return nullptr;
    const u64 align_pages = align <= PAGE_SIZE ? 1 : align / PAGE_SIZE;
    return heap.alloc_pages(pages_for(bytes), align_pages);
}

// ---------------------------------------------------------------------------------------------------------------
// Pool

struct Pool::Slab {
    Slab* next;
    const Pool* owner;
    u64 magic;
    u64 used[MAX_PER_SLAB / BITS_PER_WORD]; // bit k: object k handed out
};
static_assert(sizeof(void*) == sizeof(u64));

Status Pool::init(PageHeap& heap, u64 obj_size, u64 obj_align) {
    if (heap_ != nullptr) return Status::error("pool already initialized", WHERE_POOL);
    if (obj_size == 0 || obj_size > MAX_POOL_OBJ) return Status::error("bad pool object size", WHERE_POOL, obj_size);
    if (!is_pow2(obj_align) || obj_align > PAGE_SIZE)
        return Status::error("bad pool object alignment", WHERE_POOL, obj_align);
    const u64 align = obj_align < MIN_OBJ ? MIN_OBJ : obj_align;
    stride_ = align_up(obj_size < MIN_OBJ ? MIN_OBJ : obj_size, align);
    first_offset_ = align_up(sizeof(Slab), align);
    slab_pages_ = round_pow2(pages_for(first_offset_ + stride_));
    per_slab_ = (slab_pages_ * PAGE_SIZE - first_offset_) / stride_;
    if (per_slab_ > MAX_PER_SLAB) per_slab_ = MAX_PER_SLAB;
    heap_ = &heap;
    return Status::success();
}

Pool::Slab* Pool::slab_of(const void* obj) const {
    const u64 pa = heap_->virt_to_phys(obj);
    if (pa == 0) return nullptr;
    return static_cast<Slab*>(heap_->phys_to_virt(align_down(pa, slab_pages_ * PAGE_SIZE)));
}

bool Pool::grow() {
    // Physically aligned to its size, so slab_of finds a slab from any object in it.
    void* mem = heap_->alloc_pages(slab_pages_, slab_pages_);
    if (mem == nullptr) return false;
    auto* s = static_cast<Slab*>(mem); // zeroed: used[] all clear
    s->next = slabs_;
    s->owner = this;
    s->magic = SLAB_MAGIC;
    slabs_ = s;
    ++slab_count_;
    u8* objs = static_cast<u8*>(mem) + first_offset_;
    for (u64 k = per_slab_; k-- > 0;) { // lowest address ends up first in the free list
        void* obj = objs + k * stride_;
        __builtin_memcpy(obj, &free_list_, sizeof free_list_);
        free_list_ = obj;
    }
    return true;
}

void* Pool::alloc() {
    if (heap_ == nullptr) return nullptr;
    if (free_list_ == nullptr && !grow()) return nullptr;
    void* obj = free_list_;
    __builtin_memcpy(&free_list_, obj, sizeof free_list_);
    Slab* s = slab_of(obj);
    const u64 k = u64(static_cast<u8*>(obj) - reinterpret_cast<u8*>(s) - first_offset_) / stride_;
    s->used[k / BITS_PER_WORD] |= bit(unsigned(k % BITS_PER_WORD));
    __builtin_memset(obj, 0, stride_);
    ++in_use_;
    if (in_use_ > high_water_) high_water_ = in_use_;
    return obj;
}

Status Pool::free(void* p) {
    if (heap_ == nullptr) return Status::error("free on an uninitialized pool", WHERE_POOL, uptr(p));
    Slab* s = heap_->contains(p) ? slab_of(p) : nullptr;
    if (s == nullptr || !heap_->is_allocation_start(s) || s->magic != SLAB_MAGIC || s->owner != this)
        return Status::error("free of a pointer not from this pool", WHERE_POOL, uptr(p));
    const u64 off = u64(static_cast<u8*>(p) - reinterpret_cast<u8*>(s));
    if (off < first_offset_ || (off - first_offset_) % stride_ != 0 || (off - first_offset_) / stride_ >= per_slab_)
        return Status::error("free of a pointer not at an object start", WHERE_POOL, uptr(p));
    const u64 k = (off - first_offset_) / stride_;
    const u64 m = bit(unsigned(k % BITS_PER_WORD));
    if ((s->used[k / BITS_PER_WORD] & m) == 0) return Status::error("double free", WHERE_POOL, uptr(p));
    s->used[k / BITS_PER_WORD] &= ~m;
    __builtin_memcpy(p, &free_list_, sizeof free_list_);
    free_list_ = p;
    --in_use_;
    return Status::success();
}

Pool::Stats Pool::stats() const {
    return Stats{stride_, slab_count_, slab_count_ * slab_pages_, slab_count_ * per_slab_, in_use_, high_water_};
}

} // namespace evmm
