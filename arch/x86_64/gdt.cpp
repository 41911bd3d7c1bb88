#include "arch/x86_64/gdt.h"

namespace evmm {

void gdt_build(Gdt& gdt, const Tss64& tss) {
    const u64 base = reinterpret_cast<uptr>(&tss);
    const u64 limit = sizeof(Tss64) - 1;
    gdt.entry[0] = 0;
    gdt.entry[1] = DESC_LIMIT_MAX | DESC_ACCESSED | DESC_RW | DESC_EXEC | DESC_CODE_DATA | DESC_PRESENT | DESC_LONG |
                   DESC_GRANULARITY;
    gdt.entry[2] =
        DESC_LIMIT_MAX | DESC_ACCESSED | DESC_RW | DESC_CODE_DATA | DESC_PRESENT | DESC_DB | DESC_GRANULARITY;
    // 16-byte system descriptor: limit 15:0, base 23:0, type, P, limit 19:16, base 31:24; then base 63:32.
    gdt.entry[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | DESC_TYPE_TSS_AVAILABLE | DESC_PRESENT |
                   (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    gdt.entry[4] = base >> 32;
}

void gdt_load(const Gdt& gdt) {
    DescriptorTableRegister r{static_cast<u16>(sizeof(gdt.entry) - 1), reinterpret_cast<uptr>(&gdt)};
    asm volatile("lgdt %0" : : "m"(r));
    asm volatile(
        "pushq %[cs]\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "movw %[ds], %%ax\n\t"
        "movw %%ax, %%ds\n\t"
        "movw %%ax, %%es\n\t"
        "movw %%ax, %%ss\n\t"
        "xorl %%eax, %%eax\n\t"
        "movw %%ax, %%fs\n\t"
        "movw %%ax, %%gs\n\t"
        :
        : [cs] "i"(static_cast<u16>(Selector::Code64)), [ds] "i"(static_cast<u16>(Selector::Data))
        : "rax", "memory");
    // Note: writing GS selector zeroes the GS base on some CPUs: callers set IA32_GS_BASE after this.
    asm volatile("ltr %w0" : : "r"(static_cast<u16>(Selector::Tss)));
}

} // namespace evmm
