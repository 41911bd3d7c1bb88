// Unit tests for arch/x86_64/vmcs.h: field encodings spot-checked against SDM Vol. 3C Appendix B, the decoding of
// width/type from an encoding, the names of fields, exit reasons (Appendix C) and VM-instruction errors (§31.4),
// and the exit-qualification decoders (§28.2.1).
#include "arch/x86_64/vmcs.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace evmm;

namespace {
constexpr u32 enc(VmcsField f) { return vmcs_field_encoding(f); }
} // namespace

TEST(Vmcs, EncodingsMatchAppendixB) {
    // 16-bit (B.1).
    EXPECT_EQ(enc(VmcsField::VIRTUAL_PROCESSOR_ID), 0x0000u);
    EXPECT_EQ(enc(VmcsField::POSTED_INTERRUPT_NOTIFICATION_VECTOR), 0x0002u);
    EXPECT_EQ(enc(VmcsField::EPTP_INDEX), 0x0004u);
    EXPECT_EQ(enc(VmcsField::GUEST_ES_SELECTOR), 0x0800u);
    EXPECT_EQ(enc(VmcsField::GUEST_TR_SELECTOR), 0x080Eu);
    EXPECT_EQ(enc(VmcsField::HOST_CS_SELECTOR), 0x0C02u);
    EXPECT_EQ(enc(VmcsField::HOST_TR_SELECTOR), 0x0C0Cu);
    // 64-bit (B.2).
    EXPECT_EQ(enc(VmcsField::IO_BITMAP_A_ADDR), 0x2000u);
    EXPECT_EQ(enc(VmcsField::MSR_BITMAPS_ADDR), 0x2004u);
    EXPECT_EQ(enc(VmcsField::VM_ENTRY_MSR_LOAD_ADDR), 0x200Au);
    EXPECT_EQ(enc(VmcsField::TSC_OFFSET), 0x2010u);
    EXPECT_EQ(enc(VmcsField::VIRTUAL_APIC_ADDR), 0x2012u);
    EXPECT_EQ(enc(VmcsField::APIC_ACCESS_ADDR), 0x2014u);
    EXPECT_EQ(enc(VmcsField::EPT_POINTER), 0x201Au);
    EXPECT_EQ(enc(VmcsField::XSS_EXITING_BITMAP), 0x202Cu);
    EXPECT_EQ(enc(VmcsField::TSC_MULTIPLIER), 0x2032u);
    EXPECT_EQ(enc(VmcsField::GUEST_PHYSICAL_ADDR), 0x2400u);
    EXPECT_EQ(enc(VmcsField::VMCS_LINK_POINTER), 0x2800u);
    EXPECT_EQ(enc(VmcsField::GUEST_IA32_EFER), 0x2806u);
    EXPECT_EQ(enc(VmcsField::GUEST_PDPTE3), 0x2810u);
    EXPECT_EQ(enc(VmcsField::GUEST_IA32_BNDCFGS), 0x2812u);
    EXPECT_EQ(enc(VmcsField::HOST_IA32_PAT), 0x2C00u);
    EXPECT_EQ(enc(VmcsField::HOST_IA32_PERF_GLOBAL_CTRL), 0x2C04u);
    // 32-bit (B.3).
    EXPECT_EQ(enc(VmcsField::PIN_BASED_VM_EXEC_CONTROLS), 0x4000u);
    EXPECT_EQ(enc(VmcsField::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS), 0x4002u);
    EXPECT_EQ(enc(VmcsField::VM_EXIT_CONTROLS), 0x400Cu);
    EXPECT_EQ(enc(VmcsField::VM_ENTRY_CONTROLS), 0x4012u);
    EXPECT_EQ(enc(VmcsField::VM_ENTRY_INTERRUPTION_INFO), 0x4016u);
    EXPECT_EQ(enc(VmcsField::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS), 0x401Eu);
    EXPECT_EQ(enc(VmcsField::PLE_WINDOW), 0x4022u);
    EXPECT_EQ(enc(VmcsField::VM_INSTRUCTION_ERROR), 0x4400u);
    EXPECT_EQ(enc(VmcsField::VM_EXIT_REASON), 0x4402u);
    EXPECT_EQ(enc(VmcsField::VM_EXIT_INSTRUCTION_INFO), 0x440Eu);
    EXPECT_EQ(enc(VmcsField::GUEST_CS_ACCESS_RIGHTS), 0x4816u);
    EXPECT_EQ(enc(VmcsField::GUEST_TR_ACCESS_RIGHTS), 0x4822u);
    EXPECT_EQ(enc(VmcsField::GUEST_INTERRUPTIBILITY_STATE), 0x4824u);
    EXPECT_EQ(enc(VmcsField::GUEST_ACTIVITY_STATE), 0x4826u);
    EXPECT_EQ(enc(VmcsField::VMX_PREEMPTION_TIMER_VALUE), 0x482Eu);
    EXPECT_EQ(enc(VmcsField::HOST_IA32_SYSENTER_CS), 0x4C00u);
    // Natural width (B.4).
    EXPECT_EQ(enc(VmcsField::CR0_GUEST_HOST_MASK), 0x6000u);
    EXPECT_EQ(enc(VmcsField::CR3_TARGET_VALUE3), 0x600Eu);
    EXPECT_EQ(enc(VmcsField::EXIT_QUALIFICATION), 0x6400u);
    EXPECT_EQ(enc(VmcsField::GUEST_LINEAR_ADDR), 0x640Au);
    EXPECT_EQ(enc(VmcsField::GUEST_CR0), 0x6800u);
    EXPECT_EQ(enc(VmcsField::GUEST_DR7), 0x681Au);
    EXPECT_EQ(enc(VmcsField::GUEST_RIP), 0x681Eu);
    EXPECT_EQ(enc(VmcsField::GUEST_RFLAGS), 0x6820u);
    EXPECT_EQ(enc(VmcsField::GUEST_IA32_SYSENTER_EIP), 0x6826u);
    EXPECT_EQ(enc(VmcsField::HOST_CR0), 0x6C00u);
    EXPECT_EQ(enc(VmcsField::HOST_IDTR_BASE), 0x6C0Eu);
    EXPECT_EQ(enc(VmcsField::HOST_RSP), 0x6C14u);
    EXPECT_EQ(enc(VmcsField::HOST_RIP), 0x6C16u);
}

