// A tiny x86 instruction decoder for one job: emulating a guest's store to a write-protected MMIO page (e.g. the
// local APIC page, write-protected in EPT). An EPT-violation exit gives the guest-physical address, but neither
// the instruction length nor the value stored; decode_mmio_store() reads both from the instruction bytes.
//
// Understood: MOV r/m,r (88, 89), MOV r/m,imm (C6 /0, C7 /0), MOV moffs,AL/eAX (A2, A3), MOVNTI m,r (0F C3),
// XCHG r/m,r (86, 87), the read-modify-write ALU forms ADD/OR/ADC/SBB/AND/SUB/XOR r/m,r (00-31, odd/even by size)
// and r/m,imm (80/81/83 /0-/6), XADD r/m,r (0F C0, 0F C1), each with or without LOCK, and STOS (AA, AB) with or
// without REP, MOVS (A4, A5) with or without REP, the stack stores PUSH r (50+r), PUSH imm (6A, 68), PUSH r/m with
// a register or memory operand (FF /6), PUSHF (9C), CALL rel (E8) and CALL r/m (FF /2), and the SSE/AVX
// stores of an XMM/YMM register: MOVD/MOVQ (66 0F 7E, 66 0F D6), MOVSS/MOVSD (F3/F2 0F 11), MOVLPS/MOVLPD (0F 13),
// MOVUPS/MOVUPD (0F 11), MOVAPS/MOVAPD (0F 29), MOVNTPS/MOVNTPD (0F 2B), MOVDQA/MOVDQU (66/F3 0F 7F), MOVNTDQ
// (66 0F E7), legacy-encoded and VEX-encoded (C4/C5, 128 and 256 bit). PUSH and CALL r/m also with a memory source
// (decoded: MmioStore::src). Anything else (loads, CMP, MMX, EVEX, far CALL, PUSH sreg) is refused with an error,
// and the caller should not guess.
//
// References (Intel SDM Vol. 2A): §2.1 "Instruction Format for Protected Mode, Real-Address Mode, and
// Virtual-8086 Mode" (§2.1.1 prefixes, §2.1.3 ModR/M and SIB, §2.1.4 displacement and immediate;
// Table 2-1 16-bit ModR/M, Table 2-2 32-bit ModR/M, Table 2-3 SIB), §2.2.1 "REX Prefixes" (§2.2.1.2 register
// encoding, §2.2.1.6 RIP-relative addressing, §2.2.1.7 default 64-bit operand size), §2.3.11 (maximum
// instruction length, 15 bytes), and the instruction pages "MOV—Move" and "XCHG—Exchange Register/Memory With
// Register", "MOVS/MOVSB/MOVSW/MOVSD/MOVSQ", "PUSH", "PUSHF", "CALL", "MOVD/MOVQ", "MOVDQU"...; §2.3.5 and §2.3.6
// (VEX prefix: 2- and 3-byte forms, R/X/B inverted, vvvv, L, pp; in 16/32-bit code C4/C5 are VEX only when ModR/M
// bits 7:6 of the next byte are 11, else LES/LDS); Vol. 1 §3.6.1 "Operand Size and Address Size in 64-Bit Mode"
// (Table 3-4), §6.2.3 / §6.4.1 (stack-address size: SS.B outside 64-bit mode).
#pragma once

#include "arch/x86_64/rflags.h"
#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

