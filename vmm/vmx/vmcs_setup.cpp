#include "vmm/vmx/vmcs_setup.h"

#include "vmm/vmx/bitmaps.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmx.h"
#include "arch/x86_64/vmx_controls.h"
#include "lib/log.h"
#include "vmm/guest/event.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/world.h"
#include "vmm/vmx/vmexit.h"
#include "vmm/vmx/vmx_setup.h"

namespace evmm {
namespace {

constexpr u64 DR7_INIT = 0x400;                     // SDM Vol. 3B §18.2.4: DR7 after reset (bit 10 reads as 1)
constexpr u64 PAT_POWER_ON = 0x0007040600070406ull; // SDM Vol. 3A §13.12.4, Table 13-12

Status write(VmcsField f, u64 v) {
    const VmxResult r = vmwrite(f, v);
    if (r == VmxResult::Ok) return Status::success();
    const u32 err = r == VmxResult::FailValid ? static_cast<u32>(vmread(VmcsField::VM_INSTRUCTION_ERROR)) : 0;
    return Status::error(r == VmxResult::FailValid ? vm_instruction_error_text(err) : "VMWRITE: VMfailInvalid",
                         vmcs_field_name(f), v, err);
}

// Optional features: asked for only where the CPU allows them to be 1 (A.3.3), so guests keep RDTSCP & co.
u32 optional_bits(u32 wanted, u64 cap) { return wanted & allowed1(cap); }

Status set_controls(Gcpu& g, u64 eptp) {
    const VmxState& v = vmx_state();
    const VmxCapMsrs& c = v.caps;
    const ControlRequest& rq = vmx_requested_controls();
    u32 pin, proc, proc2, exit, entry;
    EVMM_TRY(vmx_adjust_controls(rq.pin, c.pinbased, "pin-based controls", pin));
    EVMM_TRY(
        vmx_adjust_controls(rq.proc | PROC_ACTIVATE_SECONDARY, c.procbased, "primary processor-based controls", proc));
    const u32 want2 =
        rq.proc2 | PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | (v.features.vpid ? PROC2_ENABLE_VPID : 0) |
        optional_bits(PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES_XRSTORS, c.procbased2);
    EVMM_TRY(vmx_adjust_controls(want2, c.procbased2, "secondary processor-based controls", proc2));
    // 64-bit host; guest EFER and PAT switched by the CPU on every exit/entry (SDM Vol. 3C §25.7.1, §25.8.1).
    const u32 want_exit = rq.exit | VM_EXIT_HOST_ADDRESS_SPACE_SIZE | VM_EXIT_SAVE_IA32_EFER | VM_EXIT_LOAD_IA32_EFER |
                          VM_EXIT_SAVE_IA32_PAT | VM_EXIT_LOAD_IA32_PAT;
    EVMM_TRY(vmx_adjust_controls(want_exit, c.exit, "VM-exit controls", exit));
    EVMM_TRY(vmx_adjust_controls(rq.entry | VM_ENTRY_LOAD_IA32_EFER | VM_ENTRY_LOAD_IA32_PAT, c.entry,
                                 "VM-entry controls", entry));
    EVMM_TRY(write(VmcsField::PIN_BASED_VM_EXEC_CONTROLS, pin));
    EVMM_TRY(write(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, proc));
    EVMM_TRY(write(VmcsField::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, proc2));
    EVMM_TRY(write(VmcsField::VM_EXIT_CONTROLS, exit));
    EVMM_TRY(write(VmcsField::VM_ENTRY_CONTROLS, entry));
    EVMM_TRY(write(VmcsField::EXCEPTION_BITMAP, rq.exception_bitmap));
    EVMM_TRY(write(VmcsField::PAGE_FAULT_ERROR_CODE_MASK, 0));
    EVMM_TRY(write(VmcsField::PAGE_FAULT_ERROR_CODE_MATCH, 0));
    EVMM_TRY(write(VmcsField::CR3_TARGET_COUNT, 0));
    EVMM_TRY(write(VmcsField::VM_EXIT_MSR_STORE_COUNT, 0));
    EVMM_TRY(write(VmcsField::VM_EXIT_MSR_LOAD_COUNT, 0));
    EVMM_TRY(write(VmcsField::VM_ENTRY_MSR_LOAD_COUNT, 0));
    if (g.world != nullptr) {
        // A world of a TEE configuration (docs/tee.md): the CPU stores the syscall MSRs in the world's array at every
        // VM exit (SDM Vol. 3C §25.7.2, §28.4) and loads them from it at every VM entry (§25.8.2, §27.4), so the
        // world switch leaves them alone. One array for both is allowed: the store precedes any later load.
        const u64 pa = g.world->msrs_pa;
        EVMM_TRY(write(VmcsField::VM_EXIT_MSR_STORE_ADDR, pa));
        EVMM_TRY(write(VmcsField::VM_EXIT_MSR_STORE_COUNT, WORLD_MSR_COUNT));
        EVMM_TRY(write(VmcsField::VM_ENTRY_MSR_LOAD_ADDR, pa));
        EVMM_TRY(write(VmcsField::VM_ENTRY_MSR_LOAD_COUNT, WORLD_MSR_COUNT));
    }
    EVMM_TRY(write(VmcsField::VM_ENTRY_INTERRUPTION_INFO, 0));
    EVMM_TRY(write(VmcsField::EPT_POINTER, eptp));
    if (proc2 & PROC2_ENABLE_XSAVES_XRSTORS) // SDM Vol. 3C §26.3: XSAVES/XRSTORS exit only for bits set here
        EVMM_TRY(write(VmcsField::XSS_EXITING_BITMAP, 0));
    if (proc2 & PROC2_ENABLE_VPID) {
        // VPID 0 is the host's (SDM Vol. 3C §26.3.1.1); each guest's vCPUs have their own.
        g.arch.vpid = g.cpu_id + 1 + (g.guest != nullptr ? g.guest->id() : 0) * EVMM_MAX_CPUS;
        EVMM_TRY(write(VmcsField::VIRTUAL_PROCESSOR_ID, g.arch.vpid));
    }
    g.arch.eptp = eptp;
    // The MSR and I/O bitmaps the modules' intercepts filled (vmm/vmx/bitmaps.h), when their controls are on.
    if (proc & PROC_USE_MSR_BITMAPS) EVMM_TRY(write(VmcsField::MSR_BITMAPS_ADDR, vmx_msr_bitmap_pa()));
    if (proc & PROC_USE_IO_BITMAPS) {
        EVMM_TRY(write(VmcsField::IO_BITMAP_A_ADDR, vmx_io_bitmap_pa(0)));
        EVMM_TRY(write(VmcsField::IO_BITMAP_B_ADDR, vmx_io_bitmap_pa(1)));
    }
    return write(VmcsField::VMCS_LINK_POINTER, VMCS_LINK_POINTER_NONE);
}

Status set_host_state(const HostTables& h) {
    // SDM Vol. 3C §25.5: the state loaded on every VM exit. HOST_RSP and HOST_RIP are written by vmx_entry.S.
    EVMM_TRY(write(VmcsField::HOST_CR0, read_cr0()));
    EVMM_TRY(write(VmcsField::HOST_CR3, read_cr3()));
    EVMM_TRY(write(VmcsField::HOST_CR4, read_cr4()));
    EVMM_TRY(write(VmcsField::HOST_CS_SELECTOR, static_cast<u16>(Selector::Code64)));
    EVMM_TRY(write(VmcsField::HOST_SS_SELECTOR, static_cast<u16>(Selector::Data)));
    EVMM_TRY(write(VmcsField::HOST_DS_SELECTOR, static_cast<u16>(Selector::Data)));
    EVMM_TRY(write(VmcsField::HOST_ES_SELECTOR, static_cast<u16>(Selector::Data)));
    EVMM_TRY(write(VmcsField::HOST_FS_SELECTOR, static_cast<u16>(Selector::Null)));
    EVMM_TRY(write(VmcsField::HOST_GS_SELECTOR, static_cast<u16>(Selector::Null)));
    EVMM_TRY(write(VmcsField::HOST_TR_SELECTOR, static_cast<u16>(Selector::Tss)));
    EVMM_TRY(write(VmcsField::HOST_FS_BASE, 0));
    EVMM_TRY(write(VmcsField::HOST_GS_BASE, h.gs_base));
    EVMM_TRY(write(VmcsField::HOST_TR_BASE, reinterpret_cast<uptr>(h.tss)));
    EVMM_TRY(write(VmcsField::HOST_GDTR_BASE, reinterpret_cast<uptr>(h.gdt)));
    EVMM_TRY(write(VmcsField::HOST_IDTR_BASE, reinterpret_cast<uptr>(h.idt)));
    EVMM_TRY(write(VmcsField::HOST_IA32_SYSENTER_CS, 0));
    EVMM_TRY(write(VmcsField::HOST_IA32_SYSENTER_ESP, 0));
    EVMM_TRY(write(VmcsField::HOST_IA32_SYSENTER_EIP, 0));
    EVMM_TRY(write(VmcsField::HOST_IA32_EFER, rdmsr(Msr::IA32_EFER)));
    // IA32_PAT exists when CPUID.1:EDX.PAT (bit 16) says so (SDM Vol. 3A §13.12.1), which evmm does not check: without
    // it the host keeps the power-up PAT (Table 13-12), which is what the processor uses then.
    constexpr u64 PAT_POWER_UP = 0x0007040600070406;
    u64 pat = PAT_POWER_UP;
    if (!rdmsr_safe(Msr::IA32_PAT, pat)) {
        LOG_WARN("msr 0x%x not readable on this CPU: the host PAT is the power-up value 0x%lx",
                 static_cast<u32>(Msr::IA32_PAT), PAT_POWER_UP);
        pat = PAT_POWER_UP;
    }
    return write(VmcsField::HOST_IA32_PAT, pat);
}

} // namespace

Status gcpu_load_guest_state(Gcpu& g, const evmm_gcpu_state_t& s, u32 activity) {
    const VmxCapMsrs& c = vmx_state().caps;
    // Unrestricted guest frees CR0.PE and CR0.PG from the fixed-1 rule (SDM Vol. 3C §27.3.1.1); the guest sees
    // its own values through the read shadows (set by the CR-access module at GcpuInit from g.cr0/4_shadow).
    const u64 cr0 = vmx_fixed_bits_apply(s.cr0, c.cr0_fixed0 & ~(CR0_PE | CR0_PG), c.cr0_fixed1);
    const u64 cr4 = vmx_fixed_bits_apply(s.cr4, c.cr4_fixed0, c.cr4_fixed1);
    g.cr0_shadow = s.cr0;
    g.cr4_shadow = s.cr4;
    EVMM_TRY(write(VmcsField::GUEST_CR0, cr0));
    EVMM_TRY(write(VmcsField::GUEST_CR3, s.cr3));
    EVMM_TRY(write(VmcsField::GUEST_CR4, cr4));
    EVMM_TRY(write(VmcsField::CR0_READ_SHADOW, s.cr0));
    EVMM_TRY(write(VmcsField::CR4_READ_SHADOW, s.cr4));
    constexpr const VmcsSegmentFields(&SEGS)[EVMM_SEG_COUNT] = VMCS_GUEST_SEGMENTS;
    static_assert(EVMM_SEG_ES == 0 && EVMM_SEG_CS == 1 && EVMM_SEG_SS == 2 && EVMM_SEG_DS == 3 && EVMM_SEG_FS == 4 &&
                  EVMM_SEG_GS == 5 && EVMM_SEG_LDTR == 6 && EVMM_SEG_TR == 7);
    for (u32 i = 0; i < EVMM_SEG_COUNT; ++i) {
        EVMM_TRY(write(SEGS[i].selector, s.seg[i].selector));
        EVMM_TRY(write(SEGS[i].base, s.seg[i].base));
        EVMM_TRY(write(SEGS[i].limit, s.seg[i].limit));
        EVMM_TRY(write(SEGS[i].access_rights, s.seg[i].attributes));
    }
    EVMM_TRY(write(VmcsField::GUEST_GDTR_BASE, s.gdtr.base));
    EVMM_TRY(write(VmcsField::GUEST_GDTR_LIMIT, s.gdtr.limit));
    EVMM_TRY(write(VmcsField::GUEST_IDTR_BASE, s.idtr.base));
    EVMM_TRY(write(VmcsField::GUEST_IDTR_LIMIT, s.idtr.limit));
    EVMM_TRY(write(VmcsField::GUEST_DR7, DR7_INIT));
    EVMM_TRY(write(VmcsField::GUEST_RSP, s.gp[EVMM_GP_RSP]));
    EVMM_TRY(write(VmcsField::GUEST_RIP, s.rip));
    EVMM_TRY(write(VmcsField::GUEST_RFLAGS, s.rflags));
    EVMM_TRY(write(VmcsField::GUEST_ACTIVITY_STATE, activity));
    EVMM_TRY(write(VmcsField::GUEST_INTERRUPTIBILITY_STATE, 0));
    EVMM_TRY(write(VmcsField::GUEST_PENDING_DEBUG_EXCEPTIONS, 0));
    EVMM_TRY(write(VmcsField::GUEST_IA32_DEBUGCTL, 0));
    EVMM_TRY(write(VmcsField::GUEST_IA32_SYSENTER_CS, 0));
    EVMM_TRY(write(VmcsField::GUEST_IA32_SYSENTER_ESP, 0));
    EVMM_TRY(write(VmcsField::GUEST_IA32_SYSENTER_EIP, 0));
    EVMM_TRY(write(VmcsField::GUEST_IA32_EFER, s.efer));
    EVMM_TRY(write(VmcsField::GUEST_IA32_PAT, PAT_POWER_ON));
    // SDM Vol. 3C §27.3.1.1: "IA-32e mode guest" must equal the guest's EFER.LMA.
    const u64 entry = vmread(VmcsField::VM_ENTRY_CONTROLS);
    EVMM_TRY(write(VmcsField::VM_ENTRY_CONTROLS,
                   (s.efer & EFER_LMA) ? entry | VM_ENTRY_IA32E_MODE_GUEST : entry & ~u64{VM_ENTRY_IA32E_MODE_GUEST}));
    for (u32 i = 0; i < EVMM_GP_COUNT; ++i) g.regs.gpr[i] = s.gp[i];
    return Status::success();
}

Status gcpu_vmcs_init(Gcpu& g, PageHeap& heap, const HostTables& host, const evmm_gcpu_state_t& st, u64 eptp,
                      u32 activity) {
    // SDM Vol. 3C §25.2: a VMCS region starts with the revision identifier; VMCLEAR then VMPTRLD make it current.
    auto* vmcs = static_cast<u32*>(heap.alloc_pages(1));
    if (vmcs == nullptr) return Status::error("out of heap pages", "VMCS");
    vmcs[0] = vmx_state().features.revision;
    g.arch.vmcs_pa = heap.virt_to_phys(vmcs);
    if (vmclear(g.arch.vmcs_pa) != VmxResult::Ok) return Status::error("VMCLEAR failed", "VMCS", g.arch.vmcs_pa);
    if (vmptrld(g.arch.vmcs_pa) != VmxResult::Ok) return Status::error("VMPTRLD failed", "VMCS", g.arch.vmcs_pa);
    EVMM_TRY(set_controls(g, eptp));
    EVMM_TRY(set_host_state(host));
    EVMM_TRY(gcpu_load_guest_state(g, st, activity));
    event_raise(Event::GcpuInit, g);
    return Status::success();
}

} // namespace evmm