TEST(Vmcs, WidthTypeAndReadOnlyDecodeFromTheEncoding) {
    EXPECT_EQ(vmcs_field_width(VmcsField::GUEST_CS_SELECTOR), VmcsWidth::BITS16);
    EXPECT_EQ(vmcs_field_width(VmcsField::EPT_POINTER), VmcsWidth::BITS64);
    EXPECT_EQ(vmcs_field_width(VmcsField::VM_EXIT_REASON), VmcsWidth::BITS32);
    EXPECT_EQ(vmcs_field_width(VmcsField::GUEST_RIP), VmcsWidth::NATURAL);
    EXPECT_EQ(vmcs_field_type(VmcsField::PIN_BASED_VM_EXEC_CONTROLS), VmcsFieldType::CONTROL);
    EXPECT_EQ(vmcs_field_type(VmcsField::GUEST_PHYSICAL_ADDR), VmcsFieldType::READ_ONLY_DATA);
    EXPECT_EQ(vmcs_field_type(VmcsField::GUEST_RIP), VmcsFieldType::GUEST_STATE);
    EXPECT_EQ(vmcs_field_type(VmcsField::HOST_RIP), VmcsFieldType::HOST_STATE);
    EXPECT_TRUE(vmcs_field_is_readonly(VmcsField::VM_EXIT_REASON));
    EXPECT_TRUE(vmcs_field_is_readonly(VmcsField::VM_INSTRUCTION_ERROR));
    EXPECT_TRUE(vmcs_field_is_readonly(VmcsField::EXIT_QUALIFICATION));
    EXPECT_TRUE(vmcs_field_is_readonly(VmcsField::GUEST_PHYSICAL_ADDR));
    EXPECT_FALSE(vmcs_field_is_readonly(VmcsField::GUEST_RIP));
    EXPECT_FALSE(vmcs_field_is_readonly(VmcsField::EPT_POINTER));
    EXPECT_FALSE(vmcs_field_is_readonly(VmcsField::HOST_CR3));
    EXPECT_EQ(vmcs_field_high(VmcsField::EPT_POINTER), 0x201Bu);
    EXPECT_EQ(vmcs_field_index(VmcsField::GUEST_RIP), 0xFu);
    EXPECT_EQ(vmcs_width_bits(VmcsWidth::BITS16), 16u);
    EXPECT_EQ(vmcs_width_bits(VmcsWidth::BITS32), 32u);
    EXPECT_EQ(vmcs_width_bits(VmcsWidth::NATURAL), 64u);
}

