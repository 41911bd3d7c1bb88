// The virtual-machine control structure: field encodings, exit reasons, VM-instruction errors and the bit layouts
// of the VMCS fields evmm reads and writes. Names and values follow the Intel SDM Vol. 3C:
//   Appendix B "Field Encoding in VMCS" (the encodings; their structure in §25.11.2),
//   Appendix C "VMX Basic Exit Reasons",
//   §31.4 "VM Instruction Error Numbers",
//   Chapter 25 "Virtual Machine Control Structures" (control bits, access rights, interruptibility, activity),
//   Chapter 28 "VM Exits" §28.2.1 (exit-qualification layouts, Tables 28-3, 28-5, 28-7).
// Everything here is constexpr data and decoding; the strings live in vmcs_names.cpp.
#pragma once

#include "arch/x86_64/tss.h"
#include "arch/x86_64/vmx_caps.h"
#include "evmm/base.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Field encodings (Appendix B). X(NAME, encoding), in the order of Appendix B. 64-bit fields are listed by their
// "full" encoding (access type 0); vmcs_field_high() gives the "high" one (bits 63:32, for 32-bit VMREAD/VMWRITE).
// ---------------------------------------------------------------------------------------------------------------
#define EVMM_VMCS_FIELD_LIST(X)                      \
    /* B.1.1 16-bit control fields */                \
    X(VIRTUAL_PROCESSOR_ID, 0x0000)                  \
    X(POSTED_INTERRUPT_NOTIFICATION_VECTOR, 0x0002)  \
    X(EPTP_INDEX, 0x0004)                            \
    /* B.1.2 16-bit guest-state fields */            \
    X(GUEST_ES_SELECTOR, 0x0800)                     \
    X(GUEST_CS_SELECTOR, 0x0802)                     \
    X(GUEST_SS_SELECTOR, 0x0804)                     \
    X(GUEST_DS_SELECTOR, 0x0806)                     \
    X(GUEST_FS_SELECTOR, 0x0808)                     \
    X(GUEST_GS_SELECTOR, 0x080A)                     \
    X(GUEST_LDTR_SELECTOR, 0x080C)                   \
    X(GUEST_TR_SELECTOR, 0x080E)                     \
    X(GUEST_INTERRUPT_STATUS, 0x0810)                \
    X(PML_INDEX, 0x0812)                             \
    /* B.1.3 16-bit host-state fields */             \
    X(HOST_ES_SELECTOR, 0x0C00)                      \
    X(HOST_CS_SELECTOR, 0x0C02)                      \
    X(HOST_SS_SELECTOR, 0x0C04)                      \
    X(HOST_DS_SELECTOR, 0x0C06)                      \
    X(HOST_FS_SELECTOR, 0x0C08)                      \
    X(HOST_GS_SELECTOR, 0x0C0A)                      \
    X(HOST_TR_SELECTOR, 0x0C0C)                      \
    /* B.2.1 64-bit control fields */                \
    X(IO_BITMAP_A_ADDR, 0x2000)                      \
    X(IO_BITMAP_B_ADDR, 0x2002)                      \
    X(MSR_BITMAPS_ADDR, 0x2004)                      \
    X(VM_EXIT_MSR_STORE_ADDR, 0x2006)                \
    X(VM_EXIT_MSR_LOAD_ADDR, 0x2008)                 \
    X(VM_ENTRY_MSR_LOAD_ADDR, 0x200A)                \
    X(EXECUTIVE_VMCS_POINTER, 0x200C)                \
    X(PML_ADDR, 0x200E)                              \
    X(TSC_OFFSET, 0x2010)                            \
    X(VIRTUAL_APIC_ADDR, 0x2012)                     \
    X(APIC_ACCESS_ADDR, 0x2014)                      \
    X(POSTED_INTERRUPT_DESCRIPTOR_ADDR, 0x2016)      \
    X(VM_FUNCTION_CONTROLS, 0x2018)                  \
    X(EPT_POINTER, 0x201A)                           \
    X(EOI_EXIT_BITMAP_0, 0x201C)                     \
    X(EOI_EXIT_BITMAP_1, 0x201E)                     \
    X(EOI_EXIT_BITMAP_2, 0x2020)                     \
    X(EOI_EXIT_BITMAP_3, 0x2022)                     \
    X(EPTP_LIST_ADDR, 0x2024)                        \
    X(VMREAD_BITMAP_ADDR, 0x2026)                    \
    X(VMWRITE_BITMAP_ADDR, 0x2028)                   \
    X(VIRTUALIZATION_EXCEPTION_INFO_ADDR, 0x202A)    \
    X(XSS_EXITING_BITMAP, 0x202C)                    \
    X(ENCLS_EXITING_BITMAP, 0x202E)                  \
    X(SUB_PAGE_PERMISSION_TABLE_POINTER, 0x2030)     \
    X(TSC_MULTIPLIER, 0x2032)                        \
    X(TERTIARY_PROC_BASED_VM_EXEC_CONTROLS, 0x2034)  \
    /* B.2.2 64-bit read-only data field */          \
    X(GUEST_PHYSICAL_ADDR, 0x2400)                   \
    /* B.2.3 64-bit guest-state fields */            \
    X(VMCS_LINK_POINTER, 0x2800)                     \
    X(GUEST_IA32_DEBUGCTL, 0x2802)                   \
    X(GUEST_IA32_PAT, 0x2804)                        \
    X(GUEST_IA32_EFER, 0x2806)                       \
    X(GUEST_IA32_PERF_GLOBAL_CTRL, 0x2808)           \
    X(GUEST_PDPTE0, 0x280A)                          \
    X(GUEST_PDPTE1, 0x280C)                          \
    X(GUEST_PDPTE2, 0x280E)                          \
    X(GUEST_PDPTE3, 0x2810)                          \
    X(GUEST_IA32_BNDCFGS, 0x2812)                    \
    X(GUEST_IA32_RTIT_CTL, 0x2814)                   \
    /* B.2.4 64-bit host-state fields */             \
    X(HOST_IA32_PAT, 0x2C00)                         \
    X(HOST_IA32_EFER, 0x2C02)                        \
    X(HOST_IA32_PERF_GLOBAL_CTRL, 0x2C04)            \
    /* B.3.1 32-bit control fields */                \
    X(PIN_BASED_VM_EXEC_CONTROLS, 0x4000)            \
    X(PRIMARY_PROC_BASED_VM_EXEC_CONTROLS, 0x4002)   \
    X(EXCEPTION_BITMAP, 0x4004)                      \
    X(PAGE_FAULT_ERROR_CODE_MASK, 0x4006)            \
    X(PAGE_FAULT_ERROR_CODE_MATCH, 0x4008)           \
    X(CR3_TARGET_COUNT, 0x400A)                      \
    X(VM_EXIT_CONTROLS, 0x400C)                      \
    X(VM_EXIT_MSR_STORE_COUNT, 0x400E)               \
    X(VM_EXIT_MSR_LOAD_COUNT, 0x4010)                \
    X(VM_ENTRY_CONTROLS, 0x4012)                     \
    X(VM_ENTRY_MSR_LOAD_COUNT, 0x4014)               \
    X(VM_ENTRY_INTERRUPTION_INFO, 0x4016)            \
    X(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018)         \
    X(VM_ENTRY_INSTRUCTION_LENGTH, 0x401A)           \
    X(TPR_THRESHOLD, 0x401C)                         \
    X(SECONDARY_PROC_BASED_VM_EXEC_CONTROLS, 0x401E) \
    X(PLE_GAP, 0x4020)                               \
    X(PLE_WINDOW, 0x4022)                            \
    /* B.3.2 32-bit read-only data fields */         \
    X(VM_INSTRUCTION_ERROR, 0x4400)                  \
    X(VM_EXIT_REASON, 0x4402)                        \
    X(VM_EXIT_INTERRUPTION_INFO, 0x4404)             \
    X(VM_EXIT_INTERRUPTION_ERROR_CODE, 0x4406)       \
    X(IDT_VECTORING_INFO, 0x4408)                    \
    X(IDT_VECTORING_ERROR_CODE, 0x440A)              \
    X(VM_EXIT_INSTRUCTION_LENGTH, 0x440C)            \
    X(VM_EXIT_INSTRUCTION_INFO, 0x440E)              \
    /* B.3.3 32-bit guest-state fields */            \
    X(GUEST_ES_LIMIT, 0x4800)                        \
    X(GUEST_CS_LIMIT, 0x4802)                        \
    X(GUEST_SS_LIMIT, 0x4804)                        \
    X(GUEST_DS_LIMIT, 0x4806)                        \
    X(GUEST_FS_LIMIT, 0x4808)                        \
    X(GUEST_GS_LIMIT, 0x480A)                        \
    X(GUEST_LDTR_LIMIT, 0x480C)                      \
    X(GUEST_TR_LIMIT, 0x480E)                        \
    X(GUEST_GDTR_LIMIT, 0x4810)                      \
    X(GUEST_IDTR_LIMIT, 0x4812)                      \
    X(GUEST_ES_ACCESS_RIGHTS, 0x4814)                \
    X(GUEST_CS_ACCESS_RIGHTS, 0x4816)                \
    X(GUEST_SS_ACCESS_RIGHTS, 0x4818)                \
    X(GUEST_DS_ACCESS_RIGHTS, 0x481A)                \
    X(GUEST_FS_ACCESS_RIGHTS, 0x481C)                \
    X(GUEST_GS_ACCESS_RIGHTS, 0x481E)                \
    X(GUEST_LDTR_ACCESS_RIGHTS, 0x4820)              \
    X(GUEST_TR_ACCESS_RIGHTS, 0x4822)                \
    X(GUEST_INTERRUPTIBILITY_STATE, 0x4824)          \
    X(GUEST_ACTIVITY_STATE, 0x4826)                  \
    X(GUEST_SMBASE, 0x4828)                          \
    X(GUEST_IA32_SYSENTER_CS, 0x482A)                \
    X(VMX_PREEMPTION_TIMER_VALUE, 0x482E)            \
    /* B.3.4 32-bit host-state field */              \
    X(HOST_IA32_SYSENTER_CS, 0x4C00)                 \
    /* B.4.1 natural-width control fields */         \
    X(CR0_GUEST_HOST_MASK, 0x6000)                   \
    X(CR4_GUEST_HOST_MASK, 0x6002)                   \
    X(CR0_READ_SHADOW, 0x6004)                       \
    X(CR4_READ_SHADOW, 0x6006)                       \
    X(CR3_TARGET_VALUE0, 0x6008)                     \
    X(CR3_TARGET_VALUE1, 0x600A)                     \
    X(CR3_TARGET_VALUE2, 0x600C)                     \
    X(CR3_TARGET_VALUE3, 0x600E)                     \
    /* B.4.2 natural-width read-only data fields */  \
    X(EXIT_QUALIFICATION, 0x6400)                    \
    X(IO_RCX, 0x6402)                                \
    X(IO_RSI, 0x6404)                                \
    X(IO_RDI, 0x6406)                                \
    X(IO_RIP, 0x6408)                                \
    X(GUEST_LINEAR_ADDR, 0x640A)                     \
    /* B.4.3 natural-width guest-state fields */     \
    X(GUEST_CR0, 0x6800)                             \
    X(GUEST_CR3, 0x6802)                             \
    X(GUEST_CR4, 0x6804)                             \
    X(GUEST_ES_BASE, 0x6806)                         \
    X(GUEST_CS_BASE, 0x6808)                         \
    X(GUEST_SS_BASE, 0x680A)                         \
    X(GUEST_DS_BASE, 0x680C)                         \
    X(GUEST_FS_BASE, 0x680E)                         \
    X(GUEST_GS_BASE, 0x6810)                         \
    X(GUEST_LDTR_BASE, 0x6812)                       \
    X(GUEST_TR_BASE, 0x6814)                         \
    X(GUEST_GDTR_BASE, 0x6816)                       \
    X(GUEST_IDTR_BASE, 0x6818)                       \
    X(GUEST_DR7, 0x681A)                             \
    X(GUEST_RSP, 0x681C)                             \
    X(GUEST_RIP, 0x681E)                             \
    X(GUEST_RFLAGS, 0x6820)                          \
    X(GUEST_PENDING_DEBUG_EXCEPTIONS, 0x6822)        \
    X(GUEST_IA32_SYSENTER_ESP, 0x6824)               \
    X(GUEST_IA32_SYSENTER_EIP, 0x6826)               \
    /* B.4.4 natural-width host-state fields */      \
    X(HOST_CR0, 0x6C00)                              \
    X(HOST_CR3, 0x6C02)                              \
    X(HOST_CR4, 0x6C04)                              \
    X(HOST_FS_BASE, 0x6C06)                          \
    X(HOST_GS_BASE, 0x6C08)                          \
    X(HOST_TR_BASE, 0x6C0A)                          \
    X(HOST_GDTR_BASE, 0x6C0C)                        \
    X(HOST_IDTR_BASE, 0x6C0E)                        \
    X(HOST_IA32_SYSENTER_ESP, 0x6C10)                \
    X(HOST_IA32_SYSENTER_EIP, 0x6C12)                \
    X(HOST_RSP, 0x6C14)                              \
    X(HOST_RIP, 0x6C16)

