// evmm's embedded symbol table: lets a panic print "vmm_main+0x1c" instead of a bare address.
//
// Built at compile time by tools/mksymtab.sh from `nm` of build/vmm.elf, embedded in the loader, copied by the
// loader into the runtime region (evmm_desc_t.symtab_addr/size). Layout (little-endian):
//   SymtabHeader, then `count` SymtabEntry sorted by address (link-time address: the VMM is linked at 0, so
//   subtract the runtime base first), then `strings_size` bytes of NUL-terminated names.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline constexpr char SYMTAB_MAGIC[8] = {'E', 'V', 'M', 'M', 'S', 'Y', 'M', 'S'};

struct SymtabHeader {
    char magic[8];
    u32 count;
    u32 strings_size;
};
static_assert(sizeof(SymtabHeader) == 16);

// 8 bytes an entry (P3): the VMM is linked at 0 and far below 4 GiB, each function is smaller than 64 KiB (a larger
// size is stored as 0, "unknown") and all names together take less than 64 KiB (tools/mksymtab.sh refuses more).
struct SymtabEntry {
    u32 addr;
    u16 name; // offset into the strings
    u16 size; // 0 if unknown
};
static_assert(sizeof(SymtabEntry) == 8);

class Symtab {
public:
    // Validates the table (magic, sizes fit, names inside the strings); an invalid table looks up nothing.
    bool init(const void* table, size_t size);
    bool valid() const { return entries_ != nullptr; }
    u32 count() const { return count_; }
    // Symbol containing `addr` (greatest start <= addr, within its size when the size is known), or nullptr.
    const char* lookup(u64 addr, u64& offset) const;

private:
    const SymtabEntry* entries_ = nullptr;
    const char* strings_ = nullptr;
    u32 count_ = 0;
    u32 strings_size_ = 0;
};

} // namespace evmm
