// smp: guest0 starts its APs like an OS (ACPI MADT, INIT-SIPI-SIPI through a real-mode trampoline below 1 MiB),
// every CPU sees the hypervisor (CPUID.1:ECX[31], "evmmevmmevmm") and runs a concurrent CPUID storm; then an EPT
// change evmm makes while every CPU runs (debug VMCALL EPT_REMAP) is seen at once by all of them (INVEPT on every
// CPU: the APs had the old translation hot in their TLBs).
//
// Command line (all optional): storm=N (CPUID rounds per CPU, 3 leaves each; default 2000), cpus=N (the MADT must
// list exactly N enabled CPUs), timeout_ms=N (per-AP start bound, default 1000), absent_apic_id=N (self-test of the
// bounded waits: also "start" APIC ID N, which must not exist: expect exactly that AP's two checks to fail),
// x2apic=1 (the BSP switches its local APIC to x2APIC mode first: INIT/SIPI then go through the x2APIC ICR MSR),
// ap_panic=1 (the first AP asks evmm for a panic, debug VMCALL DEBUG_PANIC, once it reported: a test of the final
// stop from an AP while guest0 runs on every CPU; the run then ends there, without a summary).
#include "smp.h"
#include "guest.h"
#include "lib/format.h"

using namespace guest;

