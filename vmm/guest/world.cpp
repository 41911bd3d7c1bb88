#include "vmm/guest/world.h"

#include <new>

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "lib/log.h"
#include "vmm/guest/guest.h"
#include "vmm/host/platform.h"

namespace evmm {
namespace {

constexpr u32 CPUID_XSAVE_LEAF = 0xD;
constexpr u32 CPUID1_ECX_XSAVE = 1u << 26;
// CPUID.(EAX=07H,ECX=0):EDX (SDM Vol. 2A Table 3-8).
constexpr u32 CPUID7_EDX_MD_CLEAR = 1u << 10;
constexpr u32 CPUID7_EDX_IBRS_IBPB = 1u << 26;
constexpr u32 CPUID7_EDX_STIBP = 1u << 27;
constexpr u32 CPUID7_EDX_L1D_FLUSH = 1u << 28;
constexpr u32 CPUID7_EDX_SSBD = 1u << 31;
constexpr u64 PRED_CMD_IBPB = bit(0);
constexpr u64 FLUSH_CMD_L1D = bit(0);
constexpr u64 FXSAVE_SIZE = 512;
constexpr u64 DR6_INIT = 0xFFFF0FF0; // SDM Vol. 3B §18.2.3: DR6 after reset

struct Caps {
    bool xsave, spec_ctrl, ibpb, flush_cmd, md_clear;
    bool msr_switch; // spec_ctrl || ibpb: one test on the switch's path
    u64 xsave_size;
};
Caps g_caps;
bool g_probed = false;
GuestStopHandler g_stop_handler = nullptr;

u64 xgetbv0() {
    u32 lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0u));
    return (u64{hi} << 32) | lo;
}
void xsetbv0(u64 v) {
    asm volatile("xsetbv" : : "c"(0u), "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32)) : "memory");
}

// VERW with a writable data segment's selector: on MD_CLEAR CPUs it overwrites the CPU buffers (Intel's
// "Microarchitectural Data Sampling" guidance).
void verw() {
    static const u16 sel = 0x10; // the host's data selector (arch/x86_64/gdt.h Selector::Data)
    asm volatile("verw %0" : : "m"(sel) : "cc");
}

void l1d_flush() {
    if (g_caps.flush_cmd) {
        wrmsr(Msr::IA32_FLUSH_CMD, FLUSH_CMD_L1D);
        return;
    }
    // Where IA32_FLUSH_CMD is missing (no L1TF microcode): WBINVD, which writes back and invalidates every cache
    // level, L1D included (SDM Vol. 2D WBINVD) — architecturally certain where a software displacement loop is a
    // guess about the cache's size and replacement policy, and expensive (docs/tee.md: update the microcode).
    asm volatile("wbinvd" ::: "memory");
}

} // namespace

[[gnu::cold]] void world_probe() {
    if (g_probed) return;
    g_probed = true;
    Caps& c = g_caps;
    const u32 max = cpuid(CpuidLeaf::BASIC).eax;
    c.xsave = (cpuid(CpuidLeaf::FEATURES).ecx & CPUID1_ECX_XSAVE) != 0 && max >= CPUID_XSAVE_LEAF;
    c.xsave_size = c.xsave ? cpuid(CPUID_XSAVE_LEAF, 0).ecx : FXSAVE_SIZE;
    if (c.xsave_size < FXSAVE_SIZE + 64) c.xsave_size = c.xsave ? FXSAVE_SIZE + 64 : FXSAVE_SIZE;
    const u32 edx7 = max >= 7 ? cpuid(7, 0).edx : 0;
    c.ibpb = (edx7 & CPUID7_EDX_IBRS_IBPB) != 0;
    c.spec_ctrl = (edx7 & (CPUID7_EDX_IBRS_IBPB | CPUID7_EDX_STIBP | CPUID7_EDX_SSBD)) != 0;
    c.flush_cmd = (edx7 & CPUID7_EDX_L1D_FLUSH) != 0;
    c.md_clear = (edx7 & CPUID7_EDX_MD_CLEAR) != 0;
    c.msr_switch = c.spec_ctrl || c.ibpb;
    LOG_INFO("world: state area %lu bytes; IBPB %u, SPEC_CTRL %u, FLUSH_CMD %u, MD_CLEAR %u", c.xsave_size, c.ibpb,
             c.spec_ctrl, c.flush_cmd, c.md_clear);
}

[[gnu::cold]] Status world_init(Gcpu& g, PageHeap& heap) {
    world_probe();
    void* w = heap.alloc_pages(1);
    void* area = heap.alloc_pages(align_up(g_caps.xsave_size, PAGE_SIZE) / PAGE_SIZE);
    if (w == nullptr || area == nullptr)
        return Status::error("out of heap pages for a world's state", "world", g.cpu_id);
    static_assert(sizeof(GcpuWorld) <= PAGE_SIZE);
    GcpuWorld& s = *new (w) GcpuWorld{};
    s.xsave_area = static_cast<u8*>(area);
    __builtin_memset(area, 0, g_caps.xsave_size); // XSTATE_BV 0: every component in its initial state
    s.xcr0 = 1; // x87 only (SDM Vol. 1 §13.3: bit 0 is always 1); the CPU's live value from world_gcpu_init on
    s.dr6 = DR6_INIT;
    constexpr Msr MSRS[WORLD_MSR_COUNT] = {Msr::IA32_STAR, Msr::IA32_LSTAR, Msr::IA32_FMASK, Msr::IA32_KERNEL_GS_BASE};
    for (u32 i = 0; i < WORLD_MSR_COUNT; ++i) s.msrs[i] = WorldMsr{static_cast<u32>(MSRS[i]), 0, 0};
    s.msrs_pa = heap.virt_to_phys(&s.msrs[0]);
    g.world = &s;
    return Status::success();
}