namespace insn {
// §2.3.11: an instruction longer than this raises #GP, whatever its prefixes.
inline constexpr size_t MAX_LENGTH = 15;

// §2.1.1 legacy prefixes. Group 1: LOCK and REPNE/REP; group 2: segment overrides; group 3: operand-size;
// group 4: address-size.
inline constexpr u8 PREFIX_LOCK = 0xF0;
inline constexpr u8 PREFIX_REPNE = 0xF2; // XACQUIRE on XCHG
inline constexpr u8 PREFIX_REP = 0xF3;   // XRELEASE on MOV / XCHG
inline constexpr u8 PREFIX_ES = 0x26;
inline constexpr u8 PREFIX_CS = 0x2E;
inline constexpr u8 PREFIX_SS = 0x36;
inline constexpr u8 PREFIX_DS = 0x3E;
inline constexpr u8 PREFIX_FS = 0x64;
inline constexpr u8 PREFIX_GS = 0x65;
inline constexpr u8 PREFIX_OPERAND_SIZE = 0x66;
inline constexpr u8 PREFIX_ADDRESS_SIZE = 0x67;

// §2.2.1, Table 2-4: REX prefix 0100WRXB (40H-4FH), 64-bit mode only (elsewhere these are INC/DEC).
inline constexpr u8 REX_HIGH_MASK = 0xF0;
inline constexpr u8 REX_HIGH = 0x40;
inline constexpr u8 REX_W = 0x08;          // 64-bit operand size
inline constexpr u8 REX_R = 0x04;          // extends ModR/M.reg
inline constexpr u8 REX_X = 0x02;          // extends SIB.index
inline constexpr u8 REX_B = 0x01;          // extends ModR/M.rm / SIB.base
inline constexpr unsigned REX_R_SHIFT = 1; // REX.R (bit 2) becomes bit 3 of the register number
inline constexpr unsigned REX_B_SHIFT = 3; // REX.B (bit 0) becomes bit 3 of the register number (50+r, ModR/M.rm)
inline constexpr unsigned REX_X_SHIFT = 2; // REX.X (bit 1) becomes bit 3 of the SIB index register
inline constexpr u8 REG_EXT = 8;           // REX.R / VEX.R: registers 8-15

// Opcodes of the stores this decoder understands (the MOV and XCHG pages).
inline constexpr u8 OP_XCHG_RM8_R8 = 0x86;   // XCHG r/m8, r8
inline constexpr u8 OP_XCHG_RM_R = 0x87;     // XCHG r/m16/32/64, r16/32/64
inline constexpr u8 OP_MOV_RM8_R8 = 0x88;    // MOV r/m8, r8
inline constexpr u8 OP_MOV_RM_R = 0x89;      // MOV r/m16/32/64, r16/32/64
inline constexpr u8 OP_MOV_MOFFS8_AL = 0xA2; // MOV moffs8, AL
inline constexpr u8 OP_MOV_MOFFS_AX = 0xA3;  // MOV moffs16/32/64, AX/EAX/RAX
inline constexpr u8 OP_MOV_RM8_IMM8 = 0xC6;  // MOV r/m8, imm8 (/0)
inline constexpr u8 OP_MOV_RM_IMM = 0xC7;    // MOV r/m16/32/64, imm16/32 (/0; imm32 sign-extended with REX.W)
inline constexpr u8 MOV_IMM_DIGIT = 0;       // the /digit (ModR/M.reg) of MOV r/m, imm
inline constexpr u8 OP_ALU_LAST_RM_R = 0x31; // 00-31: ADD..XOR r/m, r (bit 0: full size; bits 5:3: the operation)
inline constexpr u8 OP_ALU_RM8_IMM8 = 0x80;  // ADD..XOR r/m8, imm8 (/0-/6; /7 is CMP)
inline constexpr u8 OP_ALU_RM_IMM = 0x81;    // ADD..XOR r/m16/32/64, imm16/32
inline constexpr u8 OP_ALU_RM_IMM8 = 0x83;   // ADD..XOR r/m16/32/64, imm8 sign-extended
inline constexpr u8 OP_STOSB = 0xAA;         // STOS m8 (ES:(E/R)DI), AL
inline constexpr u8 OP_STOS = 0xAB;          // STOS m16/32/64, AX/EAX/RAX
inline constexpr u8 OP_TWO_BYTE = 0x0F;      // escape to the two-byte opcode map
inline constexpr u8 OP2_XADD_RM8_R8 = 0xC0;  // 0F C0: XADD r/m8, r8
inline constexpr u8 OP2_XADD_RM_R = 0xC1;    // 0F C1: XADD r/m16/32/64, r16/32/64
inline constexpr u8 OP2_MOVNTI = 0xC3;       // 0F C3: MOVNTI m32/m64, r32/r64
inline constexpr u8 ALU_CMP = 7;             // the CMP slot of the ALU group: reads only, never a store
inline constexpr u8 OP_MOVSB = 0xA4;         // MOVS m8 (ES:(E/R)DI), m8 (DS:(E/R)SI, override allowed)
inline constexpr u8 OP_MOVS = 0xA5;          // MOVS m16/32/64, m16/32/64
inline constexpr u8 OP_PUSH_R_FIRST = 0x50;  // 50+r: PUSH r16/r32/r64 (REX.B extends r)
inline constexpr u8 OP_PUSH_R_LAST = 0x57;
inline constexpr u8 OP_PUSH_IMM = 0x68;    // PUSH imm16/imm32 (sign-extended to 64 bits in 64-bit mode)
inline constexpr u8 OP_PUSH_IMM8 = 0x6A;   // PUSH imm8, sign-extended to the operand size
inline constexpr u8 OP_PUSHF = 0x9C;       // PUSHF/PUSHFD/PUSHFQ
inline constexpr u8 OP_CALL_REL = 0xE8;    // CALL rel16/rel32
inline constexpr u8 OP_GROUP5 = 0xFF;      // INC/DEC/CALL/CALLF/JMP/JMPF/PUSH r/m (by the /digit)
inline constexpr u8 GROUP5_CALL_DIGIT = 2; // FF /2: CALL r/m16/32/64 (near, indirect)
inline constexpr u8 GROUP5_PUSH_DIGIT = 6; // FF /6: PUSH r/m16/32/64
inline constexpr u8 OP_VEX3 = 0xC4; // three-byte VEX prefix (§2.3.5); LES outside 64-bit mode unless 11b follows
inline constexpr u8 OP_VEX2 = 0xC5; // two-byte VEX prefix; LDS likewise
inline constexpr u8 VEX_NOT_LES_LDS = 0xC0; // bits 7:6 of the byte after C4/C5: 11 = VEX in 16/32-bit code
inline constexpr u8 VEX_R_INV = 0x80;       // VEX byte 1 bit 7: inverted REX.R
inline constexpr u8 VEX_MAP_MASK = 0x1F;    // C4 byte 1 bits 4:0: the opcode map (1 = 0F)
inline constexpr u8 VEX_MAP_0F = 1;
inline constexpr u8 VEX_W = 0x80;         // C4 byte 2 bit 7
inline constexpr u8 VEX_VVVV_MASK = 0x78; // inverted vvvv (bits 6:3): 1111 when unused (stores: else #UD)
inline constexpr u8 VEX_L = 0x04;         // 256-bit vector length
inline constexpr u8 VEX_PP_MASK = 0x03;   // implied prefix: 0 none, 1 66, 2 F3, 3 F2
// SSE/AVX store opcodes (map 0F), with their mandatory prefix (pp).
inline constexpr u8 OP2_MOVUPS_STORE = 0x11; // none: MOVUPS; 66: MOVUPD; F3: MOVSS m32; F2: MOVSD m64
inline constexpr u8 OP2_MOVLPS_STORE = 0x13; // none: MOVLPS m64; 66: MOVLPD m64 (the low quadword)
inline constexpr u8 OP2_MOVAPS_STORE = 0x29; // none: MOVAPS; 66: MOVAPD
inline constexpr u8 OP2_MOVNTPS = 0x2B;      // none: MOVNTPS; 66: MOVNTPD
inline constexpr u8 OP2_MOVD_STORE = 0x7E;   // 66: MOVD r/m32, xmm (MOVQ r/m64 with REX.W / VEX.W in 64-bit mode)
inline constexpr u8 OP2_MOVDQA_STORE = 0x7F; // 66: MOVDQA; F3: MOVDQU
inline constexpr u8 OP2_MOVQ_STORE = 0xD6;   // 66: MOVQ m64, xmm
inline constexpr u8 OP2_MOVNTDQ = 0xE7;      // 66: MOVNTDQ
enum class SimdPrefix : u8 { None = 0, Op66 = 1, F3 = 2, F2 = 3 }; // the VEX.pp encoding

// Segment registers by their encoding in instructions (Vol. 2A §3.1.1.3 "sreg": ES, CS, SS, DS, FS, GS), which is
// also the order of EVMM_SEG_* (include/evmm/gcpu_state.h).
enum class Sreg : u8 { ES = 0, CS, SS, DS, FS, GS };

// §2.1.3, Tables 2-1 .. 2-3: ModR/M = mod(7:6) reg(5:3) rm(2:0); SIB = scale(7:6) index(5:3) base(2:0).
inline constexpr unsigned MODRM_MOD_SHIFT = 6;
inline constexpr unsigned MODRM_REG_SHIFT = 3;
inline constexpr u8 MODRM_FIELD_MASK = 0x7; // reg, rm, index, base (after shifting)
inline constexpr u8 MOD_NO_DISP = 0;        // [regs] (with the special cases below)
inline constexpr u8 MOD_DISP8 = 1;          // [regs] + disp8
inline constexpr u8 MOD_DISP_FULL = 2;      // [regs] + disp16 (16-bit addressing) / disp32
inline constexpr u8 MOD_REGISTER = 3;       // a register operand, not memory
inline constexpr u8 RM16_DISP16 = 6;        // Table 2-1: mod 00 rm 110 = disp16 alone
inline constexpr u8 RM_SIB = 4;             // Table 2-2: rm 100 = a SIB byte follows (32/64-bit addressing)
inline constexpr u8 RM_DISP32 = 5;          // Table 2-2: mod 00 rm 101 = disp32 (RIP + disp32 in 64-bit mode)
inline constexpr u8 SIB_BASE_NONE = 5;      // Table 2-3: base 101 with mod 00 = no base, disp32

// §2.2.1.2 / Table 3-1 of Vol. 2: without any REX prefix, 8-bit register numbers 4-7 are AH, CH, DH, BH (bits
// 15:8 of registers 0-3); with one they are SPL, BPL, SIL, DIL.
inline constexpr u8 REG8_HIGH_FIRST = 4;
inline constexpr u8 REG8_HIGH_LAST = 7;
} // namespace insn