namespace {

constexpr u32 STORM_DEFAULT = 2000;
constexpr u64 AP_TIMEOUT_MS_DEFAULT = 1000; // per AP, from the second SIPI to its check-in
constexpr u64 REPORT_TIMEOUT_US = 1000000;  // an AP that checked in records its identity within this
constexpr u64 STORM_TIMEOUT_US = 30000000;  // all CPUs finish the storm within this (Bochs under evmm: slow)
constexpr u64 AP_GO_TIMEOUT_US = 120000000; // an AP waits this long for the storm's start, then halts
constexpr u32 HV_BIT = 1u << 31;
constexpr u32 STORM_LEAVES[3] = {0, 1, 0x40000000};

// What each CPU records (slot 0: the BSP; slots 1..: the APs in MADT order). Written by that CPU only; the BSP
// reads a field after the CPU's release store of the flag guarding it.
struct CpuReport {
    u32 madt_apic_id;
    u32 reported;        // flag: identity fields valid
    u32 initial_apic_id; // CPUID.1:EBX[31:24]
    u32 x2apic_id;       // CPUID.0BH:EDX (or the initial ID)
    u32 lapic_id;        // the local APIC ID register
    bool x2apic_mode;
    u32 leaf1_ecx;
    CpuidRegs leaf0;
    CpuidRegs hv;   // leaf 0x40000000
    u32 storm_done; // flag: storm fields valid
    u64 storm_cpuids;
    u64 storm_mismatches;
    u64 storm_t0, storm_t1;
    u32 finished_before_start; // g_finished when this CPU started its storm
    u32 bad_leaf;
    CpuidRegs bad_got, bad_want;
};

CpuReport g_cpu[SMP_MAX_CPUS];
u32 g_go;      // the storm's start signal (BSP)
u32 g_arrived; // CPUs at the storm's start barrier
u32 g_storm_cpus;
u32 g_finished;  // CPUs done with the storm (a TSC-free overlap measure: who started after someone finished)
u32 g_rounds;    // storm rounds per CPU
bool g_ap_panic; // ap_panic=1

// EPT remap: page A and page B hold different patterns; every CPU reads A until its translation is hot, evmm then
// maps guest-physical A to B's frame, and every CPU must read B's pattern through A.
struct alignas(4096) Page {
    u64 word[512];
};
Page g_page_a, g_page_b;
constexpr u64 PATTERN_A = 0xAAAA'5555'AAAA'0001, PATTERN_B = 0xBBBB'6666'BBBB'0002;
constexpr u32 HOT_READS = 1000;
constexpr u64 REMAP_TIMEOUT_US = 30000000;
u32 g_remap_phase; // 1: read A until hot, then say ready; 2: read A once more and record it
u32 g_remap_ready[SMP_MAX_CPUS];
u32 g_remap_done[SMP_MAX_CPUS];
u64 g_remap_seen[SMP_MAX_CPUS];

bool same(const CpuidRegs& a, const CpuidRegs& b) {
    return a.eax == b.eax && a.ebx == b.ebx && a.ecx == b.ecx && a.edx == b.edx;
}

void regs_text(const CpuidRegs& r, char out[13]) { // EBX:ECX:EDX as text, '.' for non-printables
    u32 w[3] = {r.ebx, r.ecx, r.edx};
    for (int i = 0; i < 12; ++i) {
        char ch = static_cast<char>((w[i / 4] >> (8 * (i % 4))) & 0xFF);
        out[i] = ch >= 0x20 && ch < 0x7F ? ch : '.';
    }
    out[12] = '\0';
}

bool is_evmm(const CpuidRegs& hv) {
    return hv.ebx == 0x6d6d7665 && hv.ecx == 0x6d6d7665 && hv.edx == 0x6d6d7665; // "evmm" x 3
}

void identify(CpuReport& c) {
    c.initial_apic_id = cpuid_initial_apic_id();
    c.x2apic_id = cpuid_x2apic_id();
    c.x2apic_mode = apic_x2apic();
    c.lapic_id = apic_id();
    c.leaf0 = cpuid(0);
    c.leaf1_ecx = cpuid(1).ecx;
    c.hv = cpuid(0x40000000);
    __atomic_store_n(&c.reported, 1u, __ATOMIC_RELEASE);
}

constexpr u64 BARRIER_TIMEOUT_US = 1000000;

void storm(CpuReport& c) {
    // A start barrier, so that the storms run at the same time even where CPUs are scheduled unevenly (bounded: a
    // CPU that does not arrive only makes the others go on alone).
    __atomic_fetch_add(&g_arrived, 1u, __ATOMIC_ACQ_REL);
    const u64 end = tsc_deadline_us(BARRIER_TIMEOUT_US);
    while (__atomic_load_n(&g_arrived, __ATOMIC_ACQUIRE) < g_storm_cpus && !tsc_past(end)) asm volatile("pause");
    CpuidRegs first[3];
    for (int i = 0; i < 3; ++i) first[i] = cpuid(STORM_LEAVES[i]);
    u64 n = 0, bad = 0;
    c.finished_before_start = __atomic_load_n(&g_finished, __ATOMIC_ACQUIRE);
    c.storm_t0 = rdtsc();
    for (u32 k = 0; k < g_rounds; ++k) {
        for (int i = 0; i < 3; ++i) {
            CpuidRegs r = cpuid(STORM_LEAVES[i]);
            ++n;
            if (!same(r, first[i])) {
                if (bad++ == 0) {
                    c.bad_leaf = STORM_LEAVES[i];
                    c.bad_got = r;
                    c.bad_want = first[i];
                }
            }
        }
    }
    c.storm_t1 = rdtsc();
    c.storm_cpuids = n;
    c.storm_mismatches = bad;
    __atomic_fetch_add(&g_finished, 1u, __ATOMIC_ACQ_REL);
    __atomic_store_n(&c.storm_done, 1u, __ATOMIC_RELEASE);
}

u64 read_a() { return *static_cast<volatile u64*>(&g_page_a.word[0]); }

bool wait_phase(u32 phase, u64 end) {
    while (__atomic_load_n(&g_remap_phase, __ATOMIC_ACQUIRE) < phase) {
        if (tsc_past(end)) return false;
        asm volatile("pause");
    }
    return true;
}

// An AP's part of the EPT remap check (the BSP's is in guest_main).
void remap_ap(u32 slot) {
    const u64 end = tsc_deadline_us(AP_GO_TIMEOUT_US);
    if (!wait_phase(1, end)) return;
    for (u32 i = 0; i < HOT_READS; ++i) (void)read_a();
    __atomic_store_n(&g_remap_ready[slot], 1u, __ATOMIC_RELEASE);
    if (!wait_phase(2, end)) return;
    g_remap_seen[slot] = read_a();
    __atomic_store_n(&g_remap_done[slot], 1u, __ATOMIC_RELEASE);
}

// Runs on each AP after it checked in.
void ap_main(u32 slot, void*) {
    CpuReport& c = g_cpu[slot];
    identify(c);
    if (g_ap_panic && slot == 1) {
        u64 rbx = 0;
        (void)vmcall(EVMM_VMCALL_DEBUG_PANIC, 0, 0, 0, &rbx); // does not return under a debug evmm
    }
    const u64 end = tsc_deadline_us(AP_GO_TIMEOUT_US);
    while (__atomic_load_n(&g_go, __ATOMIC_ACQUIRE) == 0) {
        if (tsc_past(end)) return; // the BSP never started the storm: halt
        asm volatile("pause");
    }
    storm(c);
    remap_ap(slot);
}

bool wait_flag(const u32& flag, u64 end) {
    while (__atomic_load_n(&flag, __ATOMIC_ACQUIRE) == 0) {
        if (tsc_past(end)) return false;
        asm volatile("pause");
    }
    return true;
}

void list_ids(const char* what, const u32* ids, u32 n) {
    char buf[400];
    size_t len = 0;
    buf[0] = '\0';
    for (u32 i = 0; i < n && len + 12 < sizeof buf; ++i)
        len += evmm::format(buf + len, sizeof buf - len, "%s%u", i == 0 ? "" : " ", ids[i]);
    note("%s: %s", what, n == 0 ? "(none)" : buf);
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("smp", "guest0 starts its APs (MADT, INIT-SIPI-SIPI), each sees evmm, concurrent CPUID storm");
    g_rounds = static_cast<u32>(cmdline_u64("storm", STORM_DEFAULT));
    const u64 expect_cpus = cmdline_u64("cpus", 0);
    const u64 ap_timeout_us = cmdline_u64("timeout_ms", AP_TIMEOUT_MS_DEFAULT) * 1000;
    const u64 absent_id = cmdline_u64("absent_apic_id", ~u64{0});
    const bool want_x2apic = cmdline_u64("x2apic", 0) != 0;
    g_ap_panic = cmdline_u64("ap_panic", 0) != 0;

    // ---- 1. which CPUs exist: the MADT ----
    static SmpTopology topo;
    evmm::Status st = smp_find_cpus(topo);
    if (!check(st.ok(), "ACPI MADT found and parsed")) {
        note("  %s (%s) 0x%llx 0x%llx", st.what, st.where != nullptr ? st.where : "-",
             static_cast<unsigned long long>(st.value), static_cast<unsigned long long>(st.value2));
        return;
    }
    const evmm::MadtCpus& madt = topo.madt;
    note("RSDP at 0x%llx (%s), MADT at 0x%llx, local APIC at 0x%llx", static_cast<unsigned long long>(topo.rsdp_pa),
         topo.rsdp_from_mb2 ? "Multiboot2 tag" : "BIOS search", static_cast<unsigned long long>(topo.madt_pa),
         static_cast<unsigned long long>(madt.lapic_base));
    list_ids("MADT enabled CPUs (APIC IDs)", madt.apic_id, madt.count);
    if (madt.disabled_skipped != 0 || madt.overflow_skipped != 0)
        note("MADT: %u disabled entries skipped, %u beyond %u CPUs", madt.disabled_skipped, madt.overflow_skipped,
             SMP_MAX_CPUS);
    check(topo.rsdp_from_mb2, "Multiboot2 information carries the ACPI RSDP (tag 14/15)");
    if (expect_cpus != 0)
        check_eq(madt.count, expect_cpus, "MADT lists %llu enabled CPUs", static_cast<unsigned long long>(expect_cpus));

    // ---- 2. the BSP ----
    if (want_x2apic) check(apic_enable_x2apic(), "BSP: local APIC switched to x2APIC mode (x2apic=1)");
    const u64 apic_base = apic_base_msr();
    CpuReport& bsp = g_cpu[0];
    identify(bsp);
    note("BSP: IA32_APIC_BASE 0x%llx (%s), APIC ID register %u, CPUID.1 initial APIC ID %u, CPUID.0BH x2APIC ID %u",
         static_cast<unsigned long long>(apic_base), bsp.x2apic_mode ? "x2APIC" : "xAPIC", bsp.lapic_id,
         bsp.initial_apic_id, bsp.x2apic_id);
    check((apic_base & (APIC_BASE_EN | APIC_BASE_BSP)) == (APIC_BASE_EN | APIC_BASE_BSP),
          "BSP: IA32_APIC_BASE has the global enable and BSP bits");
    const u32 bsp_id = bsp.x2apic_mode ? bsp.x2apic_id : bsp.initial_apic_id;
    check_eq(bsp.lapic_id, bsp_id, "BSP: local APIC ID register matches CPUID");
    u32 bsp_index = madt.count;
    for (u32 i = 0; i < madt.count; ++i)
        if (madt.apic_id[i] == bsp.lapic_id) bsp_index = i;
    if (!check(bsp_index < madt.count, "BSP: its APIC ID is in the MADT")) note("  APIC ID %u", bsp.lapic_id);
    bsp.madt_apic_id = bsp.lapic_id;

    // ---- 3. time ----
    const bool calibrated = tsc_calibrate();
    if (!check(calibrated, "TSC calibrated against PIT channel 2"))
        note("  assuming %llu kHz", static_cast<unsigned long long>(tsc_khz()));
    else
        note("TSC: %llu kHz", static_cast<unsigned long long>(tsc_khz()));

    // ---- 4. start the APs ----
    u32 slots = 1; // slot 0 = the BSP
    u32 failed_ids[SMP_MAX_CPUS];
    u32 failed = 0;
    // The APs to start: the MADT's, in its order, without the BSP (plus the absent_apic_id= self-test).
    u32 ap_ids[SMP_MAX_CPUS];
    u32 ap_count = 0;
    for (u32 i = 0; i < madt.count; ++i)
        if (i != bsp_index && ap_count < SMP_MAX_CPUS - 1) ap_ids[ap_count++] = madt.apic_id[i];
    if (absent_id <= 0xFFFFFFFFu && ap_count < SMP_MAX_CPUS - 1) {
        note("self-test: also starting APIC ID %u, which should not exist", static_cast<u32>(absent_id));
        ap_ids[ap_count++] = static_cast<u32>(absent_id);
    }
    if (ap_count == 0) {
        skip("the MADT lists only the BSP", "APs started");
    } else {
        const u64 page = smp_choose_trampoline();
        if (!check(page != 0, "trampoline: a usable 4 KiB page below 0x%x",
                   static_cast<unsigned>(SMP_TRAMPOLINE_LIMIT))) {
            note("  no usable page below 0x%x clear of the Multiboot2 information and modules",
                 static_cast<unsigned>(SMP_TRAMPOLINE_LIMIT));
            return;
        }
        note("trampoline at 0x%llx (SIPI vector 0x%02llx)", static_cast<unsigned long long>(page),
             static_cast<unsigned long long>(page >> 12));
        smp_prepare(page);
        const u64 t_all = rdtsc();
        for (u32 i = 0; i < ap_count; ++i) {
            const u32 id = ap_ids[i];
            const u32 slot = slots++;
            g_cpu[slot].madt_apic_id = id;
            SmpStartResult r;
            smp_start_ap(id, slot, ap_main, nullptr, ap_timeout_us, r);
            if (!check(r.started, "AP APIC ID %u started (INIT-SIPI-SIPI, within %llu ms)", id,
                       static_cast<unsigned long long>(ap_timeout_us / 1000))) {
                note("  no check-in after %llu us; the trampoline shows: %s", static_cast<unsigned long long>(r.us),
                     smp_progress_name(r.progress));
                if (!r.ipi_ok) note("  the ICR stayed busy (delivery status) on an IPI");
                failed_ids[failed++] = id;
            } else {
                note("AP %u checked in %llu us after its INIT", id, static_cast<unsigned long long>(r.us));
            }
        }
        note("AP start-up: %u of %u APs in %llu us", smp_started_count(), ap_count,
             static_cast<unsigned long long>(tsc_to_us(rdtsc() - t_all)));
        if (!check(failed == 0, "every AP in the MADT started"))
            list_ids("  not started (APIC IDs)", failed_ids, failed);
    }

    // ---- 5. what each AP saw ----
    const u64 report_end = tsc_deadline_us(REPORT_TIMEOUT_US);
    for (u32 s = 1; s < slots; ++s) {
        if (!smp_slot_started(s)) continue;
        CpuReport& c = g_cpu[s];
        if (!wait_flag(c.reported, report_end)) {
            check(false, "AP APIC ID %u: reports its identity", c.madt_apic_id);
            continue;
        }
        const u32 cpuid_id = c.x2apic_mode ? c.x2apic_id : c.initial_apic_id;
        if (!check(c.lapic_id == c.madt_apic_id && cpuid_id == c.madt_apic_id,
                   "AP APIC ID %u: CPUID and the local APIC ID register agree with the MADT", c.madt_apic_id))
            note("  APIC ID register %u, CPUID.1 initial APIC ID %u, CPUID.0BH %u", c.lapic_id, c.initial_apic_id,
                 c.x2apic_id);
    }

    // Every CPU that reported (BSP included): hypervisor bit, signature, leaf 0 / 0x40000000 alike everywhere.
    bool all_hv = true, all_sig = true, alike = true;
    u32 cpus = 0;
    for (u32 s = 0; s < slots; ++s) {
        CpuReport& c = g_cpu[s];
        if (__atomic_load_n(&c.reported, __ATOMIC_ACQUIRE) == 0) continue;
        ++cpus;
        char sig[13];
        regs_text(c.hv, sig);
        note("CPU APIC ID %u: CPUID.1:ECX 0x%08x (hypervisor %u), leaf 0x40000000 eax 0x%08x \"%s\"", c.madt_apic_id,
             c.leaf1_ecx, (c.leaf1_ecx & HV_BIT) != 0 ? 1u : 0u, c.hv.eax, sig);
        all_hv &= (c.leaf1_ecx & HV_BIT) != 0;
        all_sig &= is_evmm(c.hv);
        alike &= same(c.leaf0, bsp.leaf0) && same(c.hv, bsp.hv);
    }
    check(all_hv, "every CPU (%u) sees CPUID.1:ECX.hypervisor (bit 31)", cpus);
    check(all_sig, "every CPU (%u) sees CPUID.0x40000000 \"evmmevmmevmm\"", cpus);
    check(alike, "CPUID leaves 0 and 0x40000000 are the same on every CPU");

    // ---- 6. the CPUID storm, all CPUs at once ----
    note("CPUID storm: %u rounds of leaves 0, 1, 0x40000000 on %u CPUs", g_rounds, cpus);
    g_storm_cpus = cpus;
    __atomic_store_n(&g_go, 1u, __ATOMIC_RELEASE);
    storm(bsp);
    const u64 storm_end = tsc_deadline_us(STORM_TIMEOUT_US);
    bool all_done = true, no_mismatch = true;
    u32 late = 0; // CPUs that started their storm after another CPU had finished its own
    u32 not_done[SMP_MAX_CPUS];
    u32 n_not_done = 0;
    for (u32 s = 0; s < slots; ++s) {
        CpuReport& c = g_cpu[s];
        if (s != 0 && !smp_slot_started(s)) continue;
        if (!wait_flag(c.storm_done, storm_end)) {
            all_done = false;
            not_done[n_not_done++] = c.madt_apic_id;
            continue;
        }
        const u64 ticks = c.storm_t1 - c.storm_t0;
        // TSC times relative to the BSP's start (meaningful where the TSCs of all CPUs are synchronized).
        const i64 rel0 = static_cast<i64>(c.storm_t0 - bsp.storm_t0),
                  rel1 = static_cast<i64>(c.storm_t1 - bsp.storm_t0);
        note("  CPU APIC ID %u: %llu CPUIDs, %llu mismatches, %llu TSC ticks per CPUID, TSC %s%llu..%s%llu us",
             c.madt_apic_id, static_cast<unsigned long long>(c.storm_cpuids),
             static_cast<unsigned long long>(c.storm_mismatches),
             static_cast<unsigned long long>(c.storm_cpuids != 0 ? ticks / c.storm_cpuids : 0), rel0 < 0 ? "-" : "+",
             static_cast<unsigned long long>(tsc_to_us(static_cast<u64>(rel0 < 0 ? -rel0 : rel0))),
             rel1 < 0 ? "-" : "+",
             static_cast<unsigned long long>(tsc_to_us(static_cast<u64>(rel1 < 0 ? -rel1 : rel1))));
        if (c.storm_mismatches != 0) {
            no_mismatch = false;
            note("    first mismatch, leaf 0x%x: got %08x %08x %08x %08x, first seen %08x %08x %08x %08x", c.bad_leaf,
                 c.bad_got.eax, c.bad_got.ebx, c.bad_got.ecx, c.bad_got.edx, c.bad_want.eax, c.bad_want.ebx,
                 c.bad_want.ecx, c.bad_want.edx);
        }
        if (c.finished_before_start != 0) ++late;
    }
    if (cpus > 1) {
        if (late == 0)
            note("  the storms overlapped: every CPU started before any finished");
        else
            note("  %u CPU(s) started the storm after another had finished (the CPUs did not all run at once)", late);
    }
    if (!check(all_done, "CPUID storm: every CPU finished %u x 3 CPUIDs", g_rounds))
        list_ids("  not finished within the bound (APIC IDs)", not_done, n_not_done);
    check(no_mismatch, "CPUID storm: every result matched the first one seen on that CPU");

    // ---- 7. an EPT change while every CPU runs (debug builds of evmm: VMCALL DEBUG_EPT_REMAP) ----
    g_page_a.word[0] = PATTERN_A;
    g_page_b.word[0] = PATTERN_B;
    const u64 pa_a = reinterpret_cast<u64>(&g_page_a), pa_b = reinterpret_cast<u64>(&g_page_b); // identity map
    __atomic_store_n(&g_remap_phase, 1u, __ATOMIC_RELEASE);
    const u64 remap_end = tsc_deadline_us(REMAP_TIMEOUT_US);
    for (u32 i = 0; i < HOT_READS; ++i) (void)read_a();
    u32 hot = 1;
    for (u32 s = 1; s < slots; ++s)
        if (smp_slot_started(s) && wait_flag(g_remap_ready[s], remap_end)) ++hot;
    VmcallResult r;
    u8 vec = 0;
    const bool done = probe_vmcall(EVMM_VMCALL_DEBUG_EPT_REMAP, pa_a, pa_b, 0, r, vec);
    if (!done || r.rax == static_cast<u64>(-38)) { // -ENOSYS: a release build of evmm
        __atomic_store_n(&g_remap_phase, 2u, __ATOMIC_RELEASE);
        skip(done ? "evmm without debug VMCALLs" : "not under evmm", "EPT remap seen by every CPU");
        return;
    }
    check_eq(r.rax, 0, "VMCALL DEBUG_EPT_REMAP 0x%llx -> 0x%llx", static_cast<unsigned long long>(pa_a),
             static_cast<unsigned long long>(pa_b));
    __atomic_store_n(&g_remap_phase, 2u, __ATOMIC_RELEASE);
    u32 saw_b = read_a() == PATTERN_B ? 1 : 0, answered = 1;
    for (u32 s = 1; s < slots; ++s) {
        if (!smp_slot_started(s) || !wait_flag(g_remap_done[s], remap_end)) continue;
        ++answered;
        if (g_remap_seen[s] == PATTERN_B)
            ++saw_b;
        else
            note("  CPU APIC ID %u still read 0x%llx through page A (stale translation)", g_cpu[s].madt_apic_id,
                 static_cast<unsigned long long>(g_remap_seen[s]));
    }
    check(saw_b == hot && answered == hot, "EPT remap seen by every CPU (%u of %u read page B's pattern through A)",
          saw_b, hot);
    const bool restored = probe_vmcall(EVMM_VMCALL_DEBUG_EPT_REMAP, pa_a, pa_a, 0, r, vec) && r.rax == 0;
    check(restored && read_a() == PATTERN_A, "VMCALL DEBUG_EPT_REMAP back to the identity: page A's own pattern");
}
