#include "vmm/modules/virt_policy.h"

namespace evmm::virt {
namespace {

constexpr CrWrite unchanged(const CrState& s, u64 value) {
    return CrWrite{nullptr, value, s.efer, (s.efer & EFER_LMA) != 0, false, false, false};
}

constexpr CrWrite gp(const CrState& s, const char* why) {
    CrWrite w = unchanged(s, 0);
    w.gp = why;
    return w;
}

constexpr u8 normalized_maxphyaddr(u8 m) { return m == 0 || m > 52 ? 52 : m; }

} // namespace

CrWrite cr0_write(const CrState& s, u64 value) {
    // "#GP(0) if an attempt is made to write a 1 to any reserved bit in CR0[63:32]"; writes of the reserved bits
    // in CR0[31:0] are ignored, and CR0.ET is hardwired to 1 since the Pentium 4 (SDM Vol. 3A §2.5).
    if (value >> 32) return gp(s, "CR0 bits 63:32 are reserved");
    const u64 v = (value & CR0_DEFINED) | CR0_ET;
    if ((v & CR0_PG) && !(v & CR0_PE)) return gp(s, "CR0.PG = 1 with CR0.PE = 0");
    if ((v & CR0_NW) && !(v & CR0_CD)) return gp(s, "CR0.NW = 1 with CR0.CD = 0");
    if (!(v & CR0_WP) && (s.cr4 & CR4_CET_BIT)) return gp(s, "CR0.WP = 0 with CR4.CET = 1");
    const bool pg_on = (v & CR0_PG) && !(s.cr0 & CR0_PG);
    const bool pg_off = !(v & CR0_PG) && (s.cr0 & CR0_PG);
    if (pg_off) {
        // Leaving IA-32e mode is done from compatibility mode (§10.8.5.4); PCIDE needs paging (§4.10.1).
        if (cr_state_64bit_mode(s)) return gp(s, "CR0.PG cleared in 64-bit mode");
        if (s.cr4 & CR4_PCIDE_BIT) return gp(s, "CR0.PG cleared with CR4.PCIDE = 1");
    }
    u64 efer = s.efer;
    if (pg_on && (efer & EFER_LME)) {
        // IA-32e mode activation (§10.8.5): needs PAE; CS.L must be 0 (the switch happens in compatibility mode).
        if (!(s.cr4 & CR4_PAE_BIT)) return gp(s, "CR0.PG with EFER.LME = 1 and CR4.PAE = 0");
        if (s.cs_l) return gp(s, "CR0.PG with EFER.LME = 1 and CS.L = 1");
        efer |= EFER_LMA;
    }
    if (pg_off) efer &= ~EFER_LMA;

    CrWrite w = unchanged(s, v);
    w.efer = efer;
    w.ia32e = (efer & EFER_LMA) != 0;
    const u64 changed = v ^ s.cr0;
    // §4.10.4.1: a MOV to CR0 that changes PG invalidates every TLB entry; WP changes the meaning of cached
    // permissions, so it is flushed as well (emulated writes are rare).
    w.flush_tlb = (changed & (CR0_PG | CR0_WP)) != 0;
    // §4.4.1: PAE paging after a MOV to CR0 that modifies CD, NW or PG reloads the PDPTEs.
    w.load_pdptes = (v & CR0_PG) && (s.cr4 & CR4_PAE_BIT) && !w.ia32e && (changed & (CR0_PG | CR0_CD | CR0_NW));
    return w;
}

CrWrite cr4_write(const CrState& s, u64 value, u64 cr4_allowed) {
    if (value & CR4_VMXE_BIT) return gp(s, "CR4.VMXE: guest0 has no VMX");
    if (value & ~cr4_allowed) return gp(s, "CR4 bit not allowed by IA32_VMX_CR4_FIXED1 (reserved or unsupported)");
    const bool lma = (s.efer & EFER_LMA) != 0;
    if (lma && !(value & CR4_PAE_BIT)) return gp(s, "CR4.PAE cleared in IA-32e mode");
    if ((value & CR4_PCIDE_BIT) && !(s.cr4 & CR4_PCIDE_BIT)) {
        if (!lma) return gp(s, "CR4.PCIDE set outside IA-32e mode");
        if (s.cr3 & CR3_PCID_MASK) return gp(s, "CR4.PCIDE set with CR3[11:0] != 0");
    }
    if (lma && ((value ^ s.cr4) & CR4_LA57_BIT)) return gp(s, "CR4.LA57 changed in IA-32e mode");
    if ((value & CR4_CET_BIT) && !(s.cr0 & CR0_WP)) return gp(s, "CR4.CET = 1 with CR0.WP = 0");

    CrWrite w = unchanged(s, value);
    const u64 changed = value ^ s.cr4;
    // §4.10.4.1: changing PGE, PCIDE (1 -> 0), PAE, PSE, SMEP, SMAP, PKE or LA57 may invalidate cached
    // translations; flush on any of them.
    w.flush_tlb = (changed & (CR4_PSE_BIT | CR4_PAE_BIT | CR4_PGE_BIT | CR4_PCIDE_BIT | CR4_SMEP_BIT | CR4_SMAP_BIT |
                              CR4_PKE_BIT | CR4_LA57_BIT)) != 0;
    // §4.4.1: PAE paging after a MOV to CR4 that modifies PAE, PGE, PSE or SMEP reloads the PDPTEs.
    w.load_pdptes = (s.cr0 & CR0_PG) && (value & CR4_PAE_BIT) && !lma &&
                    (changed & (CR4_PAE_BIT | CR4_PGE_BIT | CR4_PSE_BIT | CR4_SMEP_BIT));
    return w;
}

CrWrite cr3_write(const CrState& s, u64 value, u8 maxphyaddr) {
    const bool lma = (s.efer & EFER_LMA) != 0;
    u64 v = cr_state_64bit_mode(s) ? value : (value & 0xFFFFFFFF); // a 32-bit operand outside 64-bit mode
    bool noflush = false;
    if (lma && (s.cr4 & CR4_PCIDE_BIT)) {
        // §4.10.4.1: bit 63 set keeps the PCID's cached translations; it is not part of CR3.
        noflush = (v & CR3_PCID_NOFLUSH) != 0;
        v &= ~CR3_PCID_NOFLUSH;
    }
    if (lma && (v & (~u64{0} << normalized_maxphyaddr(maxphyaddr)))) return gp(s, "CR3 bits at or above MAXPHYADDR");
    CrWrite w = unchanged(s, v);
    w.flush_tlb = !noflush;
    w.retain_global = true; // MOV to CR3 never drops global translations (§4.10.4.1)
    w.load_pdptes = (s.cr0 & CR0_PG) && (s.cr4 & CR4_PAE_BIT) && !lma;
    return w;
}

size_t log_sanitize(const volatile u8* text, size_t len, char* out) {
    size_t n = len;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) --n;
    for (size_t i = 0; i < n; ++i) {
        const u8 c = text[i];
        out[i] = c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '.';
    }
    out[n] = '\0';
    return n;
}

} // namespace evmm::virt
