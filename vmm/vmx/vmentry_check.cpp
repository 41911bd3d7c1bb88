#include "vmm/vmx/vmentry_check.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/ept.h"
#include "arch/x86_64/exception.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/mtrr.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/vmx_caps.h"
#include "arch/x86_64/vmx_controls.h"
#include "lib/format.h"

namespace evmm {
namespace {

using F = VmcsField;

// Sections of SDM Vol. 3C chapter 27 ("VM Entries") that state the rules.
constexpr const char* SDM_EXEC = "SDM 27.2.1.1";        // VM-execution control fields
constexpr const char* SDM_EXIT = "SDM 27.2.1.2";        // VM-exit control fields
constexpr const char* SDM_ENTRY = "SDM 27.2.1.3";       // VM-entry control fields
constexpr const char* SDM_HOST_CR = "SDM 27.2.2";       // host control registers and MSRs
constexpr const char* SDM_HOST_SEG = "SDM 27.2.3";      // host segment and descriptor-table registers
constexpr const char* SDM_HOST_SIZE = "SDM 27.2.4";     // address-space size
constexpr const char* SDM_GUEST_CR = "SDM 27.3.1.1";    // guest control registers, debug registers, MSRs
constexpr const char* SDM_GUEST_SEG = "SDM 27.3.1.2";   // guest segment registers
constexpr const char* SDM_GUEST_DTR = "SDM 27.3.1.3";   // guest descriptor-table registers
constexpr const char* SDM_GUEST_RIP = "SDM 27.3.1.4";   // guest RIP and RFLAGS
constexpr const char* SDM_GUEST_NRS = "SDM 27.3.1.5";   // guest non-register state
constexpr const char* SDM_GUEST_PDPTE = "SDM 27.3.1.6"; // guest PDPTEs

// Architectural bits the rules name, not defined elsewhere in evmm.
constexpr u64 CR4_PCIDE = bit(17); // SDM Vol. 3A §2.5
constexpr u64 CR4_CET = bit(23);
constexpr u64 DEBUGCTL_BTF = bit(1); // SDM Vol. 3B §19.4.1
constexpr u64 DEBUGCTL_RESERVED = (u64{0xF} << 2) | (~u64{0} << 16);
constexpr unsigned DR7_RESERVED_SHIFT = 32; // DR7 bits 63:32 are reserved (SDM Vol. 3B §19.2.4)
constexpr u64 EFER_KNOWN = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
constexpr u64 BNDCFGS_RESERVED = u64{0x7} << 2; // IA32_BNDCFGS bits 4:2 (SDM Vol. 1 §17.3.3)
constexpr u64 BNDCFGS_BASE_MASK = ~u64{0xFFF};  // bits 63:12: base of the bound directory (linear, canonical)
// PAE-paging PDPTE (SDM Vol. 3A §4.4.1, Table 4-8): reserved bits 2:1 and 8:5 (and those above MAXPHYADDR).
constexpr u64 PAE_PDPTE_RESERVED = (u64{0x3} << 1) | (u64{0xF} << 5);
// IA32_PAT entries (SDM Vol. 3A §12.12.2, Table 12-10): 8 one-byte entries, types 0, 1, 4, 5, 6, 7 (UC-).
constexpr unsigned PAT_ENTRIES = 8;
constexpr unsigned PAT_ENTRY_BITS = 8;
constexpr u64 PAT_ENTRY_MASK = 0xFF;
constexpr u8 PAT_TYPE_UC_MINUS = 7;

// Interruption-info error codes: bits 31:16 must be 0 (§27.2.1.3).
constexpr u64 ENTRY_ERROR_CODE_RESERVED = ~u64{0xFFFF};
constexpr u64 ENTRY_INSTRUCTION_LENGTH_MAX = 15;  // the longest x86 instruction
constexpr u32 TPR_THRESHOLD_RESERVED = ~u32{0xF}; // bits 31:4
constexpr u64 POSTED_INTR_VECTOR_RESERVED = ~u64{0xFF};
constexpr u64 POSTED_INTR_DESC_ALIGN = 64;
constexpr u64 LIMIT_LOW_MASK = 0xFFF;            // a byte-granular limit needs bits 11:0 = FFFH to set G
constexpr u64 LIMIT_HIGH_MASK = 0xFFF00000;      // ... and bits 31:20 = 0 to clear it
constexpr u64 DTR_LIMIT_RESERVED = ~u64{0xFFFF}; // GDTR/IDTR limits: bits 31:16
constexpr u64 V86_LIMIT = 0xFFFF;                // virtual-8086 segments (§27.3.1.2)
constexpr u32 V86_ACCESS_RIGHTS = 0xF3;          // present, DPL 3, read/write accessed data
constexpr unsigned V86_BASE_SHIFT = 4;           // base = selector * 16
constexpr unsigned UPPER32_SHIFT = 32;

constexpr bool pat_entry_valid(u64 t) {
    return t == static_cast<u8>(MemType::UC) || t == static_cast<u8>(MemType::WC) ||
           t == static_cast<u8>(MemType::WT) || t == static_cast<u8>(MemType::WP) ||
           t == static_cast<u8>(MemType::WB) || t == PAT_TYPE_UC_MINUS;
}
constexpr bool pat_valid(u64 pat) {
    for (unsigned i = 0; i < PAT_ENTRIES; ++i)
        if (!pat_entry_valid((pat >> (i * PAT_ENTRY_BITS)) & PAT_ENTRY_MASK)) return false;
    return true;
}
static_assert(pat_valid(0x0007040600070406ull) && !pat_valid(0x0007040600070402ull));

// Hardware exceptions that push an error code (SDM Vol. 3A Table 7-1), as §27.2.1.3 lists them.
constexpr bool exception_has_error_code(u8 v) {
    switch (static_cast<Vector>(v)) {
    case Vector::DF:
    case Vector::TS:
    case Vector::NP:
    case Vector::SS:
    case Vector::GP:
    case Vector::PF:
    case Vector::AC: return true;
    default: return false;
    }
}

struct Seg {
    const char* name;
    F sel, base, limit, ar;
};
constexpr Seg SEG_ES{"ES", F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_ACCESS_RIGHTS};
constexpr Seg SEG_CS{"CS", F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_ACCESS_RIGHTS};
constexpr Seg SEG_SS{"SS", F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_ACCESS_RIGHTS};
constexpr Seg SEG_DS{"DS", F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_ACCESS_RIGHTS};
constexpr Seg SEG_FS{"FS", F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_ACCESS_RIGHTS};
constexpr Seg SEG_GS{"GS", F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_ACCESS_RIGHTS};
constexpr Seg SEG_LDTR{"LDTR", F::GUEST_LDTR_SELECTOR, F::GUEST_LDTR_BASE, F::GUEST_LDTR_LIMIT,
                       F::GUEST_LDTR_ACCESS_RIGHTS};
constexpr Seg SEG_TR{"TR", F::GUEST_TR_SELECTOR, F::GUEST_TR_BASE, F::GUEST_TR_LIMIT, F::GUEST_TR_ACCESS_RIGHTS};
constexpr Seg DATA_SEGS[] = {SEG_DS, SEG_ES, SEG_FS, SEG_GS}; // the "DS, ES, FS, GS" of §27.3.1.2
constexpr Seg CODE_DATA_SEGS[] = {SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS};
constexpr Seg CANONICAL_BASE_SEGS[] = {SEG_TR, SEG_FS, SEG_GS}; // bases checked for canonical form
constexpr Seg LOW_BASE_SEGS[] = {SEG_SS, SEG_DS, SEG_ES};       // bases with bits 63:32 zero when usable

constexpr F HOST_SYSENTER[] = {F::HOST_IA32_SYSENTER_ESP, F::HOST_IA32_SYSENTER_EIP};
constexpr F HOST_BASES[] = {F::HOST_FS_BASE, F::HOST_GS_BASE, F::HOST_GDTR_BASE, F::HOST_IDTR_BASE, F::HOST_TR_BASE};
constexpr F GUEST_SYSENTER[] = {F::GUEST_IA32_SYSENTER_ESP, F::GUEST_IA32_SYSENTER_EIP};
constexpr F GUEST_DTR_BASES[] = {F::GUEST_GDTR_BASE, F::GUEST_IDTR_BASE};
constexpr F GUEST_DTR_LIMITS[] = {F::GUEST_GDTR_LIMIT, F::GUEST_IDTR_LIMIT};
constexpr F GUEST_PDPTES[] = {F::GUEST_PDPTE0, F::GUEST_PDPTE1, F::GUEST_PDPTE2, F::GUEST_PDPTE3};

class Checker {
public:
    Checker(const VmcsSnapshot& s, const VmxCapMsrs& c, Violation* out, u32 cap) : s_(s), c_(c), out_(out), cap_(cap) {
        pin_ = u32(g(F::PIN_BASED_VM_EXEC_CONTROLS));
        proc_ = u32(g(F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS));
        // With "activate secondary controls" 0, VM entry behaves as if all secondary controls were 0 (§25.6.2).
        proc2_ = (proc_ & PROC_ACTIVATE_SECONDARY) ? u32(g(F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS)) : 0;
        exit_ = u32(g(F::VM_EXIT_CONTROLS));
        entry_ = u32(g(F::VM_ENTRY_CONTROLS));
        ug_ = (proc2_ & PROC2_UNRESTRICTED_GUEST) != 0;
        ia32e_ = (entry_ & VM_ENTRY_IA32E_MODE_GUEST) != 0;
        host64_ = (exit_ & VM_EXIT_HOST_ADDRESS_SPACE_SIZE) != 0;
        const unsigned pa = c.phys_addr_bits;
        pa_bits_ = (pa == 0 || pa > pte::MAX_PHYS_ADDR_BITS) ? pte::MAX_PHYS_ADDR_BITS : pa;
        intr_ = u32(g(F::VM_ENTRY_INTERRUPTION_INFO));
        event_ = (intr_ & INTR_INFO_VALID) != 0;
        event_type_ = intr_info_type(intr_);
        event_vector_ = intr_info_vector(intr_);
        rflags_ = g(F::GUEST_RFLAGS);
        v86_ = (rflags_ & RFLAGS_VM) != 0;
    }

