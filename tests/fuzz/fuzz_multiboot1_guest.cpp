// guest0's Multiboot (version 1) loader (vmm/guest/boot/multiboot1_guest) with a fuzzed kernel: mb1_find_header on
// any bytes; for a header it accepts, mb1_plan (ELF32/ELF64 program headers or the a.out kludge), kernel_load into
// guest0's memory, then the information structure (its size, its place, mb1_build_info) and the entry state.
#include "fuzz_kernel_boot.h"
#include "vmm/guest/boot/multiboot1_guest.h"

using namespace evmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Mb1Header hdr{};
    if (!mb1_find_header(data, size, hdr).ok()) return 0;
    FUZZ_CHECK(hdr.offset % 4 == 0 && hdr.offset <= size && hdr.header_length <= size - hdr.offset);
    KernelPlan plan{};
    if (!mb1_plan(data, size, hdr, plan).ok()) return 0;
    if (!fuzz::check_and_load(data, size, plan)) return 0;
    static fuzz::InfoInputs ii;
    BootInfoInputs in = ii.in;
    mb1_info_inputs_apply_kernel(hdr, in);
    u64 info_size = 0, gpa = 0, written = 0;
    if (!mb1_info_size(in, info_size).ok() || !fuzz::info_gpa(plan, ii.gm.map, info_size, gpa)) return 0;
    static fuzz::BufGuestMem mem;
    if (mb1_build_info(in, mem, gpa, info_size, written).ok()) FUZZ_CHECK(written <= info_size);
    evmm_gcpu_state_t s{};
    mb1_entry_state(s, plan.entry, static_cast<u32>(gpa));
    return 0;
}