// Code size of the faulting instruction (the default operand and address size of its code segment).
enum class CodeSize : u8 { Bits16, Bits32, Bits64 };

// From guest state: real mode (CR0.PE = 0) and virtual-8086 mode (RFLAGS.VM = 1) are 16-bit; in IA-32e mode
// (IA32_EFER.LMA = 1) a code segment with CS.L = 1 is 64-bit; otherwise CS.D selects 32 (1) or 16 (0) bits
// (SDM Vol. 3A §3.4.5, the D/B and L flags of a code-segment descriptor).
constexpr CodeSize code_size(bool cr0_pe, bool rflags_vm, bool efer_lma, bool cs_l, bool cs_d) {
    if (!cr0_pe || rflags_vm) return CodeSize::Bits16;
    if (efer_lma && cs_l) return CodeSize::Bits64;
    return cs_d ? CodeSize::Bits32 : CodeSize::Bits16;
}

// MOV writes the value to memory. XCHG also loads the old memory value into register `reg` (same size; a 32-bit
// load into a register zero-extends to 64 bits in 64-bit mode, 8- and 16-bit loads leave the other bits alone,
// SDM Vol. 1 §3.4.1.1); XCHG with memory is always locked.
// ALU: memory = memory OP value, RFLAGS' status flags as the operation sets them (alu_apply). XADD: memory = memory
// + register, the register gets the old memory value, flags as ADD. STOS: memory at ES:(E/R)DI = AL/AX/EAX/RAX, then
// (E/R)DI steps by the size (down with RFLAGS.DF); with REP, (E/R)CX counts the elements.
// MOVS: the element at seg:(E/R)SI (seg: DS or the override) is stored at ES:(E/R)DI, then both step by the size
// (down with DF); with REP, (E/R)CX counts. Push: the value (a register, an immediate, or RFLAGS for Pushf) goes to
// SS:(rSP - size), then rSP -= size. Call: the return address (RIP of the next instruction, `size` bytes) is pushed,
// then RIP = next + imm (rel) or register `reg` (from_reg), truncated to the operand size. Simd: the low `size` bytes
// of XMM/YMM register `reg` are stored.
enum class StoreKind : u8 { Mov, Xchg, Alu, Xadd, Stos, Movs, Push, Pushf, Call, Simd };
// The ALU group's order (the /digit of 80/81/83 and bits 5:3 of opcodes 00-31).
enum class AluOp : u8 { Add = 0, Or, Adc, Sbb, And, Sub, Xor };

