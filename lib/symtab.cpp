#include "lib/symtab.h"

namespace evmm {

bool Symtab::init(const void* table, size_t size) {
    entries_ = nullptr;
    if (table == nullptr || size < sizeof(SymtabHeader)) return false;
    SymtabHeader h;
    __builtin_memcpy(&h, table, sizeof h);
    if (__builtin_memcmp(h.magic, SYMTAB_MAGIC, sizeof h.magic) != 0) return false;
    const u64 need = sizeof(SymtabHeader) + u64{h.count} * sizeof(SymtabEntry) + h.strings_size;
    if (need > size || h.strings_size == 0) return false;
    const auto* base = static_cast<const u8*>(table);
    const auto* entries = reinterpret_cast<const SymtabEntry*>(base + sizeof(SymtabHeader));
    const auto* strings = reinterpret_cast<const char*>(entries + h.count);
    if (strings[h.strings_size - 1] != '\0') return false;
    for (u32 i = 0; i < h.count; ++i) {
        if (entries[i].name >= h.strings_size) return false;
        if (i > 0 && entries[i].addr < entries[i - 1].addr) return false;
    }
    entries_ = entries;
    strings_ = strings;
    count_ = h.count;
    strings_size_ = h.strings_size;
    return true;
}

const char* Symtab::lookup(u64 addr, u64& offset) const {
    if (entries_ == nullptr || count_ == 0 || addr < entries_[0].addr) return nullptr;
    u32 lo = 0, hi = count_; // invariant: entries_[lo].addr <= addr, answer in [lo, hi)
    while (hi - lo > 1) {
        u32 mid = lo + (hi - lo) / 2;
        if (entries_[mid].addr <= addr)
            lo = mid;
        else
            hi = mid;
    }
    const SymtabEntry& e = entries_[lo];
    if (e.size != 0 && addr - e.addr >= e.size) return nullptr;
    offset = addr - e.addr;
    return strings_ + e.name;
}

} // namespace evmm
