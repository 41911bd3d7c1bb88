// The PageAlloc fake the page-table, EPT and GPM tests share: pages from an aligned buffer whose "physical"
// addresses are BASE + offset. Fresh pages are zeroed; the rest of the buffer holds 0xA5 garbage until handed
// out, so a builder that reads a page it did not initialise shows it. set_limit() makes it run out early.
#pragma once

#include <cstdlib>
#include <cstring>

#include "evmm/physmem.h"

namespace evmm::test {

class FakePageAlloc : public PageAlloc {
public:
    FakePageAlloc(size_t pages, u64 base) : base_(base), pages_(pages) {
        buf_ = static_cast<u8*>(std::aligned_alloc(PAGE_SIZE, pages * PAGE_SIZE));
        std::memset(buf_, 0xA5, pages * PAGE_SIZE);
    }
    ~FakePageAlloc() { std::free(buf_); }
    FakePageAlloc(const FakePageAlloc&) = delete;
    FakePageAlloc& operator=(const FakePageAlloc&) = delete;

    u64 alloc_page() override {
        if (used_ == limit_ || used_ == pages_) return 0;
        std::memset(buf_ + used_ * PAGE_SIZE, 0, PAGE_SIZE);
        return base_ + (used_++) * PAGE_SIZE;
    }
    void* phys_to_virt(u64 pa) override {
        if (pa < base_ || pa >= base_ + pages_ * PAGE_SIZE) return nullptr;
        return buf_ + (pa - base_);
    }
    static constexpr int TOP_LEVEL = 4; // PML4 / EPT PML4

    size_t used() const { return used_; }
    void set_limit(size_t pages) { limit_ = pages; }

    // Pointer to the entry for `addr` at `level`, walking down from `root`; nullptr where a level above is not
    // a table. `is_table(entry, level)` says whether an entry of that level points to a table. Written apart from
    // the page-table engine (arch/x86_64/page_table.h), so the tests check the engine against a second walker.
    template <typename IsTable>
    u64* entry_ptr(u64 root, u64 addr, int level, IsTable is_table) {
        constexpr unsigned page_shift = 12, index_bits = 9;
        constexpr u64 index_mask = (u64{1} << index_bits) - 1;
        constexpr u64 addr_mask = 0x000FFFFFFFFFF000ull;
        u64 table = root;
        for (int l = TOP_LEVEL;; --l) {
            auto* t = static_cast<u64*>(phys_to_virt(table));
            if (t == nullptr) return nullptr;
            u64* e = &t[(addr >> (page_shift + index_bits * unsigned(l - 1))) & index_mask];
            if (l == level) return e;
            if (!is_table(*e, l)) return nullptr;
            table = *e & addr_mask;
        }
    }

private:
    u64 base_;
    size_t pages_;
    u8* buf_;
    size_t limit_ = ~size_t{0};
    size_t used_ = 0;
};

// The fake of the paging and EPT tests: physical addresses from Base, entry_ptr for the tables of an entry
// Format (Ia32ePte, EptEntry): an entry is a table when present and, below the PML4, without the large-page bit.
template <class Format, u64 Base>
class FakeTableMem : public FakePageAlloc {
public:
    static constexpr u64 BASE = Base;
    explicit FakeTableMem(size_t pages) : FakePageAlloc(pages, BASE) {}
    u64* entry_ptr(u64 root, u64 addr, int level) {
        return FakePageAlloc::entry_ptr(root, addr, level, [](u64 e, int l) {
            return Format::present(e) && (l == TOP_LEVEL || (e & Format::LARGE) == 0);
        });
    }
};

} // namespace evmm::test
