// tee: the test TEE (docs/tee-test-kit.md), the secure world's image for evmm's tests: an ELF64 static PIE
// (tee.ld) that evmm loads as the `tee` boot module and enters on every CPU as include/evmm_tee.h describes
// (RDI = the startup structure, RSI = the CPU's number, RSP = its stack top, 64-bit mode, interrupts off).
//
// On entry each CPU loads its own IDT (exceptions 0-31: a probe's fault is recovered, any other is fatal: the TEE
// removes its IDT and triple-faults, which evmm must turn into a dead TEE). The BSP (CPU 0) then checks its view of
// the machine (the startup structure, its own memory, the barriers, guest0's RAM readable but not executable, evmm's
// region absent) and derives the MAC key from the device seed; every CPU checks its own entry state. Then each CPU
// makes the boot SMC (RDI = 0, "boot done"), which hands it to guest0; every later return from an SMC is a call
// from guest0 on that CPU, answered by the next SMC: RDI = the service (EVMM_TEE_SVC_*), the answer in RDI (0 or
// -errno), RSI, RDX, RCX. Services:
//   ECHO      RSI, RDX, RCX back unchanged
//   ADD       RSI = RSI + RDX (mod 2^64)
//   COUNTER   RSI = the global counter after this call's increment (atomic: calls from any CPU), RDX = the TEE's
//             CPU number that answered
//   MAC       RSI = guest-physical buffer, RDX = length (<= MAC_MAX_LEN): RSI = SipHash-2-4 of the bytes under
//             the key derived from the seed (lib/siphash.h); -EINVAL for a longer buffer, -EFAULT for one that is
//             not guest0's RAM below 4 GiB (overlapping the TEE's range with its barriers or evmm's region, or
//             faulting), -EBUSY before the BSP derived the key
//   CRASH     lidt with limit 0, ud2: #UD -> #GP -> #DF -> triple fault (no answer)
//   SELFTEST  RSI = checks passed, RDX = checks failed, RCX = bit mask of the failed checks (bits 0-31, Check) |
//             the vector the execute probe of guest0's RAM faulted with << 32 (0xFF: it did not fault)
//   other     RDI = -EINVAL
// The TEE never touches COM1: evmm owns the log.
#include "evmm_desc.h"
#include "evmm_tee.h"
#include "guest.h"
#include "siphash.h"
#include "tee_smc.h"

#pragma GCC visibility push(hidden) // one module: every symbol is PC-relative, no GOT, no dynamic symbols

using namespace guest;

// ---- entry, exception stubs, probes (asm) ------------------------------------------------------------------------
// _start: the contract's entry state already has a stack and paging; pass RSP at entry as the third argument so
// tee_main can check it. The exception stubs are TEE_STUB_SIZE bytes apart; each pushes a zero where the CPU pushes
// no error code (Intel SDM Vol. 3A §6.13, Table 6-1: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX have one).
// tee_probe_run(fn, ctx, probe) saves the callee-saved registers and RSP in *probe, arms it and calls fn(ctx);
// it returns TEE_NO_VECTOR, or the vector when tee_exception found the probe armed and resumed it
// (tee_probe_resume: back to the saved RSP, the faulting frame abandoned).
asm(R"(
    .section .text.entry, "ax"
    .globl _start
_start:
    cld
    mov %rsp, %rdx
    xor %ebp, %ebp
    call tee_main
    ud2

    .text
    .balign 16
    .globl tee_isr_stubs
tee_isr_stubs:
    .set tee_vec, 0
    .rept 32
    .balign 16
    .if (tee_vec == 8) || ((tee_vec >= 10) && (tee_vec <= 14)) || (tee_vec == 17) || (tee_vec == 21) || (tee_vec == 29) || (tee_vec == 30)
    .else
    pushq $0
    .endif
    pushq $tee_vec
    jmp tee_isr_common
    .set tee_vec, tee_vec + 1
    .endr

tee_isr_common:
    mov 0(%rsp), %rdi
    mov 8(%rsp), %rsi
    mov 16(%rsp), %rdx
    mov %rsp, %rcx
    and $-16, %rsp
    call tee_exception
    ud2

    .globl tee_probe_run
tee_probe_run:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    sub $8, %rsp
    mov %rdx, %rbx
    mov %rsp, 0(%rbx)
    movq $1, 8(%rbx)
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    movq $0, 8(%rbx)
    mov $0xFF, %eax
tee_probe_out:
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    .globl tee_probe_resume
tee_probe_resume:
    mov %rdi, %rsp
    mov %rsi, %rax
    jmp tee_probe_out
)");