    u32 run() {
        exec_controls();
        exit_controls();
        entry_controls();
        host_state();
        guest_control_registers();
        guest_segments();
        guest_descriptor_tables();
        guest_rip_rflags();
        guest_non_register_state();
        guest_pdptes();
        return n_;
    }

private:
    const VmcsSnapshot& s_;
    const VmxCapMsrs& c_;
    Violation* out_;
    u32 cap_;
    u32 n_ = 0;
    u32 pin_, proc_, proc2_, exit_, entry_, intr_;
    bool ug_, ia32e_, host64_, event_, v86_;
    InterruptionType event_type_;
    u8 event_vector_;
    unsigned pa_bits_;
    u64 rflags_;

    u64 g(F f) const { return s_.get(f); }

    void report(const char* rule, const char* sdm, F field, const char* message, u64 bits = 0) {
        if (out_ != nullptr && n_ < cap_) out_[n_] = Violation{rule, sdm, field, g(field), message, bits};
        ++n_;
    }

    bool within_pa(u64 addr) const { return (addr >> pa_bits_) == 0; }
    bool event_is(InterruptionType t) const { return event_ && event_type_ == t; }

    // A physical address the processor will use: aligned, and not beyond MAXPHYADDR.
    void check_pa(const char* rule, const char* sdm, F f, u64 align) {
        const u64 a = g(f);
        if (!is_aligned(a, align)) report(rule, sdm, f, "address not aligned", a & (align - 1));
        if (!within_pa(a)) report(rule, sdm, f, "address beyond the physical-address width", a >> pa_bits_ << pa_bits_);
    }
    void check_page(const char* rule, const char* sdm, F f) { check_pa(rule, sdm, f, PAGE_SIZE); }

    void check_control_word(const char* rule, const char* sdm, F f, u32 value, u64 cap_msr) {
        const u32 bad = vmx_control_violations(value, cap_msr);
        if (bad != 0) report(rule, sdm, f, "bits not allowed by the VMX capability MSR (allowed-0/allowed-1)", bad);
    }

    // An MSR-load/store area: 16-byte aligned, its last byte within MAXPHYADDR (§27.2.1.2, §27.2.1.3).
    void check_msr_area(const char* rule, const char* sdm, F addr_field, F count_field) {
        const u64 count = g(count_field);
        if (count == 0) return;
        const u64 a = g(addr_field);
        if (!is_aligned(a, VMX_MSR_ENTRY_SIZE)) report(rule, sdm, addr_field, "MSR area not 16-byte aligned");
        const u64 last = a + count * VMX_MSR_ENTRY_SIZE - 1;
        if (add_overflows(a, count * VMX_MSR_ENTRY_SIZE) || !within_pa(a) || !within_pa(last))
            report(rule, sdm, addr_field, "MSR area extends beyond the physical-address width");
    }

