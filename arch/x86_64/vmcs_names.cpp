// Names of VMCS fields, exit reasons and VM-instruction errors (the lists are in vmcs.h).
#include "arch/x86_64/vmcs.h"

namespace evmm {

const char* vmcs_field_name(VmcsField f) {
    switch (f) {
#define EVMM_VMCS_NAME_(name, enc) \
    case VmcsField::name: return #name;
        EVMM_VMCS_FIELD_LIST(EVMM_VMCS_NAME_)
#undef EVMM_VMCS_NAME_
    }
    return "UNKNOWN";
}

const char* exit_reason_name(u32 exit_reason) {
    switch (static_cast<ExitReason>(exit_reason_basic(exit_reason))) {
#define EVMM_EXIT_NAME_(name, num) \
    case ExitReason::name: return #name;
        EVMM_EXIT_REASON_LIST(EVMM_EXIT_NAME_)
#undef EVMM_EXIT_NAME_
    }
    return "UNKNOWN";
}

const char* vm_instruction_error_text(u32 error) {
    switch (static_cast<VmInstructionError>(error)) {
#define EVMM_VMERR_TEXT_(name, num, text) \
    case VmInstructionError::name: return text;
        EVMM_VM_INSTRUCTION_ERROR_LIST(EVMM_VMERR_TEXT_)
#undef EVMM_VMERR_TEXT_
    }
    return "unknown VM-instruction error";
}

} // namespace evmm