[[gnu::cold]] void world_pair(Gcpu& normal, Gcpu& secure) {
    normal.world->peer = &secure;
    normal.world->normal = true;
    secure.world->peer = &normal;
    secure.world->normal = false;
}

[[gnu::cold]] void world_gcpu_init(Gcpu& g) {
    if (g.world == nullptr) return;
    if (g_caps.xsave) g.world->xcr0 = xgetbv0();
    g.world->dr_live = !gcpu_trap_dr_access(g);
}

[[gnu::cold]] bool world_dr_claim(Gcpu& g) {
    GcpuWorld* w = g.world;
    if (w == nullptr || w->dr_live) return false;
    asm volatile("mov %0, %%db0; mov %1, %%db1; mov %2, %%db2; mov %3, %%db3"
                 :
                 : "r"(w->dr[0]), "r"(w->dr[1]), "r"(w->dr[2]), "r"(w->dr[3]));
    w->dr_live = true;
    return true;
}

void world_xcr0_written(Gcpu& g, u64 xcr0) {
    if (g.world != nullptr) g.world->xcr0 = xcr0;
}

namespace {

// Inlined into world_switch (P5).
[[gnu::always_inline]] inline void swap_state(GcpuWorld& a, GcpuWorld& b, bool to_normal_world) {
    // XSAVE state (SDM Vol. 1 §13.7, §13.8): saved under the leaving world's XCR0, restored under the entering's.
    // The host's CR4 keeps OSFXSR and, with XSAVE, OSXSAVE set (vmx_on): neither instruction is #UD here. a.xcr0 is
    // the live value: XSETBV always exits and world_xcr0_written records it; a switch loads the entering one's.
    if (g_caps.xsave) {
        if (b.xcr0 == a.xcr0) [[likely]] {
            asm volatile("xsave64 (%0)\n\txrstor64 (%1)"
                         :
                         : "r"(a.xsave_area), "r"(b.xsave_area), "a"(~0u), "d"(~0u)
                         : "memory");
        } else {
            asm volatile("xsave64 (%0)" : : "r"(a.xsave_area), "a"(~0u), "d"(~0u) : "memory");
            xsetbv0(b.xcr0);
            asm volatile("xrstor64 (%0)" : : "r"(b.xsave_area), "a"(~0u), "d"(~0u) : "memory");
        }
    } else {
        asm volatile("fxsave64 (%0)" : : "r"(a.xsave_area) : "memory");
        asm volatile("fxrstor64 (%0)" : : "r"(b.xsave_area) : "memory");
    }
    // DR0-DR3 and DR6: VM exits do not switch them (SDM Vol. 3C §28.3.1 saves DR7 only). DR6 every time (a #DB
    // in the guest changes it without an exit); DR0-3 only for a world that has them live (GcpuWorld::dr_live).
    asm volatile("mov %%db6, %0" : "=r"(a.dr6));
    if (a.dr_live)
        asm volatile("mov %%db0, %0; mov %%db1, %1; mov %%db2, %2; mov %%db3, %3"
                     : "=r"(a.dr[0]), "=r"(a.dr[1]), "=r"(a.dr[2]), "=r"(a.dr[3]));
    if (b.dr_live)
        asm volatile("mov %0, %%db0; mov %1, %%db1; mov %2, %%db2; mov %3, %%db3"
                     :
                     : "r"(b.dr[0]), "r"(b.dr[1]), "r"(b.dr[2]), "r"(b.dr[3]));
    asm volatile("mov %0, %%db6" : : "r"(b.dr6));
    // STAR, LSTAR, FMASK, KERNEL_GS_BASE: the CPU stored a's at this exit and loads b's at the entry (GcpuWorld::msrs).
    if (g_caps.msr_switch) {
        if (g_caps.spec_ctrl) {
            a.spec_ctrl = rdmsr(Msr::IA32_SPEC_CTRL);
            if (b.spec_ctrl != a.spec_ctrl) wrmsr(Msr::IA32_SPEC_CTRL, b.spec_ctrl);
        }
        // Mitigations: no branch prediction trained in one world steers the other; nothing the TEE left in the L1D
        // or the CPU buffers is sampled by guest0.
        if (g_caps.ibpb) wrmsr(Msr::IA32_PRED_CMD, PRED_CMD_IBPB);
    }
    if (to_normal_world) {
        l1d_flush();
        if (g_caps.md_clear) verw();
    }
}

} // namespace

void world_switch(Gcpu& from, Gcpu& to) {
    swap_state(*from.world, *to.world, to.world->normal);
    gcpu_switch(from, to);
}

[[gnu::cold]] void world_set_stop_handler(GuestStopHandler h) { g_stop_handler = h; }

[[gnu::cold]] void world_guest_stopped(Gcpu& g, const char* why) {
    if (g_stop_handler != nullptr && g.guest != nullptr && !g.guest->owns_platform()) g_stop_handler(g, why);
}

} // namespace evmm
