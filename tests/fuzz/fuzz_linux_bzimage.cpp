// guest0's Linux loader (vmm/guest/boot/linux_bzimage) with a fuzzed bzImage: linux_is_bzimage and linux_inspect
// on any bytes; for an image they accept, linux_plan in guest0's map of the unit tests (RAM to 64 MiB, the image
// itself to avoid) with an initrd and a command line whose sizes come from the input, then linux_load into that
// guest memory and the entry state. Every planned area must lie inside usable RAM and clear of the others.
#include "fuzz_common.h"
#include "vmm/guest/boot/linux_bzimage.h"

using namespace evmm;

namespace {

bool overlap(u64 a, u64 al, u64 b, u64 bl) { return al != 0 && bl != 0 && a < b + bl && b < a + al; }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)linux_is_bzimage(data, size);
    LinuxImage li{};
    if (!linux_inspect(data, size, li).ok()) return 0;
    FUZZ_CHECK(li.kernel_offset <= size && li.kernel_size <= size - li.kernel_offset && li.kernel_size != 0);
    FUZZ_CHECK(li.header_end <= size);

    static fuzz::GuestMap gm;
    static fuzz::BufGuestMem mem;
    static u8 initrd[8 * KiB];
    static const char cmdline[] = "console=ttyS0,115200 loglevel=4 nokaslr mitigations=off cryptomgr.notests=1";
    // Input bytes 0x1E8..0x1EF are unused by the boot protocol's header: the initrd and command-line sizes.
    const u64 initrd_size = fuzz::le(data, size, 0x1E8, 2) % (sizeof initrd + 1);
    const size_t cmdline_len = fuzz::le(data, size, 0x1EA, 1) % sizeof cmdline;
    // The image sits where GRUB would have put guest0's module: 48 MiB (a copy source, so avoided).
    const MemoryMap::Range avoid[] = {{48 * MiB, size}, {40 * MiB, sizeof initrd}};
    LinuxPlan plan{};
    if (!linux_plan(li, gm.map, avoid, 2, initrd_size, cmdline_len, plan).ok()) return 0;
    const struct {
        u64 base, len;
    } areas[] = {{plan.kernel_addr, plan.kernel_reserve},
                 {plan.zero_page, PAGE_SIZE},
                 {plan.cmdline_addr, plan.cmdline_reserve},
                 {plan.initrd_addr, plan.initrd_size},
                 {plan.boot_tables, plan.entry64 ? LINUX_BOOT_TABLES_SIZE : 0}};
    for (size_t i = 0; i < sizeof areas / sizeof areas[0]; ++i) {
        FUZZ_CHECK(areas[i].len == 0 || areas[i].base + areas[i].len <= 4 * GiB);
        for (size_t j = i + 1; j < sizeof areas / sizeof areas[0]; ++j)
            FUZZ_CHECK(!overlap(areas[i].base, areas[i].len, areas[j].base, areas[j].len));
        for (const MemoryMap::Range& a : avoid) FUZZ_CHECK(!overlap(areas[i].base, areas[i].len, a.base, a.length));
    }
    static const u8 rsdp[20] = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};
    if (!linux_load(data, size, li, plan, mem, initrd, initrd_size, cmdline, cmdline_len, gm.map.entries(),
                    gm.map.count(), rsdp, 0xF0000)
             .ok())
        return 0;
    evmm_gcpu_state_t s{};
    if (plan.entry64 != 0)
        linux_entry_state_64(s, plan.entry64, plan.zero_page, plan.boot_tables);
    else
        linux_entry_state_32(s, plan.code32_start, static_cast<u32>(plan.zero_page));
    return 0;
}
