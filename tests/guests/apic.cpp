// apic: guest0 against the local APIC's location (issue 10, "APIC remap"). Moving the xAPIC page onto the
// hypervisor's memory is refused with #GP(0) and leaves the APIC where it was; writes the processor refuses
// (reserved bits, x2APIC -> xAPIC) get #GP(0) as on bare metal; a legal move to a page of guest0's own RAM works:
// the APIC answers there, an NMI sent through the moved page's ICR arrives, and a store to the old page's ICR slot is
// no IPI any more (and no stop of the machine); moving it back restores it.
#include "guest.h"
#include "smp.h"

using namespace guest;

namespace {

constexpr u32 MSR_APIC_BASE = 0x1B;
constexpr u64 EN = 1ull << 11, EXTD = 1ull << 10;
constexpr u32 ICR_DELIVERY_NMI = 0x400, ICR_INIT = 0x500;
constexpr u64 NMI_WAIT_US = 20000;

alignas(4096) volatile u32 g_ram_page[1024]; // where the APIC goes, and the old page's stand-in check
volatile u32 g_nmis;

void on_nmi() { g_nmis = g_nmis + 1; }

} // namespace

extern "C" void guest_main(const void*) {
    banner("apic", "APIC base moves onto the hypervisor refused, processor rules kept, a legal move works");
    check(tsc_calibrate(), "TSC calibrated against PIT channel 2");
    SmpTopology topo;
    const evmm::Status st = smp_find_cpus(topo);
    const u64 tramp = st.ok() ? smp_choose_trampoline() : 0;
    if (!check(st.ok() && tramp != 0, "MADT found")) return;
    smp_prepare(tramp);
    set_vector_handler(VEC_NMI, on_nmi);
    const u64 orig = rdmsr(MSR_APIC_BASE);
    const u32 id = apic_id();
    u8 vec = 0;

    // 1. onto the hypervisor (its runtime region, from the debug VMCALL; bare metal: no hypervisor, skipped)
    VmcallResult hv;
    const bool under_evmm = probe_vmcall(EVMM_VMCALL_DEBUG_HV_REGION, 0, 0, 0, hv, vec) && hv.rax == 0;
    if (under_evmm) {
        const bool done = probe_wrmsr(MSR_APIC_BASE, (hv.rbx & ~0xFFFull) | (orig & 0xFFF), vec);
        check_fault(done, vec, VEC_GP, "moving the APIC page onto the hypervisor's region raises #GP");
        check_eq(rdmsr(MSR_APIC_BASE), orig, "IA32_APIC_BASE unchanged");
        check_eq(apic_id(), id, "the APIC still answers at its page");
        const bool end_done = probe_wrmsr(MSR_APIC_BASE, ((hv.rbx + hv.rcx - 4096) & ~0xFFFull) | (orig & 0xFFF), vec);
        check_fault(end_done, vec, VEC_GP, "... onto the region's last page too");
    } else {
        skip("not under evmm", "moving the APIC page onto the hypervisor's region raises #GP");
    }
    // 2. what the processor itself refuses (SDM Vol. 3A §11.4.4: bits 0-7 and 9 reserved, #GP on WRMSR; Bochs 2.7 on
    // bare metal accepts the reserved bit: a Bochs difference, evmm follows the SDM)
    check_fault(probe_wrmsr(MSR_APIC_BASE, orig | (1ull << 9), vec), vec, VEC_GP, "a reserved bit raises #GP");
    check_fault(probe_wrmsr(MSR_APIC_BASE, (orig & ~EN) | EXTD, vec), vec, VEC_GP, "EXTD without EN raises #GP");

    // 3. the store forms a program may use on an APIC register (the task priority register, TPR, offset 0x80: bits 7:0
    // read/write): read-modify-write with and without LOCK, XADD, STOS with REP, MOVNTI — all performed as on bare
    // metal (under evmm each is an EPT violation on the write-protected page that evmm emulates).
    {
        volatile u32* tpr = reinterpret_cast<volatile u32*>(apic_mmio_base() + 0x80);
        *tpr = 0x10;
        asm volatile("lock orl $0x20, %0" : "+m"(*tpr) : : "memory", "cc");
        check_eq(*tpr & 0xFF, 0x30u, "lock orl on the TPR");
        asm volatile("addl $0x10, %0" : "+m"(*tpr) : : "memory", "cc");
        check_eq(*tpr & 0xFF, 0x40u, "addl on the TPR");
        u64 flags = 0;
        asm volatile("subl $0x40, %0; pushfq; popq %1" : "+m"(*tpr), "=r"(flags) : : "memory", "cc");
        check((*tpr & 0xFF) == 0 && (flags & (1u << 6)) != 0 && (flags & 1u) == 0,
              "subl on the TPR: result 0, ZF set, CF clear");
        u32 x = 0x05;
        asm volatile("lock xaddl %1, %0" : "+m"(*tpr), "+r"(x) : : "memory", "cc");
        check(x == 0 && (*tpr & 0xFF) == 0x05, "lock xaddl on the TPR returns the old value and adds");
        u64 di = reinterpret_cast<u64>(tpr), cx = 1;
        asm volatile("rep stosl" : "+D"(di), "+c"(cx) : "a"(0x60u) : "memory");
        check(cx == 0 && di == reinterpret_cast<u64>(tpr) + 4 && (*tpr & 0xFF) == 0x60,
              "rep stosl (1 element) on the TPR: stored, RDI + 4, RCX 0");
        asm volatile("movnti %1, %0" : "=m"(*tpr) : "r"(0x70u) : "memory");
        check_eq(*tpr & 0xFF, 0x70u, "movnti on the TPR");
        *tpr = 0;
    }

    // 4. a legal move into guest0's own RAM
    const u64 page = reinterpret_cast<u64>(g_ram_page);
    const u64 old_page = orig & ~0xFFFull;
    const bool moved = probe_wrmsr(MSR_APIC_BASE, page | (orig & 0xFFF), vec);
    if (check(moved, "moving the APIC page to a page of guest0's RAM completes")) {
        check_eq(apic_mmio_base(), page, "IA32_APIC_BASE names the new page");
        check_eq(apic_id(), id, "the APIC answers at the new page (same APIC ID)");
        const u32 before = g_nmis;
        apic_send_ipi(id, ICR_DELIVERY_NMI | APIC_ICR_LEVEL_ASSERT);
        const u64 end = tsc_deadline_us(NMI_WAIT_US);
        while (g_nmis == before && !tsc_past(end)) asm volatile("pause");
        check(g_nmis == before + 1, "an NMI sent through the moved page's ICR arrives");
        if (old_page < 0x100000000ull) {
            volatile u32* old_icr = reinterpret_cast<volatile u32*>(old_page + APIC_REG_ICR_LO);
            *old_icr = ICR_INIT | APIC_ICR_LEVEL_ASSERT; // not the APIC any more: no IPI, no CPU is reset
            check(apic_id() == id, "an INIT-looking store to the old page's ICR slot is no IPI (still running)");
        }
        check(probe_wrmsr(MSR_APIC_BASE, orig, vec), "moving the APIC page back completes");
        check_eq(rdmsr(MSR_APIC_BASE), orig, "IA32_APIC_BASE restored");
        check_eq(apic_id(), id, "the APIC answers at its first page again");
    }
}
