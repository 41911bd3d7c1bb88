// Guest test kit: serial output, reporting, exits, IDT/TSS, exception handling, probes, Multiboot2, libc bits.
#include "guest.h"

#include "lib/format.h"

// Symbols of lib/entry.S, lib/isr.S and guest.ld.
extern "C" {
extern char guest_isr_stubs[];
extern evmm::u64 guest_gdt[];
extern evmm::u32 guest_mb2_magic;
extern evmm::u32 guest_mb2_info;
extern char __image_start[], __image_end[];
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();
evmm::u64 guest_probe_run(void (*fn)(void*), void* ctx);
extern evmm::u64 guest_probe_fixup;
extern evmm::u64 guest_probe_rsp;
}

namespace guest {
namespace {

// ---- COM1 -------------------------------------------------------------------------------------------------------

constexpr u16 COM1 = 0x3F8;
constexpr u16 UART_THR = 0, UART_IER = 1, UART_FCR = 2, UART_LCR = 3, UART_MCR = 4, UART_LSR = 5;
constexpr u8 LSR_THRE = 0x20, LSR_TEMT = 0x40;
constexpr u8 LCR_8N1 = 0x03, LCR_DLAB = 0x80;
constexpr int UART_SPIN_LIMIT = 1000000; // a missing UART must not hang the guest

void serial_init() {
    // GRUB's `serial --speed=115200` (and the hypervisor) leave the UART at 8N1; reprogramming it then would only
    // risk garbling a line the hypervisor is printing, so only a UART that is not at 8N1 is set up.
    if (inb(COM1 + UART_LCR) == LCR_8N1) return;
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, LCR_DLAB);
    outb(COM1 + 0, 1); // divisor 1: 115200 baud
    outb(COM1 + 1, 0);
    outb(COM1 + UART_LCR, LCR_8N1);
    outb(COM1 + UART_FCR, 0xC7); // FIFO on, cleared, 14-byte threshold
    outb(COM1 + UART_MCR, 0x03); // DTR, RTS
}

void serial_raw(char c) {
    for (int i = 0; i < UART_SPIN_LIMIT && (inb(COM1 + UART_LSR) & LSR_THRE) == 0; ++i) {}
    outb(COM1 + UART_THR, static_cast<u8>(c));
}

void serial_drain() {
    for (int i = 0; i < UART_SPIN_LIMIT && (inb(COM1 + UART_LSR) & LSR_TEMT) == 0; ++i) {}
}

// ---- state ------------------------------------------------------------------------------------------------------

unsigned g_test_no;
unsigned g_passed;
unsigned g_failed;
const char* g_name = "guest";
bool g_finishing;
int g_exception_depth;

u64 g_probe_error;
u64 g_probe_cr2;
u64 g_probe_rflags;
ProbeFrame g_probe_frame;

evmm::Mb2Info g_mb2;
bool g_mb2_ok;
evmm::Status g_mb2_status;

// ---- IDT / TSS --------------------------------------------------------------------------------------------------

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

struct [[gnu::packed]] Tss64 {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iopb_offset;
};
static_assert(sizeof(Tss64) == 104);

struct [[gnu::packed]] DescPtr {
    u16 limit;
    u64 base;
};

constexpr u16 KERNEL_CS = 0x08;
constexpr u16 TSS_SEL = 0x18;
constexpr u8 GATE_INTERRUPT = 0x8E; // P=1, DPL=0, type 0xE (64-bit interrupt gate)
constexpr size_t IST_STACK_SIZE = 4096;

alignas(16) IdtGate g_idt[256];
alignas(16) Tss64 g_tss;
alignas(16) u8 g_ist_stacks[3][IST_STACK_SIZE]; // IST1 #DF, IST2 NMI, IST3 #MC

void idt_init() {
    for (unsigned v = 0; v < 256; ++v) {
        u64 a = reinterpret_cast<u64>(guest_isr_stubs) + 16 * v;
        IdtGate& g = g_idt[v];
        g.offset_lo = static_cast<u16>(a);
        g.selector = KERNEL_CS;
        g.ist = v == VEC_DF ? 1 : v == VEC_NMI ? 2 : v == VEC_MC ? 3 : 0;
        g.type_attr = GATE_INTERRUPT;
        g.offset_mid = static_cast<u16>(a >> 16);
        g.offset_hi = static_cast<u32>(a >> 32);
        g.reserved = 0;
    }
    for (unsigned i = 0; i < 3; ++i) g_tss.ist[i] = reinterpret_cast<u64>(&g_ist_stacks[i][IST_STACK_SIZE]);
    g_tss.iopb_offset = sizeof(Tss64); // no I/O permission bitmap
    u64 base = reinterpret_cast<u64>(&g_tss);
    u64 limit = sizeof(Tss64) - 1;
    // 64-bit TSS descriptor (SDM Vol. 3A §8.2.3): type 9 (available), P=1, DPL 0.
    guest_gdt[TSS_SEL / 8] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (u64{0x89} << 40) |
                             (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    guest_gdt[TSS_SEL / 8 + 1] = base >> 32;
    asm volatile("ltr %0" : : "r"(TSS_SEL) : "memory");
    DescPtr idtr{sizeof(g_idt) - 1, reinterpret_cast<u64>(g_idt)};
    asm volatile("lidt %0" : : "m"(idtr) : "memory");
}

void vreport(bool ok, const char* directive, const char* fmt, va_list ap) {
    ++g_test_no;
    if (ok)
        ++g_passed;
    else
        ++g_failed;
    print("%s %u - ", ok ? "ok" : "not ok", g_test_no);
    vprint(fmt, ap);
    if (directive != nullptr) print(" # %s", directive);
    putc('\n');
}

} // namespace

// ---- output -----------------------------------------------------------------------------------------------------

void putc(char c) {
    if (c == '\n') serial_raw('\r');
    serial_raw(c);
}

void puts(const char* s) {
    for (; *s != '\0'; ++s) putc(*s);
}

void vprint(const char* fmt, va_list ap) {
    char buf[512];
    evmm::vformat(buf, sizeof buf, fmt, ap);
    puts(buf);
}

void print(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}

void note(const char* fmt, ...) {
    puts("# ");
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
    putc('\n');
}

// ---- checks -----------------------------------------------------------------------------------------------------

bool check(bool cond, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(cond, nullptr, fmt, ap);
    va_end(ap);
    return cond;
}

bool check_eq(u64 got, u64 want, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(got == want, nullptr, fmt, ap);
    va_end(ap);
    if (got != want)
        note("  got 0x%llx (%lld), want 0x%llx (%lld)", static_cast<unsigned long long>(got),
             static_cast<long long>(got), static_cast<unsigned long long>(want), static_cast<long long>(want));
    return got == want;
}

bool check_fault(bool completed, u8 vector, u8 want, const char* fmt, ...) {
    bool ok = !completed && vector == want;
    va_list ap;
    va_start(ap, fmt);
    vreport(ok, nullptr, fmt, ap);
    va_end(ap);
    if (completed)
        note("  completed without an exception, want %s (vector %u)", vector_name(want), want);
    else if (!ok)
        note("  raised %s (vector %u, error code 0x%llx), want %s (vector %u)", vector_name(vector), vector,
             static_cast<unsigned long long>(g_probe_error), vector_name(want), want);
    return ok;
}

bool check_no_fault(bool completed, u8 vector, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(completed, nullptr, fmt, ap);
    va_end(ap);
    if (!completed)
        note("  raised %s (vector %u, error code 0x%llx, cr2 0x%llx)", vector_name(vector), vector,
             static_cast<unsigned long long>(g_probe_error), static_cast<unsigned long long>(g_probe_cr2));
    return completed;
}

void skip(const char* reason, const char* fmt, ...) {
    char directive[160];
    evmm::format(directive, sizeof directive, "SKIP %s", reason);
    va_list ap;
    va_start(ap, fmt);
    vreport(true, directive, fmt, ap);
    va_end(ap);
}

unsigned tests_passed() { return g_passed; }
unsigned tests_failed() { return g_failed; }

// ---- start/finish -----------------------------------------------------------------------------------------------

void banner(const char* name, const char* description) {
    g_name = name;
    print("%s: guest0 running\n", name);
    note("%s: %s", name, description);
}

[[noreturn]] void guest_exit(bool pass) {
    serial_drain();
    static const char shutdown[] = "Shutdown";
    for (const char* p = shutdown; *p != '\0'; ++p) outb(0x8900, static_cast<u8>(*p));
    outb(0xf4, pass ? 0x10 : 0x11);
    for (;;) asm volatile("cli; hlt");
}

[[noreturn]] void guest_finish() {
    g_finishing = true;
    print("%u passed, %u failed\n", g_passed, g_failed);
    guest_exit(g_failed == 0);
}

const char* vector_name(unsigned vector) {
    static const char* const names[32] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS",
                                          "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE",  "#CP",
                                          "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31"};
    return vector < 32 ? names[vector] : "INT";
}

