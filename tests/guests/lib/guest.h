// Guest test kit: the library every test guest (tests/guests/*.cpp) is built with. docs/guest-test-kit.md
// documents the protocol, the API and how to add a guest.
//
// A guest is a Multiboot2 kernel. lib/entry.S enters long mode on an identity map of the first 4 GiB and calls
// guest_entry64(), which programs COM1 (if GRUB/the hypervisor did not), installs a 64-bit IDT (vectors 0-255),
// parses the Multiboot2 information and calls the guest's
//
//     extern "C" void guest_main(const void* mb2_info);
//
// Returning from guest_main() is the same as calling guest_finish().
//
// Report protocol on COM1 (115200 8N1), one line each:
//     ok N - name            a passed check
//     not ok N - name        a failed check, usually followed by "# ..." detail lines
//     ok N - name # SKIP why a check that could not run (counted as passed)
//     # text                 a note
//     P passed, F failed     exactly once, last; then the guest leaves the emulator
// Leaving: "Shutdown" to port 0x8900 (Bochs) and 0x10 (all passed) / 0x11 (some failed) to port 0xf4
// (QEMU isa-debug-exit, exit status 33 / 35), then cli; hlt forever.
//
// An exception nobody expected is reported as `not ok N - unexpected exception ...` with vector, error code, RIP,
// CR2 and the registers, and closes the run (summary + exit): a crash is never a silent hang.
#pragma once

#include <stdarg.h>

#include "evmm/base.h"
#include "evmm/status.h"
#include "lib/formats/multiboot2.h"

// VMCALL ABI (vmcall at CPL 0): RAX = number; RBX, RCX, RDX = arguments; returns RAX = 0 or -errno, RBX = first
// result (DEBUG_HV_REGION: RBX = base, RCX = size).
#ifndef EVMM_VMCALL_PING
#define EVMM_VMCALL_PING 0            /* RBX = 0x6d6d7665 ("evmm") */
#define EVMM_VMCALL_VERSION 1         /* RBX = ABI version (1) */
#define EVMM_VMCALL_LOG 2             /* RBX = guest-physical address of the text, RCX = length */
#define EVMM_VMCALL_EXIT 3            /* RBX = status: the hypervisor stops */
#define EVMM_VMCALL_DEBUG_PANIC 4     /* debug builds: the hypervisor panics */
#define EVMM_VMCALL_DEBUG_HV_REGION 5 /* debug builds: RBX = base, RCX = size of the hypervisor's runtime region */
#define EVMM_VMCALL_DEBUG_EPT_REMAP 6 /* debug builds: guest-physical page RBX shows RAM page RCX, on every CPU */
#define EVMM_VMCALL_LOG_READ 7 /* RBX = buffer, RCX = size, RDX = cursor: evmm's log; RBX, RCX, RDX = n, next, end */
#endif
#define EVMM_VMCALL_PING_MAGIC 0x6d6d7665ull /* "evmm" */