struct AluResult {
    u64 value; // the result, `size` bytes wide
    u64 flags; // the new status flags (RFLAGS_STATUS bits only); AND/OR/XOR clear CF, OF and AF
};
// dst OP src on `size`-byte operands (1, 2, 4 or 8); carry_in: RFLAGS.CF for ADC/SBB.
AluResult alu_apply(AluOp op, u8 size, u64 dst, u64 src, bool carry_in);

// A memory operand as ModR/M, SIB and displacement encode it (§2.1.5, Tables 2-1 .. 2-3; §2.2.1.6 RIP-relative):
// effective address = base + index * scale + disp (+ the next instruction's RIP when rip_relative), truncated to the
// address size; then the segment's base (Vol. 3A §3.4; in 64-bit mode only FS and GS have one). With 16-bit
// addressing base/index are BX, BP, SI, DI; the default segment is SS when the base is (E/R)BP or (E/R)SP.
inline constexpr u8 NO_REGISTER = 0xFF;
struct MemOperand {
    u8 base = NO_REGISTER;  // register number (SDM encoding, 0-15) or NO_REGISTER
    u8 index = NO_REGISTER; // register number or NO_REGISTER
    u8 scale = 1;           // 1, 2, 4, 8
    u64 disp = 0;           // sign-extended to 64 bits
    bool rip_relative = false;
    insn::Sreg seg = insn::Sreg::DS; // the override, else the default
};
// The effective address (no segment base) from the registers' values `gpr` (indexed by register number).
u64 effective_address(const MemOperand& m, u8 addr_size, u64 next_rip, const u64 (&gpr)[16]);

