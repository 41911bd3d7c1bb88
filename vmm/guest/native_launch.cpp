// native_boot (vmm/guest/native_boot.h): the plan in evmm's memory (.bss: below 4 GiB, identity-mapped), then the
// entry (arch/x86_64/native_entry.S).
#include "vmm/guest/native_boot.h"

namespace evmm {

Status native_boot(const evmm_gcpu_state_t& st) {
    alignas(16) static u64 gdt[NATIVE_GDT_ENTRIES];
    alignas(16) static u64 frame[NATIVE_FRAME_WORDS];
    static NativeBoot nb;
    const u64 rsp = st.gp[EVMM_GP_RSP];
    // A state's stack is guest0's RAM, identity-mapped in evmm's page tables like all memory below 4 GiB.
    const NativeFrameSpace below_stack{
        rsp != 0 ? reinterpret_cast<u64*>(static_cast<uptr>(rsp - sizeof(u64))) : nullptr, rsp - sizeof(u64)};
    const NativeFrameSpace own{frame, reinterpret_cast<uptr>(frame)};
    EVMM_TRY(native_boot_plan(st, gdt, reinterpret_cast<uptr>(gdt), own, below_stack, nb));
    evmm_native_enter(&nb);
}

} // namespace evmm
