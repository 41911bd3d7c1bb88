// The secure world's image and memory (docs/tee.md, include/evmm_tee.h): pure logic of the loader, unit-tested.
//
// The loader checks the `tee` boot module (an ELF64 static PIE: ET_DYN, R_X86_64_RELATIVE relocations only), sizes
// the TEE's memory, carves it from usable RAM below 4 GiB (2 MiB aligned, a 1 MiB barrier on each side that no
// guest gets), loads the image at base + EVMM_TEE_IMAGE_OFFSET and writes the info page (seed, startup structure,
// GDT) and the initial identity page tables. The VMM only reads the result from evmm_desc_t (tee_*): it builds the
// TEE's guest, EPT and vCPUs in stage 4/5 and never parses the image.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_tee.h"
#include "lib/formats/elf.h"
#include "lib/formats/memmap.h"

namespace evmm {

struct TeePlan {
    ElfImage img;
    u64 image_span; // max_vaddr - min_vaddr
    u64 size;       // the TEE's memory (barriers excluded)
};

// The image is an ELF64 x86-64 static PIE (elf_inspect + ET_DYN); size = max(EVMM_TEE_MIN_SIZE,
// IMAGE_OFFSET + span + num_cpus stacks rounded up to 2 MiB). Errors name what is wrong and the values.
Status tee_plan(const u8* file, size_t file_size, u32 num_cpus, TeePlan& out);

// The highest 2 MiB aligned base whose memory and both barriers lie in usable RAM below `limit`, clear of `avoid`.
Status tee_place(const MemoryMap& mmap, u64 size, u64 limit, const MemoryMap::Range* avoid, u32 avoid_count, u64& base);

// Writes the TEE's memory: zeroes it, loads and relocates the image (elf_load: only R_X86_64_RELATIVE), writes the
// info page (seed, startup structure, GDT) and the page tables. `mem` is the memory's address in the caller's
// address space (the loader: == base), `base` its physical address. `entry` = the runtime entry point.
Status tee_load(const u8* file, size_t file_size, const TeePlan& plan, u8* mem, u64 base, u64 tsc_khz,
                const u8 (&seed)[EVMM_TEE_SEED_SIZE], u64& entry);

// The initial GDT's descriptors (SDM Vol. 3A §3.4.5, §5.2.1): null, 64-bit code (0x08), data (0x10).
inline constexpr u64 TEE_GDT[3] = {0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull};
inline constexpr u16 TEE_CS = 0x08, TEE_DS = 0x10;
// The initial page tables: PML4 + PDPT + 4 page directories mapping [0, 4 GiB) with 2 MiB pages (SDM Vol. 3A
// §4.5, Table 4-17), which covers the TEE's range (the loader keeps it below 4 GiB).
inline constexpr u64 TEE_PT_PAGES = 6;
inline constexpr u64 TEE_IDENTITY_LIMIT = 4 * GiB;
static_assert(TEE_PT_PAGES * PAGE_SIZE <= EVMM_TEE_PT_SIZE);

} // namespace evmm
