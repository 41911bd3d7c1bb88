// Unit tests for vmm/guest_paging: guest linear -> physical in every paging mode, over a flat fake memory.
#include "vmm/guest/guest_paging.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/paging.h"

namespace evmm {
namespace {

// Physical memory [0, size): map() refuses anything past the end.
class FlatMem final : public PhysMem {
public:
    explicit FlatMem(size_t size) : bytes_(size, 0) {}
    const void* map(u64 pa, size_t len) const override {
        if (pa > bytes_.size() || len > bytes_.size() - pa) return nullptr;
        return bytes_.data() + pa;
    }
    void put64(u64 pa, u64 v) { std::memcpy(&bytes_[pa], &v, 8); }
    void put32(u64 pa, u32 v) { std::memcpy(&bytes_[pa], &v, 4); }
    void put(u64 pa, const char* s) { std::memcpy(&bytes_[pa], s, std::strlen(s)); }

private:
    std::vector<u8> bytes_;
};

constexpr u64 P = pte::P | pte::RW;
constexpr GuestPagingRegs LONG4{CR0_PE | CR0_PG, 0x1000, CR4_PAE, EFER_LMA};

u64 translate(const FlatMem& m, const GuestPagingRegs& r, u64 lin) {
    u64 pa = ~u64{0};
    const Status s = guest_linear_to_phys(m, r, lin, pa);
    EXPECT_TRUE(s.ok()) << s.what << " " << (s.where ? s.where : "");
    return pa;
}

TEST(GuestPaging, NoPaging) {
    FlatMem m(PAGE_4K);
    EXPECT_EQ(translate(m, {CR0_PE, 0, 0, 0}, 0x1234'5678), 0x1234'5678u);
    EXPECT_EQ(translate(m, {CR0_PE, 0, 0, 0}, 0x1'0000'1000), 0x1000u); // 32-bit linear addresses
}

TEST(GuestPaging, FourLevel4K2M1G) {
    FlatMem m(16 * PAGE_4K);
    // lin 0xffffffff81234567: PML4[511] -> PDPT 0x2000, PDPT[510] -> PD 0x3000, PD[9] -> PT 0x4000, PT[0x34]
    const u64 lin = 0xFFFF'FFFF'8123'4567;
    m.put64(0x1000 + 511 * 8, 0x2000 | P);
    m.put64(0x2000 + 510 * 8, 0x3000 | P);
    m.put64(0x3000 + 9 * 8, 0x4000 | P);
    m.put64(0x4000 + 0x34 * 8, 0xABCD'E000 | P | pte::XD);
    EXPECT_EQ(translate(m, LONG4, lin), 0xABCD'E567u);
    // A 2 MiB page at PD[9].
    m.put64(0x3000 + 9 * 8, 0x4020'0000 | P | pte::PS);
    EXPECT_EQ(translate(m, LONG4, lin), 0x4020'0000u + (lin & (PAGE_2M - 1)));
    // A 1 GiB page at PDPT[510].
    m.put64(0x2000 + 510 * 8, 0x8'0000'0000 | P | pte::PS);
    EXPECT_EQ(translate(m, LONG4, lin), 0x8'0000'0000u + (lin & (PAGE_1G - 1)));
}

TEST(GuestPaging, NotPresentAndUnreadableAreErrors) {
    FlatMem m(4 * PAGE_4K);
    u64 pa = 0;
    Status s = guest_linear_to_phys(m, LONG4, 0x40'0000, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, 0x40'0000u);
    m.put64(0x1000, 0x7'0000'0000 | P); // PDPT beyond the memory
    s = guest_linear_to_phys(m, LONG4, 0x40'0000, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, 0x7'0000'0000u);
}

TEST(GuestPaging, FiveLevel) {
    FlatMem m(16 * PAGE_4K);
    GuestPagingRegs r = LONG4;
    r.cr4 |= CR4_LA57;
    const u64 lin = 0x0001'0000'0040'1000; // PML5[1] PML4[0] PDPT[0] PD[2] PT[1]
    m.put64(0x1000 + 1 * 8, 0x2000 | P);
    m.put64(0x2000, 0x3000 | P);
    m.put64(0x3000, 0x4000 | P);
    m.put64(0x4000 + 2 * 8, 0x5000 | P);
    m.put64(0x5000 + 1 * 8, 0x9000 | P);
    EXPECT_EQ(translate(m, r, lin), 0x9000u);
}

TEST(GuestPaging, PaeAndThirtyTwoBit) {
    FlatMem m(16 * PAGE_4K);
    // PAE: CR3 0x1020 (32-byte aligned), PDPTE[3] -> PD 0x2000, PD[1] 2 MiB page.
    const GuestPagingRegs pae{CR0_PE | CR0_PG, 0x1020, CR4_PAE, 0};
    m.put64(0x1020 + 3 * 8, 0x2000 | pte::P);
    m.put64(0x2000 + 1 * 8, 0x1'2340'0000 | P | pte::PS);
    EXPECT_EQ(translate(m, pae, 0xC020'1234), 0x1'2340'1234u);
    // 32-bit paging: PDE[0x300] -> PT 0x3000, PTE[0x201] -> 0x5000; and a 4 MiB PDE with PSE (address bits 39:32
    // in PDE bits 20:13).
    const GuestPagingRegs p32{CR0_PE | CR0_PG, 0x4000, 0, 0};
    m.put32(0x4000 + 0x300 * 4, 0x3000 | P);
    m.put32(0x3000 + 0x201 * 4, 0x5000 | P);
    EXPECT_EQ(translate(m, p32, 0xC020'1ABC), 0x5ABCu);
    m.put32(0x4000 + 0x301 * 4, 0x0840'0000 | (0x3u << 13) | P | pte::PS);
    GuestPagingRegs pse = p32;
    pse.cr4 = CR4_PSE;
    EXPECT_EQ(translate(m, pse, 0xC040'0010), 0x3'0840'0010u);
}

TEST(GuestPaging, ReadAcrossPages) {
    FlatMem m(16 * PAGE_4K);
    // Linear 0x1ffe..0x2001 maps to two unrelated frames.
    m.put64(0x1000, 0x2000 | P);
    m.put64(0x2000, 0x3000 | P);
    m.put64(0x3000, 0x4000 | P);
    m.put64(0x4000 + 1 * 8, 0x7000 | P);
    m.put64(0x4000 + 2 * 8, 0x5000 | P);
    m.put(0x7FFE, "ab");
    m.put(0x5000, "cd");
    u8 out[4] = {};
    ASSERT_TRUE(guest_read_linear(m, LONG4, 0x1FFE, out, 4).ok());
    EXPECT_EQ(std::memcmp(out, "abcd", 4), 0);
    EXPECT_FALSE(guest_read_linear(m, LONG4, 0x2FFE, out, 4).ok()); // second page not mapped
}

} // namespace
} // namespace evmm