enum class VmcsField : u32 {
#define EVMM_VMCS_ENUM_(name, enc) name = enc,
    EVMM_VMCS_FIELD_LIST(EVMM_VMCS_ENUM_)
#undef EVMM_VMCS_ENUM_
};

// Every field of the list, in Appendix B order (dumps, VmcsSnapshot indices).
inline constexpr VmcsField VMCS_FIELDS[] = {
#define EVMM_VMCS_ARRAY_(name, enc) VmcsField::name,
    EVMM_VMCS_FIELD_LIST(EVMM_VMCS_ARRAY_)
#undef EVMM_VMCS_ARRAY_
};
inline constexpr size_t VMCS_FIELD_COUNT = array_size(VMCS_FIELDS);

// Structure of a field encoding, SDM §25.11.2 ("VMREAD, VMWRITE, and Encodings of VMCS Fields").
inline constexpr u32 VMCS_ENC_ACCESS_HIGH = 1u << 0; // bit 0: access type (0 = full, 1 = high)
inline constexpr unsigned VMCS_ENC_INDEX_SHIFT = 1;  // bits 9:1: index
inline constexpr u32 VMCS_ENC_INDEX_MASK = 0x1FF;
inline constexpr unsigned VMCS_ENC_TYPE_SHIFT = 10; // bits 11:10: type
inline constexpr u32 VMCS_ENC_TYPE_MASK = 0x3;
inline constexpr u32 VMCS_ENC_RESERVED_12 = 1u << 12; // bit 12: reserved (0)
inline constexpr unsigned VMCS_ENC_WIDTH_SHIFT = 13;  // bits 14:13: width
inline constexpr u32 VMCS_ENC_WIDTH_MASK = 0x3;
inline constexpr u32 VMCS_ENC_RESERVED_31_15 = ~u32{0} << 15;

