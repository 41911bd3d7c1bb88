// hello: greets on COM1 and checks the basics of its start as guest0: long mode, Multiboot2 magic and command line
// ("hello-args 42"), boot loader name "evmm", CPUID hypervisor bit, and the kit's own exception recovery.
#include "guest.h"

using namespace guest;

namespace {

bool str_eq(const char* s, size_t len, const char* want) {
    size_t n = 0;
    while (want[n] != '\0') ++n;
    if (s == nullptr || len != n) return false;
    for (size_t i = 0; i < n; ++i)
        if (s[i] != want[i]) return false;
    return true;
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("hello", "long mode, Multiboot2 magic/cmdline/loader name, CPUID hypervisor bit");

    u64 efer = rdmsr(MSR_IA32_EFER);
    check((efer & EFER_LMA) != 0 && (read_cr0() & CR0_PG) != 0 && (read_cr4() & CR4_PAE) != 0,
          "running in long mode (EFER.LMA, CR0.PG, CR4.PAE)");
    check_eq(mb2_magic(), 0x36d76289, "Multiboot2 magic in EAX at entry");

    const evmm::Mb2Info* mb = mb2();
    if (!check(mb != nullptr, "Multiboot2 information parses")) {
        evmm::Status s = mb2_status();
        note("  %s (%s, 0x%llx)", s.what, s.where != nullptr ? s.where : "-", static_cast<unsigned long long>(s.value));
    }
    const char* expected = "hello-args 42";
    bool cmd_ok = mb != nullptr && str_eq(mb->cmdline.str, mb->cmdline.len, expected);
    check(cmd_ok, "command line is \"%s\"", expected);
    if (!cmd_ok)
        note("  got \"%s\"", mb == nullptr ? "(no info)" : mb->cmdline.str == nullptr ? "(no tag)" : mb->cmdline.str);
    bool name_ok = mb != nullptr && str_eq(mb->loader_name.str, mb->loader_name.len, "evmm");
    check(name_ok, "boot loader name is \"evmm\"");
    if (!name_ok)
        note("  got \"%s\"", mb == nullptr                    ? "(no info)"
                             : mb->loader_name.str == nullptr ? "(no tag)"
                                                              : mb->loader_name.str);

    check((cpuid(1).ecx & (1u << 31)) != 0, "CPUID.1:ECX.hypervisor (bit 31) is set");

    u8 vec = 0;
    bool done = probe_ud2(vec);
    check_fault(done, vec, VEC_UD, "kit: a probe recovers from ud2 (#UD)");
}