    // ---- §27.2.1.1 VM-execution control fields ----------------------------------------------------------------
    void exec_controls() {
        check_control_word("ctl.pin", SDM_EXEC, F::PIN_BASED_VM_EXEC_CONTROLS, pin_, c_.pinbased);
        check_control_word("ctl.proc", SDM_EXEC, F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, proc_, c_.procbased);
        if (proc_ & PROC_ACTIVATE_SECONDARY)
            check_control_word("ctl.proc2", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, proc2_, c_.procbased2);
        if (g(F::CR3_TARGET_COUNT) > VMX_CR3_TARGET_MAX)
            report("ctl.cr3_target_count", SDM_EXEC, F::CR3_TARGET_COUNT, "CR3-target count greater than 4");
        if (proc_ & PROC_USE_IO_BITMAPS) {
            check_page("ctl.io_bitmaps", SDM_EXEC, F::IO_BITMAP_A_ADDR);
            check_page("ctl.io_bitmaps", SDM_EXEC, F::IO_BITMAP_B_ADDR);
        }
        if (proc_ & PROC_USE_MSR_BITMAPS) check_page("ctl.msr_bitmaps", SDM_EXEC, F::MSR_BITMAPS_ADDR);

        const bool tpr_shadow = (proc_ & PROC_USE_TPR_SHADOW) != 0;
        const bool vid = (proc2_ & PROC2_VIRTUAL_INTERRUPT_DELIVERY) != 0;
        if (tpr_shadow) {
            check_page("ctl.virtual_apic", SDM_EXEC, F::VIRTUAL_APIC_ADDR);
            if (!vid && (g(F::TPR_THRESHOLD) & TPR_THRESHOLD_RESERVED))
                report("ctl.tpr_threshold", SDM_EXEC, F::TPR_THRESHOLD,
                       "TPR threshold bits 31:4 not 0 (use TPR shadow, no virtual-interrupt delivery)",
                       g(F::TPR_THRESHOLD) & TPR_THRESHOLD_RESERVED);
        } else {
            const u32 need_shadow =
                PROC2_VIRTUALIZE_X2APIC_MODE | PROC2_APIC_REGISTER_VIRTUALIZATION | PROC2_VIRTUAL_INTERRUPT_DELIVERY;
            if (proc2_ & need_shadow)
                report("ctl.tpr_shadow", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
                       "x2APIC virtualization, APIC-register virtualization or virtual-interrupt delivery "
                       "without use TPR shadow",
                       proc2_ & need_shadow);
        }
        if ((proc2_ & PROC2_VIRTUALIZE_X2APIC_MODE) && (proc2_ & PROC2_VIRTUALIZE_APIC_ACCESSES))
            report("ctl.x2apic", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
                   "virtualize x2APIC mode together with virtualize APIC accesses");
        if (vid && !(pin_ & PIN_EXTERNAL_INTERRUPT_EXITING))
            report("ctl.virtual_interrupt_delivery", SDM_EXEC, F::PIN_BASED_VM_EXEC_CONTROLS,
                   "virtual-interrupt delivery without external-interrupt exiting");
        if (!(pin_ & PIN_NMI_EXITING) && (pin_ & PIN_VIRTUAL_NMIS))
            report("ctl.virtual_nmis", SDM_EXEC, F::PIN_BASED_VM_EXEC_CONTROLS, "virtual NMIs without NMI exiting");
        if (!(pin_ & PIN_VIRTUAL_NMIS) && (proc_ & PROC_NMI_WINDOW_EXITING))
            report("ctl.virtual_nmis", SDM_EXEC, F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS,
                   "NMI-window exiting without virtual NMIs");
        if (proc2_ & PROC2_VIRTUALIZE_APIC_ACCESSES) check_page("ctl.apic_access", SDM_EXEC, F::APIC_ACCESS_ADDR);
        if (pin_ & PIN_PROCESS_POSTED_INTERRUPTS) {
            if (!vid)
                report("ctl.posted_interrupts", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
                       "process posted interrupts without virtual-interrupt delivery");
            if (!(exit_ & VM_EXIT_ACKNOWLEDGE_INTERRUPT))
                report("ctl.posted_interrupts", SDM_EXEC, F::VM_EXIT_CONTROLS,
                       "process posted interrupts without acknowledge interrupt on exit");
            if (g(F::POSTED_INTERRUPT_NOTIFICATION_VECTOR) & POSTED_INTR_VECTOR_RESERVED)
                report("ctl.posted_interrupts", SDM_EXEC, F::POSTED_INTERRUPT_NOTIFICATION_VECTOR,
                       "posted-interrupt notification vector bits 15:8 not 0");
            check_pa("ctl.posted_interrupts", SDM_EXEC, F::POSTED_INTERRUPT_DESCRIPTOR_ADDR, POSTED_INTR_DESC_ALIGN);
        }
        if ((proc2_ & PROC2_ENABLE_VPID) && g(F::VIRTUAL_PROCESSOR_ID) == 0)
            report("ctl.vpid", SDM_EXEC, F::VIRTUAL_PROCESSOR_ID, "enable VPID with VPID 0000H");
        const bool ept = (proc2_ & PROC2_ENABLE_EPT) != 0;
        if (ept) check_eptp();
        if (proc2_ & PROC2_ENABLE_PML) {
            if (!ept)
                report("ctl.pml", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, "enable PML without enable EPT");
            check_page("ctl.pml", SDM_EXEC, F::PML_ADDR);
        }
        if (ug_ && !ept)
            report("ctl.unrestricted_guest", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
                   "unrestricted guest without enable EPT");
        if ((proc2_ & PROC2_MODE_BASED_EXECUTE_CONTROL) && !ept)
            report("ctl.mode_based_execute", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
                   "mode-based execute control for EPT without enable EPT");
        if (proc2_ & PROC2_SUB_PAGE_WRITE_PERMISSIONS) {
            if (!ept)
                report("ctl.sub_page_write", SDM_EXEC, F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
                       "sub-page write permissions without enable EPT");
            check_page("ctl.sub_page_write", SDM_EXEC, F::SUB_PAGE_PERMISSION_TABLE_POINTER);
        }
        if (proc2_ & PROC2_ENABLE_VM_FUNCTIONS) {
            const u64 vmfunc = g(F::VM_FUNCTION_CONTROLS);
            if (vmfunc & ~c_.vmfunc)
                report("ctl.vmfunc", SDM_EXEC, F::VM_FUNCTION_CONTROLS, "VM functions not allowed by IA32_VMX_VMFUNC",
                       vmfunc & ~c_.vmfunc);
            if (vmfunc & VMFUNC_EPTP_SWITCHING) {
                if (!ept) report("ctl.vmfunc", SDM_EXEC, F::VM_FUNCTION_CONTROLS, "EPTP switching without enable EPT");
                check_page("ctl.vmfunc", SDM_EXEC, F::EPTP_LIST_ADDR);
            }
        }
        if (proc2_ & PROC2_VMCS_SHADOWING) {
            check_page("ctl.vmcs_shadowing", SDM_EXEC, F::VMREAD_BITMAP_ADDR);
            check_page("ctl.vmcs_shadowing", SDM_EXEC, F::VMWRITE_BITMAP_ADDR);
        }
        if (proc2_ & PROC2_EPT_VIOLATION_VE)
            check_page("ctl.ept_violation_ve", SDM_EXEC, F::VIRTUALIZATION_EXCEPTION_INFO_ADDR);
    }

    // EPTP (§27.2.1.1 and §25.6.11, Table 25-9).
    void check_eptp() {
        const u64 eptp_v = g(F::EPT_POINTER);
        const u64 caps = c_.ept_vpid_cap;
        const u64 mt = eptp_v & eptp::MEMTYPE_MASK;
        const bool mt_ok = (mt == EPT_MEMTYPE_UC && (caps & EPT_CAP_MEMTYPE_UC)) ||
                           (mt == EPT_MEMTYPE_WB && (caps & EPT_CAP_MEMTYPE_WB));
        if (!mt_ok)
            report("ctl.eptp.memtype", SDM_EXEC, F::EPT_POINTER,
                   "EPT paging-structure memory type not UC/WB as allowed by IA32_VMX_EPT_VPID_CAP", mt);
        const u64 levels = ((eptp_v & eptp::WALK_LENGTH_MASK) >> eptp::WALK_LENGTH_SHIFT) + 1;
        const bool walk_ok = (levels == eptp::WALK_LEVELS && (caps & EPT_CAP_PAGE_WALK_4)) ||
                             (levels == eptp::WALK_LEVELS + 1 && (caps & EPT_CAP_PAGE_WALK_5));
        if (!walk_ok)
            report("ctl.eptp.walk_length", SDM_EXEC, F::EPT_POINTER,
                   "EPT page-walk length not one IA32_VMX_EPT_VPID_CAP supports (4)", eptp_v & eptp::WALK_LENGTH_MASK);
        if ((eptp_v & eptp::AD_ENABLE) && !(caps & EPT_CAP_ACCESSED_DIRTY))
            report("ctl.eptp.accessed_dirty", SDM_EXEC, F::EPT_POINTER,
                   "EPT accessed/dirty flags enabled but not supported", eptp::AD_ENABLE);
        u64 reserved = eptp::RESERVED_11_8 | (~u64{0} << pa_bits_);
        if (!(caps & EPT_CAP_SUPERVISOR_SHADOW_STACK)) reserved |= eptp::SSS_ENABLE;
        if (eptp_v & reserved)
            report("ctl.eptp.reserved", SDM_EXEC, F::EPT_POINTER, "EPTP reserved bits set", eptp_v & reserved);
    }

