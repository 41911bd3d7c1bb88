#include "vmm/svm/vmcb_setup.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/msr.h"
#include "vmm/guest/event.h"
#include "vmm/guest/guest.h"
#include "vmm/svm/svm_cr.h"
#include "vmm/svm/svm_dr.h"
#include "vmm/svm/svm_setup.h"
#include "vmm/vmx/bitmaps.h"

namespace evmm {
namespace {

constexpr u64 DR7_INIT = 0x400;                     // APM Vol. 2 §13.1.1.5: DR7 after reset
constexpr u64 DR6_INIT = 0xFFFF0FF0;                // §13.1.1.4
constexpr u64 PAT_POWER_ON = 0x0007040600070406ull; // §7.8.2
constexpr u32 MSRPM_PAGES = 2, IOPM_PAGES = 3;      // §15.11 (8 KiB), §15.10.1 (12 KiB)
constexpr u32 VMX_MSR_RANGE_BYTES = 0x400;          // one VT-x bitmap quarter: 8192 MSRs, a bit each
constexpr u32 MSRPM_HIGH_OFFSET = 0x800;            // §15.11: C000_0000h-C000_1FFFh
constexpr u32 MSR_HIGH_FIRST = 0xC0000000;
constexpr u32 MSRPM_RW = 3; // the read and the write bit of one MSR

u64 g_msrpm_pa, g_iopm_pa;

} // namespace

// §15.11: the MSRPM holds two bits per MSR (read, write) for 0000_0000h-0000_1FFFh at 000h, C000_0000h-C000_1FFFh
// at 800h and C001_0000h-C001_1FFFh at 1000h; MSRs outside these always exit, as outside VT-x's two ranges, so the
// third range exits in full. §15.10.1: the IOPM is one bit per port, ports 0000h-FFFFh in order.
Status svm_permission_maps_init(PageHeap& heap) {
    auto* msrpm = static_cast<u8*>(heap.alloc_pages(MSRPM_PAGES));
    auto* iopm = static_cast<u8*>(heap.alloc_pages(IOPM_PAGES));
    if (msrpm == nullptr || iopm == nullptr) return Status::error("out of heap pages", "svm permission maps");
    const auto* vmx_msr = reinterpret_cast<const u8*>(vmx_msr_bitmap_pa());
    for (u32 range = 0; range < 2; ++range) {
        const u8* rd = vmx_msr + range * VMX_MSR_RANGE_BYTES;
        const u8* wr = vmx_msr + 2 * VMX_MSR_RANGE_BYTES + range * VMX_MSR_RANGE_BYTES;
        u8* out = msrpm + range * MSRPM_HIGH_OFFSET;
        for (u32 i = 0; i < 8192; ++i) {
            const u32 r = (rd[i / 8] >> (i % 8)) & 1, w = (wr[i / 8] >> (i % 8)) & 1;
            out[i / 4] = static_cast<u8>(out[i / 4] | ((r | (w << 1)) << (2 * (i % 4))));
        }
    }
    __builtin_memset(msrpm + 0x1000, 0xFF, 0x800);
    // EFER always exits (vmm/svm/svm_cr.h): the guest must not clear the VMCB's EFER.SVME, and reads it clear.
    const u32 efer = static_cast<u32>(Msr::IA32_EFER) - MSR_HIGH_FIRST;
    msrpm[MSRPM_HIGH_OFFSET + efer / 4] =
        static_cast<u8>(msrpm[MSRPM_HIGH_OFFSET + efer / 4] | (MSRPM_RW << (2 * (efer % 4))));
    __builtin_memcpy(iopm, reinterpret_cast<const void*>(vmx_io_bitmap_pa(0)), PAGE_SIZE);
    __builtin_memcpy(iopm + PAGE_SIZE, reinterpret_cast<const void*>(vmx_io_bitmap_pa(1)), PAGE_SIZE);
    g_msrpm_pa = heap.virt_to_phys(msrpm);
    g_iopm_pa = heap.virt_to_phys(iopm);
    return Status::success();
}

Status svm_load_guest_state(Gcpu& g, const evmm_gcpu_state_t& s) {
    VmcbSave& v = vmcb_of(g).save;
    for (u32 i = 0; i < EVMM_SEG_COUNT; ++i)
        vmcb_segment(vmcb_of(g), i) =
            VmcbSegment{s.seg[i].selector, svm_attrib_from_vmx(s.seg[i].attributes), s.seg[i].limit, s.seg[i].base};
    v.gdtr = VmcbSegment{0, 0, s.gdtr.limit, s.gdtr.base};
    v.idtr = VmcbSegment{0, 0, s.idtr.limit, s.idtr.base};
    v.cpl = static_cast<u8>((s.seg[EVMM_SEG_SS].attributes >> 5) & 3);
    // §15.5.1: VMRUN requires the guest's EFER.SVME (the guest reads it set; this slice does not hide it).
    v.efer = s.efer | EFER_SVME;
    v.cr0 = s.cr0;
    v.cr3 = s.cr3;
    v.cr4 = s.cr4;
    v.dr7 = DR7_INIT;
    v.dr6 = DR6_INIT;
    vmcb_of(g).control.intercept_dr = svm_dr_intercepts(v.dr7); // DR7 writes (vmm/svm/svm_dr.h)
    v.rflags = s.rflags;
    v.rip = s.rip;
    v.rsp = s.gp[EVMM_GP_RSP];
    v.rax = s.gp[EVMM_GP_RAX];
    v.g_pat = PAT_POWER_ON;
    g.cr0_shadow = s.cr0;
    g.cr4_shadow = s.cr4;
    for (u32 i = 0; i < EVMM_GP_COUNT; ++i) g.regs.gpr[i] = s.gp[i];
    return Status::success();
}

// Appendix B, §15.5-§15.13: what exits. CR0/CR4 writes do (vmm/svm/svm_cr.h); CR3 and DR accesses do not: with
// nested paging the guest owns its paging and evmm's memory is out of the nested tables (docs/svm.md).
Status gcpu_vmcb_init(Gcpu& g, PageHeap& heap, const evmm_gcpu_state_t& st, u64 ncr3) {
    auto* vmcb = static_cast<Vmcb*>(heap.alloc_pages(1));
    if (vmcb == nullptr) return Status::error("out of heap pages", "VMCB");
    g.arch.vmcs_pa = heap.virt_to_phys(vmcb);
    VmcbControl& c = vmcb->control;
    c.intercept_cr = svm_cr_intercepts(); // §15.9: CR0/CR4 writes (vmm/svm/svm_cr.h)
    c.intercept_exc = svm_exception_intercepts();
    c.intercept_misc = SvmIntercept1::NMI | SvmIntercept1::INIT | SvmIntercept1::CPUID | SvmIntercept1::INVD |
                       SvmIntercept1::RDPMC | SvmIntercept1::INVLPGA | SvmIntercept1::IOIO_PROT |
                       SvmIntercept1::MSR_PROT | SvmIntercept1::SHUTDOWN;
    // HLT is not intercepted (as under VT-x): the CPU halts in the guest until an interrupt, an NMI (which exits)
    // or an INIT. Task switches are not intercepted: unlike VMX (where every one exits), SVM lets the CPU perform them
    // for the guest (AMD APM Vol. 2 chapter 15: the task-switch intercept is one of the optional ones), as bare metal
    // does. §15.5.1: VMRUN must be intercepted; the other SVM instructions are #UD for the guest (virt-instructions).
    c.intercept_svm = SvmIntercept2::VMRUN | SvmIntercept2::VMMCALL | SvmIntercept2::VMLOAD | SvmIntercept2::VMSAVE |
                      SvmIntercept2::STGI | SvmIntercept2::CLGI | SvmIntercept2::SKINIT | SvmIntercept2::XSETBV |
                      svm_quirk_intercepts2();
    c.iopm_base_pa = g_iopm_pa;
    c.msrpm_base_pa = g_msrpm_pa;
    // §15.16: ASID 0 is the host's; guest0's vCPU of a CPU has one, the TEE's (docs/tee.md) the next one, so a
    // world switch keeps both worlds' translations (with fewer than 3 ASIDs they share it: gcpu_switch flushes).
    const u32 world = g.guest != nullptr && !g.guest->owns_platform() ? 1 : 0;
    g.arch.vpid = 1 + (g.cpu_id + world) % (svm_features().asids - 1);
    c.guest_asid = g.arch.vpid;
    c.tlb_control = TLB_CONTROL_FLUSH_ALL; // flush everything at the first VMRUN (§15.16.1)
    c.np_enable = 1;                       // §15.25.3
    c.n_cr3 = ncr3;
    g.arch.eptp = ncr3;
    EVMM_TRY(svm_load_guest_state(g, st));
    event_raise(Event::GcpuInit, g);
    return Status::success();
}

} // namespace evmm
