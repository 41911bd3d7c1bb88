#include "vmm/guest/gpa_intercept.h"

#include "arch/x86_64/paging.h"
#include "evmm/spinlock.h"
#include "vmm/host/panic.h"

namespace evmm {
namespace {
GpaIntercept g_ranges[GPA_INTERCEPT_MAX];
u32 g_count = 0;
SpinLock g_lock; // run-time additions
} // namespace

void gpa_intercept(u64 base, u64 size, MemPerms allowed, GpaHandler handler, const char* owner) {
    if (size == 0 || !is_aligned(base, PAGE_4K) || !is_aligned(size, PAGE_4K) || add_overflows(base, size))
        PANIC("gpa_intercept: bad range 0x%lx+0x%lx (%s)", base, size, owner);
    for (u32 i = 0; i < g_count; ++i)
        if (ranges_overlap(base, size, g_ranges[i].base, g_ranges[i].size))
            PANIC("gpa_intercept: 0x%lx+0x%lx (%s) overlaps %s's range", base, size, owner, g_ranges[i].owner);
    if (g_count == GPA_INTERCEPT_MAX) PANIC("gpa_intercept: more than %u ranges", GPA_INTERCEPT_MAX);
    g_ranges[g_count++] = GpaIntercept{base, size, allowed, handler, owner};
}

bool gpa_intercept_add(u64 base, u64 size, MemPerms allowed, GpaHandler handler, const char* owner) {
    LockGuard guard(g_lock);
    const u32 n = __atomic_load_n(&g_count, __ATOMIC_ACQUIRE);
    for (u32 i = 0; i < n; ++i)
        if (ranges_overlap(base, size, g_ranges[i].base, g_ranges[i].size)) return false;
    if (n == GPA_INTERCEPT_MAX) return false;
    g_ranges[n] = GpaIntercept{base, size, allowed, handler, owner};
    __atomic_store_n(&g_count, n + 1, __ATOMIC_RELEASE);
    return true;
}

u32 gpa_intercept_count() { return __atomic_load_n(&g_count, __ATOMIC_ACQUIRE); }
const GpaIntercept& gpa_intercept_at(u32 i) { return g_ranges[i]; }

const GpaIntercept* gpa_intercept_find(u64 gpa) {
    const u32 n = gpa_intercept_count();
    for (u32 i = 0; i < n; ++i)
        if (gpa >= g_ranges[i].base && gpa - g_ranges[i].base < g_ranges[i].size) return &g_ranges[i];
    return nullptr;
}

} // namespace evmm
