#include "vmm/modules/io_monitor.h"

#include "arch/x86_64/rflags.h"
#include "lib/format.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/guest_paging.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/panic.h"
#include "vmm/modules/virt_policy.h"

namespace evmm {
namespace {

struct PortHook {
    u16 port;
    IoHandler in, out;
};
constexpr u32 MAX_INTERCEPTS = 32;

PortHook g_ports[MAX_INTERCEPTS];
u32 g_port_count = 0;

// The intercept covering an access of `size` bytes at `port`, or nullptr.
const PortHook* find(u16 port, u8 size) {
    for (u32 i = 0; i < g_port_count; ++i) {
        const u32 p = g_ports[i].port;
        if (p >= port && p < u32{port} + size) return &g_ports[i];
    }
    return nullptr;
}

} // namespace

// The access on the guest's behalf (a direction without a handler). SDM Vol. 1 §19.2: IN/OUT of 8, 16, 32 bits.
u32 io_port_in(u16 port, u8 size) {
    if (size == 1) {
        u8 v;
        asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
        return v;
    }
    if (size == 2) {
        u16 v;
        asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
        return v;
    }
    u32 v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void io_port_out(u16 port, u8 size, u32 v) {
    if (size == 1)
        asm volatile("outb %b0, %1" : : "a"(v), "Nd"(port));
    else if (size == 2)
        asm volatile("outw %w0, %1" : : "a"(v), "Nd"(port));
    else
        asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

namespace {

// One IN or OUT of `size` bytes at `port` on the guest's behalf: the port's hook, or the hardware.
u32 port_access(Gcpu& g, u16 port, u8 size, bool in, u32 value) {
    const PortHook* it = find(port, size);
    const IoHandler h = it == nullptr ? nullptr : (in ? it->in : it->out);
    if (h != nullptr)
        h(g, port, size, in, value);
    else if (in)
        value = io_port_in(port, size);
    else
        io_port_out(port, size, value);
    return value;
}

u32 width_mask(u8 size) { return size == 1 ? 0xFF : size == 2 ? 0xFFFF : 0xFFFFFFFF; }

// An address-size-wide register update: 16- and 32-bit address sizes change only SI/ESI, DI/EDI, CX/ECX — a 32-bit
// result zero-extends into the 64-bit register in 64-bit mode, a 16-bit one leaves bits 63:16 alone.
u64 with_addr(u64 old, u64 v, u8 addr_size, bool in64) {
    if (addr_size == 8) return v;
    if (addr_size == 4) return in64 ? (v & 0xFFFFFFFF) : (old & ~u64{0xFFFFFFFF}) | (v & 0xFFFFFFFF);
    return (old & ~u64{0xFFFF}) | (v & 0xFFFF);
}

// INS/OUTS with or without REP (SDM Vol. 2B "INS/INSB/INSW/INSD", "OUTS/OUTSB/OUTSW/OUTSD", "REP"): each element
// moves between the port and guest memory at seg:(E/R)DI (INS) or seg:(E/R)SI (OUTS), the index register steps by
// the element size (down when RFLAGS.DF = 1), and REP counts (E/R)CX down to 0. The guest's page tables translate
// each element; one that does not translate raises #PF, with the registers as they were after the elements done, as
// the hardware leaves them. A long REP runs in slices: after MAX_PER_EXIT elements RIP stays on the instruction,
// which then continues (like an interrupted REP).
void string_io(Gcpu& g, const IoExit& q) {
    constexpr u64 MAX_PER_EXIT = 4096;
    constexpr u32 PF_WRITE = 1u << 1, PF_USER = 1u << 2;
    const bool in64 = gcpu_in_64bit_mode(g);
    const u64 amask = q.addr_size == 8 ? ~u64{0} : q.addr_size == 4 ? 0xFFFFFFFF : 0xFFFF;
    const u32 idx = static_cast<u32>(q.in ? Gpr::RDI : Gpr::RSI);
    const u64 index0 = gcpu_gpr(g, idx) & amask;
    const u64 seg_base = q.linear - index0; // the segment base the CPU used for the first element
    const bool down = (gcpu_rflags(g) & RFLAGS_DF) != 0;
    u64 count = q.rep ? gcpu_gpr(g, static_cast<u32>(Gpr::RCX)) & amask : 1;
    const GuestPagingRegs regs{gcpu_cr0(g), gcpu_cr3(g), gcpu_cr4(g), gcpu_efer(g)};
    const GuestPhys mem(*g.guest);
    u64 index = index0, done = 0;
    while (count != 0 && done < MAX_PER_EXIT) {
        const u64 lin = seg_base + index;
        u8 bytes[4] = {};
        for (u32 i = 0; i < q.size; ++i) { // byte by byte: an element may straddle two pages
            u64 pa = 0;
            const bool ok = guest_linear_to_phys(mem, regs, lin + i, pa).ok();
            if (ok && !g.guest->phys_readable(pa, 1)) {
                // Memory the guest's second-level tables do not give it (the hypervisor's, a hidden device's): what
                // the access itself would have got, an EPT violation answered with #GP(0) (vmm/modules/gpa_access).
                gcpu_set_gpr(g, idx, with_addr(gcpu_gpr(g, idx), index, q.addr_size, in64));
                if (q.rep)
                    gcpu_set_gpr(g, static_cast<u32>(Gpr::RCX), with_addr(gcpu_gpr(g, 1), count, q.addr_size, in64));
                gcpu_inject_exception(g, Vector::GP, 0);
                return;
            }
            if (!ok) {
                gcpu_set_gpr(g, idx, with_addr(gcpu_gpr(g, idx), index, q.addr_size, in64));
                if (q.rep)
                    gcpu_set_gpr(g, static_cast<u32>(Gpr::RCX), with_addr(gcpu_gpr(g, 1), count, q.addr_size, in64));
                gcpu_inject_page_fault(g, lin + i, (q.in ? PF_WRITE : 0) | (gcpu_cpl(g) == 3 ? PF_USER : 0));
                return;
            }
            if (!q.in) bytes[i] = *reinterpret_cast<const volatile u8*>(pa);
        }
        u32 value = 0;
        if (!q.in) __builtin_memcpy(&value, bytes, q.size);
        value = port_access(g, q.port, q.size, q.in, value) & width_mask(q.size);
        if (q.in) {
            __builtin_memcpy(bytes, &value, q.size);
            for (u32 i = 0; i < q.size; ++i) {
                u64 pa = 0;
                (void)guest_linear_to_phys(mem, regs, lin + i, pa);
                *reinterpret_cast<volatile u8*>(pa) = bytes[i];
            }
        }
        index = (down ? index - q.size : index + q.size) & amask;
        --count;
        ++done;
    }
    gcpu_set_gpr(g, idx, with_addr(gcpu_gpr(g, idx), index, q.addr_size, in64));
    if (q.rep) gcpu_set_gpr(g, static_cast<u32>(Gpr::RCX), with_addr(gcpu_gpr(g, 1), count, q.addr_size, in64));
    if (count == 0) gcpu_skip_instruction(g);
}

void on_io(Gcpu& g) {
    const IoExit q = gcpu_io_exit(g);
    if (q.string) [[unlikely]]
        return string_io(g, q);
    const u32 mask = width_mask(q.size);
    u32 value = q.in ? 0 : static_cast<u32>(g.reg(Gpr::RAX)) & mask;
    value = port_access(g, q.port, q.size, q.in, value);
    if (q.in) {
        // IN AL/AX keep the rest of RAX; IN EAX zero-extends into RAX (SDM Vol. 1 §3.4.1.1).
        const u64 rax = g.reg(Gpr::RAX);
        g.reg(Gpr::RAX) = q.size == 4 ? u64{value} : (rax & ~u64{mask}) | (value & mask);
    }
    gcpu_skip_instruction(g);
}

} // namespace

void io_monitor_init() { intercept_register(Intercept::Io, on_io); }

void io_intercept(u16 port, IoHandler in, IoHandler out) {
    for (u32 i = 0; i < g_port_count; ++i)
        if (g_ports[i].port == port) PANIC("io_intercept: port 0x%x intercepted twice", port);
    if (g_port_count == MAX_INTERCEPTS) PANIC("io_intercept: more than %u ports", MAX_INTERCEPTS);
    g_ports[g_port_count++] = PortHook{port, in, out};
    intercept_io_port(port);
}

} // namespace evmm