enum class VmcsWidth : u8 { BITS16 = 0, BITS64 = 1, BITS32 = 2, NATURAL = 3 };
enum class VmcsFieldType : u8 { CONTROL = 0, READ_ONLY_DATA = 1, GUEST_STATE = 2, HOST_STATE = 3 };

constexpr u32 vmcs_field_encoding(VmcsField f) { return static_cast<u32>(f); }
constexpr VmcsWidth vmcs_field_width(VmcsField f) {
    return static_cast<VmcsWidth>((vmcs_field_encoding(f) >> VMCS_ENC_WIDTH_SHIFT) & VMCS_ENC_WIDTH_MASK);
}
constexpr VmcsFieldType vmcs_field_type(VmcsField f) {
    return static_cast<VmcsFieldType>((vmcs_field_encoding(f) >> VMCS_ENC_TYPE_SHIFT) & VMCS_ENC_TYPE_MASK);
}
constexpr u32 vmcs_field_index(VmcsField f) {
    return (vmcs_field_encoding(f) >> VMCS_ENC_INDEX_SHIFT) & VMCS_ENC_INDEX_MASK;
}
// VM-exit information fields (type 1) are read-only unless IA32_VMX_MISC bit 29 allows VMWRITE to them.
constexpr bool vmcs_field_is_readonly(VmcsField f) { return vmcs_field_type(f) == VmcsFieldType::READ_ONLY_DATA; }
// The "high" encoding of a 64-bit field (its bits 63:32); only meaningful for VmcsWidth::BITS64.
constexpr u32 vmcs_field_high(VmcsField f) { return vmcs_field_encoding(f) | VMCS_ENC_ACCESS_HIGH; }
// Bits a field holds: 16, 32, 64 (natural width is 64 on a processor supporting Intel 64).
constexpr unsigned vmcs_width_bits(VmcsWidth w) {
    return w == VmcsWidth::BITS16 ? 16 : w == VmcsWidth::BITS32 ? 32 : 64;
}

// Position of f in VMCS_FIELDS, or VMCS_FIELD_COUNT when it is not there (a value cast from a raw encoding): one
// lookup in a table indexed by width, type and index (the encoding's structure, §25.11.2), not a search — the
// VM-entry checker asks for hundreds of fields per check.
inline constexpr u32 VMCS_POSITION_INDEX_LIMIT = 32; // every listed field's index is below this (checked below)
struct VmcsPositionTable {
    u8 pos[(VMCS_ENC_WIDTH_MASK + 1) * (VMCS_ENC_TYPE_MASK + 1) * VMCS_POSITION_INDEX_LIMIT];
};
constexpr u32 vmcs_position_slot(u32 encoding) {
    const u32 width = (encoding >> VMCS_ENC_WIDTH_SHIFT) & VMCS_ENC_WIDTH_MASK;
    const u32 type = (encoding >> VMCS_ENC_TYPE_SHIFT) & VMCS_ENC_TYPE_MASK;
    const u32 index = (encoding >> VMCS_ENC_INDEX_SHIFT) & VMCS_ENC_INDEX_MASK;
    return (width * (VMCS_ENC_TYPE_MASK + 1) + type) * VMCS_POSITION_INDEX_LIMIT + index;
}
constexpr VmcsPositionTable vmcs_make_position_table() {
    VmcsPositionTable t{};
    for (u8& p : t.pos) p = static_cast<u8>(VMCS_FIELD_COUNT);
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i)
        t.pos[vmcs_position_slot(vmcs_field_encoding(VMCS_FIELDS[i]))] = static_cast<u8>(i);
    return t;
}
static_assert(VMCS_FIELD_COUNT < 256, "positions are stored as u8");
inline constexpr VmcsPositionTable VMCS_POSITIONS = vmcs_make_position_table();
constexpr size_t vmcs_field_position(VmcsField f) {
    const u32 e = vmcs_field_encoding(f);
    if ((e & (VMCS_ENC_ACCESS_HIGH | VMCS_ENC_RESERVED_12 | VMCS_ENC_RESERVED_31_15)) != 0 ||
        ((e >> VMCS_ENC_INDEX_SHIFT) & VMCS_ENC_INDEX_MASK) >= VMCS_POSITION_INDEX_LIMIT)
        return VMCS_FIELD_COUNT;
    return VMCS_POSITIONS.pos[vmcs_position_slot(e)];
}

// Every listed encoding is well formed: full access type, reserved bits 0, and no encoding appears twice.
constexpr bool vmcs_field_list_well_formed() {
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i) {
        const u32 e = vmcs_field_encoding(VMCS_FIELDS[i]);
        if (e & (VMCS_ENC_ACCESS_HIGH | VMCS_ENC_RESERVED_12 | VMCS_ENC_RESERVED_31_15)) return false;
        for (size_t j = 0; j < i; ++j)
            if (VMCS_FIELDS[j] == VMCS_FIELDS[i]) return false;
    }
    return true;
}
static_assert(vmcs_field_list_well_formed());
// The position table covers every listed field and finds each at its own place.
constexpr bool vmcs_positions_round_trip() {
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i)
        if (vmcs_field_index(VMCS_FIELDS[i]) >= VMCS_POSITION_INDEX_LIMIT || vmcs_field_position(VMCS_FIELDS[i]) != i)
            return false;
    return true;
}
static_assert(vmcs_positions_round_trip());

// "GUEST_RIP"; "UNKNOWN" for a value not in VMCS_FIELDS.
const char* vmcs_field_name(VmcsField f);