TEST(Vmcs, EveryListedFieldHasAConsistentGroupAndAUniqueName) {
    std::set<std::string> names;
    for (size_t i = 0; i < VMCS_FIELD_COUNT; ++i) {
        const VmcsField f = VMCS_FIELDS[i];
        const std::string name = vmcs_field_name(f);
        EXPECT_NE(name, "UNKNOWN");
        EXPECT_TRUE(names.insert(name).second) << name;
        EXPECT_EQ(vmcs_field_position(f), i);
        // The name says the group, the encoding says the type: guest and host fields agree.
        if (name.rfind("GUEST_", 0) == 0 && f != VmcsField::GUEST_PHYSICAL_ADDR && f != VmcsField::GUEST_LINEAR_ADDR) {
            EXPECT_EQ(vmcs_field_type(f), VmcsFieldType::GUEST_STATE) << name;
        }
        if (name.rfind("HOST_", 0) == 0) {
            EXPECT_EQ(vmcs_field_type(f), VmcsFieldType::HOST_STATE) << name;
        }
        EXPECT_EQ(enc(f) & VMCS_ENC_ACCESS_HIGH, 0u) << name;
    }
    EXPECT_GE(VMCS_FIELD_COUNT, 150u);
    EXPECT_EQ(vmcs_field_position(static_cast<VmcsField>(0x6FFE)), VMCS_FIELD_COUNT);
}

TEST(Vmcs, FieldNames) {
    EXPECT_STREQ(vmcs_field_name(VmcsField::GUEST_RIP), "GUEST_RIP");
    EXPECT_STREQ(vmcs_field_name(VmcsField::VM_EXIT_REASON), "VM_EXIT_REASON");
    EXPECT_STREQ(vmcs_field_name(VmcsField::EPT_POINTER), "EPT_POINTER");
    EXPECT_STREQ(vmcs_field_name(VmcsField::HOST_RIP), "HOST_RIP");
    EXPECT_STREQ(vmcs_field_name(static_cast<VmcsField>(0x6FFE)), "UNKNOWN");
}

TEST(Vmcs, ExitReasonsMatchAppendixC) {
    EXPECT_EQ(static_cast<u16>(ExitReason::EXCEPTION_OR_NMI), 0);
    EXPECT_EQ(static_cast<u16>(ExitReason::CPUID), 10);
    EXPECT_EQ(static_cast<u16>(ExitReason::HLT), 12);
    EXPECT_EQ(static_cast<u16>(ExitReason::VMCALL), 18);
    EXPECT_EQ(static_cast<u16>(ExitReason::CR_ACCESS), 28);
    EXPECT_EQ(static_cast<u16>(ExitReason::IO_INSTRUCTION), 30);
    EXPECT_EQ(static_cast<u16>(ExitReason::RDMSR), 31);
    EXPECT_EQ(static_cast<u16>(ExitReason::WRMSR), 32);
    EXPECT_EQ(static_cast<u16>(ExitReason::ENTRY_FAIL_GUEST_STATE), 33);
    EXPECT_EQ(static_cast<u16>(ExitReason::ENTRY_FAIL_MSR_LOADING), 34);
    EXPECT_EQ(static_cast<u16>(ExitReason::EPT_VIOLATION), 48);
    EXPECT_EQ(static_cast<u16>(ExitReason::EPT_MISCONFIG), 49);
    EXPECT_EQ(static_cast<u16>(ExitReason::XSETBV), 55);
    EXPECT_EQ(static_cast<u16>(ExitReason::XRSTORS), 64);
    EXPECT_EQ(static_cast<u16>(ExitReason::LOADIWKEY), 69);
    EXPECT_EQ(static_cast<u16>(ExitReason::BUS_LOCK), 74);
}