namespace guest {

using ::size_t;
using evmm::i64;
using evmm::u16;
using evmm::u32;
using evmm::u64;
using evmm::u8;

inline constexpr i64 E_PERM = -1;
inline constexpr i64 E_FAULT = -14;
inline constexpr i64 E_INVAL = -22;
inline constexpr i64 E_NOSYS = -38;

// Exception vectors.
inline constexpr u8 VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5, VEC_UD = 6, VEC_NM = 7,
                    VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14, VEC_MF = 16,
                    VEC_AC = 17, VEC_MC = 18, VEC_XM = 19, VEC_VE = 20, VEC_CP = 21;
inline constexpr u8 NO_VECTOR = 0xFF;     // what probes put in `vector` when the instruction completed
const char* vector_name(unsigned vector); // "#GP", "#PF", ..., "INT" for 32-255

// ---- start/finish -----------------------------------------------------------------------------------------------

// Prints "NAME: guest0 running" and "# NAME: DESCRIPTION". Call first thing in guest_main().
void banner(const char* name, const char* description);
// Prints the summary line "P passed, F failed" and leaves the emulator (pass iff F == 0).
[[noreturn]] void guest_finish();
// Leaves the emulator without a summary: Bochs port 0x8900 "Shutdown", QEMU port 0xf4 (0x10 / 0x11), cli; hlt.
[[noreturn]] void guest_exit(bool pass);

// ---- output -----------------------------------------------------------------------------------------------------

void putc(char c);                                                      // '\n' goes out as "\r\n"
void puts(const char* s);                                               // no newline added
void print(const char* fmt, ...) __attribute__((format(printf, 1, 2))); // lib/format.h conversions
void vprint(const char* fmt, va_list ap);
void note(const char* fmt, ...) __attribute__((format(printf, 1, 2))); // "# text\n"

// ---- checks -----------------------------------------------------------------------------------------------------
// Each call is one numbered test. The name is printf-style. All return `cond` / whether the check passed.

bool check(bool cond, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Passes when got == want; on failure prints "# got 0x.. want 0x..".
bool check_eq(u64 got, u64 want, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
// For probes that must fault: passes when the probe faulted (completed == false) with vector `want`; on failure
// prints what happened instead ("no exception" or the other vector and its error code).
bool check_fault(bool completed, u8 vector, u8 want, const char* fmt, ...) __attribute__((format(printf, 4, 5)));
// For probes that must not fault: passes when completed; otherwise prints the vector and error code.
bool check_no_fault(bool completed, u8 vector, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
// "ok N - name # SKIP reason": a check that cannot run here (counted as passed).
void skip(const char* reason, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned tests_passed();
unsigned tests_failed();

// ---- Multiboot2 -------------------------------------------------------------------------------------------------

u32 mb2_magic();                // EAX at entry (0x2BADB002 for a Multiboot1 guest, lib/entry.S)
const void* mb2_info_address(); // EBX at entry (a Multiboot1 guest reads its information from here itself)
// The parsed information (lib/formats/multiboot2.h); nullptr when EAX was not the Multiboot2 magic or parsing failed
// (then mb2_status() says why).
const evmm::Mb2Info* mb2();
evmm::Status mb2_status();

// Where this guest image is loaded: [image_start(), image_end()) (linker symbols; physical = virtual).
u64 image_start();
u64 image_end();

// ---- probes: run an instruction that may fault, and recover ------------------------------------------------------
// Each returns true when the instruction completed (vector = NO_VECTOR) and false when it raised an exception
// (vector = its number; probe_error_code() / probe_cr2() give the error code and CR2 at the fault). Any exception
// is caught, whatever its vector, so a test compares the vector itself (check_fault). Probes do not nest.

bool probe_rdmsr(u32 msr, u64& val, u8& vector);
bool probe_wrmsr(u32 msr, u64 val, u8& vector);
bool probe_read64(u64 addr, u64& val, u8& vector);
bool probe_write64(u64 addr, u64 val, u8& vector);
bool probe_read8(u64 addr, u8& val, u8& vector);
bool probe_write_cr0(u64 val, u8& vector);
bool probe_write_cr4(u64 val, u8& vector);
bool probe_ud2(u8& vector); // executes ud2: always faults with #UD (a self-test of the mechanism)

struct VmcallResult {
    u64 rax = 0, rbx = 0, rcx = 0, rdx = 0;
};
// The hypercall instruction of this CPU's vendor: VMMCALL on AMD/Hygon (SVM), else VMCALL (VT-x).
bool hypercall_is_vmmcall();
// vmcall (VMMCALL on AMD) with RAX = nr, RBX/RCX/RDX = a1/a2/a3; outside a VM this raises #UD (vector 6).
bool probe_vmcall(u64 nr, u64 a1, u64 a2, u64 a3, VmcallResult& out, u8& vector);

// The general form: calls fn(ctx); returns true when it returned, false (vector set) when it raised an exception.
// Everything fn did up to the faulting instruction stays done; its stack frame is abandoned.
bool probe(void (*fn)(void*), void* ctx, u8& vector);
// The same for any callable (a lambda with captures): probe_fn([&] { ... }, vector).
template <typename F>
bool probe_fn(F f, u8& vector) {
    return probe([](void* p) { (*static_cast<F*>(p))(); }, &f, vector);
}
u64 probe_error_code(); // error code pushed by the last fault a probe caught (0 when the vector has none)
u64 probe_cr2();        // CR2 when the last probe fault was caught
// "key=N" on the guest's command line (decimal), else `def`.
u64 cmdline_u64(const char* key, u64 def);

// A handler for an interrupt or NMI a test expects (vector 2: NMI): called instead of the "unexpected exception"
// report, and the stub returns with IRET (which ends NMI blocking). nullptr removes it.
using VectorHandler = void (*)();
void set_vector_handler(u8 vector, VectorHandler h);
u64 probe_rflags(); // the RFLAGS image the last probe fault pushed (faults push it with RF = 1)
// The whole frame the last probe fault pushed (64-bit mode: SS, RSP, RFLAGS, CS, RIP, error code or 0).
struct ProbeFrame {
    u64 rip = 0, cs = 0, rflags = 0, rsp = 0, ss = 0, error = 0;
};
const ProbeFrame& probe_frame();

// ---- CPU helpers ------------------------------------------------------------------------------------------------

struct CpuidRegs {
    u32 eax = 0, ebx = 0, ecx = 0, edx = 0;
};
inline CpuidRegs cpuid(u32 leaf, u32 subleaf = 0) {
    CpuidRegs r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}
// VMCALL without a probe: raises #UD (an unexpected exception, closing the run) when no hypervisor is there.
u64 vmcall(u64 nr, u64 a1, u64 a2, u64 a3, u64* out_rbx);

inline u64 rdmsr(u32 msr) {
    u32 lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (u64{hi} << 32) | lo;
}
inline void wrmsr(u32 msr, u64 v) {
    asm volatile("wrmsr" : : "c"(msr), "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32)) : "memory");
}
inline u64 rdtsc() {
    u32 lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (u64{hi} << 32) | lo;
}

#define GUEST_CR_ACCESSORS(n)                         \
    inline u64 read_cr##n() {                         \
        u64 v;                                        \
        asm volatile("mov %%cr" #n ", %0" : "=r"(v)); \
        return v;                                     \
    }                                                 \
    inline void write_cr##n(u64 v) { asm volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); }
GUEST_CR_ACCESSORS(0)
GUEST_CR_ACCESSORS(2)
GUEST_CR_ACCESSORS(3)
GUEST_CR_ACCESSORS(4)
GUEST_CR_ACCESSORS(8)
#undef GUEST_CR_ACCESSORS

inline u64 read_rflags() {
    u64 v;
    asm volatile("pushfq; popq %0" : "=r"(v));
    return v;
}

inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
inline void outw(u16 port, u16 v) { asm volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
inline u8 inb(u16 port) {
    u8 v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline u16 inw(u16 port) {
    u16 v;
    asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline u32 inl(u16 port) {
    u32 v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

// Architectural bits the guests use.
inline constexpr u32 MSR_IA32_APIC_BASE = 0x1B;
inline constexpr u32 MSR_IA32_FEATURE_CONTROL = 0x3A;
inline constexpr u32 MSR_IA32_SYSENTER_CS = 0x174;
inline constexpr u32 MSR_IA32_SYSENTER_ESP = 0x175;
inline constexpr u32 MSR_IA32_SYSENTER_EIP = 0x176;
inline constexpr u32 MSR_IA32_PAT = 0x277;
inline constexpr u32 MSR_IA32_VMX_BASIC = 0x480;
inline constexpr u32 MSR_IA32_EFER = 0xC0000080;
inline constexpr u32 MSR_IA32_TSC_AUX = 0xC0000103;
inline constexpr u64 EFER_LME = evmm::bit(8), EFER_LMA = evmm::bit(10), EFER_NXE = evmm::bit(11);
inline constexpr u64 EFER_SVME = evmm::bit(12); // AMD SVM enable
inline constexpr u64 CR0_PE = evmm::bit(0), CR0_MP = evmm::bit(1), CR0_EM = evmm::bit(2), CR0_TS = evmm::bit(3),
                     CR0_ET = evmm::bit(4), CR0_NE = evmm::bit(5), CR0_WP = evmm::bit(16), CR0_AM = evmm::bit(18),
                     CR0_NW = evmm::bit(29), CR0_CD = evmm::bit(30), CR0_PG = evmm::bit(31);
inline constexpr u64 CR4_PSE = evmm::bit(4), CR4_PAE = evmm::bit(5), CR4_PGE = evmm::bit(7), CR4_OSFXSR = evmm::bit(9),
                     CR4_OSXMMEXCPT = evmm::bit(10), CR4_VMXE = evmm::bit(13), CR4_SMXE = evmm::bit(14);

} // namespace guest

// Defined by each guest.
extern "C" void guest_main(const void* mb2_info);