    // ---- §27.2.1.2 VM-exit control fields -----------------------------------------------------------------------
    void exit_controls() {
        check_control_word("ctl.exit", SDM_EXIT, F::VM_EXIT_CONTROLS, exit_, c_.exit);
        if ((exit_ & VM_EXIT_SAVE_PREEMPTION_TIMER) && !(pin_ & PIN_ACTIVATE_PREEMPTION_TIMER))
            report("ctl.exit.preemption_timer", SDM_EXIT, F::VM_EXIT_CONTROLS,
                   "save VMX-preemption timer value without activate VMX-preemption timer");
        check_msr_area("ctl.exit.msr_store", SDM_EXIT, F::VM_EXIT_MSR_STORE_ADDR, F::VM_EXIT_MSR_STORE_COUNT);
        check_msr_area("ctl.exit.msr_load", SDM_EXIT, F::VM_EXIT_MSR_LOAD_ADDR, F::VM_EXIT_MSR_LOAD_COUNT);
    }

    // ---- §27.2.1.3 VM-entry control fields ----------------------------------------------------------------------
    void entry_controls() {
        check_control_word("ctl.entry", SDM_ENTRY, F::VM_ENTRY_CONTROLS, entry_, c_.entry);
        // evmm never enters from SMM, where these two are meaningful.
        if (entry_ & (VM_ENTRY_ENTRY_TO_SMM | VM_ENTRY_DEACTIVATE_DUAL_MONITOR))
            report("ctl.entry.smm", SDM_ENTRY, F::VM_ENTRY_CONTROLS,
                   "entry to SMM / deactivate dual-monitor treatment outside SMM",
                   entry_ & (VM_ENTRY_ENTRY_TO_SMM | VM_ENTRY_DEACTIVATE_DUAL_MONITOR));
        check_msr_area("ctl.entry.msr_load", SDM_ENTRY, F::VM_ENTRY_MSR_LOAD_ADDR, F::VM_ENTRY_MSR_LOAD_COUNT);
        if (!event_) return;

        const F info = F::VM_ENTRY_INTERRUPTION_INFO;
        const InterruptionType t = event_type_;
        const u8 v = event_vector_;
        if (t == InterruptionType::RESERVED)
            report("ctl.entry.event_type", SDM_ENTRY, info, "interruption type 1 (reserved)");
        if (t == InterruptionType::OTHER_EVENT && !(allowed1(c_.procbased) & PROC_MONITOR_TRAP_FLAG))
            report("ctl.entry.event_type", SDM_ENTRY, info,
                   "interruption type 7 (other event) without monitor trap flag support");
        if ((t == InterruptionType::NMI && v != static_cast<u8>(Vector::NMI)) ||
            (t == InterruptionType::HARDWARE_EXCEPTION && v >= EXCEPTION_VECTORS) ||
            (t == InterruptionType::OTHER_EVENT && v != 0))
            report("ctl.entry.event_vector", SDM_ENTRY, info,
                   "vector does not fit the type (NMI: 2, hardware exception: 0-31, other event: 0)", v);
        // Deliver-error-code must be 1 exactly for the error-code exceptions, in protected mode (§27.2.1.3).
        // #CP (21) pushes one only on processors with CET: not judged.
        if (!(t == InterruptionType::HARDWARE_EXCEPTION && v == static_cast<u8>(Vector::CP))) {
            const bool pe = (g(F::GUEST_CR0) & CR0_PE) != 0;
            const bool want = (!ug_ || pe) && t == InterruptionType::HARDWARE_EXCEPTION && exception_has_error_code(v);
            const bool has = (intr_ & INTR_INFO_DELIVER_ERROR_CODE) != 0;
            if (want != has)
                report("ctl.entry.event_error_code", SDM_ENTRY, info,
                       has ? "deliver error code set for an event without an error code"
                           : "deliver error code clear for an exception that has one");
        }
        if (intr_ & INTR_INFO_ENTRY_RESERVED)
            report("ctl.entry.event_reserved", SDM_ENTRY, info, "interruption-information bits 30:12 not 0",
                   intr_ & INTR_INFO_ENTRY_RESERVED);
        if ((intr_ & INTR_INFO_DELIVER_ERROR_CODE) && (g(F::VM_ENTRY_EXCEPTION_ERROR_CODE) & ENTRY_ERROR_CODE_RESERVED))
            report("ctl.entry.error_code", SDM_ENTRY, F::VM_ENTRY_EXCEPTION_ERROR_CODE,
                   "VM-entry exception error code bits 31:16 not 0",
                   g(F::VM_ENTRY_EXCEPTION_ERROR_CODE) & ENTRY_ERROR_CODE_RESERVED);
        if (t == InterruptionType::SOFTWARE_INTERRUPT || t == InterruptionType::PRIVILEGED_SOFTWARE_EXCEPTION ||
            t == InterruptionType::SOFTWARE_EXCEPTION) {
            const u64 len = g(F::VM_ENTRY_INSTRUCTION_LENGTH);
            const bool zero_ok = (c_.misc & VMX_MISC_INJECT_ZERO_LENGTH) != 0;
            if (len > ENTRY_INSTRUCTION_LENGTH_MAX || (len == 0 && !zero_ok))
                report("ctl.entry.instruction_length", SDM_ENTRY, F::VM_ENTRY_INSTRUCTION_LENGTH,
                       "software interrupt/exception with instruction length not in 1..15");
        }
    }

