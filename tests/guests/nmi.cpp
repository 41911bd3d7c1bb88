// nmi: NMI delivery as on bare metal. Self-NMIs through the local APIC's ICR (to its own APIC ID): each one arrives,
// one after another; an NMI sent from inside the NMI handler is held until the handler's IRET and then delivered
// (NMI blocking, SDM Vol. 3A §6.7.1), never nested; NMIs another CPU sends to this one all arrive. Under evmm the
// ICR write is emulated (the APIC page is write-protected), so the self-NMI reaches the CPU while the hypervisor
// runs; evmm must hand it to the guest (NMI-window exiting) instead of dropping it.
//
// Command line (optional): count=N self-NMIs in the sequence (default 10), remote=N NMIs from the first AP (default
// 5; 0 or a single CPU: skipped).
#include "guest.h"
#include "lib/format.h"
#include "smp.h"

using namespace guest;

namespace {

constexpr u32 ICR_DELIVERY_NMI = 0x400; // delivery mode 100b (SDM Vol. 3A Figure 11-12)
constexpr u64 NMI_WAIT_US = 20000;      // an NMI arrives within this (Bochs under evmm included)
constexpr u64 AP_TIMEOUT_US = 1000000;

volatile u32 g_count;       // NMIs the handler saw
volatile u32 g_depth;       // handler nesting right now
volatile u32 g_max_depth;   // deepest nesting seen
volatile bool g_resend;     // the next handler run sends one more self-NMI and waits inside
volatile u32 g_inside_seen; // NMIs counted while that handler waited (must stay 0: blocked until IRET)

// To its own APIC ID, physical destination mode: the "self" shorthand is valid for fixed interrupts only (SDM
// Vol. 3A §11.6.1, Table 11-3 and its xAPIC counterpart); an NMI needs a destination.
bool send_self_nmi() { return apic_send_ipi(apic_id(), ICR_DELIVERY_NMI | APIC_ICR_LEVEL_ASSERT); }

void on_nmi() {
    const u32 d = g_depth + 1;
    g_depth = d;
    if (d > g_max_depth) g_max_depth = d;
    const u32 n = g_count + 1;
    g_count = n;
    if (g_resend) {
        g_resend = false;
        send_self_nmi();
        delay_us(NMI_WAIT_US);
        g_inside_seen = g_count - n; // NMIs that got in while this handler ran
    }
    g_depth = d - 1;
}

bool wait_count(u32 want) {
    const u64 end = tsc_deadline_us(NMI_WAIT_US);
    while (g_count < want && !tsc_past(end)) asm volatile("pause");
    return g_count >= want;
}

struct Remote {
    u32 bsp_apic_id;
    u32 n;
    volatile u32 sent;
    volatile u32 done;
};

void ap_sender(u32, void* arg) {
    Remote& r = *static_cast<Remote*>(arg);
    for (u32 i = 0; i < r.n; ++i) {
        const u32 before = g_count;
        apic_send_ipi(r.bsp_apic_id, ICR_DELIVERY_NMI | APIC_ICR_LEVEL_ASSERT);
        r.sent = i + 1;
        const u64 end = tsc_deadline_us(NMI_WAIT_US * 5);
        while (g_count == before && !tsc_past(end)) asm volatile("pause"); // one at a time: no merging by design
    }
    r.done = 1;
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("nmi", "self-NMIs through the ICR all arrive, NMI blocking until IRET, NMIs from another CPU");
    const u64 count = cmdline_u64("count", 10);
    const u64 remote = cmdline_u64("remote", 5);
    check(tsc_calibrate(), "TSC calibrated against PIT channel 2");
    set_vector_handler(VEC_NMI, on_nmi);

    SmpTopology topo;
    const evmm::Status st = smp_find_cpus(topo);
    const u64 page = st.ok() ? smp_choose_trampoline() : 0;
    if (!check(st.ok() && page != 0, "MADT found and a trampoline page chosen")) return;
    smp_prepare(page); // maps the APIC page uncached, software-enables the APIC

    // 1. one self-NMI
    send_self_nmi();
    check(wait_count(1), "a self-NMI arrives (1 of 1)");
    // 2. a sequence, each waited for
    u32 arrived = 0;
    for (u64 i = 0; i < count; ++i) {
        const u32 before = g_count;
        send_self_nmi();
        if (wait_count(before + 1)) ++arrived;
    }
    check_eq(arrived, static_cast<u32>(count), "every self-NMI of a sequence arrives");
    // 3. blocking: an NMI sent inside the handler waits for its IRET
    const u32 before = g_count;
    g_resend = true;
    send_self_nmi();
    const bool both = wait_count(before + 2);
    check(both, "an NMI sent inside the NMI handler is delivered after the handler's IRET");
    check_eq(static_cast<u32>(g_inside_seen), 0u, "no NMI gets in while the NMI handler runs (blocked until IRET)");
    check_eq(static_cast<u32>(g_max_depth), 1u, "NMI handlers never nest");

    // 4. from another CPU
    u32 ap_id = UINT32_MAX;
    const u32 bsp = apic_id();
    for (u32 i = 0; i < topo.madt.count; ++i)
        if (topo.madt.apic_id[i] != bsp) {
            ap_id = topo.madt.apic_id[i];
            break;
        }
    if (remote == 0 || ap_id == UINT32_MAX) {
        skip("one CPU only (or remote=0)", "NMIs from another CPU arrive");
    } else {
        static Remote r;
        r.bsp_apic_id = bsp;
        r.n = static_cast<u32>(remote);
        const u32 start = g_count;
        SmpStartResult res;
        if (check(smp_start_ap(ap_id, 1, ap_sender, &r, AP_TIMEOUT_US, res), "AP APIC ID %u started", ap_id)) {
            const u64 end = tsc_deadline_us(AP_TIMEOUT_US * 5);
            while (!r.done && !tsc_past(end)) asm volatile("pause");
            check(r.done != 0, "the AP sent its %u NMIs", r.n);
            check_eq(g_count - start, r.n, "every NMI from the AP arrives");
        }
    }
    check_eq(static_cast<u32>(g_max_depth), 1u, "NMI handlers never nested in the whole run");
}
