// The guest page-table walker (vmm/guest/guest_paging: guest_linear_to_phys, guest_read_linear): guest0's own
// page tables are guest input (evmm walks them to fetch the instruction of an MMIO store). The input is guest
// physical memory from address 0; its first 40 bytes are also CR0, CR3, CR4, EFER and the linear address. Every
// paging mode the registers select (none, 32-bit, PAE, 4-level, 5-level) is walked.
#include "evmm/physmem.h"
#include "fuzz_common.h"
#include "vmm/guest/guest_paging.h"

using namespace evmm;

namespace {

class InputMem final : public PhysMem {
public:
    InputMem(const u8* m, size_t n) : m_(m), n_(n) {}
    const void* map(u64 pa, size_t len) const override {
        if (pa > n_ || len > n_ - pa) return nullptr;
        return m_ + pa;
    }

private:
    const u8* m_;
    size_t n_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const GuestPagingRegs r{fuzz::le(data, size, 0, 8), fuzz::le(data, size, 8, 8), fuzz::le(data, size, 16, 8),
                            fuzz::le(data, size, 24, 8)};
    const u64 lin = fuzz::le(data, size, 32, 8);
    const InputMem mem(data, size);
    u64 pa = 0;
    (void)guest_linear_to_phys(mem, r, lin, pa);
    u8 out[32];
    (void)guest_read_linear(mem, r, lin, out, sizeof out);
    return 0;
}