    // ---- §27.2.2 - §27.2.4 host state --------------------------------------------------------------------------
    void host_state() {
        const u64 cr0 = g(F::HOST_CR0), cr4 = g(F::HOST_CR4);
        if (const u64 bad = vmx_fixed_bits_violations(cr0, c_.cr0_fixed0, c_.cr0_fixed1))
            report("host.cr0", SDM_HOST_CR, F::HOST_CR0, "bits not allowed by IA32_VMX_CR0_FIXED0/FIXED1", bad);
        if (const u64 bad = vmx_fixed_bits_violations(cr4, c_.cr4_fixed0, c_.cr4_fixed1))
            report("host.cr4", SDM_HOST_CR, F::HOST_CR4, "bits not allowed by IA32_VMX_CR4_FIXED0/FIXED1", bad);
        if (!within_pa(g(F::HOST_CR3)))
            report("host.cr3", SDM_HOST_CR, F::HOST_CR3, "bits beyond the physical-address width set",
                   g(F::HOST_CR3) >> pa_bits_ << pa_bits_);
        for (F f : HOST_SYSENTER)
            if (!is_canonical(g(f))) report("host.sysenter", SDM_HOST_CR, f, "address not canonical");
        if ((exit_ & VM_EXIT_LOAD_IA32_PAT) && !pat_valid(g(F::HOST_IA32_PAT)))
            report("host.pat", SDM_HOST_CR, F::HOST_IA32_PAT, "a PAT entry holds a reserved memory type");
        if (exit_ & VM_EXIT_LOAD_IA32_EFER) {
            const u64 efer = g(F::HOST_IA32_EFER);
            if (efer & ~EFER_KNOWN)
                report("host.efer", SDM_HOST_CR, F::HOST_IA32_EFER, "reserved bits set", efer & ~EFER_KNOWN);
            if (((efer & EFER_LMA) != 0) != host64_ || ((efer & EFER_LME) != 0) != host64_)
                report("host.efer", SDM_HOST_CR, F::HOST_IA32_EFER,
                       "LMA and LME must equal the host address-space size exit control");
        }

        // §27.2.3: selectors, bases.
        constexpr F SELECTORS[] = {F::HOST_ES_SELECTOR, F::HOST_CS_SELECTOR, F::HOST_SS_SELECTOR, F::HOST_DS_SELECTOR,
                                   F::HOST_FS_SELECTOR, F::HOST_GS_SELECTOR, F::HOST_TR_SELECTOR};
        for (F f : SELECTORS)
            if (g(f) & (SELECTOR_RPL_MASK | SELECTOR_TI))
                report("host.selector", SDM_HOST_SEG, f, "RPL or TI not 0", g(f) & (SELECTOR_RPL_MASK | SELECTOR_TI));
        if (g(F::HOST_CS_SELECTOR) == 0)
            report("host.selector_null", SDM_HOST_SEG, F::HOST_CS_SELECTOR, "CS selector 0000H");
        if (g(F::HOST_TR_SELECTOR) == 0)
            report("host.selector_null", SDM_HOST_SEG, F::HOST_TR_SELECTOR, "TR selector 0000H");
        if (!host64_ && g(F::HOST_SS_SELECTOR) == 0)
            report("host.selector_null", SDM_HOST_SEG, F::HOST_SS_SELECTOR,
                   "SS selector 0000H with host address-space size 0");
        for (F f : HOST_BASES)
            if (!is_canonical(g(f))) report("host.base", SDM_HOST_SEG, f, "base address not canonical");

        // §27.2.4: the VMM runs in IA-32e mode, so the host address-space size must be 1.
        if (!host64_) {
            report("host.address_space_size", SDM_HOST_SIZE, F::VM_EXIT_CONTROLS,
                   "host address-space size 0 on a processor in IA-32e mode");
            if (ia32e_)
                report("host.address_space_size", SDM_HOST_SIZE, F::VM_ENTRY_CONTROLS,
                       "IA-32e mode guest with host address-space size 0");
            if (cr4 & CR4_PCIDE)
                report("host.address_space_size", SDM_HOST_SIZE, F::HOST_CR4,
                       "CR4.PCIDE set with host address-space size 0");
            if (g(F::HOST_RIP) >> UPPER32_SHIFT)
                report("host.rip", SDM_HOST_SIZE, F::HOST_RIP, "RIP bits 63:32 set with host address-space size 0");
        } else {
            if (!(cr4 & CR4_PAE))
                report("host.cr4_pae", SDM_HOST_SIZE, F::HOST_CR4, "CR4.PAE clear with host address-space size 1");
            if (!is_canonical(g(F::HOST_RIP))) report("host.rip", SDM_HOST_SIZE, F::HOST_RIP, "RIP not canonical");
        }
    }

    // ---- §27.3.1.1 guest control registers, debug registers and MSRs -----------------------------------------
    void guest_control_registers() {
        const u64 cr0 = g(F::GUEST_CR0), cr4 = g(F::GUEST_CR4);
        // With unrestricted guest (and the secondary controls active), PE and PG are not checked against FIXED0.
        const u64 fixed0 = ug_ ? c_.cr0_fixed0 & ~(CR0_PE | CR0_PG) : c_.cr0_fixed0;
        if (const u64 bad = vmx_fixed_bits_violations(cr0, fixed0, c_.cr0_fixed1))
            report("guest.cr0", SDM_GUEST_CR, F::GUEST_CR0, "bits not allowed by IA32_VMX_CR0_FIXED0/FIXED1", bad);
        if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
            report("guest.cr0_pg_pe", SDM_GUEST_CR, F::GUEST_CR0, "CR0.PG set with CR0.PE clear");
        if (const u64 bad = vmx_fixed_bits_violations(cr4, c_.cr4_fixed0, c_.cr4_fixed1))
            report("guest.cr4", SDM_GUEST_CR, F::GUEST_CR4, "bits not allowed by IA32_VMX_CR4_FIXED0/FIXED1", bad);
        if ((cr4 & CR4_CET) && !(cr0 & CR0_WP))
            report("guest.cr4_cet", SDM_GUEST_CR, F::GUEST_CR0, "CR4.CET set with CR0.WP clear");
        if (entry_ & VM_ENTRY_LOAD_DEBUG_CONTROLS) {
            if (g(F::GUEST_IA32_DEBUGCTL) & DEBUGCTL_RESERVED)
                report("guest.debugctl", SDM_GUEST_CR, F::GUEST_IA32_DEBUGCTL, "reserved bits set",
                       g(F::GUEST_IA32_DEBUGCTL) & DEBUGCTL_RESERVED);
            if (g(F::GUEST_DR7) >> DR7_RESERVED_SHIFT)
                report("guest.dr7", SDM_GUEST_CR, F::GUEST_DR7, "DR7 bits 63:32 set",
                       g(F::GUEST_DR7) >> DR7_RESERVED_SHIFT << DR7_RESERVED_SHIFT);
        }
        if (ia32e_ && (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE)))
            report("guest.ia32e_paging", SDM_GUEST_CR, (cr0 & CR0_PG) ? F::GUEST_CR4 : F::GUEST_CR0,
                   "IA-32e mode guest needs CR0.PG and CR4.PAE");
        if (!ia32e_ && (cr4 & CR4_PCIDE))
            report("guest.cr4_pcide", SDM_GUEST_CR, F::GUEST_CR4, "CR4.PCIDE set outside IA-32e mode");
        if (!within_pa(g(F::GUEST_CR3)))
            report("guest.cr3", SDM_GUEST_CR, F::GUEST_CR3, "bits beyond the physical-address width set",
                   g(F::GUEST_CR3) >> pa_bits_ << pa_bits_);
        for (F f : GUEST_SYSENTER)
            if (!is_canonical(g(f))) report("guest.sysenter", SDM_GUEST_CR, f, "address not canonical");
        if ((entry_ & VM_ENTRY_LOAD_IA32_PAT) && !pat_valid(g(F::GUEST_IA32_PAT)))
            report("guest.pat", SDM_GUEST_CR, F::GUEST_IA32_PAT, "a PAT entry holds a reserved memory type");
        if (entry_ & VM_ENTRY_LOAD_IA32_EFER) {
            const u64 efer = g(F::GUEST_IA32_EFER);
            if (efer & ~EFER_KNOWN)
                report("guest.efer", SDM_GUEST_CR, F::GUEST_IA32_EFER, "reserved bits set", efer & ~EFER_KNOWN);
            if (((efer & EFER_LMA) != 0) != ia32e_)
                report("guest.efer_lma", SDM_GUEST_CR, F::GUEST_IA32_EFER,
                       "EFER.LMA differs from the IA-32e mode guest entry control");
            if ((cr0 & CR0_PG) && ((efer & EFER_LMA) != 0) != ((efer & EFER_LME) != 0))
                report("guest.efer_lme", SDM_GUEST_CR, F::GUEST_IA32_EFER, "EFER.LME differs from LMA with CR0.PG set");
        }
        if (entry_ & VM_ENTRY_LOAD_IA32_BNDCFGS) {
            const u64 b = g(F::GUEST_IA32_BNDCFGS);
            if ((b & BNDCFGS_RESERVED) || !is_canonical(b & BNDCFGS_BASE_MASK))
                report("guest.bndcfgs", SDM_GUEST_CR, F::GUEST_IA32_BNDCFGS,
                       "reserved bits set or bound-directory base not canonical");
        }
    }

