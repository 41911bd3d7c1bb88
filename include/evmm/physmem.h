// Hardware access injected into pure logic (Hedron's habit): parsers that chase physical pointers (ACPI tables)
// and builders that allocate page-table pages take one of these small interfaces. On the machine they are the
// identity map; in host unit tests they are fakes backed by buffers.
#pragma once

#include "evmm/base.h"

namespace evmm {

// Read access to physical memory.
class PhysMem {
public:
    // A pointer through which [pa, pa + len) can be read, or nullptr if that range is not readable
    // (outside RAM the fake knows, or past the identity map). Never faults.
    virtual const void* map(u64 pa, size_t len) const = 0;

protected:
    ~PhysMem() = default;
};

// Supplier of zeroed 4 KiB pages for page tables (host or EPT).
class PageAlloc {
public:
    // Physical address of a fresh, zeroed, 4 KiB-aligned page, or 0 when out of memory.
    virtual u64 alloc_page() = 0;
    // Where the page at physical address pa can be read and written by this code.
    virtual void* phys_to_virt(u64 pa) = 0;

protected:
    ~PageAlloc() = default;
};

} // namespace evmm
