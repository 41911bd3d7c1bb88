#include "vmm/modules/misc.h"

#include "lib/format.h"
#include "vmm/guest/intercept.h"

namespace evmm {
namespace {

void on_triple_fault(Gcpu& g) {
    static char what[64];
    format(what, sizeof what, "triple fault (guest RIP 0x%lx)", gcpu_rip(g));
    gcpu_guest_stopped(g, what);
}

void skip(Gcpu& g) { gcpu_skip_instruction(g); }
void halt(Gcpu& g) { gcpu_halt(g); }

} // namespace

void misc_init() {
    intercept_register(Intercept::TripleFault, on_triple_fault);
    intercept_register(Intercept::Hlt, halt);
    intercept_register(Intercept::Invd, skip);
}

} // namespace evmm
