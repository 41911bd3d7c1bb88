#include "vmm/modules/vmx_instructions.h"

#include "vmm/vmx/vmexit.h"

namespace evmm {
namespace {

void raise_ud(Gcpu& g) { gcpu_inject_exception(g, Vector::UD); }

constexpr ExitReason VMX_EXITS[] = {
    ExitReason::GETSEC, ExitReason::VMCLEAR,  ExitReason::VMLAUNCH, ExitReason::VMPTRLD, ExitReason::VMPTRST,
    ExitReason::VMREAD, ExitReason::VMRESUME, ExitReason::VMWRITE,  ExitReason::VMXOFF,  ExitReason::VMXON,
    ExitReason::INVEPT, ExitReason::INVVPID,  ExitReason::VMFUNC,
};

} // namespace

void vmx_instructions_init() {
    for (ExitReason r : VMX_EXITS) vmexit_register(r, raise_ud);
}

} // namespace evmm
