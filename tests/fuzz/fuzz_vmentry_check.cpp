// The VM-entry checker (vmm/vmx/vmentry_check) on a VMCS snapshot and capability MSRs filled from the input
// (layout: vmentry_layout.h): every field value, which fields were read, every capability. It must terminate,
// report at most what it counts, and every violation it reports must format (vmentry_format_violation) into a
// buffer of any size without writing past it.
#include "fuzz_common.h"
#include "vmentry_layout.h"

using namespace evmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static VmcsSnapshot s;
    VmxCapMsrs c{};
    fuzz::vmentry_decode(data, size, s, c);
    constexpr u32 CAP = 64;
    Violation v[CAP];
    const u32 n = vmentry_check(s, c, v, CAP);
    const size_t cap = size == 0 ? 0 : data[size - 1] % 160; // any buffer size, 0 included
    std::vector<char> buf(cap);
    char full[512];
    for (u32 i = 0; i < n && i < CAP; ++i) {
        FUZZ_CHECK(v[i].rule != nullptr && v[i].sdm != nullptr && v[i].message != nullptr);
        const size_t len = vmentry_format_violation(v[i], buf.data(), cap);
        FUZZ_CHECK(cap == 0 || (len < cap && buf[len] == '\0'));
        const size_t full_len = vmentry_format_violation(v[i], full, sizeof full);
        FUZZ_CHECK(full_len < sizeof full && std::strlen(full) == full_len);
    }
    return 0;
}
