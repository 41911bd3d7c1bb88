// evmm's own command line (loader/cmdline: cmdline_parse), the GRUB `multiboot2 evmm.elf OPTIONS` string the
// loader reads from the boot information: any bytes, not NUL-terminated (the input is exactly size bytes).
#include "fuzz_common.h"
#include "loader/cmdline.h"

using namespace evmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evmm_options_t opt{};
    CmdlineWarnings warn{};
    FUZZ_CHECK(cmdline_parse(reinterpret_cast<const char*>(data), size, opt, warn).ok());
    FUZZ_CHECK(warn.count <= CMDLINE_MAX_WARNINGS);
    for (u32 i = 0; i < warn.count; ++i) FUZZ_CHECK(cmdline_warning_text(warn.items[i].kind) != nullptr);
    return 0;
}
