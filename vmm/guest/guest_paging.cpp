#include "vmm/guest/guest_paging.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/paging.h"

namespace evmm {
namespace {

// 32-bit paging (SDM Vol. 3A §4.3, Tables 4-4 .. 4-6): 10-bit indexes into 4-byte entries.
constexpr unsigned PAGING32_INDEX_BITS = 10;
constexpr u64 PAGING32_INDEX_MASK = bit(PAGING32_INDEX_BITS) - 1;
constexpr unsigned PAGING32_PDE_SHIFT = 22;     // bits 31:22 select the PDE
constexpr u64 PAGING32_FRAME = 0xFFFF'F000;     // bits 31:12 of a PDE/PTE
constexpr u64 PAGING32_4M_FRAME = 0xFFC0'0000;  // bits 31:22 of a 4 MiB PDE
constexpr unsigned PAGING32_4M_HIGH_SHIFT = 13; // PDE bits 20:13 hold physical address bits 39:32
constexpr u64 PAGING32_4M_HIGH_MASK = 0xFF;
constexpr unsigned PAGING32_4M_HIGH_POS = 32;
constexpr u64 PAGE_4M = 4 * MiB;
constexpr u64 ADDR32_MASK = 0xFFFF'FFFF; // linear addresses are 32 bits outside IA-32e mode

// PAE paging (§4.4.1): CR3 bits 31:5 locate the four PDPTEs, selected by linear bits 31:30.
constexpr u64 PAE_CR3_MASK = 0xFFFF'FFE0;
constexpr unsigned PAE_PDPTE_SHIFT = 30;
constexpr u64 PAE_PDPTE_INDEX_MASK = 3;

// PAE's page directories and tables, and the 4-/5-level structures, are IA-32e entries (SDM §4.4.2, §4.5.4): the
// page-table engine's walk over the Ia32ePte format, reading guest memory.
using Engine = PageTable<Ia32ePte>;

Status read_entry(const PhysMem& mem, u64 pa, size_t size, u64& out) {
    const void* p = mem.map(pa, size);
    if (p == nullptr) return Status::error("guest paging structure not readable", "guest paging", pa);
    out = 0;
    __builtin_memcpy(&out, p, size);
    return Status::success();
}

Status not_present(const char* where, u64 lin, u64 entry) {
    return Status::error("guest linear address not mapped (entry not present)", where, lin, entry);
}

Status walk32(const PhysMem& mem, const GuestPagingRegs& r, u64 lin, u64& pa) {
    lin &= ADDR32_MASK;
    u64 pde = 0;
    EVMM_TRY(
        read_entry(mem, (r.cr3 & PAGING32_FRAME) + ((lin >> PAGING32_PDE_SHIFT) & PAGING32_INDEX_MASK) * 4, 4, pde));
    if ((pde & pte::P) == 0) return not_present("guest PDE (32-bit paging)", lin, pde);
    if ((pde & pte::PS) && (r.cr4 & CR4_PSE)) {
        const u64 high = ((pde >> PAGING32_4M_HIGH_SHIFT) & PAGING32_4M_HIGH_MASK) << PAGING32_4M_HIGH_POS;
        pa = high | (pde & PAGING32_4M_FRAME) | (lin & (PAGE_4M - 1));
        return Status::success();
    }
    u64 e = 0;
    EVMM_TRY(read_entry(mem, (pde & PAGING32_FRAME) + ((lin >> PAGE_SHIFT) & PAGING32_INDEX_MASK) * 4, 4, e));
    if ((e & pte::P) == 0) return not_present("guest PTE (32-bit paging)", lin, e);
    pa = (e & PAGING32_FRAME) | (lin & (PAGE_4K - 1));
    return Status::success();
}

// 64-bit entries from `level` down to the page table (PAE starts at the page directory after its PDPTE).
Status walk64(const PhysMem& mem, u64 table, int level, u64 lin, u64& pa) {
    const Engine::Walk w = Engine::walk_tables(table, level, lin, [&mem](u64 t, unsigned i, u64& e) {
        return read_entry(mem, t + i * sizeof(u64), sizeof(u64), e).ok();
    });
    if (!w.readable)
        return Status::error("guest paging structure not readable", "guest paging",
                             w.table + table_index(lin, w.level) * sizeof(u64));
    if (w.reserved) return Status::error("guest paging entry with reserved PS bit", "guest paging", lin, w.entry);
    if (!w.present) return not_present("guest paging entry", lin, w.entry);
    pa = w.pa;
    return Status::success();
}

} // namespace

Status guest_linear_to_phys(const PhysMem& mem, const GuestPagingRegs& r, u64 lin, u64& pa) {
    const bool long_mode = (r.efer & EFER_LMA) != 0;
    if ((r.cr0 & CR0_PG) == 0) {
        pa = long_mode ? lin : (lin & ADDR32_MASK);
        return Status::success();
    }
    if ((r.cr4 & CR4_PAE) == 0) return walk32(mem, r, lin, pa);
    if (!long_mode) {
        lin &= ADDR32_MASK;
        u64 pdpte = 0;
        EVMM_TRY(
            read_entry(mem, (r.cr3 & PAE_CR3_MASK) + ((lin >> PAE_PDPTE_SHIFT) & PAE_PDPTE_INDEX_MASK) * 8, 8, pdpte));
        if ((pdpte & pte::P) == 0) return not_present("guest PDPTE (PAE paging)", lin, pdpte);
        return walk64(mem, pdpte & pte::ADDR_4K, LEVEL_PD, lin, pa);
    }
    // 5-level paging: the PML5 entry selects a PML4 by linear bits 56:48 (§4.5.1).
    return walk64(mem, r.cr3 & pte::ADDR_4K, (r.cr4 & CR4_LA57) ? LEVEL_PML5 : LEVEL_PML4, lin, pa);
}

Status guest_read_linear(const PhysMem& mem, const GuestPagingRegs& r, u64 lin, u8* out, size_t len) {
    while (len != 0) {
        u64 pa = 0;
        EVMM_TRY(guest_linear_to_phys(mem, r, lin, pa));
        const u64 in_page = PAGE_4K - (lin & (PAGE_4K - 1));
        const size_t n = len < in_page ? len : static_cast<size_t>(in_page);
        const void* p = mem.map(pa, n);
        if (p == nullptr) return Status::error("guest memory not readable", "guest read", lin, pa);
        __builtin_memcpy(out, p, n);
        out += n;
        lin += n;
        len -= n;
    }
    return Status::success();
}

} // namespace evmm