// ---------------------------------------------------------------------------------------------------------------
// Exit reasons (Appendix C, "VMX Basic Exit Reasons") and the exit-reason field (§25.9.1).
// ---------------------------------------------------------------------------------------------------------------
#define EVMM_EXIT_REASON_LIST(X)             \
    X(EXCEPTION_OR_NMI, 0)                   \
    X(EXTERNAL_INTERRUPT, 1)                 \
    X(TRIPLE_FAULT, 2)                       \
    X(INIT_SIGNAL, 3)                        \
    X(STARTUP_IPI, 4)                        \
    X(IO_SMI, 5)                             \
    X(OTHER_SMI, 6)                          \
    X(INTERRUPT_WINDOW, 7)                   \
    X(NMI_WINDOW, 8)                         \
    X(TASK_SWITCH, 9)                        \
    X(CPUID, 10)                             \
    X(GETSEC, 11)                            \
    X(HLT, 12)                               \
    X(INVD, 13)                              \
    X(INVLPG, 14)                            \
    X(RDPMC, 15)                             \
    X(RDTSC, 16)                             \
    X(RSM, 17)                               \
    X(VMCALL, 18)                            \
    X(VMCLEAR, 19)                           \
    X(VMLAUNCH, 20)                          \
    X(VMPTRLD, 21)                           \
    X(VMPTRST, 22)                           \
    X(VMREAD, 23)                            \
    X(VMRESUME, 24)                          \
    X(VMWRITE, 25)                           \
    X(VMXOFF, 26)                            \
    X(VMXON, 27)                             \
    X(CR_ACCESS, 28)                         \
    X(MOV_DR, 29)                            \
    X(IO_INSTRUCTION, 30)                    \
    X(RDMSR, 31)                             \
    X(WRMSR, 32)                             \
    X(ENTRY_FAIL_GUEST_STATE, 33)            \
    X(ENTRY_FAIL_MSR_LOADING, 34)            \
    X(MWAIT, 36)                             \
    X(MONITOR_TRAP_FLAG, 37)                 \
    X(MONITOR, 39)                           \
    X(PAUSE, 40)                             \
    X(ENTRY_FAIL_MACHINE_CHECK, 41)          \
    X(TPR_BELOW_THRESHOLD, 43)               \
    X(APIC_ACCESS, 44)                       \
    X(VIRTUALIZED_EOI, 45)                   \
    X(GDTR_IDTR_ACCESS, 46)                  \
    X(LDTR_TR_ACCESS, 47)                    \
    X(EPT_VIOLATION, 48)                     \
    X(EPT_MISCONFIG, 49)                     \
    X(INVEPT, 50)                            \
    X(RDTSCP, 51)                            \
    X(PREEMPTION_TIMER_EXPIRED, 52)          \
    X(INVVPID, 53)                           \
    X(WBINVD_WBNOINVD, 54)                   \
    X(XSETBV, 55)                            \
    X(APIC_WRITE, 56)                        \
    X(RDRAND, 57)                            \
    X(INVPCID, 58)                           \
    X(VMFUNC, 59)                            \
    X(ENCLS, 60)                             \
    X(RDSEED, 61)                            \
    X(PML_FULL, 62)                          \
    X(XSAVES, 63)                            \
    X(XRSTORS, 64)                           \
    X(PCONFIG, 65)                           \
    X(SPP_EVENT, 66)                         \
    X(UMWAIT, 67)                            \
    X(TPAUSE, 68)                            \
    X(LOADIWKEY, 69)                         \
    X(ENCLV, 70)                             \
    X(ENQCMD_PASID_TRANSLATION_FAILURE, 72)  \
    X(ENQCMDS_PASID_TRANSLATION_FAILURE, 73) \
    X(BUS_LOCK, 74)                          \
    X(INSTRUCTION_TIMEOUT, 75)               \
    X(SEAMCALL, 76)                          \
    X(TDCALL, 77)                            \
    X(RDMSRLIST, 78)                         \
    X(WRMSRLIST, 79)

enum class ExitReason : u16 {
#define EVMM_EXIT_ENUM_(name, num) name = num,
    EVMM_EXIT_REASON_LIST(EVMM_EXIT_ENUM_)
#undef EVMM_EXIT_ENUM_
};

// Exit-reason field (§25.9.1, "Basic VM-Exit Information").
inline constexpr u32 EXIT_REASON_BASIC_MASK = 0xFFFF;      // bits 15:0: basic exit reason
inline constexpr u32 EXIT_REASON_ENCLAVE_MODE = 1u << 27;  // VM exit from enclave mode
inline constexpr u32 EXIT_REASON_PENDING_MTF = 1u << 28;   // pending MTF VM exit
inline constexpr u32 EXIT_REASON_FROM_VMX_ROOT = 1u << 29; // VM exit from VMX root operation (SMM monitor)
inline constexpr u32 EXIT_REASON_ENTRY_FAILURE = 1u << 31; // VM-entry failure
constexpr u16 exit_reason_basic(u32 exit_reason_field) {
    return static_cast<u16>(exit_reason_field & EXIT_REASON_BASIC_MASK);
}

// "CPUID", "ENTRY_FAIL_GUEST_STATE"; the basic reason (bits 15:0) of the argument is named, so the whole
// exit-reason field may be passed. "UNKNOWN" for numbers Appendix C does not define.
const char* exit_reason_name(u32 exit_reason);

// Exit qualification of exit reason 33 (VM-entry failure due to invalid guest state), §27.8.
inline constexpr u64 ENTRY_FAIL_QUAL_DEFAULT = 0;
inline constexpr u64 ENTRY_FAIL_QUAL_PDPTE = 2;             // a PDPTE failed to load
inline constexpr u64 ENTRY_FAIL_QUAL_NMI_INJECTION = 3;     // NMI injection with blocking by enclave interruption
inline constexpr u64 ENTRY_FAIL_QUAL_VMCS_LINK_POINTER = 4; // invalid VMCS link pointer

// ---------------------------------------------------------------------------------------------------------------
// VM-instruction error numbers (§31.4), read from VM_INSTRUCTION_ERROR after VMfailValid.
// ---------------------------------------------------------------------------------------------------------------
#define EVMM_VM_INSTRUCTION_ERROR_LIST(X)                                                                 \
    X(VMCALL_IN_VMX_ROOT, 1, "VMCALL executed in VMX root operation")                                     \
    X(VMCLEAR_INVALID_ADDRESS, 2, "VMCLEAR with invalid physical address")                                \
    X(VMCLEAR_VMXON_POINTER, 3, "VMCLEAR with VMXON pointer")                                             \
    X(VMLAUNCH_NONCLEAR_VMCS, 4, "VMLAUNCH with non-clear VMCS")                                          \
    X(VMRESUME_NONLAUNCHED_VMCS, 5, "VMRESUME with non-launched VMCS")                                    \
    X(VMRESUME_AFTER_VMXOFF, 6, "VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)") \
    X(ENTRY_INVALID_CONTROL_FIELDS, 7, "VM entry with invalid control field(s)")                          \
    X(ENTRY_INVALID_HOST_STATE_FIELDS, 8, "VM entry with invalid host-state field(s)")                    \
    X(VMPTRLD_INVALID_ADDRESS, 9, "VMPTRLD with invalid physical address")                                \
    X(VMPTRLD_VMXON_POINTER, 10, "VMPTRLD with VMXON pointer")                                            \
    X(VMPTRLD_INCORRECT_REVISION, 11, "VMPTRLD with incorrect VMCS revision identifier")                  \
    X(UNSUPPORTED_VMCS_COMPONENT, 12, "VMREAD/VMWRITE from/to unsupported VMCS component")                \
    X(VMWRITE_READONLY_COMPONENT, 13, "VMWRITE to read-only VMCS component")                              \
    X(VMXON_IN_VMX_ROOT, 15, "VMXON executed in VMX root operation")                                      \
    X(ENTRY_INVALID_EXECUTIVE_VMCS_POINTER, 16, "VM entry with invalid executive-VMCS pointer")           \
    X(ENTRY_NONLAUNCHED_EXECUTIVE_VMCS, 17, "VM entry with non-launched executive VMCS")                  \
    X(ENTRY_EXECUTIVE_VMCS_NOT_VMXON_POINTER, 18,                                                         \
      "VM entry with executive-VMCS pointer not VMXON pointer (deactivating the dual-monitor treatment)") \
    X(VMCALL_NONCLEAR_VMCS, 19, "VMCALL with non-clear VMCS (activating the dual-monitor treatment)")     \
    X(VMCALL_INVALID_EXIT_CONTROLS, 20, "VMCALL with invalid VM-exit control fields")                     \
    X(VMCALL_INCORRECT_MSEG_REVISION, 22, "VMCALL with incorrect MSEG revision identifier")               \
    X(VMXOFF_UNDER_DUAL_MONITOR, 23, "VMXOFF under dual-monitor treatment of SMIs and SMM")               \
    X(VMCALL_INVALID_SMM_MONITOR_FEATURES, 24, "VMCALL with invalid SMM-monitor features")                \
    X(ENTRY_INVALID_EXECUTIVE_VMCS_CONTROLS, 25,                                                          \
      "VM entry with invalid VM-execution control fields in executive VMCS (returning from SMM)")         \
    X(ENTRY_EVENTS_BLOCKED_BY_MOV_SS, 26, "VM entry with events blocked by MOV SS")                       \
    X(INVALID_INVEPT_INVVPID_OPERAND, 28, "Invalid operand to INVEPT/INVVPID")

