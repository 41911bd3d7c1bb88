// demo: the guest `tools/evmm run --demo` boots. It prints what guest0 sees of the machine under evmm: its
// command line, the memory map evmm gave it (the hypervisor's region is missing), the modules, the CPU and the
// hypervisor's CPUID leaf, and talks to evmm through VMCALL. Then it leaves the emulator.
#include "guest.h"

using namespace guest;

namespace {

const char* type_name(u32 t) {
    switch (t) {
    case 1: return "usable";
    case 2: return "reserved";
    case 3: return "ACPI reclaimable";
    case 4: return "ACPI NVS";
    case 5: return "bad";
    }
    return "?";
}

void regs_to_chars(u32 r, char* out) {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(r >> (8 * i));
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("demo", "what guest0 sees of the machine under evmm");
    const evmm::Mb2Info* mb = mb2();
    if (mb == nullptr) {
        print("demo: no Multiboot2 information (%s)\n", mb2_status().what);
        guest_finish();
    }
    print("demo: booted by \"%s\", command line \"%s\"\n", mb->loader_name.str ? mb->loader_name.str : "?",
          mb->cmdline.str ? mb->cmdline.str : "");
    print("demo: memory map (%u entries):\n", mb->mmap_count);
    for (u32 i = 0; i < mb->mmap_count; ++i)
        print("demo:   0x%016lx-0x%016lx %s\n", mb->mmap[i].base, mb->mmap[i].base + mb->mmap[i].length,
              type_name(mb->mmap[i].type));
    for (u32 i = 0; i < mb->module_count; ++i)
        print("demo: module %u: 0x%x-0x%x \"%s\"\n", i, mb->modules[i].mod_start, mb->modules[i].mod_end,
              mb->modules[i].cmdline.str ? mb->modules[i].cmdline.str : "");

    char vendor[13] = {};
    const auto v = cpuid(0);
    regs_to_chars(v.ebx, vendor);
    regs_to_chars(v.edx, vendor + 4);
    regs_to_chars(v.ecx, vendor + 8);
    const auto f = cpuid(1);
    print("demo: CPU %s, CPUID.1:ECX hypervisor bit %u, VMX bit %u\n", vendor, (f.ecx >> 31) & 1, (f.ecx >> 5) & 1);
    char sig[13] = {};
    const auto h = cpuid(0x40000000);
    regs_to_chars(h.ebx, sig);
    regs_to_chars(h.ecx, sig + 4);
    regs_to_chars(h.edx, sig + 8);
    print("demo: hypervisor CPUID leaf 0x40000000: \"%s\", max leaf 0x%x\n", sig, h.eax);

    VmcallResult r;
    u8 vec = 0;
    if (probe_vmcall(EVMM_VMCALL_VERSION, 0, 0, 0, r, vec))
        print("demo: VMCALL VERSION: status %ld, ABI version %lu\n", static_cast<long>(r.rax), r.rbx);
    else
        print("demo: VMCALL raised %s: not running under evmm\n", vector_name(vec));
    check(mb != nullptr, "demo ran");
    guest_finish();
}