TEST(Vmcs, ExitReasonNames) {
    EXPECT_STREQ(exit_reason_name(0), "EXCEPTION_OR_NMI");
    EXPECT_STREQ(exit_reason_name(10), "CPUID");
    EXPECT_STREQ(exit_reason_name(48), "EPT_VIOLATION");
    EXPECT_STREQ(exit_reason_name(69), "LOADIWKEY");
    // The whole exit-reason field may be passed: a failed entry names its basic reason.
    EXPECT_STREQ(exit_reason_name(EXIT_REASON_ENTRY_FAILURE | 33), "ENTRY_FAIL_GUEST_STATE");
    EXPECT_EQ(exit_reason_basic(EXIT_REASON_ENTRY_FAILURE | 34), 34);
    EXPECT_EQ(EXIT_REASON_ENTRY_FAILURE, 0x80000000u);
    // Numbers Appendix C leaves undefined.
    EXPECT_STREQ(exit_reason_name(35), "UNKNOWN");
    EXPECT_STREQ(exit_reason_name(38), "UNKNOWN");
    EXPECT_STREQ(exit_reason_name(42), "UNKNOWN");
    EXPECT_STREQ(exit_reason_name(0xFFFF), "UNKNOWN");
    for (u32 r = 0; r <= 69; ++r)
        if (r != 35 && r != 38 && r != 42) {
            EXPECT_STRNE(exit_reason_name(r), "UNKNOWN") << r;
        }
}

TEST(Vmcs, VmInstructionErrors) {
    EXPECT_EQ(static_cast<u32>(VmInstructionError::ENTRY_INVALID_CONTROL_FIELDS), 7u);
    EXPECT_EQ(static_cast<u32>(VmInstructionError::ENTRY_INVALID_HOST_STATE_FIELDS), 8u);
    EXPECT_EQ(static_cast<u32>(VmInstructionError::ENTRY_EVENTS_BLOCKED_BY_MOV_SS), 26u);
    EXPECT_EQ(static_cast<u32>(VmInstructionError::INVALID_INVEPT_INVVPID_OPERAND), 28u);
    EXPECT_STREQ(vm_instruction_error_text(7), "VM entry with invalid control field(s)");
    EXPECT_STREQ(vm_instruction_error_text(8), "VM entry with invalid host-state field(s)");
    EXPECT_STREQ(vm_instruction_error_text(4), "VMLAUNCH with non-clear VMCS");
    EXPECT_STREQ(vm_instruction_error_text(0), "unknown VM-instruction error");
    EXPECT_STREQ(vm_instruction_error_text(14), "unknown VM-instruction error");
    EXPECT_STREQ(vm_instruction_error_text(29), "unknown VM-instruction error");
}

TEST(Vmcs, ControlBitsMatchTheSdmTables) {
    EXPECT_EQ(PIN_NMI_EXITING, 1u << 3);
    EXPECT_EQ(PIN_ACTIVATE_PREEMPTION_TIMER, 1u << 6);
    EXPECT_EQ(PROC_HLT_EXITING, 1u << 7);
    EXPECT_EQ(PROC_USE_TPR_SHADOW, 1u << 21);
    EXPECT_EQ(PROC2_ENABLE_VM_FUNCTIONS, 1u << 13);
    EXPECT_EQ(PROC2_ENABLE_XSAVES_XRSTORS, 1u << 20);
    EXPECT_EQ(VM_EXIT_HOST_ADDRESS_SPACE_SIZE, 1u << 9);
    EXPECT_EQ(VM_EXIT_LOAD_IA32_EFER, 1u << 21);
    EXPECT_EQ(VM_ENTRY_IA32E_MODE_GUEST, 1u << 9);
    EXPECT_EQ(VM_ENTRY_LOAD_IA32_EFER, 1u << 15);
}