    // ---- §27.3.1.2 guest segment registers --------------------------------------------------------------------
    u32 ar(const Seg& s) const { return u32(g(s.ar)); }
    u16 sel(const Seg& s) const { return u16(g(s.sel)); }
    bool usable(const Seg& s) const { return vmx_ar_usable(ar(s)); }

    // Limit vs G (§27.3.1.2): limit bits 11:0 not all 1 needs G = 0; limit bits 31:20 not all 0 needs G = 1.
    bool granularity_ok(const Seg& s) const {
        const u64 limit = g(s.limit);
        const bool gran = (ar(s) & VMX_AR_G) != 0;
        if ((limit & LIMIT_LOW_MASK) != LIMIT_LOW_MASK && gran) return false;
        if ((limit & LIMIT_HIGH_MASK) != 0 && !gran) return false;
        return true;
    }

    void guest_segments() {
        const u64 cr0 = g(F::GUEST_CR0);
        if (sel(SEG_TR) & SELECTOR_TI)
            report("guest.selector_ti", SDM_GUEST_SEG, SEG_TR.sel, "TR selector TI flag set");
        if (usable(SEG_LDTR) && (sel(SEG_LDTR) & SELECTOR_TI))
            report("guest.selector_ti", SDM_GUEST_SEG, SEG_LDTR.sel, "LDTR selector TI flag set");
        if (!v86_ && !ug_ && (sel(SEG_SS) & SELECTOR_RPL_MASK) != (sel(SEG_CS) & SELECTOR_RPL_MASK))
            report("guest.ss_rpl", SDM_GUEST_SEG, SEG_SS.sel, "SS.RPL differs from CS.RPL");

        // Bases.
        for (const Seg& s : CANONICAL_BASE_SEGS)
            if (!is_canonical(g(s.base))) report("guest.base", SDM_GUEST_SEG, s.base, "base not canonical");
        if (usable(SEG_LDTR) && !is_canonical(g(SEG_LDTR.base)))
            report("guest.base", SDM_GUEST_SEG, SEG_LDTR.base, "base not canonical");
        if (g(SEG_CS.base) >> UPPER32_SHIFT) report("guest.base", SDM_GUEST_SEG, SEG_CS.base, "CS base bits 63:32 set");
        for (const Seg& s : LOW_BASE_SEGS)
            if (usable(s) && (g(s.base) >> UPPER32_SHIFT))
                report("guest.base", SDM_GUEST_SEG, s.base, "base bits 63:32 set");

        if (v86_) {
            for (const Seg& s : CODE_DATA_SEGS) {
                if (g(s.base) != u64{sel(s)} << V86_BASE_SHIFT)
                    report("guest.v86", SDM_GUEST_SEG, s.base, "virtual-8086 base is not selector * 16");
                if (g(s.limit) != V86_LIMIT)
                    report("guest.v86", SDM_GUEST_SEG, s.limit, "virtual-8086 limit is not FFFFH");
                if (ar(s) != V86_ACCESS_RIGHTS)
                    report("guest.v86", SDM_GUEST_SEG, s.ar, "virtual-8086 access rights are not F3H");
            }
        } else {
            protected_mode_segments(cr0);
        }
        system_segments();
    }

    void protected_mode_segments(u64 cr0) {
        const u32 cs = ar(SEG_CS), ss = ar(SEG_SS);
        const u32 cs_type = vmx_ar_type(cs);
        const bool cs_type_ok = cs_type == SEG_TYPE_CODE_X_ACCESSED || cs_type == SEG_TYPE_CODE_XR_ACCESSED ||
                                cs_type == SEG_TYPE_CODE_XC_ACCESSED || cs_type == SEG_TYPE_CODE_XRC_ACCESSED ||
                                (ug_ && cs_type == SEG_TYPE_DATA_RW_ACCESSED);
        if (!cs_type_ok)
            report("guest.cs_type", SDM_GUEST_SEG, SEG_CS.ar,
                   "CS type not 9, 11, 13, 15 (or 3 with unrestricted guest)", cs_type);
        if (usable(SEG_SS)) {
            const u32 t = vmx_ar_type(ss);
            if (t != SEG_TYPE_DATA_RW_ACCESSED && t != SEG_TYPE_DATA_RW_DOWN_ACCESSED)
                report("guest.ss_type", SDM_GUEST_SEG, SEG_SS.ar, "SS type not 3 or 7", t);
        }
        for (const Seg& s : DATA_SEGS) {
            if (!usable(s)) continue;
            const u32 t = vmx_ar_type(ar(s));
            if (!(t & SEG_TYPE_ACCESSED) || ((t & SEG_TYPE_CODE) && !(t & SEG_TYPE_READ_WRITE)))
                report("guest.data_type", SDM_GUEST_SEG, s.ar, "type not accessed, or execute-only code", t);
        }

        // S, P and reserved bits: CS always, the others when usable.
        for (const Seg& s : CODE_DATA_SEGS) {
            if (s.ar != SEG_CS.ar && !usable(s)) continue;
            if (!(ar(s) & VMX_AR_S)) report("guest.seg_s", SDM_GUEST_SEG, s.ar, "S (code/data) flag clear");
            if (!(ar(s) & VMX_AR_P)) report("guest.seg_present", SDM_GUEST_SEG, s.ar, "P (present) flag clear");
            if (ar(s) & (VMX_AR_RESERVED_11_8 | VMX_AR_RESERVED_31_17))
                report("guest.seg_reserved", SDM_GUEST_SEG, s.ar, "access-rights bits 11:8 or 31:17 set",
                       ar(s) & (VMX_AR_RESERVED_11_8 | VMX_AR_RESERVED_31_17));
            if (!granularity_ok(s))
                report("guest.seg_granularity", SDM_GUEST_SEG, s.ar, "G flag inconsistent with the limit");
        }

        // DPLs.
        const u32 cs_dpl = vmx_ar_dpl(cs), ss_dpl = vmx_ar_dpl(ss);
        if (cs_type == SEG_TYPE_DATA_RW_ACCESSED && cs_dpl != 0)
            report("guest.cs_dpl", SDM_GUEST_SEG, SEG_CS.ar, "CS of type 3 with DPL not 0");
        if ((cs_type == SEG_TYPE_CODE_X_ACCESSED || cs_type == SEG_TYPE_CODE_XR_ACCESSED) && cs_dpl != ss_dpl)
            report("guest.cs_dpl", SDM_GUEST_SEG, SEG_CS.ar, "non-conforming CS with DPL differing from SS.DPL");
        if ((cs_type == SEG_TYPE_CODE_XC_ACCESSED || cs_type == SEG_TYPE_CODE_XRC_ACCESSED) && cs_dpl > ss_dpl)
            report("guest.cs_dpl", SDM_GUEST_SEG, SEG_CS.ar, "conforming CS with DPL greater than SS.DPL");
        if (!ug_ && ss_dpl != (sel(SEG_SS) & SELECTOR_RPL_MASK))
            report("guest.ss_dpl", SDM_GUEST_SEG, SEG_SS.ar, "SS.DPL differs from SS.RPL");
        if ((cs_type == SEG_TYPE_DATA_RW_ACCESSED || !(cr0 & CR0_PE)) && ss_dpl != 0)
            report("guest.ss_dpl", SDM_GUEST_SEG, SEG_SS.ar, "SS.DPL not 0 (real mode or CS of type 3)");
        if (!ug_) {
            for (const Seg& s : DATA_SEGS) {
                // Data and non-conforming code segments (types 0-11): DPL >= RPL.
                if (usable(s) && vmx_ar_type(ar(s)) <= SEG_TYPE_CODE_XR_ACCESSED &&
                    vmx_ar_dpl(ar(s)) < (sel(s) & SELECTOR_RPL_MASK))
                    report("guest.data_dpl", SDM_GUEST_SEG, s.ar, "DPL less than the selector's RPL");
            }
        }
        if (ia32e_ && (cs & VMX_AR_L) && (cs & VMX_AR_DB))
            report("guest.cs_db", SDM_GUEST_SEG, SEG_CS.ar, "CS.L and CS.D/B both set in IA-32e mode");
    }

