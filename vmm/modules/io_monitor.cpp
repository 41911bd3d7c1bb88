#include "vmm/modules/io_monitor.h"

#include "lib/format.h"
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

void on_io(Gcpu& g) {
    const IoExit q = gcpu_io_exit(g);
    if (q.string) [[unlikely]] {
        static char what[112];
        format(what, sizeof what, "string I/O (%s%s, %u bytes) on intercepted port 0x%x is not emulated",
               q.rep ? "rep " : "", q.in ? "INS" : "OUTS", q.size, q.port);
        gcpu_fatal(g, what);
    }
    const u32 mask = q.size == 1 ? 0xFF : q.size == 2 ? 0xFFFF : 0xFFFFFFFF;
    u32 value = q.in ? 0 : static_cast<u32>(g.reg(Gpr::RAX)) & mask;
    const PortHook* it = find(q.port, q.size);
    const IoHandler h = it == nullptr ? nullptr : (q.in ? it->in : it->out);
    if (h != nullptr)
        h(g, q.port, q.size, q.in, value);
    else if (q.in)
        value = io_port_in(q.port, q.size);
    else
        io_port_out(q.port, q.size, value);
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
