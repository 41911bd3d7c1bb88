// VMX instructions (Intel SDM Vol. 3C chapter 32, "VMX Instruction Reference"). Every instruction reports
// VMsucceed / VMfailInvalid (CF=1) / VMfailValid (ZF=1, error number in VM_INSTRUCTION_ERROR) per §32.2
// ("Conventions"); callers turn a failure into a Status with the decoded error.
#pragma once

#include "arch/x86_64/vmcs.h"
#include "evmm/base.h"

namespace evmm {

enum class VmxResult : u8 { Ok = 0, FailInvalid = 1, FailValid = 2 };

namespace vmx_detail {
// After a VMX instruction: CF set = VMfailInvalid, ZF set = VMfailValid.
#define EVMM_VMX_RESULT_ASM "setc %b[cf]\n\tsetz %b[zf]"
inline VmxResult result(u8 cf, u8 zf) {
    return cf ? VmxResult::FailInvalid : (zf ? VmxResult::FailValid : VmxResult::Ok);
}
} // namespace vmx_detail

inline VmxResult vmxon(u64 region_pa) {
    u8 cf, zf;
    asm volatile("vmxon %[pa]\n\t" EVMM_VMX_RESULT_ASM
                 : [cf] "=q"(cf), [zf] "=q"(zf)
                 : [pa] "m"(region_pa)
                 : "cc", "memory");
    return vmx_detail::result(cf, zf);
}

inline VmxResult vmclear(u64 vmcs_pa) {
    u8 cf, zf;
    asm volatile("vmclear %[pa]\n\t" EVMM_VMX_RESULT_ASM
                 : [cf] "=q"(cf), [zf] "=q"(zf)
                 : [pa] "m"(vmcs_pa)
                 : "cc", "memory");
    return vmx_detail::result(cf, zf);
}

inline VmxResult vmptrld(u64 vmcs_pa) {
    u8 cf, zf;
    asm volatile("vmptrld %[pa]\n\t" EVMM_VMX_RESULT_ASM
                 : [cf] "=q"(cf), [zf] "=q"(zf)
                 : [pa] "m"(vmcs_pa)
                 : "cc", "memory");
    return vmx_detail::result(cf, zf);
}

// The current-VMCS pointer (SDM Vol. 3C §31.3 VMPTRST): VMCS_NONE when no VMCS is current on this CPU.
inline constexpr u64 VMCS_NONE = ~u64{0};
inline u64 vmptrst() {
    u64 pa;
    asm volatile("vmptrst %[pa]" : [pa] "=m"(pa) : : "memory");
    return pa;
}

inline VmxResult vmwrite(VmcsField field, u64 value) {
    u8 cf, zf;
    asm volatile("vmwrite %[v], %[f]\n\t" EVMM_VMX_RESULT_ASM
                 : [cf] "=q"(cf), [zf] "=q"(zf)
                 : [v] "rm"(value), [f] "r"(static_cast<u64>(field))
                 : "cc", "memory");
    return vmx_detail::result(cf, zf);
}

// VMREAD of a field that exists cannot fail on a current VMCS: callers that care use vmread_checked.
inline u64 vmread(VmcsField field) {
    u64 v;
    asm volatile("vmread %[f], %[v]" : [v] "=r"(v) : [f] "r"(static_cast<u64>(field)) : "cc");
    return v;
}

inline VmxResult vmread_checked(VmcsField field, u64& value) {
    u8 cf, zf;
    asm volatile("vmread %[f], %[v]\n\t" EVMM_VMX_RESULT_ASM
                 : [v] "=r"(value), [cf] "=q"(cf), [zf] "=q"(zf)
                 : [f] "r"(static_cast<u64>(field))
                 : "cc");
    return vmx_detail::result(cf, zf);
}

// INVEPT / INVVPID descriptors and types (SDM Vol. 3C §32 "INVEPT", "INVVPID").
enum class InveptType : u64 { SingleContext = 1, AllContexts = 2 };
enum class InvvpidType : u64 { IndividualAddress = 0, SingleContext = 1, AllContexts = 2 };

inline VmxResult invept(InveptType type, u64 eptp) {
    struct {
        u64 eptp, reserved;
    } desc{eptp, 0};
    u8 cf, zf;
    asm volatile("invept %[d], %[t]\n\t" EVMM_VMX_RESULT_ASM
                 : [cf] "=q"(cf), [zf] "=q"(zf)
                 : [d] "m"(desc), [t] "r"(static_cast<u64>(type))
                 : "cc", "memory");
    return vmx_detail::result(cf, zf);
}

inline VmxResult invvpid(InvvpidType type, u16 vpid, u64 linear = 0) {
    struct {
        u64 vpid, linear;
    } desc{vpid, linear};
    u8 cf, zf;
    asm volatile("invvpid %[d], %[t]\n\t" EVMM_VMX_RESULT_ASM
                 : [cf] "=q"(cf), [zf] "=q"(zf)
                 : [d] "m"(desc), [t] "r"(static_cast<u64>(type))
                 : "cc", "memory");
    return vmx_detail::result(cf, zf);
}

#undef EVMM_VMX_RESULT_ASM

} // namespace evmm
