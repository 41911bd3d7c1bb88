// Memory Type Range Registers: read them out once (through an injected MSR reader) and answer "what memory type
// does the MTRR set give this physical address / this whole range?", e.g. to choose EPT memory types and page
// sizes.
//
// Reference: Intel SDM Vol. 3A §12.11 "Memory Type Range Registers (MTRRs)": §12.11.1 (IA32_MTRRCAP),
// §12.11.2.1 (IA32_MTRR_DEF_TYPE), §12.11.2.2 (fixed ranges), §12.11.2.3 (variable ranges),
// §12.11.4.1 (precedence of overlapping ranges). Memory type encodings: Table 12-8.
#pragma once

#include "evmm/base.h"

namespace evmm {

// MSR numbers (SDM Vol. 4, Table 2-2, and Vol. 3A §12.11).
inline constexpr u32 IA32_MTRRCAP = 0xFE;
inline constexpr u32 IA32_MTRR_PHYSBASE0 = 0x200; // PHYSBASEn = PHYSBASE0 + 2n
inline constexpr u32 IA32_MTRR_PHYSMASK0 = 0x201; // PHYSMASKn = PHYSMASK0 + 2n
inline constexpr u32 IA32_MTRR_FIX64K_00000 = 0x250;
inline constexpr u32 IA32_MTRR_FIX16K_80000 = 0x258;
inline constexpr u32 IA32_MTRR_FIX16K_A0000 = 0x259;
inline constexpr u32 IA32_MTRR_FIX4K_C0000 = 0x268; // FIX4K_C0000 .. FIX4K_F8000 are 0x268 .. 0x26F
inline constexpr u32 IA32_MTRR_FIX4K_C8000 = 0x269;
inline constexpr u32 IA32_MTRR_FIX4K_D0000 = 0x26A;
inline constexpr u32 IA32_MTRR_FIX4K_D8000 = 0x26B;
inline constexpr u32 IA32_MTRR_FIX4K_E0000 = 0x26C;
inline constexpr u32 IA32_MTRR_FIX4K_E8000 = 0x26D;
inline constexpr u32 IA32_MTRR_FIX4K_F0000 = 0x26E;
inline constexpr u32 IA32_MTRR_FIX4K_F8000 = 0x26F;
inline constexpr u32 IA32_MTRR_DEF_TYPE = 0x2FF;

// §12.11.1, Figure 12-5: IA32_MTRRCAP.
inline constexpr u64 MTRRCAP_VCNT_MASK = 0xFF;  // number of variable ranges
inline constexpr u64 MTRRCAP_FIX = u64{1} << 8; // fixed ranges supported
inline constexpr u64 MTRRCAP_WC = u64{1} << 10;
inline constexpr u64 MTRRCAP_SMRR = u64{1} << 11;

// §12.11.2.1, Figure 12-6: IA32_MTRR_DEF_TYPE.
inline constexpr u64 MTRR_DEF_TYPE_TYPE_MASK = 0xFF;
inline constexpr u64 MTRR_DEF_TYPE_FE = u64{1} << 10; // fixed-range MTRRs enabled
inline constexpr u64 MTRR_DEF_TYPE_E = u64{1} << 11;  // MTRRs enabled

// §12.11.2.3, Figure 12-7: IA32_MTRR_PHYSBASEn / IA32_MTRR_PHYSMASKn.
inline constexpr u64 MTRR_PHYSBASE_TYPE_MASK = 0xFF;
inline constexpr u64 MTRR_PHYSMASK_VALID = u64{1} << 11;
inline constexpr unsigned MTRR_ADDR_SHIFT = 12; // PhysBase/PhysMask hold address bits 12..MAXPHYADDR-1

// §12.11.2.2, Table 12-9: the fixed ranges cover [0, 1 MiB), 8 one-byte types per MSR.
inline constexpr u32 MTRR_FIXED_MSR_COUNT = 11;
inline constexpr u64 MTRR_FIXED_END = 1 * MiB;
inline constexpr u64 MTRR_FIX64K_END = 0x80000; // 1 MSR  x 8 x 64 KiB
inline constexpr u64 MTRR_FIX16K_END = 0xC0000; // 2 MSRs x 8 x 16 KiB
inline constexpr u64 MTRR_FIX64K_SIZE = 64 * KiB;
inline constexpr u64 MTRR_FIX16K_SIZE = 16 * KiB;
inline constexpr u64 MTRR_FIX4K_SIZE = 4 * KiB; // 8 MSRs x 8 x 4 KiB
inline constexpr u32 MTRR_FIXED_TYPES_PER_MSR = 8;

// Variable-range MSR pairs start at 0x200 and the next MTRR MSR is FIX64K_00000 at 0x250, so at most 40 pairs
// can exist whatever VCNT says.
inline constexpr u32 MTRR_MAX_VAR = (IA32_MTRR_FIX64K_00000 - IA32_MTRR_PHYSBASE0) / 2;

// Used when the caller does not know MAXPHYADDR (CPUID.80000008H absent: 36 bits on PAE-capable processors,
// SDM Vol. 3A §4.1.4). MAXPHYADDR is at most 52 (§4.1.4); larger values are clamped.
inline constexpr u8 MTRR_DEFAULT_PHYS_ADDR_BITS = 36;
inline constexpr u8 MTRR_MAX_PHYS_ADDR_BITS = 52;

// Table 12-8: memory type encodings usable in MTRRs.
enum class MemType : u8 { UC = 0, WC = 1, WT = 4, WP = 5, WB = 6 };

struct MtrrState {
    u64 cap;                         // IA32_MTRRCAP (0 when MTRRs are not supported)
    u64 def_type;                    // IA32_MTRR_DEF_TYPE (0 when not supported: E clear, so everything is UC)
    u64 fixed[MTRR_FIXED_MSR_COUNT]; // FIX64K_00000, FIX16K_80000, FIX16K_A0000, FIX4K_C0000..FIX4K_F8000
    u32 var_count;                   // min(VCNT, MTRR_MAX_VAR)
    u64 var_base[MTRR_MAX_VAR];
    u64 var_mask[MTRR_MAX_VAR];
    u8 phys_addr_bits; // MAXPHYADDR used to interpret PhysBase/PhysMask
};

class MsrReader {
public:
    virtual u64 rdmsr(u32 msr) const = 0;

protected:
    ~MsrReader() = default;
};

// Reads IA32_MTRRCAP, IA32_MTRR_DEF_TYPE, the fixed-range MSRs (only if MTRRCAP.FIX) and VCNT variable pairs.
// With mtrr_supported false (CPUID.01H:EDX.MTRR[bit 12] clear) no MSR is read and the state says "disabled".
// phys_addr_bits: CPUID.80000008H:EAX[7:0]; 0 means unknown (36 is used).
void mtrr_read(const MsrReader& msr, bool mtrr_supported, u8 phys_addr_bits, MtrrState& out);

// The memory type the MTRRs give physical address pa (§12.11.2, §12.11.4.1):
//   MTRRs disabled (DEF_TYPE.E clear) -> UC;
//   pa < 1 MiB with fixed ranges enabled (DEF_TYPE.FE and MTRRCAP.FIX) -> the fixed-range type;
//   else the valid variable ranges that match: none -> the default type; one, or all the same -> that type;
//   any UC -> UC; only WT and WB -> WT; any other mix is undefined in the SDM and evmm answers UC.
// A reserved type encoding in a register is treated as UC.
MemType mtrr_type(const MtrrState& st, u64 pa);

// True when every byte of [base, base + size) has the same MTRR type, stored in out. False for size 0, a range
// that wraps past 2^64, or a range that mixes types. Walks only the points where some MTRR can change its
// verdict (fixed-range boundaries below 1 MiB, the edges of each variable range), so a query over GiBs costs a
// few dozen steps. A pathological non-contiguous PhysMask that would need more than MTRR_RANGE_MAX_STEPS steps
// gets the safe answer false.
inline constexpr u32 MTRR_RANGE_MAX_STEPS = 4096;
bool mtrr_range_type(const MtrrState& st, u64 base, u64 size, MemType& out);

} // namespace evmm
