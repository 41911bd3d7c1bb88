// Decoder of MMIO stores. See insn.h; section and table numbers refer to Intel SDM Vol. 2A.
#include "arch/x86_64/insn.h"

namespace evmm {
namespace {

using namespace insn;

constexpr const char* WHERE = "decode_mmio_store";

// Operand and address sizes in bytes.
constexpr u8 SIZE_BYTE = 1;
constexpr u8 SIZE_WORD = 2;
constexpr u8 SIZE_DWORD = 4;
constexpr u8 SIZE_QWORD = 8;
constexpr unsigned BITS_PER_BYTE = 8;

// The bytes of the instruction read so far: [0, pos). need() is called before every read, so no byte at or past
// `avail` (or past MAX_LENGTH) is ever touched.
struct Cursor {
    const u8* bytes;
    size_t avail;
    size_t pos;

    Status need(size_t n) const {
        const size_t end = pos + n; // pos <= MAX_LENGTH and n <= SIZE_QWORD: cannot wrap
        if (end > MAX_LENGTH) return Status::error("instruction longer than 15 bytes", WHERE, end, MAX_LENGTH);
        if (end > avail)
            return Status::error("instruction truncated: its encoding needs more bytes than available", WHERE, end,
                                 avail);
        return Status::success();
    }
    u8 peek() const { return bytes[pos]; }
    u8 next() { return bytes[pos++]; }
    // A little-endian field of n bytes (displacement, immediate, moffs).
    u64 next_le(size_t n) {
        u64 v = 0;
        for (size_t i = 0; i < n; ++i) v |= u64{bytes[pos + i]} << (BITS_PER_BYTE * i);
        pos += n;
        return v;
    }
};

constexpr bool is_segment_override(u8 b) {
    return b == PREFIX_ES || b == PREFIX_CS || b == PREFIX_SS || b == PREFIX_DS || b == PREFIX_FS || b == PREFIX_GS;
}

constexpr u8 modrm_mod(u8 modrm) { return static_cast<u8>(modrm >> MODRM_MOD_SHIFT); }
constexpr u8 modrm_reg(u8 modrm) { return static_cast<u8>((modrm >> MODRM_REG_SHIFT) & MODRM_FIELD_MASK); }
constexpr u8 modrm_rm(u8 modrm) { return static_cast<u8>(modrm & MODRM_FIELD_MASK); }
constexpr u8 sib_base(u8 sib) { return static_cast<u8>(sib & MODRM_FIELD_MASK); }

// Operand size of the non-8-bit opcodes (Vol. 1 Table 3-4; §2.2.1.7: REX.W takes precedence over 66).
constexpr u8 operand_size(CodeSize cs, bool opsize_prefix, bool rex_w) {
    if (cs == CodeSize::Bits64 && rex_w) return SIZE_QWORD;
    const bool default16 = cs == CodeSize::Bits16;
    return default16 != opsize_prefix ? SIZE_WORD : SIZE_DWORD;
}

// Address size (Vol. 1 Table 3-4 for 64-bit mode: 67 selects 32-bit addressing; elsewhere 67 toggles 16/32).
constexpr u8 address_size(CodeSize cs, bool addrsize_prefix) {
    switch (cs) {
    case CodeSize::Bits64: return addrsize_prefix ? SIZE_DWORD : SIZE_QWORD;
    case CodeSize::Bits32: return addrsize_prefix ? SIZE_WORD : SIZE_DWORD;
    case CodeSize::Bits16: return addrsize_prefix ? SIZE_DWORD : SIZE_WORD;
    }
    return SIZE_DWORD;
}

// Sign-extends the low `from` bytes of v to 64 bits.
constexpr u64 sign_extend64(u64 v, unsigned from_bytes) {
    const unsigned bits = from_bytes * BITS_PER_BYTE;
    return bits < BITS_PER_BYTE * SIZE_QWORD && (v & bit(bits - 1)) != 0 ? v | (~u64{0} << bits) : v;
}

// Register numbers (SDM encoding) used by 16-bit addressing (Table 2-1).
constexpr u8 R_BX = 3, R_SP = 4, R_BP = 5, R_SI = 6, R_DI = 7;
constexpr u8 SIB_INDEX_NONE = 4; // Table 2-3: index 100 (without REX.X) = no index
constexpr unsigned SIB_SCALE_SHIFT = 6;
constexpr unsigned SIB_INDEX_SHIFT = 3;
struct Rm16 {
    u8 base, index;
};
constexpr Rm16 RM16[8] = {{R_BX, R_SI},        {R_BX, R_DI},        {R_BP, R_SI},        {R_BP, R_DI},
                          {R_SI, NO_REGISTER}, {R_DI, NO_REGISTER}, {R_BP, NO_REGISTER}, {R_BX, NO_REGISTER}};

// The SIB byte and displacement of a memory ModR/M (mod != 11): decoded into `m` (its segment: the override if
// `seg_override`, else DS or SS by the base). REX.X/REX.B extend index and base in 64-bit mode.
Status decode_memory_operand(Cursor& c, u8 modrm, u8 addr_size, u8 rex, bool rip_relative_mode, Sreg seg,
                             bool seg_override, MemOperand& m) {
    const u8 mod = modrm_mod(modrm);
    const u8 rm = modrm_rm(modrm);
    size_t disp = 0;
    m = MemOperand{};
    if (addr_size == SIZE_WORD) {
        // Table 2-1: no SIB; mod 00 rm 110 is disp16 alone.
        if (mod == MOD_NO_DISP && rm == RM16_DISP16) {
            disp = SIZE_WORD;
        } else {
            m.base = RM16[rm].base;
            m.index = RM16[rm].index;
            if (mod == MOD_DISP8) disp = SIZE_BYTE;
            if (mod == MOD_DISP_FULL) disp = SIZE_WORD;
        }
    } else {
        // Table 2-2 / 2-3 (64-bit mode uses the same forms, §2.2.1.6: mod 00 rm 101 is RIP + disp32). REX.B does
        // not change them: rm 100 always means SIB, rm 101 with mod 00 always disp32 (R12 and R13 included).
        const u8 b_ext = static_cast<u8>((rex & REX_B) << REX_B_SHIFT);
        if (rm == RM_SIB) {
            EVMM_TRY(c.need(1));
            const u8 sib = c.next();
            const u8 index = static_cast<u8>((sib >> SIB_INDEX_SHIFT) & MODRM_FIELD_MASK);
            const u8 x_ext = static_cast<u8>((rex & REX_X) << REX_X_SHIFT);
            m.scale = static_cast<u8>(1u << (sib >> SIB_SCALE_SHIFT));
            if (index != SIB_INDEX_NONE || x_ext != 0) m.index = static_cast<u8>(index | x_ext);
            if (mod == MOD_NO_DISP && sib_base(sib) == SIB_BASE_NONE)
                disp = SIZE_DWORD;
            else
                m.base = static_cast<u8>(sib_base(sib) | b_ext);
        } else if (mod == MOD_NO_DISP && rm == RM_DISP32) {
            disp = SIZE_DWORD;
            m.rip_relative = rip_relative_mode;
        } else {
            m.base = static_cast<u8>(rm | b_ext);
        }
        if (mod == MOD_DISP8) disp = SIZE_BYTE;
        if (mod == MOD_DISP_FULL) disp = SIZE_DWORD;
    }
    EVMM_TRY(c.need(disp));
    if (disp != 0) m.disp = sign_extend64(c.next_le(disp), static_cast<unsigned>(disp));
    const bool stack_base =
        m.base != NO_REGISTER && ((m.base & MODRM_FIELD_MASK) == R_BP || (m.base & MODRM_FIELD_MASK) == R_SP);
    m.seg = seg_override ? seg : stack_base ? Sreg::SS : Sreg::DS;
    return Status::success();
}

// Skips the SIB byte and displacement of a memory ModR/M (mod != 11).
Status skip_memory_operand(Cursor& c, u8 modrm, u8 addr_size) {
    MemOperand ignored;
    return decode_memory_operand(c, modrm, addr_size, 0, false, Sreg::DS, false, ignored);
}

// Sign-extends the low `from` bytes of v to `to` bytes (zero above `to` bytes).
constexpr u64 sign_extend(u64 v, u8 from, u8 to) {
    const unsigned from_bits = from * BITS_PER_BYTE;
    if (from_bits < BITS_PER_BYTE * SIZE_QWORD && (v & bit(from_bits - 1)) != 0) v |= ~u64{0} << from_bits;
    const unsigned to_bits = to * BITS_PER_BYTE;
    return to_bits < BITS_PER_BYTE * SIZE_QWORD ? v & (bit(to_bits) - 1) : v;
}
static_assert(sign_extend(0x80000000, SIZE_DWORD, SIZE_QWORD) == 0xFFFF'FFFF'8000'0000ull);
static_assert(sign_extend(0x7FFFFFFF, SIZE_DWORD, SIZE_QWORD) == 0x7FFF'FFFFull);
static_assert(sign_extend(0xFFFF, SIZE_WORD, SIZE_WORD) == 0xFFFF);

enum class Source : u8 {
    Reg,         // ModR/M.reg (88, 89, 86, 87)
    Imm,         // an immediate after the memory operand (C6 /0, C7 /0)
    Accumulator, // AL/AX/EAX/RAX, no ModR/M: the address is a moffs (A2, A3)
};

struct StoreOpcode {
    u8 opcode;
    StoreKind kind;
    Source source;
    bool byte_op; // 8-bit operand whatever the prefixes
};

constexpr StoreOpcode STORE_OPCODES[] = {
    {OP_MOV_RM8_R8, StoreKind::Mov, Source::Reg, true},
    {OP_MOV_RM_R, StoreKind::Mov, Source::Reg, false},
    {OP_XCHG_RM8_R8, StoreKind::Xchg, Source::Reg, true},
    {OP_XCHG_RM_R, StoreKind::Xchg, Source::Reg, false},
    {OP_MOV_RM8_IMM8, StoreKind::Mov, Source::Imm, true},
    {OP_MOV_RM_IMM, StoreKind::Mov, Source::Imm, false},
    {OP_MOV_MOFFS8_AL, StoreKind::Mov, Source::Accumulator, true},
    {OP_MOV_MOFFS_AX, StoreKind::Mov, Source::Accumulator, false},
};

const StoreOpcode* find_store_opcode(u8 opcode) {
    for (const StoreOpcode& op : STORE_OPCODES)
        if (op.opcode == opcode) return &op;
    return nullptr;
}

constexpr u8 SIZE_VECTOR = 16; // SIMD_STORES: a whole XMM register (a YMM register with VEX.L)
constexpr u8 SIZE_YMM = 32;

// The SSE/AVX stores of an XMM/YMM register to memory (opcode map 0F; ModR/M.reg is stored to r/m).
struct SimdStore {
    u8 op2;
    SimdPrefix pp;
    u8 size; // SIZE_VECTOR: 16 bytes (32 with VEX.L); else the scalar size (66 0F 7E: 8 with REX.W / VEX.W)
};
constexpr SimdStore SIMD_STORES[] = {
    {OP2_MOVUPS_STORE, SimdPrefix::None, SIZE_VECTOR}, {OP2_MOVUPS_STORE, SimdPrefix::Op66, SIZE_VECTOR},
    {OP2_MOVUPS_STORE, SimdPrefix::F3, SIZE_DWORD},    {OP2_MOVUPS_STORE, SimdPrefix::F2, SIZE_QWORD},
    {OP2_MOVLPS_STORE, SimdPrefix::None, SIZE_QWORD},  {OP2_MOVLPS_STORE, SimdPrefix::Op66, SIZE_QWORD},
    {OP2_MOVAPS_STORE, SimdPrefix::None, SIZE_VECTOR}, {OP2_MOVAPS_STORE, SimdPrefix::Op66, SIZE_VECTOR},
    {OP2_MOVNTPS, SimdPrefix::None, SIZE_VECTOR},      {OP2_MOVNTPS, SimdPrefix::Op66, SIZE_VECTOR},
    {OP2_MOVD_STORE, SimdPrefix::Op66, SIZE_DWORD},    {OP2_MOVDQA_STORE, SimdPrefix::Op66, SIZE_VECTOR},
    {OP2_MOVDQA_STORE, SimdPrefix::F3, SIZE_VECTOR},   {OP2_MOVQ_STORE, SimdPrefix::Op66, SIZE_QWORD},
    {OP2_MOVNTDQ, SimdPrefix::Op66, SIZE_VECTOR},
};

bool is_simd_store_opcode(u8 op2) {
    for (const SimdStore& s : SIMD_STORES)
        if (s.op2 == op2) return true;
    return false;
}

// The rest of an SSE/AVX store after its opcode byte (at op2_pos): ModR/M (memory only) and its address bytes.
Status decode_simd(Cursor& c, u8 op2, size_t op2_pos, SimdPrefix pp, bool vex_l, bool wide, u8 reg_ext, u8 addr_size,
                   MmioStore& r) {
    const SimdStore* found = nullptr;
    for (const SimdStore& s : SIMD_STORES)
        if (s.op2 == op2 && s.pp == pp) found = &s;
    if (found == nullptr)
        return Status::error("unsupported SSE/AVX opcode (or prefix): not a store evmm emulates", WHERE, op2, op2_pos);
    u8 size = found->size;
    if (size == SIZE_VECTOR && vex_l) size = SIZE_YMM;
    if (op2 == OP2_MOVD_STORE && wide) size = SIZE_QWORD;
    // VMOVSS/VMOVSD ignore VEX.L (LIG); the other scalar stores are VEX.128 only (VEX.L = 1: #UD).
    if (found->size != SIZE_VECTOR && vex_l && op2 != OP2_MOVUPS_STORE)
        return Status::error("VEX.L = 1 on a scalar store (the CPU raises #UD)", WHERE, op2, op2_pos);
    EVMM_TRY(c.need(1));
    const size_t modrm_pos = c.pos;
    const u8 modrm = c.next();
    if (modrm_mod(modrm) == MOD_REGISTER)
        return Status::error("register destination (ModR/M.mod = 11): not a store to memory", WHERE, modrm, modrm_pos);
    EVMM_TRY(skip_memory_operand(c, modrm, addr_size));
    r.kind = StoreKind::Simd;
    r.size = size;
    r.reg = static_cast<u8>(modrm_reg(modrm) | reg_ext);
    r.length = static_cast<u8>(c.pos);
    return Status::success();
}

constexpr Sreg sreg_of_prefix(u8 b) {
    switch (b) {
    case PREFIX_ES: return Sreg::ES;
    case PREFIX_CS: return Sreg::CS;
    case PREFIX_SS: return Sreg::SS;
    case PREFIX_FS: return Sreg::FS;
    case PREFIX_GS: return Sreg::GS;
    default: return Sreg::DS;
    }
}

} // namespace

u64 effective_address(const MemOperand& m, u8 addr_size, u64 next_rip, const u64 (&gpr)[16]) {
    u64 ea = m.disp;
    if (m.base != NO_REGISTER) ea += gpr[m.base & 15];
    if (m.index != NO_REGISTER) ea += gpr[m.index & 15] * m.scale;
    if (m.rip_relative) ea += next_rip;
    return addr_size >= SIZE_QWORD ? ea : ea & (bit(addr_size * BITS_PER_BYTE) - 1);
}

AluResult alu_apply(AluOp op, u8 size, u64 dst, u64 src, bool carry_in) {
    const unsigned bits = size * BITS_PER_BYTE;
    const u64 mask = bits >= 64 ? ~u64{0} : bit(bits) - 1;
    const u64 sign = bit(bits - 1);
    dst &= mask;
    src &= mask;
    const u64 c = carry_in ? 1 : 0;
    u64 r = 0, flags = 0;
    switch (op) {
    case AluOp::Add:
    case AluOp::Adc: {
        const u64 cin = op == AluOp::Adc ? c : 0;
        const unsigned __int128 full = static_cast<unsigned __int128>(dst) + src + cin;
        r = static_cast<u64>(full) & mask;
        if ((full >> bits) & 1) flags |= RFLAGS_CF;
        if ((dst ^ r) & (src ^ r) & sign) flags |= RFLAGS_OF;
        if ((dst ^ src ^ r) & RFLAGS_AF) flags |= RFLAGS_AF;
        break;
    }
    case AluOp::Sub:
    case AluOp::Sbb: {
        const u64 bin = op == AluOp::Sbb ? c : 0;
        r = (dst - src - bin) & mask;
        if (static_cast<unsigned __int128>(src) + bin > dst) flags |= RFLAGS_CF;
        if ((dst ^ src) & (dst ^ r) & sign) flags |= RFLAGS_OF;
        if ((dst ^ src ^ r) & RFLAGS_AF) flags |= RFLAGS_AF;
        break;
    }
    case AluOp::And: r = dst & src; break;
    case AluOp::Or: r = dst | src; break;
    case AluOp::Xor: r = dst ^ src; break;
    }
    if (r == 0) flags |= RFLAGS_ZF;
    if (r & sign) flags |= RFLAGS_SF;
    if ((__builtin_popcount(static_cast<unsigned>(r & 0xFF)) & 1) == 0) flags |= RFLAGS_PF; // even parity, low byte
    return AluResult{r, flags};
}

Status decode_mmio_store(const u8* bytes, size_t avail, CodeSize cs, MmioStore& out) {
    if (bytes == nullptr) return Status::error("no instruction bytes (nullptr)", WHERE);
    Cursor c{bytes, avail, 0};

    // Prefixes (§2.1.1), then in 64-bit mode REX (§2.2.1), which only counts right before the opcode.
    bool lock = false;
    bool rep = false;
    u8 rep_byte = 0;
    size_t rep_pos = 0;
    bool opsize_prefix = false;
    bool addrsize_prefix = false;
    bool has_rex = false;
    u8 rex = 0;
    u8 last_rep = 0;
    Sreg seg = Sreg::DS;
    bool seg_override = false;
    for (;;) {
        EVMM_TRY(c.need(1));
        const u8 b = c.peek();
        if (b == PREFIX_LOCK) {
            lock = true;
        } else if (b == PREFIX_OPERAND_SIZE) {
            opsize_prefix = true;
        } else if (b == PREFIX_ADDRESS_SIZE) {
            addrsize_prefix = true;
        } else if (b == PREFIX_REP || b == PREFIX_REPNE) {
            if (!rep) {
                rep_byte = b;
                rep_pos = c.pos;
            }
            rep = true; // REP for STOS/MOVS, a mandatory prefix for SSE; XACQUIRE/XRELEASE hints elsewhere (refused)
            last_rep = b;
        } else if (is_segment_override(b)) {
            seg = sreg_of_prefix(b);
            seg_override = true;
        } else {
            if (cs != CodeSize::Bits64 || (b & REX_HIGH_MASK) != REX_HIGH) break; // the opcode
            has_rex = true;
            rex = b;
            c.pos++;
            continue;
        }
        // A legacy prefix after a REX: that REX is ignored (§2.2.1).
        has_rex = false;
        rex = 0;
        c.pos++;
    }

    const size_t opcode_pos = c.pos;
    const u8 opcode = c.next();
    const u8 addr_size = address_size(cs, addrsize_prefix);
    MmioStore r{};
    r.addr_size = addr_size;
    r.src_seg = Sreg::DS;

    // VEX (§2.3.5): in 16/32-bit code C4/C5 are LES/LDS (loads) unless the next byte's bits 7:6 are 11.
    if (opcode == OP_VEX3 || opcode == OP_VEX2) {
        EVMM_TRY(c.need(1));
        if (cs == CodeSize::Bits64 || (c.peek() & VEX_NOT_LES_LDS) == VEX_NOT_LES_LDS) {
            if (lock || rep || opsize_prefix || has_rex)
                return Status::error("66, F2, F3, LOCK or REX before VEX (the CPU raises #UD)", WHERE, opcode,
                                     opcode_pos);
            const u8 b1 = c.next();
            u8 b2 = b1; // C5: R vvvv L pp in one byte
            bool wide = false;
            if (opcode == OP_VEX3) {
                if ((b1 & VEX_MAP_MASK) != VEX_MAP_0F)
                    return Status::error("VEX opcode map other than 0F: not a store evmm emulates", WHERE, b1,
                                         opcode_pos + 1);
                EVMM_TRY(c.need(1));
                b2 = c.next();
                wide = (b2 & VEX_W) != 0 && cs == CodeSize::Bits64; // VEX.W is ignored outside 64-bit mode
            }
            if ((b2 & VEX_VVVV_MASK) != VEX_VVVV_MASK)
                return Status::error("VEX.vvvv not 1111 on a store (the CPU raises #UD)", WHERE, b2, c.pos - 1);
            const u8 reg_ext = (b1 & VEX_R_INV) == 0 && cs == CodeSize::Bits64 ? REG_EXT : 0;
            EVMM_TRY(c.need(1));
            const size_t op2_pos = c.pos;
            const u8 op2 = c.next();
            EVMM_TRY(decode_simd(c, op2, op2_pos, static_cast<SimdPrefix>(b2 & VEX_PP_MASK), (b2 & VEX_L) != 0, wide,
                                 reg_ext, addr_size, r));
            out = r;
            return Status::success();
        }
    }
    // MOVS: no ModR/M; destination ES:(E/R)DI, source seg:(E/R)SI; REP allowed.
    if (opcode == OP_MOVSB || opcode == OP_MOVS) {
        if (lock) return Status::error("LOCK prefix on MOVS (the CPU raises #UD)", WHERE, opcode, opcode_pos);
        r.kind = StoreKind::Movs;
        r.rep = rep;
        r.src_seg = seg;
        r.size = opcode == OP_MOVSB ? SIZE_BYTE : operand_size(cs, opsize_prefix, (rex & REX_W) != 0);
        r.length = static_cast<u8>(c.pos);
        out = r;
        return Status::success();
    }
    // SSE stores: 0F, then the opcode; 66/F2/F3 are mandatory prefixes here, not operand size or REP.
    if (opcode == OP_TWO_BYTE) {
        EVMM_TRY(c.need(1));
        if (is_simd_store_opcode(c.peek())) {
            if (lock)
                return Status::error("LOCK prefix on an SSE store (the CPU raises #UD)", WHERE, opcode, opcode_pos);
            const SimdPrefix pp = rep             ? (last_rep == PREFIX_REP ? SimdPrefix::F3 : SimdPrefix::F2)
                                  : opsize_prefix ? SimdPrefix::Op66
                                                  : SimdPrefix::None;
            const u8 reg_ext = static_cast<u8>((rex & REX_R) << REX_R_SHIFT);
            const size_t op2_pos = c.pos;
            const u8 op2 = c.next();
            EVMM_TRY(decode_simd(c, op2, op2_pos, pp, false, (rex & REX_W) != 0, reg_ext, addr_size, r));
            out = r;
            return Status::success();
        }
    }
    // Stack stores (the PUSH and CALL pages): 64-bit mode pushes 8 bytes (2 with 66), elsewhere the operand size.
    const u8 stack_size =
        cs == CodeSize::Bits64 ? (opsize_prefix ? SIZE_WORD : SIZE_QWORD) : operand_size(cs, opsize_prefix, false);
    const u8 rex_b_reg = static_cast<u8>((rex & REX_B) << REX_B_SHIFT);
    const bool push_r = opcode >= OP_PUSH_R_FIRST && opcode <= OP_PUSH_R_LAST;
    if (push_r || opcode == OP_PUSH_IMM || opcode == OP_PUSH_IMM8 || opcode == OP_PUSHF || opcode == OP_CALL_REL ||
        opcode == OP_GROUP5) {
        if (lock) return Status::error("LOCK prefix on a stack store (the CPU raises #UD)", WHERE, opcode, opcode_pos);
        if (rep) return Status::error("REP/REPNE prefix on a stack store is not supported", WHERE, rep_byte, rep_pos);
        r.kind = StoreKind::Push;
        r.size = stack_size;
        if (push_r) {
            r.from_reg = true;
            r.reg = static_cast<u8>((opcode - OP_PUSH_R_FIRST) | rex_b_reg);
        } else if (opcode == OP_PUSH_IMM || opcode == OP_PUSH_IMM8) {
            const u8 imm_size = opcode == OP_PUSH_IMM8 ? SIZE_BYTE : stack_size == SIZE_WORD ? SIZE_WORD : SIZE_DWORD;
            EVMM_TRY(c.need(imm_size));
            r.imm = sign_extend(c.next_le(imm_size), imm_size, stack_size);
        } else if (opcode == OP_PUSHF) {
            r.kind = StoreKind::Pushf;
        } else if (opcode == OP_CALL_REL) {
            r.kind = StoreKind::Call;
            r.size = cs == CodeSize::Bits64 ? SIZE_QWORD : stack_size; // 64-bit mode: 66 ignored (Intel)
            const u8 rel_size = r.size == SIZE_WORD ? SIZE_WORD : SIZE_DWORD;
            EVMM_TRY(c.need(rel_size));
            r.imm = sign_extend(c.next_le(rel_size), rel_size, SIZE_QWORD);
        } else { // FF: CALL r/m (/2) or PUSH r/m (/6)
            EVMM_TRY(c.need(1));
            const u8 modrm = c.next();
            const u8 digit = modrm_reg(modrm);
            if (digit != GROUP5_CALL_DIGIT && digit != GROUP5_PUSH_DIGIT)
                return Status::error("unsupported opcode: FF group other than CALL/PUSH, not a store evmm emulates",
                                     WHERE, opcode, opcode_pos);
            if (digit == GROUP5_CALL_DIGIT) {
                r.kind = StoreKind::Call;
                if (cs == CodeSize::Bits64) r.size = SIZE_QWORD;
            }
            if (modrm_mod(modrm) == MOD_REGISTER) {
                r.from_reg = true;
                r.reg = static_cast<u8>(modrm_rm(modrm) | rex_b_reg);
            } else { // the value to push (PUSH) or the target (CALL): `size` bytes at the memory operand
                r.from_mem = true;
                EVMM_TRY(decode_memory_operand(c, modrm, addr_size, has_rex ? rex : 0, cs == CodeSize::Bits64, seg,
                                               seg_override, r.src));
            }
        }
        r.length = static_cast<u8>(c.pos);
        out = r;
        return Status::success();
    }
    // STOS: no ModR/M, the destination is ES:(E/R)DI, the source the accumulator; REP allowed.
    if (opcode == OP_STOSB || opcode == OP_STOS) {
        if (lock) return Status::error("LOCK prefix on STOS (the CPU raises #UD)", WHERE, opcode, opcode_pos);
        r.kind = StoreKind::Stos;
        r.from_reg = true;
        r.reg = 0;
        r.rep = rep;
        r.size = opcode == OP_STOSB ? SIZE_BYTE : operand_size(cs, opsize_prefix, (rex & REX_W) != 0);
        r.length = static_cast<u8>(c.pos);
        out = r;
        return Status::success();
    }
    if (rep)
        return Status::error("REP/REPNE (XRELEASE/XACQUIRE) prefix on an MMIO store is not supported", WHERE, rep_byte,
                             rep_pos);
    // The ModR/M forms: MOV, XCHG, the ALU group, XADD, MOVNTI.
    Source source = Source::Reg;
    bool byte_op = false;
    if (const StoreOpcode* op = find_store_opcode(opcode); op != nullptr) {
        r.kind = op->kind;
        source = op->source;
        byte_op = op->byte_op;
    } else if (opcode <= OP_ALU_LAST_RM_R && (opcode & 0x6) == 0) { // xx000, xx001: r/m8, r8 and r/m, r
        r.kind = StoreKind::Alu;
        r.alu = static_cast<AluOp>(opcode >> MODRM_REG_SHIFT);
        byte_op = (opcode & 1) == 0;
    } else if (opcode == OP_ALU_RM8_IMM8 || opcode == OP_ALU_RM_IMM || opcode == OP_ALU_RM_IMM8) {
        r.kind = StoreKind::Alu;
        source = Source::Imm;
        byte_op = opcode == OP_ALU_RM8_IMM8;
    } else if (opcode == OP_TWO_BYTE) {
        EVMM_TRY(c.need(1));
        const u8 op2 = c.next();
        if (op2 == OP2_XADD_RM8_R8 || op2 == OP2_XADD_RM_R) {
            r.kind = StoreKind::Xadd;
            byte_op = op2 == OP2_XADD_RM8_R8;
        } else if (op2 == OP2_MOVNTI) {
            r.kind = StoreKind::Mov;
            if (lock) return Status::error("LOCK prefix on MOVNTI (the CPU raises #UD)", WHERE, op2, opcode_pos + 1);
        } else {
            return Status::error("unsupported two-byte opcode: not a store evmm emulates", WHERE, op2, opcode_pos + 1);
        }
    } else {
        return Status::error("unsupported opcode: not a store evmm emulates", WHERE, opcode, opcode_pos);
    }
    r.from_reg = source != Source::Imm;
    r.size = byte_op ? SIZE_BYTE : operand_size(cs, opsize_prefix, (rex & REX_W) != 0);
    // LOCK with MOV raises #UD (the LOCK page: only read-modify-write instructions may be locked).
    if (lock && r.kind == StoreKind::Mov)
        return Status::error("LOCK prefix on MOV (the CPU raises #UD: not a store)", WHERE, opcode, opcode_pos);

    if (source != Source::Accumulator) {
        EVMM_TRY(c.need(1));
        const size_t modrm_pos = c.pos;
        const u8 modrm = c.next();
        if (r.kind == StoreKind::Mov && !r.from_reg && modrm_reg(modrm) != MOV_IMM_DIGIT)
            return Status::error("MOV r/m, imm (C6/C7) with a /digit other than 0", WHERE, modrm, modrm_pos);
        if (r.kind == StoreKind::Alu && !r.from_reg) {
            if (modrm_reg(modrm) == ALU_CMP)
                return Status::error("CMP r/m, imm reads only: not a store", WHERE, modrm, modrm_pos);
            r.alu = static_cast<AluOp>(modrm_reg(modrm));
        }
        if (modrm_mod(modrm) == MOD_REGISTER)
            return Status::error("register destination (ModR/M.mod = 11): not a store to memory", WHERE, modrm,
                                 modrm_pos);
        EVMM_TRY(skip_memory_operand(c, modrm, addr_size));
        if (r.from_reg) {
            u8 reg = modrm_reg(modrm);
            if (r.size == SIZE_BYTE && !has_rex && reg >= REG8_HIGH_FIRST && reg <= REG8_HIGH_LAST) {
                r.high_byte = true;
                reg = static_cast<u8>(reg - REG8_HIGH_FIRST);
            } else {
                reg = static_cast<u8>(reg | ((rex & REX_R) << REX_R_SHIFT));
            }
            r.reg = reg;
        } else {
            // imm8, imm16 or imm32 (an imm32 is sign-extended to a 64-bit operand: the MOV page, "C7 /0 id"; 83 /n
            // takes an imm8 sign-extended to the operand size).
            const u8 imm_size = opcode == OP_ALU_RM_IMM8 ? SIZE_BYTE : r.size == SIZE_QWORD ? SIZE_DWORD : r.size;
            EVMM_TRY(c.need(imm_size));
            r.imm = sign_extend(c.next_le(imm_size), imm_size, r.size);
        }
    } else {
        // MOV moffs, AL/eAX: the offset is as wide as the address size (the MOV page, note on moffs); source is
        // register 0.
        EVMM_TRY(c.need(addr_size));
        c.pos += addr_size;
        r.reg = 0;
    }

    r.length = static_cast<u8>(c.pos);
    out = r;
    return Status::success();
}

// MOV CRn/DRn, CLTS, LMSW (insn.h). Prefixes as decode_mmio_store reads them; the instructions take no operand-size
// prefix (MOV CR/DR moves 64 bits in 64-bit mode, 32 elsewhere).
Status decode_cr_dr_insn(const u8* bytes, size_t avail, CodeSize cs, CrDrInsn& out) {
    constexpr const char* WHERE_CR = "decode_cr_dr_insn";
    if (bytes == nullptr) return Status::error("no instruction bytes (nullptr)", WHERE_CR);
    Cursor c{bytes, avail, 0};
    bool lock = false, addrsize_prefix = false, seg_override = false;
    Sreg seg = Sreg::DS;
    u8 rex = 0;
    for (;;) {
        EVMM_TRY(c.need(1));
        const u8 b = c.peek();
        if (b == PREFIX_LOCK) {
            lock = true;
        } else if (b == PREFIX_ADDRESS_SIZE) {
            addrsize_prefix = true;
        } else if (is_segment_override(b)) {
            seg = sreg_of_prefix(b);
            seg_override = true;
        } else if (b != PREFIX_OPERAND_SIZE && b != PREFIX_REP && b != PREFIX_REPNE) {
            if (cs != CodeSize::Bits64 || (b & REX_HIGH_MASK) != REX_HIGH) break; // the opcode
            rex = b;
            c.pos++;
            continue;
        }
        rex = 0; // a legacy prefix after a REX: that REX is ignored (§2.2.1)
        c.pos++;
    }
    const size_t opcode_pos = c.pos;
    if (c.next() != OP_TWO_BYTE)
        return Status::error("not a CR/DR instruction", WHERE_CR, bytes[opcode_pos], opcode_pos);
    EVMM_TRY(c.need(1));
    const size_t op2_pos = c.pos;
    const u8 op2 = c.next();
    CrDrInsn r{};
    r.addr_size = address_size(cs, addrsize_prefix);
    const u8 r_ext = static_cast<u8>((rex & REX_R) << REX_R_SHIFT);
    const u8 b_ext = static_cast<u8>((rex & REX_B) << REX_B_SHIFT);
    if (op2 == OP2_CLTS) {
        r.op = CrDrOp::Clts;
    } else if (op2 >= OP2_MOV_FROM_CR && op2 <= OP2_MOV_TO_DR) {
        EVMM_TRY(c.need(1));
        const u8 modrm = c.next();
        constexpr CrDrOp OPS[] = {CrDrOp::MovFromCr, CrDrOp::MovFromDr, CrDrOp::MovToCr, CrDrOp::MovToDr};
        r.op = OPS[op2 - OP2_MOV_FROM_CR];
        r.reg = static_cast<u8>(modrm_reg(modrm) | r_ext);
        r.gpr = static_cast<u8>(modrm_rm(modrm) | b_ext);
        const bool cr = r.op == CrDrOp::MovToCr || r.op == CrDrOp::MovFromCr;
        if (cr && lock && r.reg == 0) r.reg = ALT_MOV_CR8;
    } else if (op2 == OP2_GROUP7) {
        EVMM_TRY(c.need(1));
        const u8 modrm = c.next();
        if (modrm_reg(modrm) != GROUP7_LMSW_DIGIT)
            return Status::error("0F 01 other than LMSW (/6)", WHERE_CR, modrm, op2_pos + 1);
        r.op = CrDrOp::Lmsw;
        if (modrm_mod(modrm) == MOD_REGISTER) {
            r.gpr = static_cast<u8>(modrm_rm(modrm) | b_ext);
        } else {
            r.memory = true;
            EVMM_TRY(
                decode_memory_operand(c, modrm, r.addr_size, rex, cs == CodeSize::Bits64, seg, seg_override, r.mem));
        }
    } else {
        return Status::error("not a CR/DR instruction", WHERE_CR, op2, op2_pos);
    }
    r.length = static_cast<u8>(c.pos);
    out = r;
    return Status::success();
}

} // namespace evmm