TEST(Vmcs, InterruptionInfo) {
    const u32 gp = intr_info_make(InterruptionType::HARDWARE_EXCEPTION, 13, true);
    EXPECT_EQ(gp, 0x80000B0Du);
    EXPECT_EQ(intr_info_type(gp), InterruptionType::HARDWARE_EXCEPTION);
    EXPECT_EQ(intr_info_vector(gp), 13);
    EXPECT_EQ(intr_info_make(InterruptionType::EXTERNAL_INTERRUPT, 0x20, false), 0x80000020u);
    EXPECT_EQ(intr_info_make(InterruptionType::NMI, 2, false), 0x80000202u);
}

TEST(Vmcs, AccessRights) {
    const u32 code32 = 0xC09B; // present, DPL 0, execute/read accessed code, D/B, G
    EXPECT_EQ(vmx_ar_type(code32), SEG_TYPE_CODE_XR_ACCESSED);
    EXPECT_EQ(vmx_ar_dpl(code32), 0u);
    EXPECT_EQ(vmx_ar_dpl(0xF3), 3u);
    EXPECT_TRUE(vmx_ar_usable(code32));
    EXPECT_FALSE(vmx_ar_usable(VMX_AR_UNUSABLE));
    EXPECT_TRUE((code32 & VMX_AR_S) && (code32 & VMX_AR_P) && (code32 & VMX_AR_DB) && (code32 & VMX_AR_G));
}

TEST(Vmcs, CrAccessQualification) {
    // MOV CR3, RBX: CR 3, access type 0, GPR 3 (Table 28-3).
    const CrAccessQual q = decode_cr_access_qual(0x303);
    EXPECT_EQ(q.cr, 3);
    EXPECT_EQ(q.access, CrAccessType::MOV_TO_CR);
    EXPECT_EQ(q.gpr, 3);
    // MOV RAX, CR4 with R15: access type 1.
    const CrAccessQual r = decode_cr_access_qual(0xF14);
    EXPECT_EQ(r.cr, 4);
    EXPECT_EQ(r.access, CrAccessType::MOV_FROM_CR);
    EXPECT_EQ(r.gpr, 15);
    // LMSW from memory with source data 0x0001.
    const CrAccessQual l = decode_cr_access_qual((u64{1} << 16) | (3u << 4) | bit(6));
    EXPECT_EQ(l.access, CrAccessType::LMSW);
    EXPECT_TRUE(l.lmsw_memory);
    EXPECT_EQ(l.lmsw_data, 1);
}

TEST(Vmcs, IoQualification) {
    // IN AL, DX from port 0x3F8 (Table 28-5).
    const IoQual in = decode_io_qual((u64{0x3F8} << 16) | IO_QUAL_IN);
    EXPECT_EQ(in.size, 1);
    EXPECT_TRUE(in.in);
    EXPECT_FALSE(in.string);
    EXPECT_FALSE(in.immediate);
    EXPECT_EQ(in.port, 0x3F8);
    // REP OUTSD to port 0x80 (immediate encoding).
    const IoQual out = decode_io_qual((u64{0x80} << 16) | IO_QUAL_IMMEDIATE | IO_QUAL_REP | IO_QUAL_STRING | 3);
    EXPECT_EQ(out.size, 4);
    EXPECT_FALSE(out.in);
    EXPECT_TRUE(out.string && out.rep && out.immediate);
    EXPECT_EQ(out.port, 0x80);
}

TEST(Vmcs, EptViolationQualification) {
    // A write to a read-only guest-physical page, through a valid linear address (Table 28-7).
    const EptViolationQual q = decode_ept_violation_qual(0x18A | bit(8));
    EXPECT_FALSE(q.read);
    EXPECT_TRUE(q.write);
    EXPECT_FALSE(q.fetch);
    EXPECT_TRUE(q.readable);
    EXPECT_FALSE(q.writable);
    EXPECT_FALSE(q.executable);
    EXPECT_TRUE(q.linear_valid);
    EXPECT_TRUE(q.translation);
    EXPECT_FALSE(q.nmi_unblocking);
    EXPECT_TRUE(decode_ept_violation_qual(EPT_QUAL_FETCH | EPT_QUAL_NMI_UNBLOCKING).fetch);
}
