// hello: greets on COM1 and checks the basics of its start as guest0: long mode, Multiboot2 magic and command line
// ("hello-args 42"), boot loader name "evmm", CPUID hypervisor bit, and the kit's own exception recovery.
//
// A long command line (boot test guest_hello_long_cmdline) is "hello-args 42 len=N " followed by filler up to N
// characters in all, the character at position p (from 0, over the whole line) being '0' + p % 10: hello checks
// the length and every character, so a line cut or shifted anywhere is caught.
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

size_t str_len(const char* s, size_t max) {
    size_t n = 0;
    while (n < max && s[n] != '\0') ++n;
    return n;
}

bool starts_with(const char* s, size_t len, const char* prefix) {
    const size_t n = str_len(prefix, len + 1);
    if (n > len) return false;
    for (size_t i = 0; i < n; ++i)
        if (s[i] != prefix[i]) return false;
    return true;
}

// "hello-args 42 len=N " + filler ('0' + position % 10) up to N characters in all.
bool long_cmdline_ok(const char* s, size_t len, size_t& want_len, long long& bad_at) {
    constexpr const char* prefix = "hello-args 42 len=";
    want_len = 0;
    bad_at = -1;
    if (!starts_with(s, len, prefix)) return false;
    size_t p = str_len(prefix, 64);
    while (p < len && s[p] >= '0' && s[p] <= '9') want_len = want_len * 10 + static_cast<size_t>(s[p++] - '0');
    if (p >= len || s[p] != ' ') return false;
    for (++p; p < len; ++p)
        if (s[p] != static_cast<char>('0' + p % 10)) {
            bad_at = static_cast<long long>(p);
            return false;
        }
    return len == want_len;
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
    if (mb != nullptr && mb->cmdline.str != nullptr &&
        starts_with(mb->cmdline.str, mb->cmdline.len, "hello-args 42 len=")) {
        size_t want = 0;
        long long bad_at = -1;
        const bool ok = long_cmdline_ok(mb->cmdline.str, mb->cmdline.len, want, bad_at);
        check(ok, "long command line arrived whole: %zu characters, filler '0' + position %% 10", mb->cmdline.len);
        if (!ok)
            note("  got %zu characters, the line says %zu; first wrong character at %lld (-1: none)", mb->cmdline.len,
                 want, bad_at);
    } else {
        bool cmd_ok = mb != nullptr && str_eq(mb->cmdline.str, mb->cmdline.len, expected);
        check(cmd_ok, "command line is \"%s\"", expected);
        if (!cmd_ok)
            note("  got \"%s\"", mb == nullptr                ? "(no info)"
                                 : mb->cmdline.str == nullptr ? "(no tag)"
                                                              : mb->cmdline.str);
    }
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