struct MmioStore {
    u8 length; // whole instruction length in bytes (prefixes included): the caller advances RIP by it
    u8 size;   // bytes stored: 1, 2, 4 or 8; Simd: 4, 8, 16 or 32
    StoreKind kind;
    bool from_reg;      // true: the value is the low `size` bytes of general register `reg`; false: `imm`
    u8 reg;             // 0-15 in SDM encoding order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15); 0 with imm;
                        // Simd: the XMM/YMM register number (0-15)
    bool high_byte;     // 1-byte store from AH/CH/DH/BH (no REX, reg field 4-7): the value is bits 15:8 of `reg`,
                        // which is then 0-3 (RAX..RBX)
    u64 imm;            // the immediate (from_reg false), sign-extended to `size` bytes and zero above them:
                        // C7 with REX.W sign-extends imm32 to 64 bits; 0 when from_reg. Call rel: the displacement
                        // sign-extended to 64 bits
    AluOp alu;          // StoreKind::Alu: the operation
    bool rep;           // Stos, Movs: with a REP prefix
    u8 addr_size;       // Stos, Movs: the address size (2, 4 or 8 bytes) for (E/R)DI, (E/R)SI and (E/R)CX
    insn::Sreg src_seg; // Movs: the source's segment (DS unless overridden)
    bool from_mem;      // Push, Call (FF /6, FF /2 with a memory operand): the value is read at `src` (`size` bytes)
    MemOperand src;
};

