#include "loader/tee_image.h"

#include "arch/x86_64/paging.h"

namespace evmm {
namespace {
constexpr const char* WHERE = "tee image";
} // namespace

Status tee_plan(const u8* file, size_t file_size, u32 num_cpus, TeePlan& out) {
    out = TeePlan{};
    if (num_cpus == 0 || num_cpus > EVMM_MAX_CPUS) return Status::error("bad CPU count", WHERE, num_cpus);
    EVMM_TRY(elf_inspect(file, file_size, out.img));
    if (out.img.type != ET_DYN) return Status::error("not a static PIE (ELF type is not ET_DYN)", WHERE, out.img.type);
    out.image_span = out.img.max_vaddr - out.img.min_vaddr;
    const u64 stacks = u64{num_cpus} * EVMM_TEE_STACK_SIZE;
    if (out.image_span > TEE_IDENTITY_LIMIT)
        return Status::error("image too big", WHERE, out.image_span, TEE_IDENTITY_LIMIT);
    const u64 need = align_up(EVMM_TEE_IMAGE_OFFSET + align_up(out.image_span, PAGE_SIZE) + stacks, EVMM_TEE_ALIGN);
    out.size = need > EVMM_TEE_MIN_SIZE ? need : EVMM_TEE_MIN_SIZE;
    return Status::success();
}

Status tee_place(const MemoryMap& mmap, u64 size, u64 limit, const MemoryMap::Range* avoid, u32 avoid_count,
                 u64& base) {
    base = 0;
    if (size == 0 || !is_aligned(size, EVMM_TEE_ALIGN)) return Status::error("bad TEE size", WHERE, size);
    // The barriers are 1 MiB, the base 2 MiB aligned: look for the range padded by a whole 2 MiB on each side; the
    // outer half of each pad stays guest0's.
    static_assert(EVMM_TEE_BARRIER <= EVMM_TEE_ALIGN);
    u64 found = 0;
    const Status s =
        mmap.find_free_top_down(size + 2 * EVMM_TEE_ALIGN, EVMM_TEE_ALIGN, limit, avoid, avoid_count, found);
    if (!s.ok()) return Status::error("no room in RAM for the TEE and its barriers", WHERE, size, limit);
    base = found + EVMM_TEE_ALIGN;
    return Status::success();
}

Status tee_load(const u8* file, size_t file_size, const TeePlan& plan, u8* mem, u64 base, u64 tsc_khz,
                const u8 (&seed)[EVMM_TEE_SEED_SIZE], u64& entry) {
    entry = 0;
    if (!is_aligned(base, EVMM_TEE_ALIGN) || plan.size == 0 || add_overflows(base, plan.size) ||
        base + plan.size > TEE_IDENTITY_LIMIT)
        return Status::error("TEE range not 2 MiB aligned or not below 4 GiB", WHERE, base, plan.size);
    if (plan.size > UINT32_MAX) return Status::error("TEE memory does not fit mem_size (32 bits)", WHERE, plan.size);
    __builtin_memset(mem, 0, plan.size);
    const u64 bias = base + EVMM_TEE_IMAGE_OFFSET - plan.img.min_vaddr;
    EVMM_TRY(
        elf_load(file, file_size, plan.img, mem + EVMM_TEE_IMAGE_OFFSET, plan.size - EVMM_TEE_IMAGE_OFFSET - 0, bias));
    entry = plan.img.entry + bias;

    evmm_tee_seed_t sd{};
    sd.size_of_this_struct = sizeof sd;
    sd.version = 1;
    for (u32 i = 0; i < EVMM_TEE_SEED_SIZE; ++i) sd.seed[i] = seed[i];
    __builtin_memcpy(mem, &sd, sizeof sd);
    evmm_tee_startup_info_t si{};
    si.size_of_this_struct = sizeof si;
    si.mem_size = static_cast<u32>(plan.size);
    si.calibrate_tsc_per_ms = tsc_khz; // kHz = ticks per millisecond
    si.trusty_mem_base = base;
    si.sipi_ap_wkup_addr = 0;
    __builtin_memcpy(mem + EVMM_TEE_STARTUP_OFFSET, &si, sizeof si);
    __builtin_memcpy(mem + EVMM_TEE_GDT_OFFSET, TEE_GDT, sizeof TEE_GDT);

    // PML4 -> PDPT -> 4 PDs of 512 2 MiB leaves: [0, 4 GiB) identity, read/write, supervisor, write-back (PAT 0).
    auto* pt = reinterpret_cast<u64*>(mem + EVMM_TEE_PT_OFFSET);
    const u64 pt_pa = base + EVMM_TEE_PT_OFFSET;
    constexpr u64 ENTRIES = PAGE_SIZE / sizeof(u64);
    pt[0] = (pt_pa + PAGE_SIZE) | pte::P | pte::RW;
    for (u64 i = 0; i < 4; ++i) {
        pt[ENTRIES + i] = (pt_pa + (2 + i) * PAGE_SIZE) | pte::P | pte::RW;
        for (u64 j = 0; j < ENTRIES; ++j)
            pt[(2 + i) * ENTRIES + j] = ((i * ENTRIES + j) * 2 * MiB) | pte::P | pte::RW | pte::PS;
    }
    return Status::success();
}

} // namespace evmm
