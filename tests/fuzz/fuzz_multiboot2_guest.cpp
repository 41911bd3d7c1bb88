// guest0's Multiboot2 loader (vmm/guest/boot/multiboot2_guest) with a fuzzed kernel: mb2_kernel_find_header on any
// bytes (header tags, information requests); for a header it accepts, mb2_kernel_plan (ELF32/ELF64 or the
// address tag), kernel_load into guest0's memory, then the boot information (size, place, mb2_build_guest_info)
// and the entry state.
#include "fuzz_kernel_boot.h"
#include "vmm/guest/boot/multiboot2_guest.h"

using namespace evmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Mb2KernelHeader hdr{};
    if (!mb2_kernel_find_header(data, size, hdr).ok()) return 0;
    FUZZ_CHECK(hdr.offset % 8 == 0 && hdr.offset <= size && hdr.header_length <= size - hdr.offset);
    for (u32 t = 0; t < 64; ++t)
        if (hdr.required_types & (u64{1} << t)) FUZZ_CHECK(mb2_info_type_provided(t));
    KernelPlan plan{};
    if (!mb2_kernel_plan(data, size, hdr, plan).ok()) return 0;
    if (!fuzz::check_and_load(data, size, plan)) return 0;
    static fuzz::InfoInputs ii;
    BootInfoInputs in = ii.in;
    static const u8 rsdp[20] = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};
    in.rsdp = rsdp;
    in.rsdp_len = sizeof rsdp;
    mb2_info_inputs_apply_kernel(hdr, plan, in);
    u64 info_size = 0, gpa = 0, written = 0;
    if (!mb2_guest_info_size(in, info_size).ok() || !fuzz::info_gpa(plan, ii.gm.map, info_size, gpa)) return 0;
    static fuzz::BufGuestMem mem;
    if (mb2_build_guest_info(in, mem, gpa, info_size, written).ok()) FUZZ_CHECK(written <= info_size);
    evmm_gcpu_state_t s{};
    mb2_guest_entry_state(s, plan.entry, static_cast<u32>(gpa));
    return 0;
}