// Decodes the store to memory at bytes[0 .. avail) for code size `cs`. Never reads bytes[avail] or beyond, nor
// more than insn::MAX_LENGTH bytes.
//
// Prefixes: operand-size 66, address-size 67, segment overrides 26 2E 36 3E 64 65, LOCK F0 (XCHG only: MOV with
// LOCK raises #UD, so it cannot be the faulting store), in any order and number, then in 64-bit mode a REX
// (40-4F) immediately before the opcode. A REX followed by another prefix is ignored (§2.2.1); of two REX
// prefixes in a row the last counts. REP/REPNE (F2/F3, XACQUIRE/XRELEASE) are refused.
// Operand size (Vol. 1 Table 3-4 and §2.2.1.7): 8-bit opcodes store 1 byte. Otherwise: 64-bit mode 4 bytes,
// 8 with REX.W (REX.W wins over 66), 2 with 66; 32-bit code 4, 2 with 66; 16-bit code 2, 4 with 66.
// Address size (only changes how many ModR/M, SIB, displacement and moffs bytes follow): 64-bit mode 64, 32 with
// 67; 32-bit code 32, 16 with 67; 16-bit code 16, 32 with 67. Every memory form of ModR/M is accepted (SIB,
// disp8, disp16, disp32, RIP-relative); the destination's effective address is not computed (the exit gives it).
//
// Stack forms (PUSH, PUSHF, CALL): 64-bit mode 8 bytes, 2 with 66 (CALL: always 8, Intel ignores 66 there);
// elsewhere the operand size. PUSH imm8 and imm16/32 are sign-extended to it. PUSH m / CALL m (FF /6, FF /2): the
// source operand is decoded into MmioStore::src (from_mem), which the caller reads.
// SSE forms: the mandatory prefix is the last F2/F3 if any, else 66; REX.R extends the XMM register, REX.W makes
// 66 0F 7E a MOVQ. VEX forms: vvvv must be 1111, VEX.L selects 256 bits (VMOVD/VMOVQ/VMOVSS/VMOVSD/VMOVLPS: L must be
// 0), no 66/F2/F3/REX/LOCK before VEX (the CPU raises #UD).
//
// Errors (where = "decode_mmio_store"; value = the offending byte, value2 = its offset, unless said otherwise):
// nullptr; a register destination (ModR/M.mod = 11); an opcode that is not one of the stores above; C6/C7 with a
// /digit other than 0; LOCK on MOV, MOVS, a stack or an SSE store; REP/REPNE prefix other than on STOS/MOVS or as
// an SSE mandatory prefix; a VEX form the CPU rejects; truncated (value = bytes
// the encoding needs so far, value2 = avail); longer than 15 bytes (value = bytes the encoding needs so far, value2 =
// 15).
Status decode_mmio_store(const u8* bytes, size_t avail, CodeSize cs, MmioStore& out);

// --- Control- and debug-register instructions: what an AMD SVM CR/DR intercept leaves to the hypervisor when the
// CPU has no decode assists (AMD APM Vol. 2 §15.9, §15.12, §15.33.4). MOV to/from CRn (0F 22 / 0F 20), MOV to/from
// DRn (0F 23 / 0F 21), CLTS (0F 06), LMSW (0F 01 /6, a register or a 16-bit memory source). SDM Vol. 2B "MOV—Move
// to/from Control Registers", "MOV—Move to/from Debug Registers": the ModR/M.mod bits are ignored (the operand is
// always a register), REX.R extends the CR/DR number, REX.B the general register; AMD APM Vol. 3 "MOV CRn": LOCK +
// MOV CR0 accesses CR8 (AltMovCr8).
namespace insn {
inline constexpr u8 OP2_GROUP7 = 0x01; // 0F 01: LMSW is /6
inline constexpr u8 GROUP7_LMSW_DIGIT = 6;
inline constexpr u8 OP2_CLTS = 0x06;        // 0F 06
inline constexpr u8 OP2_MOV_FROM_CR = 0x20; // 0F 20: MOV r64/r32, CRn
inline constexpr u8 OP2_MOV_FROM_DR = 0x21; // 0F 21: MOV r64/r32, DRn
inline constexpr u8 OP2_MOV_TO_CR = 0x22;   // 0F 22: MOV CRn, r64/r32
inline constexpr u8 OP2_MOV_TO_DR = 0x23;   // 0F 23: MOV DRn, r64/r32
inline constexpr u8 ALT_MOV_CR8 = 8;        // LOCK + MOV CR0: CR8
} // namespace insn
enum class CrDrOp : u8 { MovToCr, MovFromCr, MovToDr, MovFromDr, Clts, Lmsw };
struct CrDrInsn {
    u8 length; // the whole instruction, prefixes included
    CrDrOp op;
    u8 reg;       // the CR / DR number (MOV), 0 (CLTS, LMSW: CR0)
    u8 gpr;       // the general register (MOV; LMSW with a register source), SDM encoding order
    bool memory;  // LMSW with a memory source: `mem`, `addr_size` (bytes)
    u8 addr_size; // 2, 4 or 8
    MemOperand mem;
};
// Errors (where = "decode_cr_dr_insn"; value = the offending byte, value2 = its offset): not one of the instructions
// above, truncated, longer than 15 bytes.
Status decode_cr_dr_insn(const u8* bytes, size_t avail, CodeSize cs, CrDrInsn& out);

} // namespace evmm
