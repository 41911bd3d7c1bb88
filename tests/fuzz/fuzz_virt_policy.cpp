// The pure part of the VMCALL dispatcher and of the modules that act on guest values (vmm/modules/virt_policy).
// The dispatcher itself (vmm/modules/vmcall.cpp: on_vmcall) is not host-buildable: it reads and writes the vCPU
// (Gcpu), asks the Guest whether it owns RAM, logs and panics. What it decides from guest bytes is here:
// VMCALL LOG's text (the guest's buffer, at most VMCALL_LOG_MAX bytes, as the dispatcher enforces) through
// log_sanitize; and the decisions on guest register values: MOV to CR0/CR3/CR4, LMSW, PAE PDPTEs, XSETBV's XCR0,
// CPUID results, the MSR and I/O bitmap positions of a guest's MSR/port. Input: 8 little-endian u64 values (the
// guest's registers), then the LOG text.
#include "fuzz_common.h"
#include "vmm/modules/virt_policy.h"

using namespace evmm;
using namespace evmm::virt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    u64 r[8];
    for (size_t i = 0; i < 8; ++i) r[i] = fuzz::le(data, size, i * 8, 8);
    const u8* text = size > 64 ? data + 64 : data + size;
    const size_t text_len = size > 64 ? size - 64 : 0;

    // VMCALL LOG: the dispatcher refuses len > VMCALL_LOG_MAX (EINVAL) and sanitizes the rest into a line.
    if (text_len <= VMCALL_LOG_MAX) {
        char line[VMCALL_LOG_MAX + 1];
        const size_t n = log_sanitize(text, text_len, line);
        FUZZ_CHECK(n <= text_len && line[n] == '\0');
        for (size_t i = 0; i < n; ++i) FUZZ_CHECK(line[i] >= 0x20 && line[i] < 0x7F);
    }

    // Control registers: the guest's state and the value it writes.
    const CrState s{r[0], r[1], r[2], r[3], (r[4] & 1) != 0};
    const CrWrite w0 = cr0_write(s, r[5]);
    FUZZ_CHECK(w0.gp != nullptr || w0.ia32e == ((w0.efer & EFER_LMA) != 0));
    const CrWrite w4 = cr4_write(s, r[6], r[7]);
    FUZZ_CHECK(w4.gp != nullptr || ((w4.value & CR4_VMXE_BIT) == 0 && (w4.value & ~r[7]) == 0));
    const CrWrite w3 = cr3_write(s, r[5], static_cast<u8>(r[4] >> 8));
    (void)w3;
    (void)lmsw_value(r[0], static_cast<u16>(r[5]));
    (void)pdpte_valid(r[6], static_cast<u8>(r[4] >> 16));

    // XSETBV: a value xcr0_violation accepts keeps x87 and only supported bits.
    if (xcr0_violation(r[5], r[6]) == nullptr) FUZZ_CHECK((r[5] & XCR0_X87) && (r[5] & ~r[6]) == 0);

    // CPUID.
    const u32 leaf = static_cast<u32>(r[7]), subleaf = static_cast<u32>(r[7] >> 32);
    const CpuidRegs c = cpuid_is_hv_leaf(leaf) ? cpuid_hv_leaf(leaf)
                                               : cpuid_adjust(leaf, subleaf,
                                                              CpuidRegs{static_cast<u32>(r[0]), static_cast<u32>(r[1]),
                                                                        static_cast<u32>(r[2]), static_cast<u32>(r[3])},
                                                              r[4]);
    if (leaf == 1) FUZZ_CHECK((c.ecx & (CPUID1_ECX_VMX | CPUID1_ECX_SMX)) == 0);

    // MSR and I/O bitmaps: inside their 4 KiB page, in the right quarter.
    for (bool write : {false, true}) {
        const BitmapPos p = msr_bitmap_pos(static_cast<u32>(r[1]), write);
        if (p.valid) FUZZ_CHECK(p.byte < 4096 && p.bit < 8 && (p.byte >= 0x800) == write);
    }
    const IoBitmapPos io = io_bitmap_pos(static_cast<u16>(r[2]));
    FUZZ_CHECK(io.bitmap < 2 && io.byte < 4096 && io.bit < 8);
    return 0;
}
