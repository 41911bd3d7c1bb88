#include "vmm/modules/icr_route.h"

#include "arch/x86_64/lapic.h"

namespace evmm::virt {
namespace {

constexpr u64 ICR_DELIVERY_MODE_MASK = u64{7} << ICR_DELIVERY_MODE_SHIFT;
constexpr u64 ICR_DELIVERY_FIXED = u64{0} << ICR_DELIVERY_MODE_SHIFT;
constexpr u64 ICR_DELIVERY_LOWEST = u64{1} << ICR_DELIVERY_MODE_SHIFT;
constexpr u64 ICR_DELIVERY_SMI = u64{2} << ICR_DELIVERY_MODE_SHIFT;
constexpr u64 ICR_SHORTHAND_NONE = u64{0} << ICR_SHORTHAND_SHIFT;
constexpr u64 ICR_SHORTHAND_SELF = u64{1} << ICR_SHORTHAND_SHIFT;
constexpr u64 ICR_SHORTHAND_ALL_INCLUDING_SELF = u64{2} << ICR_SHORTHAND_SHIFT;
constexpr u32 X2APIC_CLUSTER_SHIFT = 16;
constexpr u32 X2APIC_CLUSTER_CPU_BITS = 4; // 16 CPUs per cluster
constexpr u32 X2APIC_LOGICAL_MASK = 0xFFFF;
constexpr u32 XAPIC_CLUSTER_SHIFT = 4; // cluster model: bits 7:4 cluster, 3:0 member bitmap
constexpr u32 XAPIC_CLUSTER_MEMBERS = 0xF;
constexpr u32 XAPIC_LOGICAL_MASK = 0xFF;

u64 cpu_bit(u32 c) { return c < 64 ? u64{1} << c : 0; }

// Does CPU c accept a logical-mode destination `dest`?
bool logical_match(u32 dest, bool x2apic, u32 c, const ApicView& v) {
    if (x2apic) {
        if (dest == X2APIC_BROADCAST_ID) return true;
        const u32 id = v.apic_id[c];
        const u32 cluster = id >> X2APIC_CLUSTER_CPU_BITS;
        const u32 member = 1u << (id & ((1u << X2APIC_CLUSTER_CPU_BITS) - 1));
        return (dest >> X2APIC_CLUSTER_SHIFT) == cluster && (dest & X2APIC_LOGICAL_MASK & member) != 0;
    }
    dest &= XAPIC_LOGICAL_MASK;
    if (dest == XAPIC_BROADCAST_ID) return true;
    const u32 logical = (v.ldr[c] >> XAPIC_LDR_SHIFT) & XAPIC_LOGICAL_MASK;
    if ((v.dfr[c] >> XAPIC_DFR_MODEL_SHIFT) == XAPIC_DFR_MODEL_FLAT) return (logical & dest) != 0;
    return (logical >> XAPIC_CLUSTER_SHIFT) == (dest >> XAPIC_CLUSTER_SHIFT) &&
           (logical & dest & XAPIC_CLUSTER_MEMBERS) != 0;
}

} // namespace

IcrRoute icr_route(u64 icr, bool x2apic, u32 self, const ApicView& v) {
    const u64 mode = icr & ICR_DELIVERY_MODE_MASK;
    if (mode == ICR_DELIVERY_FIXED || mode == ICR_DELIVERY_LOWEST || mode == ICR_DELIVERY_NMI)
        return IcrRoute{IcrAction::Send, 0, 0, nullptr};
    if (mode == ICR_DELIVERY_SMI) return IcrRoute{IcrAction::Drop, 0, 0, "an SMI IPI (guest0 may not trigger SMM)"};
    if (mode != ICR_DELIVERY_INIT && mode != ICR_DELIVERY_STARTUP)
        return IcrRoute{IcrAction::Drop, 0, 0, "a reserved delivery mode"};
    const bool init = mode == ICR_DELIVERY_INIT;
    // INIT level de-assert (level 0): no effect since the Pentium 4 (SDM Vol. 3A §11.6.1).
    if (init && (icr & ICR_LEVEL_ASSERT) == 0)
        return IcrRoute{IcrAction::Drop, 0, 0, "INIT level de-assert (no effect)"};
    const u32 dest = x2apic ? static_cast<u32>(icr >> ICR_X2APIC_DEST_SHIFT)
                            : static_cast<u32>(icr >> ICR_XAPIC_DEST_SHIFT) & XAPIC_LOGICAL_MASK;
    const u32 broadcast = x2apic ? X2APIC_BROADCAST_ID : XAPIC_BROADCAST_ID;
    u64 targets = 0;
    const u64 shorthand = icr & ICR_SHORTHAND_MASK;
    for (u32 c = 0; c < v.ncpus; ++c) {
        bool hit;
        if (shorthand == ICR_SHORTHAND_SELF)
            hit = c == self;
        else if (shorthand == ICR_SHORTHAND_ALL_INCLUDING_SELF)
            hit = true;
        else if (shorthand == ICR_SHORTHAND_ALL_BUT_SELF)
            hit = c != self;
        else if (icr & ICR_DEST_MODE_LOGICAL)
            hit = logical_match(dest, x2apic, c, v);
        else
            hit = dest == broadcast || v.apic_id[c] == dest;
        if (hit) targets |= cpu_bit(c);
    }
    static_assert(ICR_SHORTHAND_NONE == 0);
    return IcrRoute{init ? IcrAction::Init : IcrAction::Startup, targets, static_cast<u32>(icr & ICR_VECTOR_MASK),
                    nullptr};
}

} // namespace evmm::virt