enum class VmInstructionError : u32 {
#define EVMM_VMERR_ENUM_(name, num, text) name = num,
    EVMM_VM_INSTRUCTION_ERROR_LIST(EVMM_VMERR_ENUM_)
#undef EVMM_VMERR_ENUM_
};

// The §31.4 description ("VM entry with invalid control field(s)"); "unknown VM-instruction error" otherwise
// (0 included: the field is 0 when no VMfailValid happened).
const char* vm_instruction_error_text(u32 error);

// ---------------------------------------------------------------------------------------------------------------
// VM-execution controls (§25.6). PROC_USE_IO_BITMAPS, PROC_USE_MSR_BITMAPS, PROC_ACTIVATE_SECONDARY,
// PROC2_ENABLE_EPT, PROC2_ENABLE_VPID and PROC2_UNRESTRICTED_GUEST come from vmx_caps.h.
// ---------------------------------------------------------------------------------------------------------------
// Pin-based VM-execution controls (§25.6.1, Table 25-5).
inline constexpr u32 PIN_EXTERNAL_INTERRUPT_EXITING = 1u << 0;
inline constexpr u32 PIN_NMI_EXITING = 1u << 3;
inline constexpr u32 PIN_VIRTUAL_NMIS = 1u << 5;
inline constexpr u32 PIN_ACTIVATE_PREEMPTION_TIMER = 1u << 6;
inline constexpr u32 PIN_PROCESS_POSTED_INTERRUPTS = 1u << 7;

// Primary processor-based VM-execution controls (§25.6.2, Table 25-6).
inline constexpr u32 PROC_INTERRUPT_WINDOW_EXITING = 1u << 2;
inline constexpr u32 PROC_USE_TSC_OFFSETTING = 1u << 3;
inline constexpr u32 PROC_HLT_EXITING = 1u << 7;
inline constexpr u32 PROC_INVLPG_EXITING = 1u << 9;
inline constexpr u32 PROC_MWAIT_EXITING = 1u << 10;
inline constexpr u32 PROC_RDPMC_EXITING = 1u << 11;
inline constexpr u32 PROC_RDTSC_EXITING = 1u << 12;
inline constexpr u32 PROC_CR3_LOAD_EXITING = 1u << 15;
inline constexpr u32 PROC_CR3_STORE_EXITING = 1u << 16;
inline constexpr u32 PROC_ACTIVATE_TERTIARY = 1u << 17;
inline constexpr u32 PROC_CR8_LOAD_EXITING = 1u << 19;
inline constexpr u32 PROC_CR8_STORE_EXITING = 1u << 20;
inline constexpr u32 PROC_USE_TPR_SHADOW = 1u << 21;
inline constexpr u32 PROC_NMI_WINDOW_EXITING = 1u << 22;
inline constexpr u32 PROC_MOV_DR_EXITING = 1u << 23;
inline constexpr u32 PROC_UNCONDITIONAL_IO_EXITING = 1u << 24;
static_assert(PROC_USE_IO_BITMAPS == 1u << 25);
inline constexpr u32 PROC_MONITOR_TRAP_FLAG = 1u << 27;
static_assert(PROC_USE_MSR_BITMAPS == 1u << 28);
inline constexpr u32 PROC_MONITOR_EXITING = 1u << 29;
inline constexpr u32 PROC_PAUSE_EXITING = 1u << 30;
static_assert(PROC_ACTIVATE_SECONDARY == 1u << 31);

// Secondary processor-based VM-execution controls (§25.6.2, Table 25-7).
inline constexpr u32 PROC2_VIRTUALIZE_APIC_ACCESSES = 1u << 0;
static_assert(PROC2_ENABLE_EPT == 1u << 1);
inline constexpr u32 PROC2_DESCRIPTOR_TABLE_EXITING = 1u << 2;
inline constexpr u32 PROC2_ENABLE_RDTSCP = 1u << 3;
inline constexpr u32 PROC2_VIRTUALIZE_X2APIC_MODE = 1u << 4;
static_assert(PROC2_ENABLE_VPID == 1u << 5);
inline constexpr u32 PROC2_WBINVD_EXITING = 1u << 6;
static_assert(PROC2_UNRESTRICTED_GUEST == 1u << 7);
inline constexpr u32 PROC2_APIC_REGISTER_VIRTUALIZATION = 1u << 8;
inline constexpr u32 PROC2_VIRTUAL_INTERRUPT_DELIVERY = 1u << 9;
inline constexpr u32 PROC2_PAUSE_LOOP_EXITING = 1u << 10;
inline constexpr u32 PROC2_RDRAND_EXITING = 1u << 11;
inline constexpr u32 PROC2_ENABLE_INVPCID = 1u << 12;
inline constexpr u32 PROC2_ENABLE_VM_FUNCTIONS = 1u << 13;
inline constexpr u32 PROC2_VMCS_SHADOWING = 1u << 14;
inline constexpr u32 PROC2_ENABLE_ENCLS_EXITING = 1u << 15;
inline constexpr u32 PROC2_RDSEED_EXITING = 1u << 16;
inline constexpr u32 PROC2_ENABLE_PML = 1u << 17;
inline constexpr u32 PROC2_EPT_VIOLATION_VE = 1u << 18;
inline constexpr u32 PROC2_CONCEAL_VMX_FROM_PT = 1u << 19;
inline constexpr u32 PROC2_ENABLE_XSAVES_XRSTORS = 1u << 20;
inline constexpr u32 PROC2_PASID_TRANSLATION = 1u << 21;
inline constexpr u32 PROC2_MODE_BASED_EXECUTE_CONTROL = 1u << 22;
inline constexpr u32 PROC2_SUB_PAGE_WRITE_PERMISSIONS = 1u << 23;
inline constexpr u32 PROC2_PT_USES_GUEST_PHYSICAL = 1u << 24;
inline constexpr u32 PROC2_USE_TSC_SCALING = 1u << 25;
inline constexpr u32 PROC2_ENABLE_USER_WAIT_PAUSE = 1u << 26;
inline constexpr u32 PROC2_ENABLE_PCONFIG = 1u << 27;
inline constexpr u32 PROC2_ENABLE_ENCLV_EXITING = 1u << 28;
inline constexpr u32 PROC2_BUS_LOCK_DETECTION = 1u << 30;
inline constexpr u32 PROC2_INSTRUCTION_TIMEOUT = 1u << 31;