// ---- Multiboot2 -------------------------------------------------------------------------------------------------

u32 mb2_magic() { return guest_mb2_magic; }
const void* mb2_info_address() { return reinterpret_cast<const void*>(static_cast<u64>(guest_mb2_info)); }
const evmm::Mb2Info* mb2() { return g_mb2_ok ? &g_mb2 : nullptr; }
evmm::Status mb2_status() { return g_mb2_status; }
u64 image_start() { return reinterpret_cast<u64>(__image_start); }
u64 image_end() { return reinterpret_cast<u64>(__image_end); }

// ---- probes -----------------------------------------------------------------------------------------------------

bool probe(void (*fn)(void*), void* ctx, u8& vector) {
    u64 r = guest_probe_run(fn, ctx);
    if (r == ~u64{0}) {
        vector = NO_VECTOR;
        return true;
    }
    vector = static_cast<u8>(r);
    return false;
}

u64 cmdline_u64(const char* key, u64 def) {
    const evmm::Mb2Info* m = mb2();
    if (m == nullptr || m->cmdline.str == nullptr) return def;
    const char* s = m->cmdline.str;
    const size_t klen = __builtin_strlen(key);
    for (size_t i = 0; s[i] != '\0'; ++i) {
        if ((i == 0 || s[i - 1] == ' ') && __builtin_memcmp(s + i, key, klen) == 0 && s[i + klen] == '=') {
            u64 v = 0;
            const char* p = s + i + klen + 1;
            if (*p < '0' || *p > '9') return def;
            for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<u64>(*p - '0');
            return v;
        }
    }
    return def;
}

