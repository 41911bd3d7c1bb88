#include "vmm/modules/vmx_instructions.h"

#include "vmm/guest/intercept.h"

namespace evmm {
namespace {

void raise_ud(Gcpu& g) { gcpu_inject_exception(g, Vector::UD); }

} // namespace

void vmx_instructions_init() { intercept_register(Intercept::VirtInstruction, raise_ud); }

} // namespace evmm
