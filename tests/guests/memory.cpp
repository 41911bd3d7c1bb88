// memory: the hypervisor's own memory is hidden from guest0: its runtime region (from the debug VMCALL
// DEBUG_HV_REGION) is absent from the Multiboot2 memory map, reads and writes there get #GP(0), and the guest keeps
// running and using its own memory afterwards.
#include "guest.h"

using namespace guest;

namespace {

constexpr u64 IDENTITY_LIMIT = 0x100000000ull; // lib/entry.S maps the first 4 GiB

bool usable(u32 type) { return type == EVMM_MEM_USABLE || type == EVMM_MEM_ACPI_RECLAIMABLE; }

// Is [addr, addr + len) entirely inside one usable entry?
bool in_usable(const evmm::Mb2Info& mb, u64 addr, u64 len) {
    for (u32 i = 0; i < mb.mmap_count; ++i) {
        const evmm_mmap_entry_t& e = mb.mmap[i];
        if (e.type == EVMM_MEM_USABLE && addr >= e.base && addr + len <= e.base + e.length) return true;
    }
    return false;
}

// The usable 4 KiB page nearest below `limit` (below == true) or at/above `limit`, inside the identity map and
// outside this guest's image; 0 when there is none.
u64 usable_page_near(const evmm::Mb2Info& mb, u64 limit, bool below) {
    u64 best = 0;
    for (u32 i = 0; i < mb.mmap_count; ++i) {
        const evmm_mmap_entry_t& e = mb.mmap[i];
        if (e.type != EVMM_MEM_USABLE) continue;
        u64 lo = evmm::align_up(e.base, evmm::PAGE_SIZE);
        u64 hi = evmm::align_down(e.base + e.length, evmm::PAGE_SIZE);
        if (hi > IDENTITY_LIMIT) hi = IDENTITY_LIMIT;
        if (lo < 0x100000) lo = 0x100000; // leave the first MiB (BIOS data, real-mode vectors) alone
        if (lo >= hi) continue;
        u64 cand;
        if (below) {
            if (lo >= limit) continue;
            cand = (hi < limit ? hi : evmm::align_down(limit, evmm::PAGE_SIZE)) - evmm::PAGE_SIZE;
            if (cand < lo || (best != 0 && cand <= best)) continue;
        } else {
            cand = lo > limit ? lo : evmm::align_up(limit, evmm::PAGE_SIZE);
            if (cand + evmm::PAGE_SIZE > hi || (best != 0 && cand >= best)) continue;
        }
        if (evmm::ranges_overlap(cand, evmm::PAGE_SIZE, image_start(), image_end() - image_start())) continue;
        best = cand;
    }
    return best;
}

// Reads a usable page's first qword, writes a pattern, reads it back, restores it: one check.
void use_page(const char* where, u64 page) {
    u8 vec = 0;
    u64 orig = 0, got = 0;
    bool ok = probe_read64(page, orig, vec) && probe_write64(page, 0x5a5a5a5aa5a5a5a5ull, vec) &&
              probe_read64(page, got, vec) && probe_write64(page, orig, vec);
    if (!check(ok && got == 0x5a5a5a5aa5a5a5a5ull, "usable page %s the region (0x%llx) reads and writes", where,
               static_cast<unsigned long long>(page)))
        note("  %s", ok ? "pattern did not read back" : vector_name(vec));
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("memory", "hypervisor region absent from the memory map, #GP(0) on access, guest memory still usable");

    const evmm::Mb2Info* mb = mb2();
    bool have_mmap = mb != nullptr && mb->has_mmap && mb->mmap_count > 0;
    check(have_mmap, "the Multiboot2 information has a memory map");
    if (have_mmap) {
        for (u32 i = 0; i < mb->mmap_count; ++i)
            note("  mmap %u: 0x%llx-0x%llx type %u", i, static_cast<unsigned long long>(mb->mmap[i].base),
                 static_cast<unsigned long long>(mb->mmap[i].base + mb->mmap[i].length), mb->mmap[i].type);
        bool overlap = false;
        for (u32 i = 0; i < mb->mmap_count; ++i)
            for (u32 j = i + 1; j < mb->mmap_count; ++j)
                overlap |=
                    evmm::ranges_overlap(mb->mmap[i].base, mb->mmap[i].length, mb->mmap[j].base, mb->mmap[j].length);
        check(!overlap, "memory map entries do not overlap each other");
        check(in_usable(*mb, image_start(), image_end() - image_start()),
              "this guest's image [0x%llx, 0x%llx) lies in usable memory",
              static_cast<unsigned long long>(image_start()), static_cast<unsigned long long>(image_end()));
    }

    VmcallResult r;
    u8 vec = 0;
    bool done = probe_vmcall(EVMM_VMCALL_DEBUG_HV_REGION, 0, 0, 0, r, vec);
    bool have_region = done && r.rax == 0 && r.rcx != 0;
    u64 base = r.rbx, size = r.rcx;
    if (!check(have_region, "VMCALL DEBUG_HV_REGION returns the hypervisor region")) {
        if (!done)
            note("  vmcall raised %s (vector %u): not running under a hypervisor", vector_name(vec), vec);
        else
            note("  rax %lld rbx 0x%llx rcx 0x%llx", static_cast<long long>(r.rax),
                 static_cast<unsigned long long>(r.rbx), static_cast<unsigned long long>(r.rcx));
    }
    const char* no_region = "no hypervisor region (VMCALL DEBUG_HV_REGION failed)";
    if (!have_region) {
        skip(no_region, "hypervisor region is absent from the memory map");
        skip(no_region, "read at the region base raises #GP(0)");
        skip(no_region, "write at the region base raises #GP(0)");
        skip(no_region, "read of the region's last qword raises #GP");
        skip(no_region, "read in the middle of the region raises #GP");
    } else {
        note("  hypervisor region [0x%llx, 0x%llx)", static_cast<unsigned long long>(base),
             static_cast<unsigned long long>(base + size));
        check(evmm::is_aligned(base, evmm::PAGE_SIZE) && evmm::is_aligned(size, evmm::PAGE_SIZE),
              "hypervisor region is page aligned");
        bool absent = true;
        if (have_mmap)
            for (u32 i = 0; i < mb->mmap_count; ++i)
                if (usable(mb->mmap[i].type) &&
                    evmm::ranges_overlap(base, size, mb->mmap[i].base, mb->mmap[i].length)) {
                    absent = false;
                    note("  overlaps mmap entry %u: 0x%llx-0x%llx type %u", i,
                         static_cast<unsigned long long>(mb->mmap[i].base),
                         static_cast<unsigned long long>(mb->mmap[i].base + mb->mmap[i].length), mb->mmap[i].type);
                }
        check(have_mmap && absent, "hypervisor region is absent from the memory map (no usable entry overlaps)");

        if (base + size <= IDENTITY_LIMIT) {
            u64 v = 0;
            done = probe_read64(base, v, vec);
            if (check_fault(done, vec, VEC_GP, "read at the region base raises #GP(0)"))
                check_eq(probe_error_code(), 0, "read at the region base: #GP error code is 0");
            else if (done)
                note("  read 0x%llx", static_cast<unsigned long long>(v));
            done = probe_write64(base, 0xdeadbeefdeadbeefull, vec);
            if (check_fault(done, vec, VEC_GP, "write at the region base raises #GP(0)"))
                check_eq(probe_error_code(), 0, "write at the region base: #GP error code is 0");
            done = probe_read64(base + size - 8, v, vec);
            check_fault(done, vec, VEC_GP, "read of the region's last qword raises #GP");
            done = probe_read64(evmm::align_down(base + size / 2, 8), v, vec);
            check_fault(done, vec, VEC_GP, "read in the middle of the region raises #GP");
        } else {
            skip("region above the 4 GiB identity map", "read at the region base raises #GP(0)");
            skip("region above the 4 GiB identity map", "write at the region base raises #GP(0)");
        }
    }

    // The guest keeps running: its own memory and usable memory next to the region still work.
    volatile u64 local = 0x1122334455667788ull;
    local = local + 1;
    check_eq(local, 0x1122334455667789ull, "the guest keeps running after the injected faults");
    if (have_mmap) {
        u64 anchor = have_region ? base : image_start();
        u64 below = usable_page_near(*mb, anchor, true);
        if (below != 0)
            use_page("below", below);
        else
            skip("no usable page below it", "usable page below the region reads and writes");
        u64 above = usable_page_near(*mb, have_region ? base + size : image_end(), false);
        if (above != 0)
            use_page("above", above);
        else
            skip("no usable page above it", "usable page above the region reads and writes");
    }
}
