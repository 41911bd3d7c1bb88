#include "vmm/modules/misc.h"

#include "arch/x86_64/vmx.h"
#include "lib/format.h"
#include "vmm/vmx/vmexit.h"

namespace evmm {
namespace {

void on_triple_fault(Gcpu& g) {
    static char what[64];
    format(what, sizeof what, "triple fault (guest RIP 0x%lx)", vmread(VmcsField::GUEST_RIP));
    gcpu_guest_stopped(g, what);
}

void skip(Gcpu& g) { gcpu_skip_instruction(g); }

} // namespace

void misc_init() {
    vmexit_register(ExitReason::TRIPLE_FAULT, on_triple_fault);
    vmexit_register(ExitReason::HLT, skip);
    vmexit_register(ExitReason::INVD, skip);
}

} // namespace evmm
