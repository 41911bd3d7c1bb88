#include "vmm/guest/guest_paging.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/paging.h"

namespace evmm {
namespace {

// 32-bit paging (SDM Vol. 3A §4.3, Tables 4-4 .. 4-6): 10-bit indexes into 4-byte entries.
constexpr unsigned PAGING32_INDEX_BITS = 10;
constexpr u64 PAGING32_INDEX_MASK = bit(PAGING32_INDEX_BITS) - 1;
constexpr unsigned PAGING32_PDE_SHIFT = 22;         // bits 31:22 select the PDE
constexpr u64 PAGING32_FRAME = 0xFFFF'F000;         // bits 31:12 of a PDE/PTE
constexpr u64 PAGING32_4M_FRAME = 0xFFC0'0000;      // bits 31:22 of a 4 MiB PDE
constexpr unsigned PAGING32_4M_HIGH_SHIFT = 13;     // PDE bits 20:13 hold physical address bits 39:32
constexpr u64 PAGING32_4M_HIGH_MASK = 0xFF;
constexpr unsigned PAGING32_4M_HIGH_POS = 32;
constexpr u64 PAGE_4M = 4 * MiB;
constexpr u64 ADDR32_MASK = 0xFFFF'FFFF;            // linear addresses are 32 bits outside IA-32e mode

// PAE paging (§4.4.1): CR3 bits 31:5 locate the four PDPTEs, selected by linear bits 31:30.
constexpr u64 PAE_CR3_MASK = 0xFFFF'FFE0;
constexpr unsigned PAE_PDPTE_SHIFT = 30;
constexpr u64 PAE_PDPTE_INDEX_MASK = 3;

constexpr int LEVEL_PML5 = 5;

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
    EVMM_TRY(read_entry(mem, (r.cr3 & PAGING32_FRAME) + ((lin >> PAGING32_PDE_SHIFT) & PAGING32_INDEX_MASK) * 4, 4,
                        pde));
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
    for (;; --level) {
        u64 e = 0;
        const u64 index = (lin >> level_shift(level)) & (ENTRIES_PER_TABLE - 1);
        EVMM_TRY(read_entry(mem, table + index * sizeof(u64), sizeof(u64), e));
        if ((e & pte::P) == 0) return not_present("guest paging entry", lin, e);
        const bool large = (level == LEVEL_PDPT || level == LEVEL_PD) && (e & pte::PS);
        if (level == LEVEL_PT || large) {
            const u64 span = level_span(level);
            pa = (e & pte::ADDR_4K & ~(span - 1)) | (lin & (span - 1));
            return Status::success();
        }
        table = e & pte::ADDR_4K;
    }
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
        EVMM_TRY(read_entry(mem, (r.cr3 & PAE_CR3_MASK) + ((lin >> PAE_PDPTE_SHIFT) & PAE_PDPTE_INDEX_MASK) * 8, 8,
                            pdpte));
        if ((pdpte & pte::P) == 0) return not_present("guest PDPTE (PAE paging)", lin, pdpte);
        return walk64(mem, pdpte & pte::ADDR_4K, LEVEL_PD, lin, pa);
    }
    if (r.cr4 & CR4_LA57) {
        // 5-level paging: the PML5 entry selects a PML4 by linear bits 56:48 (§4.5.1).
        u64 e = 0;
        const u64 index = (lin >> level_shift(LEVEL_PML5)) & (ENTRIES_PER_TABLE - 1);
        EVMM_TRY(read_entry(mem, (r.cr3 & pte::ADDR_4K) + index * sizeof(u64), sizeof(u64), e));
        if ((e & pte::P) == 0) return not_present("guest PML5E", lin, e);
        return walk64(mem, e & pte::ADDR_4K, LEVEL_PML4, lin, pa);
    }
    return walk64(mem, r.cr3 & pte::ADDR_4K, LEVEL_PML4, lin, pa);
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
