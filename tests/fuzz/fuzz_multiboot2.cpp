// The Multiboot2 boot information parser (lib/formats/multiboot2: mb2_parse) on any bytes, then the module
// command-line splitter on every module string it returns. Whatever the input, mb2_parse must read nothing outside
// [data, data + size) (ASan: libFuzzer's input is a heap block of exactly size bytes) and what it returns on
// success must point inside the input.
#include "fuzz_common.h"
#include "lib/formats/multiboot2.h"

using namespace evmm;

namespace {

bool inside(const void* p, size_t len, const u8* data, size_t size) {
    const u8* b = static_cast<const u8*>(p);
    return b >= data && len <= size && b - data <= static_cast<ptrdiff_t>(size - len);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Mb2Info info; // large (memory map, modules): not on the stack
    info = Mb2Info{};
    if (!mb2_parse(data, size, info).ok()) return 0;
    FUZZ_CHECK(info.total_size <= size);
    FUZZ_CHECK(info.mmap_count <= EVMM_MAX_MMAP && info.module_count <= EVMM_MAX_BOOT_MODULES);
    if (info.cmdline.str) FUZZ_CHECK(inside(info.cmdline.str, info.cmdline.len + 1, data, size));
    if (info.loader_name.str) FUZZ_CHECK(inside(info.loader_name.str, info.loader_name.len + 1, data, size));
    if (info.rsdp()) FUZZ_CHECK(inside(info.rsdp(), info.rsdp_len(), data, size));
    if (info.mmap_raw)
        FUZZ_CHECK(inside(info.mmap_raw, size_t{info.mmap_raw_count} * info.mmap_entry_size, data, size));
    for (u32 i = 0; i < info.module_count; ++i) {
        const Mb2String& s = info.modules[i].cmdline;
        if (!s.str) continue;
        FUZZ_CHECK(inside(s.str, s.len + 1, data, size));
        char role[16], args[64];
        if (mb2_split_module_cmdline(s.str, s.len, role, sizeof role, args, sizeof args).ok())
            FUZZ_CHECK(std::strlen(role) < sizeof role && std::strlen(args) < sizeof args);
    }
    return 0;
}