namespace {

struct Probe {
    u64 rsp;   // tee_probe_run's frame (offset 0: asm)
    u64 armed; // offset 8: asm
    u64 error;
};
static_assert(__builtin_offsetof(Probe, rsp) == 0 && __builtin_offsetof(Probe, armed) == 8);

} // namespace

extern "C" {
extern char tee_isr_stubs[];
extern char __tee_image_start[], __tee_image_end[];
u64 tee_probe_run(void (*fn)(void*), void* ctx, Probe* probe);
[[noreturn]] void tee_probe_resume(u64 rsp, u64 vector);
[[noreturn]] void tee_main(u64 info_addr, u64 cpu, u64 entry_rsp);
[[noreturn]] void tee_exception(u64 vector, u64 error, u64 rip, u64 frame);
}

namespace {

constexpr u64 TEE_NO_VECTOR = 0xFF;
constexpr u32 TEE_STUB_SIZE = 16;
constexpr u32 TEE_EXCEPTIONS = 32; // vectors 0-31; the TEE takes no interrupts
constexpr u32 TEE_MAX_CPUS = EVMM_MAX_CPUS;
constexpr u64 PAGE = 4096;
constexpr u64 FOUR_GIB = 0x100000000ull;
constexpr u16 TEE_CS = 0x08, TEE_DS = 0x10; // the initial GDT (EVMM_TEE_GDT_OFFSET)
constexpr u64 RFLAGS_IF = evmm::bit(9);
constexpr u64 MAC_MAX_LEN = 4096;         // EVMM_TEE_SVC_MAC's length limit (include/evmm_tee.h)
constexpr u64 GUEST0_PROBE_PA = 0x100000; // guest0's RAM the BSP reads and tries to execute (1 MiB: RAM everywhere)
constexpr u8 X86_RET = 0xC3;
constexpr u64 RW_PATTERN = 0x7465'6521'5457'0001ull;
constexpr u64 SMC_BOOT_DONE = 0;
constexpr u64 SEED_VERSION = 1;

// errno values of the answers (negative, in RDI).
constexpr u64 ERR_FAULT = static_cast<u64>(-14);
constexpr u64 ERR_BUSY = static_cast<u64>(-16);
constexpr u64 ERR_INVAL = static_cast<u64>(-22);

// The checks behind SVC_SELFTEST, one bit each in its RCX mask. The entry-state checks run on every CPU.
enum Check : u32 {
    CHK_INFO_SIZE,      // size_of_this_struct == sizeof(evmm_tee_startup_info_t)
    CHK_SEED_HEADER,    // seed: size_of_this_struct == sizeof(evmm_tee_seed_t), version 1
    CHK_SEED_NONZERO,   // the seed is not all zero
    CHK_BASE,           // trusty_mem_base == the info page (RDI rounded down to 4 KiB)
    CHK_BASE_ALIGNED,   // ... and EVMM_TEE_ALIGN aligned
    CHK_MEM_SIZE,       // mem_size >= EVMM_TEE_MIN_SIZE
    CHK_TSC,            // calibrate_tsc_per_ms != 0
    CHK_AP_WAKEUP,      // sipi_ap_wkup_addr == 0 (every CPU enters at the entry)
    CHK_IMAGE_OFFSET,   // the image's lowest byte is at base + EVMM_TEE_IMAGE_OFFSET
    CHK_RELOCATED,      // a pointer in .data (R_X86_64_RELATIVE) points at its runtime target
    CHK_OWN_RW,         // the free area (first, middle, last page) is writable and reads back
    CHK_GUEST0_READ,    // guest0's RAM at GUEST0_PROBE_PA reads
    CHK_GUEST0_WRITE,   // ... and writes (the byte is restored)
    CHK_GUEST0_NOEXEC,  // ... and does not execute (#GP from evmm's EPT violation, or #PF)
    CHK_BARRIER_BELOW,  // base - 1 page faults
    CHK_BARRIER_ABOVE,  // base + mem_size faults
    CHK_HV_REGION,      // evmm's region (debug VMCALL DEBUG_HV_REGION, when answered) faults
    CHK_ENTRY_RFLAGS,   // every CPU: interrupts off at entry
    CHK_ENTRY_MODE,     // every CPU: CR0.PE|PG, CR4.PAE, EFER.LME|LMA|NXE
    CHK_ENTRY_CR3,      // every CPU: CR3 = base + EVMM_TEE_PT_OFFSET
    CHK_ENTRY_SEGMENTS, // every CPU: CS 0x08, SS/DS/ES 0x10
    CHK_ENTRY_STACK,    // every CPU n: RSP = base + mem_size - n * EVMM_TEE_STACK_SIZE
    CHK_ENTRY_CPU,      // every CPU: its number < TEE_MAX_CPUS, entered once
    CHK_OWN_STATE,      // at each SELFTEST: the syscall MSRs and DR0 this CPU set at boot are still its own
    CHK_COUNT
};
static_assert(CHK_COUNT <= 32);

struct [[gnu::packed]] IdtGate {
    u16 offset_lo;
    u16 selector;
    u8 ist;
    u8 type_attr;
    u16 offset_mid;
    u32 offset_hi;
    u32 reserved;
};
static_assert(sizeof(IdtGate) == 16);
constexpr u8 GATE_INTERRUPT_64 = 0x8E; // present, DPL 0, 64-bit interrupt gate (SDM Vol. 3A §6.14.1)

struct [[gnu::packed]] DescPtr {
    u16 limit;
    u64 base;
};

struct PerCpu {
    alignas(16) IdtGate idt[TEE_EXCEPTIONS];
    Probe probe;
    u64 entered;
    u64 calls;
    u64 fatal_vector, fatal_error, fatal_rip; // the last exception no probe expected (just before the crash)
};

PerCpu g_cpu[TEE_MAX_CPUS];
u64 g_base, g_size, g_top; // the TEE's memory [g_base, g_top = g_base + g_size); every CPU stores the same values
u64 g_counter;             // EVMM_TEE_SVC_COUNTER: global, atomic
u32 g_passed, g_failed, g_fail_mask;
u64 g_exec_vector = TEE_NO_VECTOR;
SipKey g_mac_key;
u32 g_key_ready;
u64 g_hv_base, g_hv_size; // evmm's region when the debug VMCALL answered (else 0, 0)

// CHK_RELOCATED: evmm applies the image's R_X86_64_RELATIVE relocations; this one is the image's only one.
u64 g_reloc_target;
u64* volatile g_reloc_pointer = &g_reloc_target;

void record(bool ok, Check c) {
    if (ok) {
        __atomic_add_fetch(&g_passed, 1u, __ATOMIC_RELAXED);
    } else {
        __atomic_add_fetch(&g_failed, 1u, __ATOMIC_RELAXED);
        __atomic_or_fetch(&g_fail_mask, 1u << c, __ATOMIC_RELAXED);
    }
}

[[noreturn]] void crash() {
    const DescPtr none{0, 0};
    asm volatile("lidt %0; ud2" : : "m"(none));
    __builtin_unreachable();
}

void load_idt(PerCpu& c) {
    const u64 stubs = reinterpret_cast<u64>(tee_isr_stubs);
    for (u32 v = 0; v < TEE_EXCEPTIONS; ++v) {
        const u64 h = stubs + u64{v} * TEE_STUB_SIZE;
        c.idt[v] = IdtGate{static_cast<u16>(h),       TEE_CS, 0, GATE_INTERRUPT_64, static_cast<u16>(h >> 16),
                           static_cast<u32>(h >> 32), 0};
    }
    const DescPtr p{static_cast<u16>(sizeof c.idt - 1), reinterpret_cast<u64>(c.idt)};
    asm volatile("lidt %0" : : "m"(p) : "memory");
}

// Runs fn(ctx) on this CPU; true when it completed, false (vector set) when it raised an exception.
bool probe(u32 cpu, void (*fn)(void*), void* ctx, u64& vector) {
    vector = tee_probe_run(fn, ctx, &g_cpu[cpu].probe);
    return vector == TEE_NO_VECTOR;
}
template <typename F>
bool probe_fn(u32 cpu, F f, u64& vector) {
    return probe(
        cpu, [](void* p) { (*static_cast<F*>(p))(); }, &f, vector);
}

bool probe_read(u32 cpu, u64 addr, u64& val) {
    u64 vector;
    return probe_fn(
        cpu, [&] { val = *reinterpret_cast<const volatile u64*>(addr); }, vector);
}
bool probe_rw(u32 cpu, u64 addr) { // writes a pattern, reads it back, restores the old value
    u64 vector;
    bool same = false;
    const bool done = probe_fn(
        cpu,
        [&] {
            volatile u64* p = reinterpret_cast<volatile u64*>(addr);
            const u64 old = *p;
            *p = RW_PATTERN ^ addr;
            same = *p == (RW_PATTERN ^ addr);
            *p = old;
        },
        vector);
    return done && same;
}

u16 read_seg(int which) {
    u16 v = 0;
    switch (which) {
    case 0: asm volatile("mov %%cs, %0" : "=r"(v)); break;
    case 1: asm volatile("mov %%ss, %0" : "=r"(v)); break;
    case 2: asm volatile("mov %%ds, %0" : "=r"(v)); break;
    default: asm volatile("mov %%es, %0" : "=r"(v)); break;
    }
    return v;
}

void check_entry_state(u32 cpu, u64 rflags, u64 entry_rsp) {
    record((rflags & RFLAGS_IF) == 0, CHK_ENTRY_RFLAGS);
    const u64 efer = rdmsr(MSR_IA32_EFER);
    record((read_cr0() & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG) && (read_cr4() & CR4_PAE) != 0 &&
               (efer & (EFER_LME | EFER_LMA | EFER_NXE)) == (EFER_LME | EFER_LMA | EFER_NXE),
           CHK_ENTRY_MODE);
    record((read_cr3() & ~(PAGE - 1)) == g_base + EVMM_TEE_PT_OFFSET, CHK_ENTRY_CR3);
    record(read_seg(0) == TEE_CS && read_seg(1) == TEE_DS && read_seg(2) == TEE_DS && read_seg(3) == TEE_DS,
           CHK_ENTRY_SEGMENTS);
    record(entry_rsp == g_top - u64{cpu} * EVMM_TEE_STACK_SIZE, CHK_ENTRY_STACK);
}

// The BSP's view of the machine, before its boot SMC (guest0 does not run yet: the byte it borrows of guest0's RAM
// is back before guest0 starts).
void boot_checks(const volatile evmm_tee_startup_info_t* info, u64 info_addr) {
    const auto* seed = reinterpret_cast<const volatile evmm_tee_seed_t*>(g_base);
    record(info->size_of_this_struct == sizeof(evmm_tee_startup_info_t), CHK_INFO_SIZE);
    record(seed->size_of_this_struct == sizeof(evmm_tee_seed_t) && seed->version == SEED_VERSION, CHK_SEED_HEADER);
    u8 any = 0;
    for (u32 i = 0; i < EVMM_TEE_SEED_SIZE; ++i) any |= seed->seed[i];
    record(any != 0, CHK_SEED_NONZERO);
    record(info->trusty_mem_base == (info_addr & ~(PAGE - 1)), CHK_BASE);
    record((g_base & (EVMM_TEE_ALIGN - 1)) == 0, CHK_BASE_ALIGNED);
    record(info->mem_size >= EVMM_TEE_MIN_SIZE, CHK_MEM_SIZE);
    record(info->calibrate_tsc_per_ms != 0, CHK_TSC);
    record(info->sipi_ap_wkup_addr == 0, CHK_AP_WAKEUP);
    record(reinterpret_cast<u64>(__tee_image_start) == g_base + EVMM_TEE_IMAGE_OFFSET, CHK_IMAGE_OFFSET);
    record(g_reloc_pointer == &g_reloc_target, CHK_RELOCATED);

    // Its own free memory: between the image and the lowest stack any CPU can have.
    const u64 free_lo = (reinterpret_cast<u64>(__tee_image_end) + PAGE - 1) & ~(PAGE - 1);
    const u64 free_hi = g_top - u64{TEE_MAX_CPUS} * EVMM_TEE_STACK_SIZE;
    const bool room = free_hi > free_lo + PAGE;
    const u64 mid = room ? (free_lo + (free_hi - free_lo) / 2) & ~(PAGE - 1) : free_lo;
    record(room && probe_rw(0, free_lo) && probe_rw(0, mid) && probe_rw(0, free_hi - PAGE), CHK_OWN_RW);

    // guest0's RAM: read, write (restored), not execute. The probe calls a RET placed there: were it executable,
    // the call would simply return.
    u64 v = 0;
    record(probe_read(0, GUEST0_PROBE_PA, v), CHK_GUEST0_READ);
    volatile u8* g0 = reinterpret_cast<volatile u8*>(GUEST0_PROBE_PA);
    u8 saved = 0;
    u64 vector;
    const bool wrote = probe_fn(
        0,
        [&] {
            saved = *g0;
            *g0 = X86_RET;
        },
        vector);
    record(wrote, CHK_GUEST0_WRITE);
    if (wrote) {
        const bool executed = probe(0, reinterpret_cast<void (*)(void*)>(GUEST0_PROBE_PA), nullptr, g_exec_vector);
        record(!executed && (g_exec_vector == VEC_GP || g_exec_vector == VEC_PF), CHK_GUEST0_NOEXEC);
        (void)probe_fn(
            0, [&] { *g0 = saved; }, vector);
    } else {
        record(false, CHK_GUEST0_NOEXEC);
    }

    // The barriers: neither world has them.
    record(!probe_read(0, g_base - PAGE, v), CHK_BARRIER_BELOW);
    record(!probe_read(0, g_top, v), CHK_BARRIER_ABOVE);

    // evmm's region, if the hypervisor tells (debug builds; the ordinary VMCALL rules apply in the TEE,
    // include/evmm_tee.h): not counted when it does not answer.
    u64 rax = EVMM_VMCALL_DEBUG_HV_REGION, rbx = 0, rcx = 0;
    if (smc_is_vmmcall())
        asm volatile("vmmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx) : : "rdx", "memory");
    else
        asm volatile("vmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx) : : "rdx", "memory");
    if (rax == 0 && rcx != 0 && rbx + rcx <= FOUR_GIB) {
        g_hv_base = rbx;
        g_hv_size = rcx;
        record(!probe_read(0, rbx, v) && !probe_read(0, rbx + rcx - sizeof(u64), v), CHK_HV_REGION);
    }

    // The MAC key, from the seed (copied out of the volatile view first).
    u8 s[EVMM_TEE_SEED_SIZE];
    for (u32 i = 0; i < EVMM_TEE_SEED_SIZE; ++i) s[i] = seed->seed[i];
    g_mac_key = siphash_derive_key(s);
    __atomic_store_n(&g_key_ready, 1u, __ATOMIC_RELEASE);
}

bool overlaps(u64 a, u64 alen, u64 b, u64 blen) { return a < b + blen && b < a + alen; }

SmcRegs svc_mac(u32 cpu, u64 buf, u64 len) {
    SmcRegs a;
    if (len > MAC_MAX_LEN) {
        a.rdi = ERR_INVAL;
        return a;
    }
    if (__atomic_load_n(&g_key_ready, __ATOMIC_ACQUIRE) == 0) {
        a.rdi = ERR_BUSY;
        return a;
    }
    // Only guest0's RAM: never the TEE's own memory (a MAC over it would be an oracle for the key and the seed),
    // never evmm's region; anything else that faults (MMIO holes, the barriers) is refused as well.
    const u64 tee_lo = g_base - EVMM_TEE_BARRIER, tee_len = g_size + 2 * EVMM_TEE_BARRIER;
    if (buf + len < buf || buf + len > FOUR_GIB || overlaps(buf, len, tee_lo, tee_len) ||
        (g_hv_size != 0 && overlaps(buf, len, g_hv_base, g_hv_size))) {
        a.rdi = ERR_FAULT;
        return a;
    }
    u64 mac = 0, vector;
    if (!probe_fn(
            cpu, [&] { mac = siphash24(g_mac_key, reinterpret_cast<const volatile u8*>(buf), len); }, vector)) {
        a.rdi = ERR_FAULT;
        return a;
    }
    a.rdi = 0;
    a.rsi = mac;
    return a;
}

// The world's own state (include/evmm_tee.h: everything but RDI/RSI/RDX/RCX is each world's): values guest0 never
// uses, set by each CPU at boot and compared at each SELFTEST (CHK_OWN_STATE).
constexpr u32 MSR_STAR = 0xC0000081, MSR_LSTAR = 0xC0000082, MSR_FMASK = 0xC0000084, MSR_KERNEL_GS_BASE = 0xC0000102;
constexpr u64 OWN_LSTAR = 0xFFFFFFFF7EE00000ull, OWN_KGS = 0xFFFF8000CAFE0000ull, OWN_STAR = 0x0023001000000000ull,
              OWN_FMASK = 0x4700, OWN_DR0 = 0x7EE0;
u64 rdmsr64(u32 msr) {
    u32 lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (u64{hi} << 32) | lo;
}
void wrmsr64(u32 msr, u64 v) {
    asm volatile("wrmsr" : : "c"(msr), "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32)) : "memory");
}
void set_own_state(u32 cpu) {
    wrmsr64(MSR_LSTAR, OWN_LSTAR + cpu);
    wrmsr64(MSR_KERNEL_GS_BASE, OWN_KGS + cpu);
    wrmsr64(MSR_STAR, OWN_STAR);
    wrmsr64(MSR_FMASK, OWN_FMASK);
    asm volatile("mov %0, %%db0" : : "r"(OWN_DR0 + cpu));
}
bool own_state_intact(u32 cpu) {
    u64 dr0;
    asm volatile("mov %%db0, %0" : "=r"(dr0));
    return rdmsr64(MSR_LSTAR) == OWN_LSTAR + cpu && rdmsr64(MSR_KERNEL_GS_BASE) == OWN_KGS + cpu &&
           rdmsr64(MSR_STAR) == OWN_STAR && rdmsr64(MSR_FMASK) == OWN_FMASK && dr0 == OWN_DR0 + cpu;
}

// Inlined into each of serve's two loops (as into the one loop before: P5 counts its calls).
[[gnu::always_inline]] inline SmcRegs dispatch(u32 cpu, const SmcRegs& call) {
    SmcRegs a;
    switch (call.rdi) {
    case EVMM_TEE_SVC_ECHO: a = SmcRegs{0, 0, call.rsi, call.rdx, call.rcx}; break;
    case EVMM_TEE_SVC_ADD: a = SmcRegs{0, 0, call.rsi + call.rdx, call.rdx, call.rcx}; break;
    case EVMM_TEE_SVC_COUNTER: a = SmcRegs{0, 0, __atomic_add_fetch(&g_counter, 1, __ATOMIC_SEQ_CST), cpu, 0}; break;
    case EVMM_TEE_SVC_MAC: a = svc_mac(cpu, call.rsi, call.rdx); break;
    case EVMM_TEE_SVC_CRASH: crash();
    case EVMM_TEE_SVC_SELFTEST:
        record(own_state_intact(cpu), CHK_OWN_STATE);
        a = SmcRegs{0, 0, __atomic_load_n(&g_passed, __ATOMIC_RELAXED), __atomic_load_n(&g_failed, __ATOMIC_RELAXED),
                    u64{__atomic_load_n(&g_fail_mask, __ATOMIC_RELAXED)} | (g_exec_vector << 32)};
        break;
    default: a.rdi = ERR_INVAL; break;
    }
    return a;
}

// The TEE's answer loop on one CPU: its first SMC (boot done), then each call's answer is the next SMC.
template <bool VMMCALL>
[[noreturn]] void serve(u32 cpu, PerCpu& c) {
    SmcRegs call = smc_with<VMMCALL>(SMC_BOOT_DONE, 0, 0, 0);
    for (;;) {
        ++c.calls;
        const SmcRegs a = dispatch(cpu, call);
        call = smc_with<VMMCALL>(a.rdi, a.rsi, a.rdx, a.rcx);
    }
}

} // namespace

extern "C" [[noreturn]] void tee_main(u64 info_addr, u64 cpu_arg, u64 entry_rsp) {
    const u64 rflags = read_rflags();
    if (cpu_arg >= TEE_MAX_CPUS) crash(); // no slot: nothing sane to do
    const u32 cpu = static_cast<u32>(cpu_arg);
    PerCpu& c = g_cpu[cpu];
    const auto* info = reinterpret_cast<const volatile evmm_tee_startup_info_t*>(info_addr);
    // Every CPU stores the same values: the exception handler needs them to find its CPU before the BSP's checks.
    __atomic_store_n(&g_base, info_addr & ~(PAGE - 1), __ATOMIC_RELAXED);
    __atomic_store_n(&g_size, u64{info->mem_size}, __ATOMIC_RELAXED);
    __atomic_store_n(&g_top, g_base + g_size, __ATOMIC_RELAXED);
    load_idt(c);
    record(__atomic_add_fetch(&c.entered, 1, __ATOMIC_RELAXED) == 1, CHK_ENTRY_CPU);
    check_entry_state(cpu, rflags, entry_rsp);
    if (cpu == 0) boot_checks(info, info_addr);
    set_own_state(cpu);

    // The hypercall instruction picked once, outside the loop (P5 counts every instruction of it).
    if (smc_is_vmmcall()) serve<true>(cpu, c);
    serve<false>(cpu, c);
}

// lib/libc.cpp's __cxa_pure_virtual (the TEE has no virtual functions): fatal like any unexpected fault.
extern "C" [[noreturn]] void evmm_pure_virtual_called() { crash(); }

// Every exception: a probe's is resumed; any other is recorded and fatal (the CPU number comes from the stack:
// CPU n's stack is [top - (n + 1) * EVMM_TEE_STACK_SIZE, top - n * EVMM_TEE_STACK_SIZE)).
extern "C" [[noreturn]] void tee_exception(u64 vector, u64 error, u64 rip, u64 frame) {
    const u64 top = __atomic_load_n(&g_top, __ATOMIC_RELAXED);
    const u64 cpu = frame < top ? (top - 1 - frame) / EVMM_TEE_STACK_SIZE : TEE_MAX_CPUS;
    if (cpu < TEE_MAX_CPUS) {
        PerCpu& c = g_cpu[cpu];
        if (c.probe.armed != 0) {
            c.probe.armed = 0;
            c.probe.error = error;
            tee_probe_resume(c.probe.rsp, vector);
        }
        c.fatal_vector = vector;
        c.fatal_error = error;
        c.fatal_rip = rip;
    }
    crash();
}
