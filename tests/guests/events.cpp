// events: the exceptions a hypervisor injects for the instructions it intercepts must arrive with the frame the
// processor itself pushes for that fault (SDM Vol. 3A §7.12, §7.14: vector, error code, RIP of the faulting
// instruction, CS, RFLAGS with RF set (§17.3.1.1), the interrupted RSP and SS), exactly once; and an interrupt
// that becomes deliverable while such an injection is pending arrives after the fault's delivery, as on bare metal:
// an interrupt held back by an STI shadow is taken after the handler of the fault in that shadow, not before, not
// lost and not twice.
//
// The checks marked "(evmm)" are faults only evmm raises (a VMX capability MSR read, CR4.VMXE, a store to the APIC
// page that is not a register write): bare metal completes them; the frame rules are the same. Under evmm all pass;
// bare (tools/run-bare.sh events) those are SKIPped (no hypervisor in CPUID).
#include "guest.h"
#include "smp.h"

using namespace guest;

extern "C" u64 guest_probe_fixup; // lib/isr.S: non-zero while a probe waits for its fault

namespace {

constexpr u64 RFLAGS_RF = 1ull << 16, RFLAGS_IF = 1ull << 9;
constexpr u64 KERNEL_CS = 0x08;
constexpr u32 MSR_IA32_VMX_BASIC = 0x480;
constexpr u64 CR4_OSXSAVE = 1ull << 18;
constexpr u16 PCI_CONFIG_DATA = 0xCFC;
constexpr u64 UNMAPPED = 0x100000000ull * 8; // 32 GiB: above the kit's 4 GiB identity map (#PF, not present)
constexpr u8 IPI_VECTOR = 0x51;
constexpr u32 ICR_SELF_FIXED = (1u << 18) | IPI_VECTOR; // destination shorthand 01 "self", fixed, edge
constexpr u32 APIC_REG_EOI = 0xB0, APIC_REG_TPR = 0x80;
constexpr u16 PIC1_DATA = 0x21, PIC2_DATA = 0xA1;
constexpr u8 PIC_MASK_ALL = 0xFF;
constexpr u32 APIC_SVR_ENABLE = 0x100;

bool under_hypervisor() { return (cpuid(1).ecx & (1u << 31)) != 0; }

// Where the instruction under test is, and the RSP it runs with (filled by the asm of each probe).
struct At {
    u64 rip = 0, rsp = 0;
};

// The frame of the fault the last probe caught, against what the processor pushes for a fault at `at`.
void check_frame(const char* what, bool done, u8 vec, u8 want_vec, bool has_error, u64 want_error, const At& at) {
    if (!check_fault(done, vec, want_vec, "%s: %s", what, vector_name(want_vec))) return;
    const ProbeFrame& f = probe_frame();
    check_eq(f.rip, at.rip, "%s: pushed RIP is the faulting instruction", what);
    check(f.cs == KERNEL_CS && (f.rflags & RFLAGS_RF) != 0,
          "%s: CS 0x%llx, RFLAGS 0x%llx with RF set (a fault's frame)", what, static_cast<unsigned long long>(f.cs),
          static_cast<unsigned long long>(f.rflags));
    check_eq(f.rsp, at.rsp, "%s: pushed RSP is the interrupted one", what);
    if (has_error) check_eq(f.error, want_error, "%s: error code", what);
}

void wrmsr_vmx_basic() {
    At at;
    u8 vec = 0;
    const bool done = probe_fn(
        [&] {
            asm volatile("leaq 1f(%%rip), %%r11; movq %%r11, %0; movq %%rsp, %1; 1: wrmsr"
                         : "=m"(at.rip), "=m"(at.rsp)
                         : "c"(MSR_IA32_VMX_BASIC), "a"(0), "d"(0)
                         : "r11", "memory");
        },
        vec);
    check_frame("WRMSR IA32_VMX_BASIC (read-only MSR)", done, vec, VEC_GP, true, 0, at);
}

void rdmsr_vmx_basic() {
    if (!under_hypervisor()) return skip("bare metal reads it", "RDMSR IA32_VMX_BASIC: #GP (evmm)");
    At at;
    u8 vec = 0;
    const bool done = probe_fn(
        [&] {
            u32 lo, hi;
            asm volatile("leaq 1f(%%rip), %%r11; movq %%r11, %2; movq %%rsp, %3; 1: rdmsr"
                         : "=a"(lo), "=d"(hi), "=m"(at.rip), "=m"(at.rsp)
                         : "c"(MSR_IA32_VMX_BASIC)
                         : "r11", "memory");
        },
        vec);
    check_frame("RDMSR IA32_VMX_BASIC (VMX hidden, evmm)", done, vec, VEC_GP, true, 0, at);
}

void mov_cr4_vmxe() {
    if (!under_hypervisor()) return skip("bare Bochs has VMX", "MOV CR4.VMXE: #GP (evmm)");
    At at;
    u8 vec = 0;
    const u64 v = read_cr4() | CR4_VMXE;
    const bool done = probe_fn(
        [&] {
            asm volatile("leaq 1f(%%rip), %%r11; movq %%r11, %0; movq %%rsp, %1; 1: movq %2, %%cr4"
                         : "=m"(at.rip), "=m"(at.rsp)
                         : "r"(v)
                         : "r11", "memory");
        },
        vec);
    check_frame("MOV to CR4 with VMXE (evmm)", done, vec, VEC_GP, true, 0, at);
}

void xsetbv_bad() {
    if (!(cpuid(1).ecx & (1u << 26))) return skip("no XSAVE", "XSETBV XCR0 = 2: #GP");
    write_cr4(read_cr4() | CR4_OSXSAVE);
    At at;
    u8 vec = 0;
    const bool done = probe_fn(
        [&] {
            asm volatile("leaq 1f(%%rip), %%r11; movq %%r11, %0; movq %%rsp, %1; 1: xsetbv"
                         : "=m"(at.rip), "=m"(at.rsp)
                         : "c"(0), "a"(2), "d"(0) // SSE without x87: invalid (SDM Vol. 1 §13.3)
                         : "r11", "memory");
        },
        vec);
    check_frame("XSETBV XCR0 = 2 (SSE without x87)", done, vec, VEC_GP, true, 0, at);
}

void vmx_instruction() {
    At at;
    u8 vec = 0;
    u64 region = 0;
    const bool done = probe_fn(
        [&] {
            asm volatile("leaq 1f(%%rip), %%r11; movq %%r11, %0; movq %%rsp, %1; 1: vmxon %2"
                         : "=m"(at.rip), "=m"(at.rsp)
                         : "m"(region)
                         : "r11", "memory", "cc");
        },
        vec);
    check_frame("VMXON with CR4.VMXE clear", done, vec, VEC_UD, false, 0, at);
}

void string_io_unmapped() {
    At at;
    u8 vec = 0;
    const bool done = probe_fn(
        [&] {
            asm volatile("leaq 1f(%%rip), %%r11; movq %%r11, %0; movq %%rsp, %1; 1: rep outsl"
                         : "=m"(at.rip), "=m"(at.rsp)
                         : "S"(UNMAPPED), "c"(2), "d"(PCI_CONFIG_DATA)
                         : "r11", "memory");
        },
        vec);
    check_frame("REP OUTSD from an unmapped page to an intercepted port", done, vec, VEC_PF, true, 0, at);
    check_eq(probe_cr2(), UNMAPPED, "... CR2 is the element's address");
}

void apic_byte_store() {
    if (!under_hypervisor()) return skip("bare Bochs stops on a byte APIC write", "APIC byte store: #GP (evmm)");
    if (apic_x2apic()) return skip("x2APIC mode", "APIC byte store: #GP (evmm)");
    At at;
    u8 vec = 0;
    const u64 tpr = apic_mmio_base() + APIC_REG_TPR;
    const bool done = probe_fn(
        [&] {
            asm volatile("leaq 1f(%%rip), %%r11; movq %%r11, %0; movq %%rsp, %1; 1: movb $0, (%2)"
                         : "=m"(at.rip), "=m"(at.rsp)
                         : "r"(tpr)
                         : "r11", "memory");
        },
        vec);
    check_frame("byte store to the APIC's TPR (undefined access, evmm)", done, vec, VEC_GP, true, 0, at);
}

// ---- an interrupt pending while a fault is injected ------------------------------------------------------------

volatile u32 g_ipis;
volatile u32 g_ipis_before_fault; // IPIs taken while the probe still waited for its fault

void on_ipi() {
    g_ipis = g_ipis + 1;
    if (guest_probe_fixup != 0) g_ipis_before_fault = g_ipis_before_fault + 1;
    apic_write(APIC_REG_EOI, 0);
}

// cli; a self-IPI (pending in the IRR); sti; WRMSR that faults. The WRMSR runs in the STI shadow, so the interrupt
// cannot be taken before it; the #GP is delivered first (through an interrupt gate: IF = 0 in the handler), and the
// interrupt right after the handler's IRET restores IF. Under evmm the #GP is injected at VM entry with the
// interrupt already pending.
void interrupt_pending_at_injection(bool wrmsr) {
    g_ipis = 0;
    g_ipis_before_fault = 0;
    asm volatile("cli");
    apic_write(APIC_REG_ICR_HI, 0);
    apic_write(APIC_REG_ICR_LO, ICR_SELF_FIXED);
    u8 vec = 0;
    const bool done = probe_fn(
        [&] {
            if (wrmsr)
                asm volatile("sti; wrmsr" ::"c"(MSR_IA32_VMX_BASIC), "a"(0), "d"(0) : "memory");
            else
                asm volatile("sti; rep outsl" ::"S"(UNMAPPED), "c"(2), "d"(PCI_CONFIG_DATA) : "memory");
        },
        vec);
    for (int i = 0; i < 1000 && g_ipis == 0; ++i) asm volatile("pause");
    asm volatile("cli");
    const char* what = wrmsr ? "WRMSR #GP" : "REP OUTSD #PF";
    check_fault(done, vec, wrmsr ? VEC_GP : VEC_PF, "%s in an STI shadow with a self-IPI pending: the fault", what);
    check_eq(g_ipis, 1, "%s with an IPI pending: the IPI arrives exactly once", what);
    check_eq(g_ipis_before_fault, 0, "%s with an IPI pending: the IPI arrives after the fault, not before", what);
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("events", "injected faults carry the hardware's frame; interrupts pending at an injection come after it");
    note("  %s", under_hypervisor() ? "under a hypervisor" : "bare metal");
    wrmsr_vmx_basic();
    rdmsr_vmx_basic();
    mov_cr4_vmxe();
    xsetbv_bad();
    vmx_instruction();
    string_io_unmapped();
    apic_byte_store();
    if (apic_x2apic()) {
        skip("x2APIC mode", "interrupt pending at an injection");
    } else {
        outb(PIC1_DATA, PIC_MASK_ALL); // only the test's own interrupts
        outb(PIC2_DATA, PIC_MASK_ALL);
        apic_write(APIC_REG_SVR, apic_read(APIC_REG_SVR) | APIC_SVR_ENABLE);
        set_vector_handler(IPI_VECTOR, on_ipi);
        interrupt_pending_at_injection(true);
        interrupt_pending_at_injection(false);
        set_vector_handler(IPI_VECTOR, nullptr);
    }
    guest_finish();
}
