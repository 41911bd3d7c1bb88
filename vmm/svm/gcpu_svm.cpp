#include "vmm/svm/gcpu_svm.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/rflags.h"
#include "arch/x86_64/svm.h"
#include "evmm_desc.h"
#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/event.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/ipc.h"
#include "vmm/svm/svm_cr.h"
#include "vmm/svm/svm_exits.h"
#include "vmm/svm/svm_nmi.h"
#include "vmm/svm/svm_setup.h"
#include "vmm/svm/vmcb_setup.h"

namespace evmm::svm {
namespace {

constexpr u16 ATTR_L = 1u << 9, ATTR_DB = 1u << 10; // VMCB segment attributes (Table B-2): descriptor bits 53, 54

VmcbSave& save(Gcpu& g) { return vmcb_of(g).save; }
VmcbControl& ctl(Gcpu& g) { return vmcb_of(g).control; }

VmcbSegment& seg_of(Gcpu& g, u32 r) { return vmcb_segment(vmcb_of(g), r); }

// The length of the intercepted instruction without the NRIP-save feature (APM Vol. 2 §15.7.1): the instructions
// this slice's intercepts skip have one length each (IOIO gives the next RIP in EXITINFO2, §15.10.2).
u64 fixed_length(u64 code) {
    switch (static_cast<SvmExit>(code)) {
    case SvmExit::HLT: return 1;
    case SvmExit::CPUID:
    case SvmExit::MSR:
    case SvmExit::RDPMC:
    case SvmExit::INVD:
    case SvmExit::RDTSC: return 2;
    case SvmExit::VMMCALL:
    case SvmExit::XSETBV:
    case SvmExit::RDTSCP:
    case SvmExit::MWAIT:
    case SvmExit::MWAIT_CONDITIONAL:
    case SvmExit::VMRUN:
    case SvmExit::VMLOAD:
    case SvmExit::VMSAVE:
    case SvmExit::STGI:
    case SvmExit::CLGI:
    case SvmExit::SKINIT:
    case SvmExit::INVLPGA: return 3;
    default: return 0;
    }
}

volatile bool g_init_request[EVMM_MAX_CPUS];

void kick(u64) {} // the NMI itself is the point: the target leaves guest0 (NMI intercept) and runs its exit handler

} // namespace

// APM Vol. 2 §15.13.3: an INIT with GIF set resets the CPU, host included; an intercepted one is not consumed by the
// #VMEXIT. So evmm sends none: the target is flagged, then an NMI (a cross-CPU call) takes it out of guest0.
bool gcpu_kick_for_init(u32 cpu) {
    g_init_request[cpu % EVMM_MAX_CPUS] = true;
    const u32 missing = ipc_call_others(kick, 0);
    if (missing != 0) LOG_WARN("svm: INIT for cpu%u: %u CPUs did not answer the kick", cpu, missing);
    return true;
}

bool take_init_request(Gcpu& g) {
    if (!g_init_request[g.cpu_id % EVMM_MAX_CPUS]) [[likely]]
        return false;
    // guest0's INIT: the TEE's vCPU of that CPU (docs/tee.md) leaves it for guest0's vCPU's next exit.
    if (g.guest != nullptr && !g.guest->owns_platform()) return false;
    g_init_request[g.cpu_id % EVMM_MAX_CPUS] = false;
    ctl(g).eventinj = 0; // the INIT discards what was being injected
    svm_nmi_reset(g);
    if (InterceptHandler h = intercept_handler(Intercept::Init)) h(g);
    return true;
}

u64 gcpu_rip(Gcpu& g) { return save(g).rip; }
u64 gcpu_rflags(Gcpu& g) { return save(g).rflags; }
void gcpu_set_rflags(Gcpu& g, u64 value) { save(g).rflags = value; }
u64 gcpu_cr0(Gcpu& g) { return save(g).cr0; }
u64 gcpu_cr3(Gcpu& g) { return save(g).cr3; }
u64 gcpu_cr4(Gcpu& g) { return save(g).cr4; }
u64 gcpu_efer(Gcpu& g) { return save(g).efer; }
u32 gcpu_cpl(Gcpu& g) { return save(g).cpl; } // §15.5.1: the VMCB's CPL field
bool gcpu_in_64bit_mode(Gcpu& g) { return (save(g).efer & EFER_LMA) && (save(g).cs.attrib & ATTR_L); }
bool gcpu_cs_default_32(Gcpu& g) { return (save(g).cs.attrib & ATTR_DB) != 0; }
u64 gcpu_seg_base(Gcpu& g, u32 seg) { return seg <= EVMM_SEG_GS ? seg_of(g, seg).base : 0; }
bool gcpu_ss_big(Gcpu& g) { return (save(g).ss.attrib & ATTR_DB) != 0; }
u64 gcpu_guest_tsc(Gcpu& g) { return rdtsc() + ctl(g).tsc_offset; } // §15.30.5

evmm_segment_t gcpu_segment(Gcpu& g, SegReg r) {
    const VmcbSegment& s = seg_of(g, static_cast<u32>(r));
    return evmm_segment_t{s.base, s.limit, vmx_ar_from_svm(s.attrib), s.selector, {}};
}

void gcpu_set_segment(Gcpu& g, SegReg r, const evmm_segment_t& s) {
    seg_of(g, static_cast<u32>(r)) = VmcbSegment{s.selector, svm_attrib_from_vmx(s.attributes), s.limit, s.base};
    if (r == SegReg::SS) save(g).cpl = static_cast<u8>((s.attributes >> 5) & 3);
}

evmm_table_reg_t gcpu_gdtr(Gcpu& g) { return evmm_table_reg_t{save(g).gdtr.base, save(g).gdtr.limit, 0}; }
void gcpu_set_rip(Gcpu& g, u64 rip) { save(g).rip = rip; }

// With nested paging the CPU reads PAE PDPTEs itself at the next VMRUN; the guest's TLB entries go with a flush of
// its ASID (§15.16.1, TLB_CONTROL 3).
bool gcpu_load_cr3(Gcpu& g, u64 cr3) {
    save(g).cr3 = cr3;
    ctl(g).tlb_control = 3;
    return true;
}

void gcpu_set_task_switched(Gcpu& g) {
    save(g).cr0 |= CR0_TS;
    g.cr0_shadow |= CR0_TS;
}

// §15.10.2, Figure 15-2: EXITINFO1 of IOIO.
IoExit gcpu_io_exit(Gcpu& g) {
    const u64 i = ctl(g).exitinfo1;
    IoExit e{};
    e.port = static_cast<u16>(i >> IOIO_PORT_SHIFT);
    e.size = static_cast<u8>((i >> IOIO_SZ_SHIFT) & 7);
    if (e.size == 3 || e.size > 4) e.size = 4; // one-hot SZ8/SZ16/SZ32 -> 1, 2, 4 bytes
    e.in = (i & IOIO_TYPE_IN) != 0;
    e.string = (i & IOIO_STR) != 0;
    e.rep = (i & IOIO_REP) != 0;
    if (!e.string) return e;
    // One-hot A16/A32/A64, read against the mode (an address-size prefix only halves the default): QEMU's TCG
    // reports the field one bit too high (64-bit: bit 10, 32-bit: bit 9).
    const u64 a = (i >> IOIO_ADDR_SHIFT) & 7;
    if (svm::gcpu_in_64bit_mode(g))
        e.addr_size = a == 2 ? 4 : 8;
    else
        e.addr_size = svm::gcpu_cs_default_32(g) ? (a == 1 ? 2 : 4) : (a == 2 ? 4 : 2);
    const u64 mask = e.addr_size == 8 ? ~u64{0} : (u64{1} << (8 * e.addr_size)) - 1;
    if (e.in)
        e.linear = save(g).es.base + (g.reg(Gpr::RDI) & mask);
    else
        e.linear = svm::gcpu_seg_base(g, static_cast<u32>((i >> IOIO_SEG_SHIFT) & 7)) + (g.reg(Gpr::RSI) & mask);
    return e;
}

// §15.25.6: EXITINFO1 is a #PF error code for the nested access, EXITINFO2 the guest-physical address.
GpaExit gcpu_gpa_exit(Gcpu& g) {
    const u64 i = ctl(g).exitinfo1;
    GpaExit e{};
    e.gpa = ctl(g).exitinfo2;
    e.write = (i & NPF_RW) != 0;
    e.fetch = (i & NPF_ID) != 0;
    e.read = !e.write && !e.fetch;
    return e;
}

bool gcpu_exit_in_event_delivery(Gcpu& g) { return (ctl(g).exitintinfo & EVENT_VALID) != 0; }

// §15.7.1: with NRIP save, the VMCB's nRIP is the next instruction's address on instruction intercepts.
void gcpu_skip_instruction(Gcpu& g) {
    const VmcbControl& c = ctl(g);
    const auto code = static_cast<SvmExit>(c.exitcode);
    if (code == SvmExit::IOIO) return svm::gcpu_advance_rip(g, c.exitinfo2 - save(g).rip);
    if (svm_features().nrips && c.nrip != 0) return svm::gcpu_advance_rip(g, c.nrip - save(g).rip);
    const u64 n = fixed_length(c.exitcode);
    if (n == 0) not_in_slice(g, "skip of an instruction of unknown length (no NRIP save)");
    svm::gcpu_advance_rip(g, n);
}

bool gcpu_hypercall_begin(Gcpu& g) {
    if (svm::gcpu_cpl(g) != 0) { // VMMCALL at CPL > 0: #UD, as without SVM (the ABI refuses it, docs/vmcall.md)
        svm::gcpu_inject_exception(g, Vector::UD, 0);
        return false;
    }
    svm::gcpu_skip_instruction(g);
    return true;
}

void gcpu_advance_rip(Gcpu& g, u64 length) {
    save(g).rip += length;
    ctl(g).interrupt_shadow = 0; // §15.21.5: the STI / MOV SS shadow ends with the instruction
}

// SVM does not intercept HLT (the CPU halts in the guest, docs/svm.md); an HLT intercept would end here: the HLT
// returns at once (gcpu.h allows it: SVM keeps no halted state in the VMCB).
void gcpu_halt(Gcpu& g) { svm::gcpu_skip_instruction(g); }

// §15.20: EVENTINJ.
void gcpu_inject_exception(Gcpu& g, Vector v, u32 error_code) {
    const bool ec = vector_has_error_code(v) && (save(g).cr0 & CR0_PE);
    ctl(g).eventinj = static_cast<u64>(static_cast<u8>(v)) | (EVENT_TYPE_EXCEPTION << EVENT_TYPE_SHIFT) | EVENT_VALID |
                      (ec ? EVENT_EV | (u64{error_code} << 32) : 0);
    if (vector_is_fault(v)) save(g).rflags |= RFLAGS_RF;
}

void gcpu_inject_exception_for_access(Gcpu& g, Vector v, u32 error_code, const char* what) {
    const u64 info = ctl(g).exitintinfo; // §15.7.2: the event being delivered at the intercept
    if ((info & EVENT_VALID) && ((info >> EVENT_TYPE_SHIFT) & 7) == EVENT_TYPE_EXCEPTION) {
        const auto prior = static_cast<Vector>(info & 0xFF);
        if (prior == Vector::DF) {
            static char stop[128];
            format(stop, sizeof stop, "triple fault (%s while delivering #DF)", what);
            gcpu_guest_stopped(g, stop);
        }
        if (prior == Vector::DE || prior == Vector::TS || prior == Vector::NP || prior == Vector::SS ||
            prior == Vector::GP || prior == Vector::PF) {
            v = Vector::DF;
            error_code = 0;
        }
    }
    svm::gcpu_inject_exception(g, v, error_code);
}

void gcpu_inject_page_fault(Gcpu& g, u64 lin, u32 error_code) {
    save(g).cr2 = lin; // the VMCB holds the guest's CR2 (Table B-2)
    svm::gcpu_inject_exception(g, Vector::PF, error_code);
}

Status gcpu_load_state(Gcpu& g, const evmm_gcpu_state_t& s) { return svm_load_guest_state(g, s); }

void gcpu_dump(Gcpu& g) {
    const VmcbSave& v = save(g);
    const VmcbControl& c = ctl(g);
    LOG_ERROR("  guest rip=%016lx rsp=%016lx rflags=%016lx cpl=%u", v.rip, g.reg(Gpr::RSP), v.rflags, v.cpl);
    LOG_ERROR("  guest cr0=%016lx cr3=%016lx cr4=%016lx efer=%016lx", v.cr0, v.cr3, v.cr4, v.efer);
    LOG_ERROR("  vmcb exitcode=0x%lx exitinfo1=0x%lx exitinfo2=0x%lx exitintinfo=0x%lx", c.exitcode, c.exitinfo1,
              c.exitinfo2, c.exitintinfo);
}

// The world switch's last step (docs/tee.md, docs/svm.md): no VMCB is "current" on SVM, VMRUN names it. The exit of
// `from` being handled is left (VMSAVE kept its state in its VMCB at the #VMEXIT, §15.5.2) and this CPU's VMRUN
// loop starts over on its own stack with `to`: VMLOAD of to's FS/GS/TR/LDTR and syscall MSRs, VMRUN (§15.5).
[[noreturn]] void gcpu_switch(Gcpu& from, Gcpu& to) {
    const u64 loop_rsp = *svm_loop_rsp_slot(from.cpu_id);
    if (loop_rsp == 0) not_in_slice(from, "world switch before this CPU's VMRUN loop");
    if (!to.arch.launched) {
        // to's first entry (the TEE booted or died before guest0's vCPU ran here): its launch hooks run now (an AP
        // waits here for guest0's SIPI, vmm/modules/guest_apic.h), as in stage 6.
        event_raise(Event::GuestLaunch, to);
        to.arch.launched = true;
    }
    // §15.16: both worlds' translations are tagged by their ASIDs; where both have one (too few ASIDs) the entering
    // world starts with its ASID's translations flushed.
    if (ctl(to).guest_asid == ctl(from).guest_asid) [[unlikely]]
        svm_flush_guest_tlb(to);
    svm_before_vmrun(to);
    evmm_svm_enter_at(&to, loop_rsp);
}

[[noreturn]] void not_in_slice(Gcpu& g, const char* what) {
    static char why[120];
    format(why, sizeof why, "svm: %s: not in this slice (docs/svm.md)", what);
    gcpu_fatal(g, why);
}

} // namespace evmm::svm
