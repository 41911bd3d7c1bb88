// triplefault: deliberately triple faults (empty IDT, then int3) so the runner can check that the hypervisor
// reports a guest triple fault; it never prints a summary.
#include "guest.h"

using namespace guest;

extern "C" void guest_main(const void*) {
    banner("triplefault", "loads an empty IDT and executes int3: a triple fault the hypervisor must report");
    print("triplefault: about to triple fault\n");
    struct [[gnu::packed]] {
        u16 limit;
        u64 base;
    } idtr{0, 0};
    asm volatile(
        "lidt %0\n\t"
        "int3"
        :
        : "m"(idtr)
        : "memory");
    // Not reached: int3 -> #GP (vector 3 outside the IDT limit) -> #DF -> triple fault (shutdown).
    print("triplefault: still running after the triple fault\n");
    guest_exit(false);
}
