#include "vmm/vmx/cr_access.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmx.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/event.h"
#include "vmm/guest/guest.h"
#include "vmm/modules/virt_policy.h"
#include "vmm/vmx/vmexit.h"
#include "vmm/vmx/vmx_setup.h"

namespace evmm {
namespace {

// IA32_VMX_EPT_VPID_CAP INVVPID types (SDM Vol. 3D A.10).
constexpr u64 VPID_CAP_INVVPID_SINGLE = bit(41);
constexpr u64 VPID_CAP_INVVPID_ALL = bit(42);

u64 g_cr0_mask, g_cr4_mask;
u64 g_cr0_fixed0, g_cr0_fixed1, g_cr4_fixed0, g_cr4_fixed1;
u64 g_vpid_cap;
u8 g_maxphyaddr;

constexpr VmcsField PDPTE_FIELDS[4] = {VmcsField::GUEST_PDPTE0, VmcsField::GUEST_PDPTE1, VmcsField::GUEST_PDPTE2,
                                       VmcsField::GUEST_PDPTE3};

enum class Cr : u8 { CR0 = 0, CR3 = 3, CR4 = 4, CR8 = 8 };

inline u64 read_cr8() {
    u64 v;
    asm volatile("mov %%cr8, %0" : "=r"(v));
    return v;
}
inline void write_cr8(u64 v) { asm volatile("mov %0, %%cr8" : : "r"(v) : "memory"); }

virt::CrState guest_state(const Gcpu& g) {
    return virt::CrState{
        virt::cr_guest_view(vmread(VmcsField::GUEST_CR0), g.cr0_shadow, g_cr0_mask), vmread(VmcsField::GUEST_CR3),
        virt::cr_guest_view(vmread(VmcsField::GUEST_CR4), g.cr4_shadow, g_cr4_mask), vmread(VmcsField::GUEST_IA32_EFER),
        (vmread(VmcsField::GUEST_CS_ACCESS_RIGHTS) & VMX_AR_L) != 0};
}

// PAE paging: the four PDPTEs at CR3[31:5] go to GUEST_PDPTE0-3 (SDM Vol. 3C §27.3.2.4 with EPT; Vol. 3A §4.4.1).
// False (#GP(0)) when a present entry has a reserved bit set, or the table lies where evmm cannot read it (its own
// region: the guest would get an EPT violation there anyway).
bool load_pdptes(Gcpu& g, u64 cr3) {
    const u64 pa = cr3 & virt::CR3_PAE_PDPT_MASK;
    if (!g.guest->phys_readable(pa, sizeof(u64) * 4)) return false;
    const volatile u64* table = reinterpret_cast<const volatile u64*>(static_cast<uptr>(pa));
    u64 e[4];
    for (u32 i = 0; i < 4; ++i) {
        e[i] = table[i];
        if (!virt::pdpte_valid(e[i], g_maxphyaddr)) return false;
    }
    for (u32 i = 0; i < 4; ++i) vmwrite(PDPTE_FIELDS[i], e[i]);
    return true;
}

// The guest's cached translations (VPID-tagged linear and combined mappings, SDM Vol. 3C §29.4). Without VPIDs
// every VM entry already flushes them.
void flush_guest_tlb(const Gcpu& g) {
    if (g.arch.vpid == 0) return;
    if (g_vpid_cap & VPID_CAP_INVVPID_SINGLE)
        (void)invvpid(InvvpidType::SingleContext, static_cast<u16>(g.arch.vpid));
    else if (g_vpid_cap & VPID_CAP_INVVPID_ALL)
        (void)invvpid(InvvpidType::AllContexts, 0);
}

void refuse(Gcpu& g, Cr cr, const char* why) {
    LOG_DEBUG("guest0: MOV to CR%u refused with #GP(0): %s", static_cast<unsigned>(cr), why);
    gcpu_inject_exception(g, Vector::GP, 0);
}

// Applies a checked write of CR0, CR3 or CR4, then skips the instruction.
void commit(Gcpu& g, Cr cr, const virt::CrState& s, const virt::CrWrite& w) {
    if (w.gp != nullptr) return refuse(g, cr, w.gp);
    if (w.load_pdptes && !load_pdptes(g, cr == Cr::CR3 ? w.value : s.cr3))
        return refuse(g, cr, "PAE PDPTE with a reserved bit set, or unreadable");
    switch (cr) {
    case Cr::CR0:
        vmwrite(VmcsField::GUEST_CR0, virt::cr0_real(w.value, g_cr0_fixed0, g_cr0_fixed1));
        vmwrite(VmcsField::CR0_READ_SHADOW, w.value);
        g.cr0_shadow = w.value;
        // VM entries and exits never load CR0.CD and CR0.NW (SDM Vol. 3C §27.3.2.1, §28.5.1): host and guest share
        // them, so a guest change takes effect by changing them here.
        if ((w.value ^ s.cr0) & (CR0_CD | CR0_NW))
            write_cr0((read_cr0() & ~(CR0_CD | CR0_NW)) | (w.value & (CR0_CD | CR0_NW)));
        break;
    case Cr::CR4:
        vmwrite(VmcsField::GUEST_CR4, virt::cr4_real(w.value, g_cr4_fixed0, g_cr4_fixed1));
        vmwrite(VmcsField::CR4_READ_SHADOW, w.value);
        g.cr4_shadow = w.value;
        break;
    default: vmwrite(VmcsField::GUEST_CR3, w.value); break;
    }
    if (w.efer != s.efer) {
        // IA-32e mode (de)activation: EFER.LMA and the "IA-32e mode guest" entry control must agree when VM entry
        // loads IA32_EFER (SDM Vol. 3C §27.3.1.1).
        vmwrite(VmcsField::GUEST_IA32_EFER, w.efer);
        const u64 entry = vmread(VmcsField::VM_ENTRY_CONTROLS);
        vmwrite(VmcsField::VM_ENTRY_CONTROLS,
                w.ia32e ? (entry | VM_ENTRY_IA32E_MODE_GUEST) : (entry & ~u64{VM_ENTRY_IA32E_MODE_GUEST}));
    }
    if (w.flush_tlb) flush_guest_tlb(g);
    gcpu_skip_instruction(g);
}

void mov_to_cr(Gcpu& g, Cr cr, u64 value) {
    const virt::CrState s = guest_state(g);
    if (!virt::cr_state_64bit_mode(s)) value &= 0xFFFFFFFF; // outside 64-bit mode the operand is 32-bit
    switch (cr) {
    case Cr::CR0: return commit(g, cr, s, virt::cr0_write(s, value));
    case Cr::CR4: return commit(g, cr, s, virt::cr4_write(s, value, g_cr4_fixed1));
    case Cr::CR3: return commit(g, cr, s, virt::cr3_write(s, value, g_maxphyaddr));
    case Cr::CR8:
        // The guest owns the local APIC's TPR (no TPR shadow): CR8-load exiting is only a CPU's default setting.
        if (value & ~virt::CR8_TPR_MASK) return refuse(g, cr, "CR8 bits 63:4 are reserved");
        write_cr8(value);
        return gcpu_skip_instruction(g);
    }
}

void mov_from_cr(Gcpu& g, Cr cr, u32 gpr) {
    u64 value = cr == Cr::CR3 ? vmread(VmcsField::GUEST_CR3) : read_cr8();
    if (!gcpu_in_64bit_mode(g)) value &= 0xFFFFFFFF;
    gcpu_set_gpr(g, gpr, value);
    gcpu_skip_instruction(g);
}

void on_cr_access(Gcpu& g) {
    const CrAccessQual q = decode_cr_access_qual(vmread(VmcsField::EXIT_QUALIFICATION));
    const Cr cr = static_cast<Cr>(q.cr);
    if (q.cr != 0 && q.cr != 3 && q.cr != 4 && q.cr != 8) [[unlikely]] {
        static char what[80];
        format(what, sizeof what, "control-register access exit for CR%u (not 0, 3, 4 or 8)", q.cr);
        gcpu_fatal(g, what);
    }
    switch (q.access) {
    case CrAccessType::MOV_TO_CR: return mov_to_cr(g, cr, gcpu_gpr(g, q.gpr));
    case CrAccessType::MOV_FROM_CR:
        if (cr != Cr::CR3 && cr != Cr::CR8) [[unlikely]]
            gcpu_fatal(g, "MOV from CR0/CR4 exited (reads are never intercepted)");
        return mov_from_cr(g, cr, q.gpr);
    case CrAccessType::CLTS: {
        const virt::CrState s = guest_state(g);
        return commit(g, Cr::CR0, s, virt::cr0_write(s, s.cr0 & ~CR0_TS));
    }
    case CrAccessType::LMSW: {
        const virt::CrState s = guest_state(g);
        return commit(g, Cr::CR0, s, virt::cr0_write(s, virt::lmsw_value(s.cr0, q.lmsw_data)));
    }
    }
}

// Stage 5: masks, and read shadows that hold what guest0 believes (the lead's vmcs setup put its initial CR0/CR4
// in Gcpu::cr0_shadow / cr4_shadow; a zero CR0 means it did not: CR0.ET always reads 1, so take GUEST_CR0/CR4).
void on_gcpu_init(Gcpu& g) {
    if (g.cr0_shadow == 0) {
        g.cr0_shadow = vmread(VmcsField::GUEST_CR0);
        g.cr4_shadow = vmread(VmcsField::GUEST_CR4);
    }
    g.cr4_shadow &= ~virt::CR4_VMXE_BIT;
    vmwrite(VmcsField::CR0_GUEST_HOST_MASK, g_cr0_mask);
    vmwrite(VmcsField::CR4_GUEST_HOST_MASK, g_cr4_mask);
    vmwrite(VmcsField::CR0_READ_SHADOW, g.cr0_shadow);
    vmwrite(VmcsField::CR4_READ_SHADOW, g.cr4_shadow);
}

} // namespace

bool cr_load_cr3(Gcpu& g, u64 cr3) {
    const virt::CrState s = guest_state(g);
    // PAE paging (CR0.PG, CR4.PAE, not IA-32e): the PDPTEs come with the new CR3 (SDM Vol. 3A §4.4.1).
    const bool pae = (s.cr0 & CR0_PG) && (s.cr4 & virt::CR4_PAE_BIT) && !(s.efer & EFER_LMA);
    if (pae && !load_pdptes(g, cr3)) return false;
    vmwrite(VmcsField::GUEST_CR3, cr3);
    flush_guest_tlb(g);
    return true;
}

void cr_access_init() {
    const VmxCapMsrs& c = vmx_state().caps;
    g_cr0_fixed0 = c.cr0_fixed0;
    g_cr0_fixed1 = c.cr0_fixed1;
    g_cr4_fixed0 = c.cr4_fixed0;
    g_cr4_fixed1 = c.cr4_fixed1;
    g_cr0_mask = virt::cr0_host_mask(c.cr0_fixed0, c.cr0_fixed1);
    g_cr4_mask = virt::cr4_host_mask(c.cr4_fixed0, c.cr4_fixed1);
    g_vpid_cap = c.ept_vpid_cap;
    g_maxphyaddr = c.phys_addr_bits;
    vmexit_register(ExitReason::CR_ACCESS, on_cr_access);
    event_register(Event::GcpuInit, on_gcpu_init);
}

} // namespace evmm