u64 probe_error_code() { return g_probe_error; }
u64 probe_cr2() { return g_probe_cr2; }
u64 probe_rflags() { return g_probe_rflags; }
const ProbeFrame& probe_frame() { return g_probe_frame; }

bool probe_rdmsr(u32 msr, u64& val, u8& vector) {
    u64 v = 0;
    bool ok = probe_fn([&] { v = rdmsr(msr); }, vector);
    if (ok) val = v;
    return ok;
}

bool probe_wrmsr(u32 msr, u64 val, u8& vector) {
    return probe_fn([&] { wrmsr(msr, val); }, vector);
}

bool probe_read64(u64 addr, u64& val, u8& vector) {
    u64 v = 0;
    bool ok = probe_fn([&] { v = *reinterpret_cast<volatile u64*>(addr); }, vector);
    if (ok) val = v;
    return ok;
}

bool probe_read8(u64 addr, u8& val, u8& vector) {
    u8 v = 0;
    bool ok = probe_fn([&] { v = *reinterpret_cast<volatile u8*>(addr); }, vector);
    if (ok) val = v;
    return ok;
}

bool probe_write64(u64 addr, u64 val, u8& vector) {
    return probe_fn([&] { *reinterpret_cast<volatile u64*>(addr) = val; }, vector);
}

bool probe_write_cr0(u64 val, u8& vector) {
    return probe_fn([&] { write_cr0(val); }, vector);
}

bool probe_write_cr4(u64 val, u8& vector) {
    return probe_fn([&] { write_cr4(val); }, vector);
}

bool probe_ud2(u8& vector) {
    return probe_fn([] { asm volatile("ud2"); }, vector);
}

// evmm's hypercall instruction: VMCALL (0F 01 C1) on Intel VT-x, VMMCALL (0F 01 D9) on AMD SVM (AMD APM Vol. 3
// "VMMCALL"; VMCALL is #UD there), picked by the CPU vendor (AuthenticAMD, HygonGenuine: SVM).
bool hypercall_is_vmmcall() {
    static int amd = -1;
    if (amd < 0) {
        const CpuidRegs v = cpuid(0);
        amd = (v.ebx == 0x68747541 && v.edx == 0x69746E65 && v.ecx == 0x444D4163) || // "AuthenticAMD"
              (v.ebx == 0x6F677948 && v.edx == 0x6E65476E && v.ecx == 0x656E6975);   // "HygonGenuine"
    }
    return amd != 0;
}