    void system_segments() {
        const u32 tr = ar(SEG_TR);
        const u32 tr_type = vmx_ar_type(tr);
        if (!(tr_type == SEG_TYPE_SYS_TSS_BUSY || (!ia32e_ && tr_type == SEG_TYPE_SYS_TSS16_BUSY)))
            report("guest.tr", SDM_GUEST_SEG, SEG_TR.ar, "TR type not a busy TSS (11, or 3 outside IA-32e mode)",
                   tr_type);
        if (tr & VMX_AR_S) report("guest.tr", SDM_GUEST_SEG, SEG_TR.ar, "TR S flag set");
        if (!(tr & VMX_AR_P)) report("guest.tr", SDM_GUEST_SEG, SEG_TR.ar, "TR not present");
        if (tr & (VMX_AR_RESERVED_11_8 | VMX_AR_RESERVED_31_17))
            report("guest.tr", SDM_GUEST_SEG, SEG_TR.ar, "TR access-rights reserved bits set");
        if (!vmx_ar_usable(tr)) report("guest.tr", SDM_GUEST_SEG, SEG_TR.ar, "TR unusable");
        if (!granularity_ok(SEG_TR))
            report("guest.tr", SDM_GUEST_SEG, SEG_TR.ar, "TR G flag inconsistent with the limit");

        if (!usable(SEG_LDTR)) return;
        const u32 ldtr = ar(SEG_LDTR);
        if (vmx_ar_type(ldtr) != SEG_TYPE_SYS_LDT)
            report("guest.ldtr", SDM_GUEST_SEG, SEG_LDTR.ar, "LDTR type not 2", vmx_ar_type(ldtr));
        if (ldtr & VMX_AR_S) report("guest.ldtr", SDM_GUEST_SEG, SEG_LDTR.ar, "LDTR S flag set");
        if (!(ldtr & VMX_AR_P)) report("guest.ldtr", SDM_GUEST_SEG, SEG_LDTR.ar, "LDTR not present");
        if (ldtr & (VMX_AR_RESERVED_11_8 | VMX_AR_RESERVED_31_17))
            report("guest.ldtr", SDM_GUEST_SEG, SEG_LDTR.ar, "LDTR access-rights reserved bits set");
        if (!granularity_ok(SEG_LDTR))
            report("guest.ldtr", SDM_GUEST_SEG, SEG_LDTR.ar, "LDTR G flag inconsistent with the limit");
    }

    // ---- §27.3.1.3 guest descriptor-table registers -----------------------------------------------------------
    void guest_descriptor_tables() {
        for (F f : GUEST_DTR_BASES)
            if (!is_canonical(g(f))) report("guest.dtr_base", SDM_GUEST_DTR, f, "base not canonical");
        for (F f : GUEST_DTR_LIMITS)
            if (g(f) & DTR_LIMIT_RESERVED)
                report("guest.dtr_limit", SDM_GUEST_DTR, f, "limit bits 31:16 set", g(f) & DTR_LIMIT_RESERVED);
    }

    // ---- §27.3.1.4 guest RIP and RFLAGS ------------------------------------------------------------------------
    void guest_rip_rflags() {
        const u64 rip = g(F::GUEST_RIP);
        const bool cs_l = (ar(SEG_CS) & VMX_AR_L) != 0;
        if (ia32e_ && cs_l) {
            if (!is_canonical(rip)) report("guest.rip", SDM_GUEST_RIP, F::GUEST_RIP, "RIP not canonical (64-bit)");
        } else if (rip >> UPPER32_SHIFT) {
            report("guest.rip", SDM_GUEST_RIP, F::GUEST_RIP, "RIP bits 63:32 set outside 64-bit mode");
        }
        if ((rflags_ & RFLAGS_RESERVED) || !(rflags_ & RFLAGS_FIXED1))
            report("guest.rflags", SDM_GUEST_RIP, F::GUEST_RFLAGS, "reserved bits (63:22, 15, 5, 3) set or bit 1 clear",
                   (rflags_ & RFLAGS_RESERVED) | (~rflags_ & RFLAGS_FIXED1));
        if (v86_ && (ia32e_ || !(g(F::GUEST_CR0) & CR0_PE)))
            report("guest.rflags_vm", SDM_GUEST_RIP, F::GUEST_RFLAGS, "RFLAGS.VM set in IA-32e mode or real mode");
        if (event_is(InterruptionType::EXTERNAL_INTERRUPT) && !(rflags_ & RFLAGS_IF))
            report("guest.rflags_if", SDM_GUEST_RIP, F::GUEST_RFLAGS,
                   "external-interrupt injection with RFLAGS.IF clear");
    }

