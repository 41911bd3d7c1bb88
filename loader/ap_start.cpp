// Starting the APs: INIT-SIPI-SIPI through the trampoline page, one AP at a time (loader/ap_start.h).
#include "loader/ap_start.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/msr.h"
#include "lib/log.h"
#include "loader/entry_defs.h" // last: its plain #defines (CR0_PE, ...) would break arch/x86_64/cr.h
#include "loader/smp_boot.h"

extern "C" const evmm::u8 evmm_trampoline_start[], evmm_trampoline_end[]; // loader/trampoline.S
extern "C" evmm::u8 loader_page_tables[];                                 // loader/entry.S: the PML4 first
extern "C" [[noreturn]] void ap_main(evmm::u32 cpu_id);

namespace evmm {
namespace {

// The MP initialization protocol's delays (SDM Vol. 3A §9.4.4.1): 10 ms after INIT, 200 us after each SIPI.
constexpr u64 INIT_DELAY_US = 10'000;
constexpr u64 SIPI_DELAY_US = 200;
constexpr u64 AP_ANSWER_TIMEOUT_US = 100'000;   // for the AP to reach 64-bit mode
constexpr u64 IPI_DELIVERY_TIMEOUT_US = 10'000; // xAPIC: ICR delivery status back to idle

// Shared with the APs. Written by the BSP before the first SIPI (idtr, desc) or by the release store.
DescriptorTableRegister g_ap_idtr;
const evmm_desc_t* g_ap_desc = nullptr;
u32 g_ap_release = 0;

void delay_us(u64 tsc_khz, u64 us) {
    const u64 ticks = tsc_ticks_for_us(tsc_khz, us);
    const u64 start = rdtsc();
    while (rdtsc() - start < ticks) cpu_pause();
}

u32 state_load(const TrampolineData& d) { return __atomic_load_n(&d.state, __ATOMIC_ACQUIRE); }

enum class Outcome { Started, NoAnswer, IpiStuck };

// INIT, 10 ms, SIPI, 200 us, SIPI (unless it answered already), 200 us; then at most 100 ms for the AP's claim.
// On failure the attempt is abandoned (the AP can no longer claim it) and the AP is parked again with an INIT,
// so it cannot run into the next AP's data.
Outcome start_one(const Lapic& l, TrampolineData& d, u8 vector, u32 cpu_id, u32 apic_id, u64 stack_top, u64 khz) {
    trampoline_data_set_ap(d, cpu_id, apic_id, stack_top);
    __atomic_store_n(&d.state, static_cast<u32>(TRAMP_STATE_WAITING), __ATOMIC_RELEASE);
    const u64 ipi_timeout = tsc_ticks_for_us(khz, IPI_DELIVERY_TIMEOUT_US);
    Outcome fail = Outcome::NoAnswer;
    bool sent = lapic_send(l, icr_init(l.mode, apic_id), ipi_timeout);
    if (sent) {
        delay_us(khz, INIT_DELAY_US);
        sent = lapic_send(l, icr_startup(l.mode, apic_id, vector), ipi_timeout);
    }
    if (sent) {
        delay_us(khz, SIPI_DELAY_US);
        if (state_load(d) == TRAMP_STATE_WAITING) {
            sent = lapic_send(l, icr_startup(l.mode, apic_id, vector), ipi_timeout);
            delay_us(khz, SIPI_DELAY_US);
        }
    }
    if (sent) {
        const u64 timeout = tsc_ticks_for_us(khz, AP_ANSWER_TIMEOUT_US);
        const u64 start = rdtsc();
        while (state_load(d) == TRAMP_STATE_WAITING && rdtsc() - start < timeout) cpu_pause();
    } else {
        fail = Outcome::IpiStuck;
    }
    u32 expected = TRAMP_STATE_WAITING;
    if (__atomic_compare_exchange_n(&d.state, &expected, static_cast<u32>(TRAMP_STATE_ABANDONED), false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        // Ours: the AP never claimed it. Park the AP (best effort) before the block is reused.
        lapic_send(l, icr_init(l.mode, apic_id), ipi_timeout);
        delay_us(khz, INIT_DELAY_US);
        return fail;
    }
    return Outcome::Started; // expected == TRAMP_STATE_STARTED
}

// Only the BSP: no APs, or they cannot be started.
u32 finish(const ApStartInputs& in, const u32* started, u32 n) {
    if (const Status s = smp_desc_finalize(*in.desc, started, n); !s.ok()) {
        LOG_ERROR("loader: error: recording the started CPUs: %s (value 0x%lx, 0x%lx)", s.what, s.value, s.value2);
        final_stop(StopReason::Fatal, "recording the started CPUs");
    }
    char ids[200];
    format_apic_ids(ids, sizeof ids, started, n);
    LOG_INFO("loader: cpus: %u started (APIC IDs %s)", n, ids);
    return n;
}

} // namespace

u32 smp_start_aps(const ApStartInputs& in) {
    u32 started[EVMM_MAX_CPUS];
    u32 n = 0;
    started[n++] = in.apic_ids[0];
    g_ap_idtr = in.idtr;
    g_ap_desc = in.desc;
    if (in.count <= 1) return finish(in, started, n);
    if (in.trampoline_base == 0) {
        LOG_WARN("loader: warning: no trampoline page: the %u other CPUs are not started", in.count - 1);
        return finish(in, started, n);
    }

    const Lapic lapic = lapic_detect();
    if (lapic.mode == ApicMode::Disabled) {
        LOG_WARN(
            "loader: warning: the local APIC is globally disabled (IA32_APIC_BASE.EN = 0): the %u other CPUs are "
            "not started",
            in.count - 1);
        return finish(in, started, n);
    }
    if (lapic.mode == ApicMode::XApic && lapic.mmio_base >= LOADER_IDENTITY_GIB * GiB) {
        LOG_WARN(
            "loader: warning: the local APIC at 0x%lx is outside the loader's identity map: the %u other CPUs "
            "are not started",
            lapic.mmio_base, in.count - 1);
        return finish(in, started, n);
    }

    // The trampoline page: the code, then the data block.
    u8* page = reinterpret_cast<u8*>(in.trampoline_base);
    const size_t code_size = static_cast<size_t>(evmm_trampoline_end - evmm_trampoline_start);
    __builtin_memset(page, 0, TRAMPOLINE_SIZE);
    __builtin_memcpy(page, evmm_trampoline_start, code_size);
    auto* data = reinterpret_cast<TrampolineData*>(page + TRAMP_DATA_OFF);
    const TrampolineSetup setup{in.trampoline_base,
                                read_cr0(),
                                reinterpret_cast<uptr>(loader_page_tables),
                                read_cr4(),
                                rdmsr(Msr::IA32_EFER),
                                reinterpret_cast<uptr>(&ap_main)};
    if (const Status s = trampoline_data_init(setup, *data); !s.ok() || code_size != TRAMP_DATA_OFF) {
        LOG_WARN(
            "loader: warning: cannot set up the AP trampoline at 0x%lx (%s, value 0x%lx; code %lu bytes): the "
            "%u other CPUs are not started",
            in.trampoline_base, s.ok() ? "bad code size" : s.what, s.value, code_size, in.count - 1);
        return finish(in, started, n);
    }
    const u8 vector = sipi_vector(in.trampoline_base);
    LOG_INFO("loader: starting %u APs (%s) through the trampoline at 0x%lx (SIPI vector 0x%x)", in.count - 1,
             lapic.mode == ApicMode::X2Apic ? "x2APIC" : "xAPIC", in.trampoline_base, vector);

    for (u32 i = 1; i < in.count; ++i) {
        const u32 apic_id = in.apic_ids[i];
        if (!icr_destination_ok(lapic.mode, apic_id)) {
            LOG_WARN("loader: warning: CPU with APIC ID %u did not start (not addressable in %s mode): left out",
                     apic_id, lapic.mode == ApicMode::X2Apic ? "x2APIC" : "xAPIC");
            continue;
        }
        const u32 cpu_id = n;
        const u64 stack_top = ap_stack_top(in.desc->stacks_base, cpu_id);
        switch (start_one(lapic, *data, vector, cpu_id, apic_id, stack_top, in.tsc_khz)) {
        case Outcome::Started: started[n++] = apic_id; break;
        case Outcome::NoAnswer:
            LOG_WARN("loader: warning: CPU with APIC ID %u did not start (no answer within %lu ms): left out", apic_id,
                     AP_ANSWER_TIMEOUT_US / 1000);
            break;
        case Outcome::IpiStuck:
            LOG_WARN(
                "loader: warning: CPU with APIC ID %u did not start (IPI not delivered: ICR delivery status still "
                "pending after %lu ms): left out",
                apic_id, IPI_DELIVERY_TIMEOUT_US / 1000);
            break;
        }
    }
    return finish(in, started, n);
}

void smp_release_aps() { __atomic_store_n(&g_ap_release, 1u, __ATOMIC_RELEASE); }

} // namespace evmm

// An AP, in 64-bit mode on its VMM stack (loader/trampoline.S). No logging here: the loader's log is the BSP's.
extern "C" [[noreturn]] void ap_main(evmm::u32 cpu_id) {
    using namespace evmm;
    lidt(g_ap_idtr);
    while (__atomic_load_n(&g_ap_release, __ATOMIC_ACQUIRE) == 0) cpu_pause();
    const evmm_desc_t* desc = g_ap_desc;
    using VmmMain = void (*)(u32, const evmm_desc_t*);
    reinterpret_cast<VmmMain>(desc->vmm_file.entry)(cpu_id, desc);
    halt_forever(); // vmm_main does not return
}