namespace {
void hypercall(u64& rax, u64& rbx, u64& rcx, u64& rdx) {
    if (hypercall_is_vmmcall())
        asm volatile("vmmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx) : : "memory");
    else
        asm volatile("vmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx) : : "memory");
}
} // namespace

bool probe_vmcall(u64 nr, u64 a1, u64 a2, u64 a3, VmcallResult& out, u8& vector) {
    VmcallResult r;
    hypercall_is_vmmcall(); // decided before the probe (CPUID at CPL 3 would work too, but not in a probe's frame)
    bool ok = probe_fn(
        [&] {
            u64 rax = nr, rbx = a1, rcx = a2, rdx = a3;
            hypercall(rax, rbx, rcx, rdx);
            r.rax = rax;
            r.rbx = rbx;
            r.rcx = rcx;
            r.rdx = rdx;
        },
        vector);
    if (ok) out = r;
    return ok;
}

u64 vmcall(u64 nr, u64 a1, u64 a2, u64 a3, u64* out_rbx) {
    u64 rax = nr, rbx = a1, rcx = a2, rdx = a3;
    hypercall(rax, rbx, rcx, rdx);
    if (out_rbx != nullptr) *out_rbx = rbx;
    return rax;
}

// ---- exceptions -------------------------------------------------------------------------------------------------

struct Frame {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error, rip, cs, rflags, rsp, ss;
};

VectorHandler g_vector_handler[256];

void set_vector_handler(u8 vector, VectorHandler h) { g_vector_handler[vector] = h; }

extern "C" void guest_exception(Frame* f) {
    if (const VectorHandler h = g_vector_handler[f->vector & 0xFF]; h != nullptr) {
        h(); // an interrupt or NMI the test expects: handled, then IRET (lib/isr.S)
        return;
    }
    if (guest_probe_fixup != 0) {
        // An expected fault: resume at the probe's recovery point with RAX = vector (lib/isr.S, guest_probe_run).
        g_probe_error = f->error;
        g_probe_cr2 = read_cr2();
        g_probe_rflags = f->rflags;
        g_probe_frame = ProbeFrame{f->rip, f->cs, f->rflags, f->rsp, f->ss, f->error};
        f->rax = f->vector;
        f->rip = guest_probe_fixup;
        f->rsp = guest_probe_rsp;
        guest_probe_fixup = 0;
        return;
    }
    if (++g_exception_depth > 1) {
        // An exception while reporting one: say the least possible and leave.
        puts("\n# nested exception while reporting an exception\n");
        guest_exit(false);
    }
    unsigned v = static_cast<unsigned>(f->vector);
    ++g_test_no;
    ++g_failed;
    print("not ok %u - %s: unexpected exception %s (vector %u)\n", g_test_no, g_name, vector_name(v), v);
    note("  error code 0x%llx, rip 0x%llx, cs 0x%llx, rflags 0x%llx, rsp 0x%llx, ss 0x%llx, cr2 0x%llx",
         static_cast<unsigned long long>(f->error), static_cast<unsigned long long>(f->rip),
         static_cast<unsigned long long>(f->cs), static_cast<unsigned long long>(f->rflags),
         static_cast<unsigned long long>(f->rsp), static_cast<unsigned long long>(f->ss),
         static_cast<unsigned long long>(read_cr2()));
    note("  rax 0x%llx rbx 0x%llx rcx 0x%llx rdx 0x%llx rsi 0x%llx rdi 0x%llx rbp 0x%llx",
         static_cast<unsigned long long>(f->rax), static_cast<unsigned long long>(f->rbx),
         static_cast<unsigned long long>(f->rcx), static_cast<unsigned long long>(f->rdx),
         static_cast<unsigned long long>(f->rsi), static_cast<unsigned long long>(f->rdi),
         static_cast<unsigned long long>(f->rbp));
    note("  cr0 0x%llx cr3 0x%llx cr4 0x%llx", static_cast<unsigned long long>(read_cr0()),
         static_cast<unsigned long long>(read_cr3()), static_cast<unsigned long long>(read_cr4()));
    if (g_finishing) guest_exit(false);
    guest_finish();
}

} // namespace guest

// ---- entry ------------------------------------------------------------------------------------------------------

extern "C" [[noreturn]] void guest_entry64(evmm::u32 magic, evmm::u32 info) {
    using namespace guest;
    serial_init();
    putc('\n'); // GRUB or the hypervisor may have left a partial line
    idt_init();
    for (auto* c = __init_array_start; c != __init_array_end; ++c) (*c)();
    if (magic != 0x36D76289u) {
        g_mb2_status = evmm::Status::error("EAX at entry is not the Multiboot2 magic", nullptr, magic);
    } else {
        const auto* p = reinterpret_cast<const u8*>(static_cast<u64>(info));
        // The identity map covers the first 4 GiB: that much is readable from `info` on.
        g_mb2_status = evmm::mb2_parse(p, 0x100000000ull - info, g_mb2);
        g_mb2_ok = g_mb2_status.ok();
    }
    guest_main(reinterpret_cast<const void*>(static_cast<u64>(info)));
    guest_finish();
}

// ---- the C library symbols GCC may emit calls to ----------------------------------------------------------------

// memcpy & co come from the images' own lib/libc.cpp (linked into the kit); a pure virtual call ends the run.
extern "C" [[noreturn]] void evmm_pure_virtual_called() {
    guest::print("not ok - pure virtual function called\n");
    guest::guest_exit(false);
}
