#include "vmm/modules/apic_base.h"

#include "arch/x86_64/lapic.h"

namespace evmm::virt {
namespace {

constexpr u64 APIC_BASE_RESERVED_LOW = 0xFF | bit(9); // bits 7:0 and 9 (Figure 11-5)
constexpr u64 APIC_PAGE = 4 * KiB;

enum class Mode : u8 { Disabled, Invalid, XApic, X2Apic };

Mode mode_of(u64 v) {
    const bool en = (v & APIC_BASE_GLOBAL_ENABLE) != 0, extd = (v & APIC_BASE_X2APIC_ENABLE) != 0;
    if (!en) return extd ? Mode::Invalid : Mode::Disabled;
    return extd ? Mode::X2Apic : Mode::XApic;
}

} // namespace

ApicBaseCheck apic_base_check(u64 old_value, u64 new_value, u8 maxphyaddr, bool x2apic_supported, u64 phys_limit,
                              const MemoryMap::Range* kept, u32 nkept) {
    const u64 high_reserved = maxphyaddr >= 64 ? 0 : ~u64{0} << maxphyaddr;
    if (new_value & (APIC_BASE_RESERVED_LOW | high_reserved)) return {false, "reserved bits set"};
    const Mode from = mode_of(old_value), to = mode_of(new_value);
    if (to == Mode::Invalid) return {false, "EXTD set with EN clear (invalid state)"};
    if (to == Mode::X2Apic && !x2apic_supported) return {false, "x2APIC mode without x2APIC support"};
    if (from == Mode::X2Apic && to == Mode::XApic) return {false, "x2APIC -> xAPIC (only through disabled)"};
    if (from == Mode::Disabled && to == Mode::X2Apic) return {false, "disabled -> x2APIC (only through xAPIC)"};
    if (to == Mode::XApic) {
        const u64 base = new_value & APIC_BASE_ADDR_MASK;
        if (base >= phys_limit || phys_limit - base < APIC_PAGE)
            return {false, "the APIC page lies outside the guest's physical address space"};
        for (u32 i = 0; i < nkept; ++i)
            if (ranges_overlap(base, APIC_PAGE, kept[i].base, kept[i].length))
                return {false, "the APIC page would overlap memory the hypervisor keeps"};
    }
    return {true, nullptr};
}

} // namespace evmm::virt
