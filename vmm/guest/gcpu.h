// A guest CPU: the guest's general registers (saved and restored by vmm/vmx/vmx_entry.S around every VM exit), its
// VMCS, and per-exit-reason counters.
#pragma once

#include "evmm/base.h"
#include "evmm_desc.h"

namespace evmm {

// Indexed by the register number x86 encodes in exit qualifications (SDM Vol. 3C Table 28-3: 0 = RAX, 1 = RCX,
// 2 = RDX, 3 = RBX, 4 = RSP, 5 = RBP, 6 = RSI, 7 = RDI, 8-15 = R8-R15). RSP lives in the VMCS (GUEST_RSP);
// its slot here is unused by the stubs.
struct GuestRegs {
    u64 gpr[16];
};
enum class Gpr : u8 { RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

inline constexpr u32 EXIT_COUNTERS = 80;  // basic exit reasons 0..79 counted individually

struct Gcpu {
    GuestRegs regs;  // first: vmm/vmx/vmx_entry.S addresses registers at offsets 8 * n from the Gcpu pointer
    u32 cpu_id;
    u32 vpid;
    u64 vmcs_pa;
    u64 eptp;
    u64 cr0_shadow, cr4_shadow;  // what the guest believes CR0 / CR4 hold (read shadows)
    u64 exits_total;
    u64 exits[EXIT_COUNTERS];

    u64& reg(Gpr r) { return regs.gpr[static_cast<u8>(r)]; }
    u64& reg(u32 n) { return regs.gpr[n & 15]; }
};
static_assert(offsetof(Gcpu, regs) == 0);

} // namespace evmm