// VM-function controls (§25.6.14).
inline constexpr u64 VMFUNC_EPTP_SWITCHING = bit(0);

// Primary VM-exit controls (§25.7.1, Table 25-13).
inline constexpr u32 VM_EXIT_SAVE_DEBUG_CONTROLS = 1u << 2;
inline constexpr u32 VM_EXIT_HOST_ADDRESS_SPACE_SIZE = 1u << 9;
inline constexpr u32 VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL = 1u << 12;
inline constexpr u32 VM_EXIT_ACKNOWLEDGE_INTERRUPT = 1u << 15;
inline constexpr u32 VM_EXIT_SAVE_IA32_PAT = 1u << 18;
inline constexpr u32 VM_EXIT_LOAD_IA32_PAT = 1u << 19;
inline constexpr u32 VM_EXIT_SAVE_IA32_EFER = 1u << 20;
inline constexpr u32 VM_EXIT_LOAD_IA32_EFER = 1u << 21;
inline constexpr u32 VM_EXIT_SAVE_PREEMPTION_TIMER = 1u << 22;
inline constexpr u32 VM_EXIT_CLEAR_IA32_BNDCFGS = 1u << 23;
inline constexpr u32 VM_EXIT_CONCEAL_VMX_FROM_PT = 1u << 24;
inline constexpr u32 VM_EXIT_CLEAR_IA32_RTIT_CTL = 1u << 25;
inline constexpr u32 VM_EXIT_LOAD_CET_STATE = 1u << 28;
inline constexpr u32 VM_EXIT_ACTIVATE_SECONDARY = 1u << 31;

// VM-entry controls (§25.8.1, Table 25-15).
inline constexpr u32 VM_ENTRY_LOAD_DEBUG_CONTROLS = 1u << 2;
inline constexpr u32 VM_ENTRY_IA32E_MODE_GUEST = 1u << 9;
inline constexpr u32 VM_ENTRY_ENTRY_TO_SMM = 1u << 10;
inline constexpr u32 VM_ENTRY_DEACTIVATE_DUAL_MONITOR = 1u << 11;
inline constexpr u32 VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL = 1u << 13;
inline constexpr u32 VM_ENTRY_LOAD_IA32_PAT = 1u << 14;
inline constexpr u32 VM_ENTRY_LOAD_IA32_EFER = 1u << 15;
inline constexpr u32 VM_ENTRY_LOAD_IA32_BNDCFGS = 1u << 16;
inline constexpr u32 VM_ENTRY_CONCEAL_VMX_FROM_PT = 1u << 17;
inline constexpr u32 VM_ENTRY_LOAD_IA32_RTIT_CTL = 1u << 18;
inline constexpr u32 VM_ENTRY_LOAD_CET_STATE = 1u << 20;

// MSR-load/store areas (§25.7.2, §25.8.2): 16-byte entries, 16-byte aligned.
inline constexpr u64 VMX_MSR_ENTRY_SIZE = 16;
// Number of CR3-target values (§25.6.7).
inline constexpr u32 VMX_CR3_TARGET_MAX = 4;

// ---------------------------------------------------------------------------------------------------------------
// Event injection and vectored-event information (§25.8.3 and §25.9.2): VM_ENTRY_INTERRUPTION_INFO,
// VM_EXIT_INTERRUPTION_INFO, IDT_VECTORING_INFO share this layout.
// ---------------------------------------------------------------------------------------------------------------
inline constexpr u32 INTR_INFO_VECTOR_MASK = 0xFF;  // bits 7:0
inline constexpr unsigned INTR_INFO_TYPE_SHIFT = 8; // bits 10:8
inline constexpr u32 INTR_INFO_TYPE_MASK = 0x7;
inline constexpr u32 INTR_INFO_DELIVER_ERROR_CODE = 1u << 11;
inline constexpr u32 INTR_INFO_NMI_UNBLOCKING_IRET = 1u << 12; // exit information only
inline constexpr u32 INTR_INFO_ENTRY_RESERVED = 0x7FFFF000;    // bits 30:12 of the VM-entry field
inline constexpr u32 INTR_INFO_VALID = 1u << 31;