    // ---- §27.3.1.5 guest non-register state ---------------------------------------------------------------------
    void guest_non_register_state() {
        const u64 act = g(F::GUEST_ACTIVITY_STATE);
        const u32 intr = u32(g(F::GUEST_INTERRUPTIBILITY_STATE));
        const bool sti = (intr & INTERRUPTIBILITY_STI) != 0, movss = (intr & INTERRUPTIBILITY_MOV_SS) != 0;

        if (act > ACTIVITY_STATE_MAX ||
            (act != static_cast<u64>(ActivityState::ACTIVE) && !(c_.misc & bit(VMX_MISC_ACTIVITY_SHIFT + act))))
            report("guest.activity", SDM_GUEST_NRS, F::GUEST_ACTIVITY_STATE,
                   "activity state not 0-3 or not supported (IA32_VMX_MISC bits 8:6)");
        if (act == static_cast<u64>(ActivityState::HLT) && vmx_ar_dpl(ar(SEG_SS)) != 0)
            report("guest.activity_hlt", SDM_GUEST_NRS, F::GUEST_ACTIVITY_STATE, "HLT state with SS.DPL not 0");
        if ((sti || movss) && act != static_cast<u64>(ActivityState::ACTIVE))
            report("guest.activity_blocking", SDM_GUEST_NRS, F::GUEST_ACTIVITY_STATE,
                   "blocking by STI or MOV SS outside the active state");
        if (event_ && !event_allowed_in(act))
            report("guest.activity_event", SDM_GUEST_NRS, F::GUEST_ACTIVITY_STATE,
                   "the injected event is blocked in this activity state");

        if (intr & INTERRUPTIBILITY_RESERVED)
            report("guest.interruptibility", SDM_GUEST_NRS, F::GUEST_INTERRUPTIBILITY_STATE,
                   "interruptibility-state bits 31:5 set", intr & INTERRUPTIBILITY_RESERVED);
        if (sti && movss)
            report("guest.interruptibility_sti_movss", SDM_GUEST_NRS, F::GUEST_INTERRUPTIBILITY_STATE,
                   "blocking by STI and by MOV SS both set");
        if (sti && !(rflags_ & RFLAGS_IF))
            report("guest.interruptibility_sti_if", SDM_GUEST_NRS, F::GUEST_INTERRUPTIBILITY_STATE,
                   "blocking by STI with RFLAGS.IF clear");
        if (event_is(InterruptionType::EXTERNAL_INTERRUPT) && (sti || movss))
            report("guest.interruptibility_event", SDM_GUEST_NRS, F::GUEST_INTERRUPTIBILITY_STATE,
                   "external-interrupt injection with blocking by STI or MOV SS");
        if (event_is(InterruptionType::NMI) && movss)
            report("guest.interruptibility_event", SDM_GUEST_NRS, F::GUEST_INTERRUPTIBILITY_STATE,
                   "NMI injection with blocking by MOV SS");
        if (event_is(InterruptionType::NMI) && (pin_ & PIN_VIRTUAL_NMIS) && (intr & INTERRUPTIBILITY_NMI))
            report("guest.interruptibility_event", SDM_GUEST_NRS, F::GUEST_INTERRUPTIBILITY_STATE,
                   "NMI injection with virtual NMIs and blocking by NMI");
        if (intr & INTERRUPTIBILITY_SMI)
            report("guest.interruptibility_smi", SDM_GUEST_NRS, F::GUEST_INTERRUPTIBILITY_STATE,
                   "blocking by SMI set outside SMM");

        const u64 pdbg = g(F::GUEST_PENDING_DEBUG_EXCEPTIONS);
        if (pdbg & PENDING_DBG_RESERVED)
            report("guest.pending_debug", SDM_GUEST_NRS, F::GUEST_PENDING_DEBUG_EXCEPTIONS, "reserved bits set",
                   pdbg & PENDING_DBG_RESERVED);
        if (sti || movss || act == static_cast<u64>(ActivityState::HLT)) {
            const bool single_step = (rflags_ & RFLAGS_TF) != 0 && (g(F::GUEST_IA32_DEBUGCTL) & DEBUGCTL_BTF) == 0;
            if (single_step != ((pdbg & PENDING_DBG_BS) != 0))
                report("guest.pending_debug_bs", SDM_GUEST_NRS, F::GUEST_PENDING_DEBUG_EXCEPTIONS,
                       "BS must equal RFLAGS.TF && !DEBUGCTL.BTF with blocking by STI/MOV SS or in HLT");
        }

        const u64 link = g(F::VMCS_LINK_POINTER);
        if (link != VMCS_LINK_POINTER_NONE) {
            if (!(proc2_ & PROC2_VMCS_SHADOWING))
                report("guest.vmcs_link", SDM_GUEST_NRS, F::VMCS_LINK_POINTER,
                       "VMCS link pointer not FFFFFFFF_FFFFFFFFH (no VMCS shadowing: evmm links no VMCS)");
            else
                check_page("guest.vmcs_link", SDM_GUEST_NRS, F::VMCS_LINK_POINTER);
        }
    }

    // Which injected events an activity state lets through (§27.3.1.5).
    bool event_allowed_in(u64 act) const {
        const InterruptionType t = event_type_;
        const u8 v = event_vector_;
        switch (static_cast<ActivityState>(act)) {
        case ActivityState::ACTIVE: return true;
        case ActivityState::HLT:
            return t == InterruptionType::EXTERNAL_INTERRUPT || t == InterruptionType::NMI ||
                   (t == InterruptionType::HARDWARE_EXCEPTION &&
                    (v == static_cast<u8>(Vector::DB) || v == static_cast<u8>(Vector::MC))) ||
                   (t == InterruptionType::OTHER_EVENT && v == 0);
        case ActivityState::SHUTDOWN:
            return t == InterruptionType::NMI ||
                   (t == InterruptionType::HARDWARE_EXCEPTION && v == static_cast<u8>(Vector::MC));
        case ActivityState::WAIT_FOR_SIPI: return false;
        }
        return true; // an invalid state is reported by "guest.activity"
    }

    // ---- §27.3.1.6 guest PDPTEs (PAE paging with EPT: loaded from the VMCS) -----------------------------------
    void guest_pdptes() {
        const u64 cr0 = g(F::GUEST_CR0), cr4 = g(F::GUEST_CR4);
        if (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE) || ia32e_ || !(proc2_ & PROC2_ENABLE_EPT)) return;
        const u64 reserved = PAE_PDPTE_RESERVED | (~u64{0} << pa_bits_);
        for (F f : GUEST_PDPTES) {
            const u64 e = g(f);
            if ((e & pte::P) && (e & reserved))
                report("guest.pdpte", SDM_GUEST_PDPTE, f, "present PDPTE with reserved bits set", e & reserved);
        }
    }
};

} // namespace

u32 vmentry_check(const VmcsSnapshot& vmcs, const VmxCapMsrs& caps, Violation* out, u32 cap) {
    return Checker(vmcs, caps, out, cap).run();
}

size_t vmentry_format_violation(const Violation& v, char* buf, size_t cap) {
    if (v.bits != 0)
        return format(buf, cap, "%s: %s (%s = 0x%lx, bits 0x%lx) [%s]", v.rule, v.message, vmcs_field_name(v.field),
                      v.value, v.bits, v.sdm);
    return format(buf, cap, "%s: %s (%s = 0x%lx) [%s]", v.rule, v.message, vmcs_field_name(v.field), v.value, v.sdm);
}

} // namespace evmm
