#include "loader/smp_boot.h"

#include "lib/format.h"

namespace evmm {
namespace {

constexpr u64 BELOW_4G = u64{1} << 32;
constexpr u64 CR0_PE_BIT = bit(0); // SDM Vol. 3A §2.5
constexpr u64 CR0_PG_BIT = bit(31);
constexpr u64 CR4_PAE_BIT = bit(5);
constexpr u64 CR4_LA57_BIT = bit(12); // 5-level paging: the loader's tables are 4-level, never copied
constexpr u64 EFER_LME_BIT = bit(8);  // SDM Vol. 3A §2.2.1
constexpr u64 EFER_NXE_BIT = bit(11);
constexpr u32 MAX_TRAMPOLINE_AVOID = EVMM_MAX_BOOT_MODULES + 8;

} // namespace

bool trampoline_base_valid(u64 base) {
    if (!is_aligned(base, PAGE_SIZE) || base < TRAMPOLINE_MIN) return false;
    if (base > TRAMPOLINE_LIMIT - TRAMPOLINE_SIZE) return false;
    return !ranges_overlap(base, TRAMPOLINE_SIZE, SIPI_RESERVED_BASE, SIPI_RESERVED_END - SIPI_RESERVED_BASE);
}

Status trampoline_place(const MemoryMap& map, const MemoryMap::Range* avoid, u32 avoid_count, u64& out_base) {
    out_base = 0;
    MemoryMap::Range all[MAX_TRAMPOLINE_AVOID];
    u32 n = 0;
    all[n++] = {0, TRAMPOLINE_MIN};
    all[n++] = {SIPI_RESERVED_BASE, SIPI_RESERVED_END - SIPI_RESERVED_BASE};
    if (avoid_count > MAX_TRAMPOLINE_AVOID - n)
        return Status::error("too many ranges to avoid", "trampoline", avoid_count, MAX_TRAMPOLINE_AVOID - n);
    for (u32 i = 0; i < avoid_count; ++i) all[n++] = avoid[i];
    u64 base = 0;
    EVMM_TRY(map.find_free_top_down(TRAMPOLINE_SIZE, PAGE_SIZE, TRAMPOLINE_LIMIT, all, n, base));
    if (!trampoline_base_valid(base)) return Status::error("bad trampoline page", "trampoline", base);
    out_base = base;
    return Status::success();
}

Status trampoline_data_init(const TrampolineSetup& s, TrampolineData& d) {
    d = TrampolineData{};
    if (!trampoline_base_valid(s.base)) return Status::error("bad trampoline page", "trampoline", s.base);
    if (s.cr3 == 0 || !is_aligned(s.cr3, PAGE_SIZE) || s.cr3 >= BELOW_4G)
        return Status::error("page tables not below 4 GiB or not page aligned", "trampoline CR3", s.cr3);
    if (s.target == 0 || s.target >= BELOW_4G)
        return Status::error("64-bit target not in the identity map", "trampoline", s.target);
    d.gdt[0] = 0;
    d.gdt[TRAMP_SEL_CODE64 / 8] = TRAMP_GDT_CODE64;
    d.gdt[TRAMP_SEL_DATA / 8] = TRAMP_GDT_DATA;
    d.gdt[TRAMP_SEL_CODE32 / 8] = TRAMP_GDT_CODE32;
    d.gdtr_limit = static_cast<u16>(sizeof d.gdt - 1);
    d.gdtr_base = static_cast<u32>(s.base + TRAMP_DATA_OFF + TRAMP_D_GDT);
    d.far32_offset = static_cast<u32>(s.base + TRAMP_ENTRY32_OFF);
    d.far32_selector = TRAMP_SEL_CODE32;
    d.far64_offset = static_cast<u32>(s.base + TRAMP_ENTRY64_OFF);
    d.far64_selector = TRAMP_SEL_CODE64;
    d.efer_set = static_cast<u32>(EFER_LME_BIT | (s.efer & EFER_NXE_BIT));
    d.cr0 = s.cr0 | CR0_PG_BIT | CR0_PE_BIT;
    d.cr3 = s.cr3;
    d.cr4 = (s.cr4 | CR4_PAE_BIT) & ~CR4_LA57_BIT;
    d.target = s.target;
    d.state = TRAMP_STATE_WAITING;
    return Status::success();
}

void trampoline_data_set_ap(TrampolineData& d, u32 cpu_id, u32 apic_id, u64 stack_top) {
    d.cpu_id = cpu_id;
    d.apic_id = apic_id;
    d.stack_top = stack_top;
}

bool icr_destination_ok(ApicMode mode, u32 apic_id) {
    switch (mode) {
    case ApicMode::XApic: return apic_id < XAPIC_BROADCAST_ID;
    case ApicMode::X2Apic: return apic_id != X2APIC_BROADCAST_ID;
    case ApicMode::Disabled: break;
    }
    return false;
}

namespace {
u64 icr_destination(ApicMode mode, u32 apic_id) {
    return mode == ApicMode::X2Apic ? u64{apic_id} << ICR_X2APIC_DEST_SHIFT
                                    : u64{apic_id & XAPIC_BROADCAST_ID} << ICR_XAPIC_DEST_SHIFT;
}
} // namespace

// Physical destination, no shorthand, edge triggered, level assert: the INIT and Start-up IPIs of the MP
// initialization protocol (SDM Vol. 3A §9.4.4.1; its example values 000C4500H and 000C46XXH with the
// "all excluding self" shorthand replaced by a destination).
u64 icr_init(ApicMode mode, u32 apic_id) {
    return icr_destination(mode, apic_id) | ICR_LEVEL_ASSERT | ICR_DELIVERY_INIT;
}

u64 icr_startup(ApicMode mode, u32 apic_id, u8 vector) {
    return icr_destination(mode, apic_id) | ICR_LEVEL_ASSERT | ICR_DELIVERY_STARTUP | (vector & ICR_VECTOR_MASK);
}

u64 tsc_ticks_for_us(u64 tsc_khz, u64 us) {
    const u64 khz = tsc_khz != 0 ? tsc_khz : TSC_KHZ_UNKNOWN_ASSUMED;
    // khz * us / 1000 without overflow for any realistic input; saturate otherwise.
    if (us != 0 && khz > UINT64_MAX / us) return UINT64_MAX;
    return (khz * us + 999) / 1000;
}

Status smp_desc_finalize(evmm_desc_t& d, const u32* started, u32 n) {
    if (n == 0 || n > EVMM_MAX_CPUS) return Status::error("bad started CPU count", "smp", n);
    if (started[0] != d.bsp_apic_id) return Status::error("CPU 0 is not the BSP", "smp", started[0], d.bsp_apic_id);
    d.num_cpus = n;
    for (u32 i = 0; i < EVMM_MAX_CPUS; ++i) d.apic_ids[i] = i < n ? started[i] : 0;
    return Status::success();
}

size_t format_apic_ids(char* buf, size_t cap, const u32* ids, u32 n) {
    if (cap == 0) return 0;
    buf[0] = '\0';
    constexpr char MORE[] = "...";
    size_t len = 0;
    for (u32 i = 0; i < n; ++i) {
        char item[16];
        const size_t k = format(item, sizeof item, "%s%u", i ? ", " : "", ids[i]);
        // Keep room for "..." unless this is the last item and it fits exactly.
        const size_t need = len + k + (i + 1 < n ? sizeof MORE - 1 : 0);
        if (need + 1 > cap) {
            if (len + sizeof MORE <= cap) {
                __builtin_memcpy(buf + len, MORE, sizeof MORE);
                len += sizeof MORE - 1;
            }
            return len;
        }
        __builtin_memcpy(buf + len, item, k + 1);
        len += k;
    }
    return len;
}

} // namespace evmm