enum class InterruptionType : u8 {
    EXTERNAL_INTERRUPT = 0,
    RESERVED = 1,
    NMI = 2,
    HARDWARE_EXCEPTION = 3,
    SOFTWARE_INTERRUPT = 4,
    PRIVILEGED_SOFTWARE_EXCEPTION = 5,
    SOFTWARE_EXCEPTION = 6,
    OTHER_EVENT = 7,
};
constexpr InterruptionType intr_info_type(u32 info) {
    return static_cast<InterruptionType>((info >> INTR_INFO_TYPE_SHIFT) & INTR_INFO_TYPE_MASK);
}
constexpr u8 intr_info_vector(u32 info) { return static_cast<u8>(info & INTR_INFO_VECTOR_MASK); }
constexpr u32 intr_info_make(InterruptionType type, u8 vector, bool error_code) {
    return INTR_INFO_VALID | (static_cast<u32>(type) << INTR_INFO_TYPE_SHIFT) | vector |
           (error_code ? INTR_INFO_DELIVER_ERROR_CODE : 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Guest non-register state (§25.4.2).
// ---------------------------------------------------------------------------------------------------------------
// Activity state (§25.4.2).
enum class ActivityState : u32 { ACTIVE = 0, HLT = 1, SHUTDOWN = 2, WAIT_FOR_SIPI = 3 };
inline constexpr u32 ACTIVITY_STATE_MAX = static_cast<u32>(ActivityState::WAIT_FOR_SIPI);

// Interruptibility state (§25.4.2, Table 25-3).
inline constexpr u32 INTERRUPTIBILITY_STI = 1u << 0;
inline constexpr u32 INTERRUPTIBILITY_MOV_SS = 1u << 1;
inline constexpr u32 INTERRUPTIBILITY_SMI = 1u << 2;
inline constexpr u32 INTERRUPTIBILITY_NMI = 1u << 3;
inline constexpr u32 INTERRUPTIBILITY_ENCLAVE = 1u << 4;
inline constexpr u32 INTERRUPTIBILITY_RESERVED = ~u32{0} << 5; // bits 31:5

// Pending debug exceptions (§25.4.2, Table 25-4).
inline constexpr u64 PENDING_DBG_B_MASK = 0xF;         // bits 3:0: B3..B0
inline constexpr u64 PENDING_DBG_ENABLED_BP = bit(12); // an enabled breakpoint
inline constexpr u64 PENDING_DBG_BS = bit(14);         // single-step
inline constexpr u64 PENDING_DBG_RTM = bit(16);
inline constexpr u64 PENDING_DBG_RESERVED = (u64{0xFF} << 4) | bit(13) | bit(15) | (~u64{0} << 17);

// VMCS link pointer value meaning "no linked (shadow) VMCS" (§25.4.2).
inline constexpr u64 VMCS_LINK_POINTER_NONE = ~u64{0};

// ---------------------------------------------------------------------------------------------------------------
// Segment access rights as the VMCS holds them (§25.4.1, Table 25-2): the descriptor's bits 47:40 and 55:52
// moved to bits 7:0 and 15:12, plus "unusable" in bit 16.
// ---------------------------------------------------------------------------------------------------------------
inline constexpr u32 VMX_AR_TYPE_MASK = 0xF;    // bits 3:0
inline constexpr u32 VMX_AR_S = 1u << 4;        // descriptor type: 0 = system, 1 = code or data
inline constexpr unsigned VMX_AR_DPL_SHIFT = 5; // bits 6:5
inline constexpr u32 VMX_AR_DPL_MASK = 0x3;
inline constexpr u32 VMX_AR_P = 1u << 7; // present
inline constexpr u32 VMX_AR_RESERVED_11_8 = 0xF00;
inline constexpr u32 VMX_AR_AVL = 1u << 12;
inline constexpr u32 VMX_AR_L = 1u << 13;        // 64-bit mode active (CS only)
inline constexpr u32 VMX_AR_DB = 1u << 14;       // default operation size (0 = 16-bit, 1 = 32-bit)
inline constexpr u32 VMX_AR_G = 1u << 15;        // granularity
inline constexpr u32 VMX_AR_UNUSABLE = 1u << 16; // segment unusable (0 = usable)
inline constexpr u32 VMX_AR_RESERVED_31_17 = ~u32{0} << 17;

constexpr u32 vmx_ar_type(u32 ar) { return ar & VMX_AR_TYPE_MASK; }
constexpr u32 vmx_ar_dpl(u32 ar) { return (ar >> VMX_AR_DPL_SHIFT) & VMX_AR_DPL_MASK; }
constexpr bool vmx_ar_usable(u32 ar) { return (ar & VMX_AR_UNUSABLE) == 0; }

// Segment-descriptor types and selector fields: arch/x86_64/tss.h.

// The guest-state fields of each segment register (§25.4.1), in the order of evmm_gcpu_state_t.seg[] (EVMM_SEG_ES
// ... EVMM_SEG_TR): one table for the VMCS setup and the vCPU accessors.
struct VmcsSegmentFields {
    VmcsField selector, base, limit, access_rights;
};
inline constexpr VmcsSegmentFields VMCS_GUEST_SEGMENTS[] = {
    {VmcsField::GUEST_ES_SELECTOR, VmcsField::GUEST_ES_BASE, VmcsField::GUEST_ES_LIMIT,
     VmcsField::GUEST_ES_ACCESS_RIGHTS},
    {VmcsField::GUEST_CS_SELECTOR, VmcsField::GUEST_CS_BASE, VmcsField::GUEST_CS_LIMIT,
     VmcsField::GUEST_CS_ACCESS_RIGHTS},
    {VmcsField::GUEST_SS_SELECTOR, VmcsField::GUEST_SS_BASE, VmcsField::GUEST_SS_LIMIT,
     VmcsField::GUEST_SS_ACCESS_RIGHTS},
    {VmcsField::GUEST_DS_SELECTOR, VmcsField::GUEST_DS_BASE, VmcsField::GUEST_DS_LIMIT,
     VmcsField::GUEST_DS_ACCESS_RIGHTS},
    {VmcsField::GUEST_FS_SELECTOR, VmcsField::GUEST_FS_BASE, VmcsField::GUEST_FS_LIMIT,
     VmcsField::GUEST_FS_ACCESS_RIGHTS},
    {VmcsField::GUEST_GS_SELECTOR, VmcsField::GUEST_GS_BASE, VmcsField::GUEST_GS_LIMIT,
     VmcsField::GUEST_GS_ACCESS_RIGHTS},
    {VmcsField::GUEST_LDTR_SELECTOR, VmcsField::GUEST_LDTR_BASE, VmcsField::GUEST_LDTR_LIMIT,
     VmcsField::GUEST_LDTR_ACCESS_RIGHTS},
    {VmcsField::GUEST_TR_SELECTOR, VmcsField::GUEST_TR_BASE, VmcsField::GUEST_TR_LIMIT,
     VmcsField::GUEST_TR_ACCESS_RIGHTS},
};

// ---------------------------------------------------------------------------------------------------------------
// Exit qualifications (§28.2.1).
// ---------------------------------------------------------------------------------------------------------------
// Control-register accesses (Table 28-3).
enum class CrAccessType : u8 { MOV_TO_CR = 0, MOV_FROM_CR = 1, CLTS = 2, LMSW = 3 };
inline constexpr u64 CR_QUAL_CR_MASK = 0xF;         // bits 3:0: control register number
inline constexpr unsigned CR_QUAL_ACCESS_SHIFT = 4; // bits 5:4: access type
inline constexpr u64 CR_QUAL_ACCESS_MASK = 0x3;
inline constexpr u64 CR_QUAL_LMSW_MEMORY = bit(6); // LMSW operand: 0 = register, 1 = memory
inline constexpr unsigned CR_QUAL_GPR_SHIFT = 8;   // bits 11:8: general-purpose register (0 = RAX .. 15 = R15)
inline constexpr u64 CR_QUAL_GPR_MASK = 0xF;
inline constexpr unsigned CR_QUAL_LMSW_DATA_SHIFT = 16; // bits 31:16: LMSW source data
inline constexpr u64 CR_QUAL_LMSW_DATA_MASK = 0xFFFF;

struct CrAccessQual {
    u8 cr; // control register
    CrAccessType access;
    bool lmsw_memory; // LMSW with a memory operand
    u8 gpr;           // MOV CR: the general-purpose register
    u16 lmsw_data;    // LMSW: the source data
};
constexpr CrAccessQual decode_cr_access_qual(u64 q) {
    return CrAccessQual{static_cast<u8>(q & CR_QUAL_CR_MASK),
                        static_cast<CrAccessType>((q >> CR_QUAL_ACCESS_SHIFT) & CR_QUAL_ACCESS_MASK),
                        (q & CR_QUAL_LMSW_MEMORY) != 0, static_cast<u8>((q >> CR_QUAL_GPR_SHIFT) & CR_QUAL_GPR_MASK),
                        static_cast<u16>((q >> CR_QUAL_LMSW_DATA_SHIFT) & CR_QUAL_LMSW_DATA_MASK)};
}

// MOV DR (Table 28-4).
inline constexpr u64 DR_QUAL_DR_MASK = 0x7;      // bits 2:0: debug register number
inline constexpr u64 DR_QUAL_FROM_DR = bit(4);   // direction: 0 = MOV to DR, 1 = MOV from DR
inline constexpr unsigned DR_QUAL_GPR_SHIFT = 8; // bits 11:8: general-purpose register
inline constexpr u64 DR_QUAL_GPR_MASK = 0xF;

struct MovDrQual {
    u8 dr;
    bool from_dr;
    u8 gpr;
};
constexpr MovDrQual decode_mov_dr_qual(u64 q) {
    return MovDrQual{static_cast<u8>(q & DR_QUAL_DR_MASK), (q & DR_QUAL_FROM_DR) != 0,
                     static_cast<u8>((q >> DR_QUAL_GPR_SHIFT) & DR_QUAL_GPR_MASK)};
}

// VM-exit instruction information for RDRAND and RDSEED (§28.2.5, the table for RDRAND/RDSEED).
inline constexpr unsigned RDRAND_INFO_REG_SHIFT = 3; // bits 6:3: destination register
inline constexpr u32 RDRAND_INFO_REG_MASK = 0xF;
inline constexpr unsigned RDRAND_INFO_SIZE_SHIFT = 11; // bits 12:11: operand size: 0 = 16, 1 = 32, 2 = 64 bits
inline constexpr u32 RDRAND_INFO_SIZE_MASK = 0x3;

struct RdrandInfo {
    u8 reg;
    u8 size; // bytes: 2, 4 or 8
};
constexpr RdrandInfo decode_rdrand_info(u32 info) {
    return RdrandInfo{static_cast<u8>((info >> RDRAND_INFO_REG_SHIFT) & RDRAND_INFO_REG_MASK),
                      static_cast<u8>(2u << ((info >> RDRAND_INFO_SIZE_SHIFT) & RDRAND_INFO_SIZE_MASK))};
}

// Task switches (Table 28-2): the new TSS's selector and what started the switch.
inline constexpr u64 TASK_SWITCH_QUAL_SELECTOR_MASK = 0xFFFF; // bits 15:0
inline constexpr unsigned TASK_SWITCH_QUAL_SOURCE_SHIFT = 30; // bits 31:30: 0 CALL, 1 IRET, 2 JMP, 3 IDT task gate
inline constexpr u64 TASK_SWITCH_QUAL_SOURCE_MASK = 0x3;
enum class TaskSwitchQualSource : u8 { CALL = 0, IRET = 1, JMP = 2, TASK_GATE_IN_IDT = 3 };
struct TaskSwitchQual {
    u16 selector;
    TaskSwitchQualSource source;
};
constexpr TaskSwitchQual decode_task_switch_qual(u64 q) {
    return TaskSwitchQual{
        static_cast<u16>(q & TASK_SWITCH_QUAL_SELECTOR_MASK),
        static_cast<TaskSwitchQualSource>((q >> TASK_SWITCH_QUAL_SOURCE_SHIFT) & TASK_SWITCH_QUAL_SOURCE_MASK)};
}

// I/O instructions (Table 28-5).
inline constexpr u64 IO_QUAL_SIZE_MASK = 0x7; // bits 2:0: size of access minus 1 (0, 1 or 3)
inline constexpr u64 IO_QUAL_IN = bit(3);     // direction: 0 = OUT, 1 = IN
inline constexpr u64 IO_QUAL_STRING = bit(4);
inline constexpr u64 IO_QUAL_REP = bit(5);
inline constexpr u64 IO_QUAL_IMMEDIATE = bit(6);   // operand encoding: 0 = DX, 1 = immediate
inline constexpr unsigned IO_QUAL_PORT_SHIFT = 16; // bits 31:16: port number
inline constexpr u64 IO_QUAL_PORT_MASK = 0xFFFF;

struct IoQual {
    u8 size; // bytes: 1, 2 or 4
    bool in;
    bool string;
    bool rep;
    bool immediate;
    u16 port;
};
constexpr IoQual decode_io_qual(u64 q) {
    return IoQual{static_cast<u8>((q & IO_QUAL_SIZE_MASK) + 1),
                  (q & IO_QUAL_IN) != 0,
                  (q & IO_QUAL_STRING) != 0,
                  (q & IO_QUAL_REP) != 0,
                  (q & IO_QUAL_IMMEDIATE) != 0,
                  static_cast<u16>((q >> IO_QUAL_PORT_SHIFT) & IO_QUAL_PORT_MASK)};
}

// EPT violations (Table 28-7).
inline constexpr u64 EPT_QUAL_READ = bit(0);            // the access was a data read
inline constexpr u64 EPT_QUAL_WRITE = bit(1);           // the access was a data write
inline constexpr u64 EPT_QUAL_FETCH = bit(2);           // the access was an instruction fetch
inline constexpr u64 EPT_QUAL_READABLE = bit(3);        // the guest-physical address was readable (AND of bit 0)
inline constexpr u64 EPT_QUAL_WRITABLE = bit(4);        // ... writable (AND of bit 1)
inline constexpr u64 EPT_QUAL_EXECUTABLE = bit(5);      // ... executable (AND of bit 2)
inline constexpr u64 EPT_QUAL_USER_EXECUTABLE = bit(6); // ... user-mode executable (mode-based execute control)
inline constexpr u64 EPT_QUAL_LINEAR_VALID = bit(7);    // GUEST_LINEAR_ADDR is valid
inline constexpr u64 EPT_QUAL_TRANSLATION = bit(8);     // (if bit 7) 1: access to the translated address,
                                                        // 0: access to a guest paging-structure entry
inline constexpr u64 EPT_QUAL_USER_LINEAR = bit(9);     // advanced information: user-mode linear address
inline constexpr u64 EPT_QUAL_RW_PAGE = bit(10);        // advanced information: read/write page
inline constexpr u64 EPT_QUAL_XD_PAGE = bit(11);        // advanced information: execute-disable page
inline constexpr u64 EPT_QUAL_NMI_UNBLOCKING = bit(12); // NMI unblocking due to IRET
inline constexpr u64 EPT_QUAL_SHADOW_STACK = bit(13);   // shadow-stack access
inline constexpr u64 EPT_QUAL_SUPERVISOR_SHADOW_STACK = bit(14);
inline constexpr u64 EPT_QUAL_GUEST_PAGING_VERIFICATION = bit(15);
inline constexpr u64 EPT_QUAL_ASYNCHRONOUS = bit(16); // asynchronous to instruction execution

struct EptViolationQual {
    bool read, write, fetch;             // the access
    bool readable, writable, executable; // what the EPT allowed
    bool linear_valid;
    bool translation; // meaningful when linear_valid
    bool nmi_unblocking;
};
constexpr EptViolationQual decode_ept_violation_qual(u64 q) {
    return EptViolationQual{
        (q & EPT_QUAL_READ) != 0,         (q & EPT_QUAL_WRITE) != 0,       (q & EPT_QUAL_FETCH) != 0,
        (q & EPT_QUAL_READABLE) != 0,     (q & EPT_QUAL_WRITABLE) != 0,    (q & EPT_QUAL_EXECUTABLE) != 0,
        (q & EPT_QUAL_LINEAR_VALID) != 0, (q & EPT_QUAL_TRANSLATION) != 0, (q & EPT_QUAL_NMI_UNBLOCKING) != 0};
}

} // namespace evmm
