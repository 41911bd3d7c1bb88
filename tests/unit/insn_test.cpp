// Unit tests for arch/x86_64/insn: decoding MMIO stores. Every encoding below was produced by the host assembler
// (GNU as --64 / --32 / .code16, checked with objdump -d); the comment says what it assembles from.
#include "arch/x86_64/insn.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "tests/unit/status_expect.h"

namespace evmm {
namespace {

using Bytes = std::vector<u8>;

constexpr const char* WHERE = "decode_mmio_store";

// Decodes the first n bytes of enc from a heap buffer of exactly n bytes, so ASan reports any read past avail.
Status decode_n(const Bytes& enc, size_t n, CodeSize cs, MmioStore& out) {
    std::unique_ptr<u8[]> buf(new u8[n]); // non-null even for n == 0
    for (size_t i = 0; i < n; ++i) buf[i] = i < enc.size() ? enc[i] : 0;
    return decode_mmio_store(buf.get(), n, cs, out);
}

MmioStore reg_store(u8 size, u8 reg, StoreKind kind = StoreKind::Mov, bool high_byte = false) {
    MmioStore s{};
    s.size = size;
    s.kind = kind;
    s.from_reg = true;
    s.reg = reg;
    s.high_byte = high_byte;
    return s;
}

MmioStore imm_store(u8 size, u64 imm) {
    MmioStore s{};
    s.size = size;
    s.kind = StoreKind::Mov;
    s.imm = imm;
    return s;
}

// enc must decode to `want` with length exactly enc.size(): with avail == enc.size() (and not one byte more read),
// with trailing bytes after it (the length does not grow), and every shorter avail must be "truncated" (the length
// does not shrink either: the decoder needs each byte it counts).
void expect_store(const Bytes& enc, CodeSize cs, const MmioStore& want) {
    MmioStore got{};
    ASSERT_OK(decode_n(enc, enc.size(), cs, got));
    EXPECT_EQ(got.length, enc.size()) << "length";
    EXPECT_EQ(got.size, want.size) << "size";
    EXPECT_EQ(got.kind, want.kind) << "kind";
    EXPECT_EQ(got.from_reg, want.from_reg) << "from_reg";
    EXPECT_EQ(got.reg, want.reg) << "reg";
    EXPECT_EQ(got.high_byte, want.high_byte) << "high_byte";
    EXPECT_EQ(got.imm, want.imm) << "imm";

    Bytes padded = enc;
    padded.resize(insn::MAX_LENGTH + 1, 0x90); // NOPs after the instruction
    MmioStore again{};
    ASSERT_OK(decode_n(padded, padded.size(), cs, again));
    EXPECT_EQ(again.length, enc.size()) << "length with trailing bytes";

    for (size_t n = 0; n < enc.size(); ++n) {
        MmioStore shorter{};
        shorter.length = 0xEE;
        const Status s = decode_n(enc, n, cs, shorter);
        ASSERT_FALSE(s.ok()) << "decoded from only " << n << " of " << enc.size() << " bytes";
        EXPECT_NE(test::str(s.what).find("truncated"), std::string::npos) << test::str(s.what) << " at " << n;
        EXPECT_EQ(s.value2, n) << "value2 = avail";
        EXPECT_GT(s.value, n) << "value = bytes needed";
        EXPECT_EQ(shorter.length, 0xEE) << "out written on error";
    }
}

constexpr CodeSize B64 = CodeSize::Bits64;
constexpr CodeSize B32 = CodeSize::Bits32;
constexpr CodeSize B16 = CodeSize::Bits16;

// Register numbers, SDM encoding order.
constexpr u8 RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7, R8 = 8, R9 = 9, R10 = 10, R12 = 12,
             R15 = 15;

// ---- What Linux (x86-64) emits for xAPIC register writes --------------------------------------------------------

TEST(InsnLinux, MovToRegisterIndirect) {
    expect_store({0x89, 0x02}, B64, reg_store(4, RAX)); // mov %eax,(%rdx)
}

TEST(InsnLinux, MovDisp32) {
    expect_store({0x89, 0xb0, 0x00, 0x03, 0x00, 0x00}, B64, reg_store(4, RSI)); // mov %esi,0x300(%rax)
}

TEST(InsnLinux, MovRipRelative) {
    expect_store({0x89, 0x3d, 0x00, 0xc3, 0x5f, 0xff}, B64, reg_store(4, RDI)); // mov %edi,-0xa03d00(%rip)
}

TEST(InsnLinux, MovAbsoluteViaSibNoBase) {
    // mov %eax,0xffffffffff5fc0b0 (native_apic_mem_write to the fixmap: SIB with no base and no index, disp32)
    expect_store({0x89, 0x04, 0x25, 0xb0, 0xc0, 0x5f, 0xff}, B64, reg_store(4, RAX));
}

TEST(InsnLinux, XchgForX86Bug11AP) {
    expect_store({0x87, 0x02}, B64, reg_store(4, RAX, StoreKind::Xchg)); // xchg %eax,(%rdx)
}

TEST(InsnLinux, MovImmediateZero) {
    // movl $0x0,0xb0(%rax) (an EOI write)
    expect_store({0xc7, 0x80, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, B64, imm_store(4, 0));
}

TEST(InsnLinux, MovabsMoffs64) {
    // movabs %eax,0xffffffffff5fc0b0 (A3 with a 64-bit moffs)
    expect_store({0xa3, 0xb0, 0xc0, 0x5f, 0xff, 0xff, 0xff, 0xff, 0xff}, B64, reg_store(4, RAX));
}

// ---- Other 64-bit encodings ---------------------------------------------------------------------------------------

TEST(Insn64, RexRAndB) {
    expect_store({0x45, 0x89, 0x01}, B64, reg_store(4, R8)); // mov %r8d,(%r9)
}

TEST(Insn64, HighByteRegister) {
    expect_store({0x88, 0x23}, B64, reg_store(1, RAX, StoreKind::Mov, true));  // mov %ah,(%rbx)
    expect_store({0x86, 0x3f}, B64, reg_store(1, RBX, StoreKind::Xchg, true)); // xchg %bh,(%rdi)
}

TEST(Insn64, AnyRexMeansSplNotAh) {
    expect_store({0x40, 0x88, 0x23}, B64, reg_store(1, RSP));       // mov %spl,(%rbx)
    expect_store({0x40, 0x88, 0x6d, 0x10}, B64, reg_store(1, RBP)); // mov %bpl,0x10(%rbp)
    expect_store({0x40, 0x88, 0x37}, B64, reg_store(1, RSI));       // mov %sil,(%rdi)
}

TEST(Insn64, RexW) {
    expect_store({0x48, 0x89, 0x03}, B64, reg_store(8, RAX));                  // mov %rax,(%rbx)
    expect_store({0x48, 0x87, 0x07}, B64, reg_store(8, RAX, StoreKind::Xchg)); // xchg %rax,(%rdi)
    expect_store({0x4c, 0x89, 0x7c, 0x24, 0x7f}, B64, reg_store(8, R15));      // mov %r15,0x7f(%rsp)
    expect_store({0x65, 0x4c, 0x89, 0x0c, 0x25, 0x18, 0x00, 0x00, 0x00}, B64,  // mov %r9,%gs:0x18
                 reg_store(8, R9));
}

TEST(Insn64, RexWImmediateSignExtension) {
    // movq $-1,(%rax)
    expect_store({0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff}, B64, imm_store(8, 0xffff'ffff'ffff'ffffull));
    // movq $-0x80000000,(%rax)
    expect_store({0x48, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x80}, B64, imm_store(8, 0xffff'ffff'8000'0000ull));
    // movq $0x7fffffff,(%rax)
    expect_store({0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f}, B64, imm_store(8, 0x7fff'ffffull));
    // movl $-1,(%rax): 4 bytes, nothing above them
    expect_store({0xc7, 0x00, 0xff, 0xff, 0xff, 0xff}, B64, imm_store(4, 0xffff'ffffull));
}

TEST(Insn64, ByteImmediate) {
    expect_store({0xc6, 0x07, 0x5a}, B64, imm_store(1, 0x5a));                         // movb $0x5a,(%rdi)
    expect_store({0xc6, 0x45, 0x7f, 0xff}, B64, imm_store(1, 0xff));                   // movb $0xff,0x7f(%rbp)
    expect_store({0xc6, 0x05, 0x23, 0x01, 0x00, 0x00, 0x5a}, B64, imm_store(1, 0x5a)); // movb $0x5a,0x123(%rip)
}

TEST(Insn64, OperandSizePrefix) {
    expect_store({0x66, 0x89, 0x02}, B64, reg_store(2, RAX));                        // mov %ax,(%rdx)
    expect_store({0x66, 0xc7, 0x42, 0x10, 0x34, 0x12}, B64, imm_store(2, 0x1234));   // movw $0x1234,0x10(%rdx)
    expect_store({0x66, 0xc7, 0x00, 0xfe, 0xff}, B64, imm_store(2, 0xfffe));         // movw $-2,(%rax)
    expect_store({0x66, 0x87, 0x42, 0x20}, B64, reg_store(2, RAX, StoreKind::Xchg)); // xchg %ax,0x20(%rdx)
}

TEST(Insn64, RexWWinsOverOperandSizePrefix) {
    expect_store({0x66, 0x48, 0x89, 0x02}, B64, reg_store(8, RAX)); // data16 mov %rax,(%rdx)
}

TEST(Insn64, RexBeforeALegacyPrefixIsIgnored) {
    // 48 66 89 02: the REX.W is not right before the opcode, so it is ignored: mov %ax,(%rdx)
    expect_store({0x48, 0x66, 0x89, 0x02}, B64, reg_store(2, RAX));
    // 44 3e 89 02: REX.R ignored: mov %eax,%ds:(%rdx), not %r8d
    expect_store({0x44, 0x3e, 0x89, 0x02}, B64, reg_store(4, RAX));
    // 40 66 88 23: an ignored REX does not turn AH into SPL
    expect_store({0x40, 0x66, 0x88, 0x23}, B64, reg_store(1, RAX, StoreKind::Mov, true));
    // 41 48 89 02: of two REX prefixes the last one counts: mov %rax,(%rdx)
    expect_store({0x41, 0x48, 0x89, 0x02}, B64, reg_store(8, RAX));
}

TEST(Insn64, RexBDoesNotChangeModRmSpecialCases) {
    expect_store({0x45, 0x89, 0x65, 0x00}, B64, reg_store(4, R12));            // mov %r12d,0x0(%r13): mod 01 rm 101
    expect_store({0x41, 0x89, 0x04, 0x24}, B64, reg_store(4, RAX));            // mov %eax,(%r12): rm 100 -> SIB
    expect_store({0x44, 0x86, 0x10}, B64, reg_store(1, R10, StoreKind::Xchg)); // xchg %r10b,(%rax)
}

TEST(Insn64, SibForms) {
    expect_store({0x89, 0x44, 0x88, 0x10}, B64, reg_store(4, RAX)); // mov %eax,0x10(%rax,%rcx,4)
    // mov %eax,0x12345678(,%rcx,4): SIB base 101 with mod 00 -> disp32
    expect_store({0x89, 0x04, 0x8d, 0x78, 0x56, 0x34, 0x12}, B64, reg_store(4, RAX));
}

TEST(Insn64, SegmentAndLockPrefixes) {
    expect_store({0x64, 0xf0, 0x87, 0x02}, B64, reg_store(4, RAX, StoreKind::Xchg)); // lock xchg %eax,%fs:(%rdx)
    expect_store({0xf0, 0x64, 0x87, 0x02}, B64, reg_store(4, RAX, StoreKind::Xchg)); // same, prefixes swapped
    // mov %ecx,%gs:0x300
    expect_store({0x65, 0x89, 0x0c, 0x25, 0x00, 0x03, 0x00, 0x00}, B64, reg_store(4, RCX));
    // ss mov %al,0x1000(%rip)
    expect_store({0x36, 0x88, 0x05, 0x00, 0x10, 0x00, 0x00}, B64, reg_store(1, RAX));
    // es cs ds mov %eax,(%rdx): segment overrides are accepted (and ignored in 64-bit mode)
    expect_store({0x26, 0x2e, 0x3e, 0x89, 0x02}, B64, reg_store(4, RAX));
}

TEST(Insn64, AddressSizePrefix) {
    expect_store({0x67, 0x89, 0x00}, B64, reg_store(4, RAX)); // mov %eax,(%eax): 32-bit addressing, same forms
    // addr32 mov %eax,0xfee000b0: A3 with a 32-bit moffs
    expect_store({0x67, 0xa3, 0xb0, 0x00, 0xe0, 0xfe}, B64, reg_store(4, RAX));
    // movabs %al,0xfee00000: A2 with a 64-bit moffs
    expect_store({0xa2, 0x00, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00}, B64, reg_store(1, RAX));
}

TEST(Insn64, LongestRealisticEncoding) {
    // movq $-1,%fs:0x300(%rax,%rcx,4): prefix, REX.W, opcode, ModR/M, SIB, disp32, imm32 (13 bytes)
    const Bytes enc = {0x64, 0x48, 0xc7, 0x84, 0x88, 0x00, 0x03, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};
    expect_store(enc, B64, imm_store(8, 0xffff'ffff'ffff'ffffull));
}

TEST(Insn64, ExactlyFifteenBytes) {
    // 13 prefixes + mov %eax,(%rdx) = 15 bytes: the longest legal instruction
    Bytes enc = {0x66, 0x66, 0x3e, 0x3e, 0x26, 0x2e, 0x36, 0x64, 0x65, 0x3e, 0x3e, 0x3e, 0x66, 0x89, 0x02};
    ASSERT_EQ(enc.size(), insn::MAX_LENGTH);
    expect_store(enc, B64, reg_store(2, RAX));
}

// ---- 32-bit code -----------------------------------------------------------------------------------------------

TEST(Insn32, LinuxI386ApicWrites) {
    expect_store({0xa3, 0xb0, 0x00, 0xe0, 0xfe}, B32, reg_store(4, RAX));       // mov %eax,0xfee000b0 (A3 moffs32)
    expect_store({0x89, 0x0d, 0xb0, 0x00, 0xe0, 0xfe}, B32, reg_store(4, RCX)); // mov %ecx,0xfee000b0 (disp32)
    expect_store({0x89, 0x02}, B32, reg_store(4, RAX));                         // mov %eax,(%edx)
    // lock xchg %edx,0xfee00300
    expect_store({0xf0, 0x87, 0x15, 0x00, 0x03, 0xe0, 0xfe}, B32, reg_store(4, RDX, StoreKind::Xchg));
}

TEST(Insn32, Sizes) {
    expect_store({0x66, 0x89, 0x02}, B32, reg_store(2, RAX));                 // mov %ax,(%edx)
    expect_store({0x88, 0x23}, B32, reg_store(1, RAX, StoreKind::Mov, true)); // mov %ah,(%ebx)
    expect_store({0x26, 0xc6, 0x07, 0x12}, B32, imm_store(1, 0x12));          // movb $0x12,%es:(%edi)
    // movl $0x1,0x300(%eax)
    expect_store({0xc7, 0x80, 0x00, 0x03, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}, B32, imm_store(4, 1));
    // movw $0xbeef,0x300(%ebx,%esi,2)
    expect_store({0x66, 0xc7, 0x84, 0x73, 0x00, 0x03, 0x00, 0x00, 0xef, 0xbe}, B32, imm_store(2, 0xbeef));
    expect_store({0x89, 0x44, 0x24, 0x10}, B32, reg_store(4, RAX)); // mov %eax,0x10(%esp)
}

TEST(Insn32, AddressSizePrefixSelects16BitModRm) {
    expect_store({0x67, 0x89, 0x00}, B32, reg_store(4, RAX));             // addr16 mov %eax,(%bx,%si)
    expect_store({0x67, 0x89, 0x06, 0x34, 0x12}, B32, reg_store(4, RAX)); // addr16 mov %eax,0x1234 (disp16)
    expect_store({0x67, 0xa3, 0x34, 0x12}, B32, reg_store(4, RAX));       // addr16 mov %eax,0x1234 (moffs16)
    expect_store({0x67, 0x66, 0xa3, 0xe0, 0xfe}, B32, reg_store(2, RAX)); // addr16 mov %ax,0xfee0
}

TEST(Insn32, RexBytesAreIncDec) {
    // 48 is "dec %eax" outside 64-bit mode, so 48 89 02 is not a store
    MmioStore out{};
    const Status s = decode_n({0x48, 0x89, 0x02}, 3, B32, out);
    EXPECT_ERR(s, "unsupported opcode", WHERE);
    EXPECT_EQ(s.value, 0x48u);
    EXPECT_EQ(s.value2, 0u);
}

// ---- 16-bit code -----------------------------------------------------------------------------------------------

TEST(Insn16, ModRm16) {
    expect_store({0x89, 0x07}, B16, reg_store(2, RAX));              // mov %ax,(%bx)
    expect_store({0x89, 0x04}, B16, reg_store(2, RAX));              // mov %ax,(%si): rm 100 is not SIB
    expect_store({0x89, 0x0e, 0xb0, 0x00}, B16, reg_store(2, RCX));  // mov %cx,0xb0: mod 00 rm 110 disp16
    expect_store({0x89, 0x46, 0x10}, B16, reg_store(2, RAX));        // mov %ax,0x10(%bp): mod 01 disp8
    expect_store({0x89, 0x80, 0x34, 0x12}, B16, reg_store(2, RAX));  // mov %ax,0x1234(%bx,%si): mod 10 disp16
    expect_store({0xc6, 0x46, 0xfe, 0x7f}, B16, imm_store(1, 0x7f)); // movb $0x7f,-0x2(%bp)
    expect_store({0xc7, 0x85, 0x34, 0x12, 0x78, 0x56}, B16, imm_store(2, 0x5678)); // movw $0x5678,0x1234(%di)
    expect_store({0xa3, 0xb0, 0x00}, B16, reg_store(2, RAX));                      // mov %ax,0xb0 (A3 moffs16)
    expect_store({0xa2, 0x80, 0x00}, B16, reg_store(1, RAX));                      // mov %al,0x80 (A2 moffs16)
}

TEST(Insn16, OperandSizePrefixMeans32) {
    expect_store({0x66, 0x89, 0x07}, B16, reg_store(4, RAX)); // mov %eax,(%bx)
    // movl $0x12345678,(%bx)
    expect_store({0x66, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12}, B16, imm_store(4, 0x12345678));
}

TEST(Insn16, AddressSizePrefixSelects32BitModRm) {
    expect_store({0x67, 0x89, 0x00}, B16, reg_store(2, RAX)); // mov %ax,(%eax)
    // mov %ax,0x12345678(%eax,%ecx,4): SIB + disp32 (8 bytes; 89 84 without 67 would be 4 bytes)
    expect_store({0x67, 0x89, 0x84, 0x88, 0x78, 0x56, 0x34, 0x12}, B16, reg_store(2, RAX));
    // addr32 mov %ax,0x12345678 (mod 00 rm 101 = disp32, not [di])
    expect_store({0x67, 0x89, 0x05, 0x78, 0x56, 0x34, 0x12}, B16, reg_store(2, RAX));
    expect_store({0x67, 0xa3, 0x78, 0x56, 0x34, 0x12}, B16, reg_store(2, RAX)); // addr32 mov %ax,0x12345678 (moffs32)
}

TEST(Insn16, SameBytesDifferentLengthByMode) {
    // 89 84 88 78 56 34 12: in 32/64-bit addressing [eax+ecx*4+disp32] (7 bytes); in 16-bit [si+disp16] (4 bytes)
    const Bytes enc = {0x89, 0x84, 0x88, 0x78, 0x56, 0x34, 0x12};
    MmioStore out{};
    ASSERT_OK(decode_n(enc, enc.size(), B16, out));
    EXPECT_EQ(out.length, 4);
    ASSERT_OK(decode_n(enc, enc.size(), B32, out));
    EXPECT_EQ(out.length, 7);
    ASSERT_OK(decode_n(enc, enc.size(), B64, out));
    EXPECT_EQ(out.length, 7);
}

// ---- Errors ------------------------------------------------------------------------------------------------------

TEST(InsnErrors, Nullptr) {
    MmioStore out{};
    EXPECT_ERR(decode_mmio_store(nullptr, 15, B64, out), "nullptr", WHERE);
}

TEST(InsnErrors, RegisterDestination) {
    MmioStore out{};
    Status s = decode_n({0x89, 0xc0}, 2, B64, out); // mov %eax,%eax
    EXPECT_ERR(s, "register destination", WHERE);
    EXPECT_EQ(s.value, 0xc0u);
    EXPECT_EQ(s.value2, 1u);
    s = decode_n({0x66, 0xc6, 0xc0, 0x12}, 4, B64, out); // mov $0x12,%al (with a stray 66)
    EXPECT_ERR(s, "register destination", WHERE);
    EXPECT_EQ(s.value, 0xc0u);
    EXPECT_EQ(s.value2, 2u);
    EXPECT_ERR(decode_n({0x87, 0xd0}, 2, B32, out), "register destination", WHERE); // xchg %edx,%eax
}

TEST(InsnErrors, MovImmediateDigitNotZero) {
    MmioStore out{};
    Status s = decode_n({0xc7, 0x08, 0x00, 0x00, 0x00, 0x00}, 6, B64, out); // C7 /1: not MOV
    EXPECT_ERR(s, "/digit", WHERE);
    EXPECT_EQ(s.value, 0x08u);
    EXPECT_EQ(s.value2, 1u);
    s = decode_n({0xc6, 0x38, 0x00}, 3, B64, out); // C6 /7 with a memory operand
    EXPECT_ERR(s, "/digit", WHERE);
    EXPECT_EQ(s.value, 0x38u);
}

TEST(InsnErrors, UnsupportedOpcodes) {
    struct Case {
        Bytes enc;
        u8 opcode;
        u64 offset;
    };
    const Case cases[] = {
        {{0x8b, 0x02}, 0x8b, 0},             // mov (%rdx),%eax: a load
        {{0x66, 0x8b, 0x02}, 0x8b, 1},       // mov (%rdx),%ax
        {{0x48, 0x8b, 0x02}, 0x8b, 1},       // mov (%rdx),%rax
        {{0x39, 0x02}, 0x39, 0},             // cmp %eax,(%rdx): reads only
        {{0xa7}, 0xa7, 0},                   // cmpsl %es:(%rdi),%ds:(%rsi): a string compare, reads only
        {{0xb0, 0x12}, 0xb0, 0},             // mov $0x12,%al
        {{0x3e, 0x64, 0xff, 0x02}, 0xff, 2}, // incl %fs:(%rdx)
    };
    for (const Case& c : cases) {
        MmioStore out{};
        out.length = 0xEE;
        const Status s = decode_n(c.enc, c.enc.size(), B64, out);
        EXPECT_ERR(s, "unsupported opcode", WHERE);
        EXPECT_EQ(s.value, c.opcode);
        EXPECT_EQ(s.value2, c.offset);
        EXPECT_EQ(out.length, 0xEE) << "out written on error";
    }
}

TEST(InsnErrors, LockOnMov) {
    MmioStore out{};
    Status s = decode_n({0xf0, 0x89, 0x02}, 3, B64, out); // lock mov %eax,(%rdx): #UD on the CPU
    EXPECT_ERR(s, "LOCK", WHERE);
    EXPECT_EQ(s.value, 0x89u);
    EXPECT_ERR(decode_n({0xf0, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00}, 7, B32, out), "LOCK", WHERE);
}

TEST(InsnErrors, RepPrefixes) {
    MmioStore out{};
    Status s = decode_n({0xf3, 0x89, 0x02}, 3, B64, out); // xrelease mov %eax,(%rdx)
    EXPECT_ERR(s, "REP", WHERE);
    EXPECT_EQ(s.value, 0xf3u);
    EXPECT_EQ(s.value2, 0u);
    s = decode_n({0x66, 0xf2, 0x87, 0x02}, 4, B64, out); // xacquire xchg %ax,(%rdx)
    EXPECT_ERR(s, "REP", WHERE);
    EXPECT_EQ(s.value, 0xf2u);
    EXPECT_EQ(s.value2, 1u);
}

TEST(InsnErrors, TruncatedValues) {
    MmioStore out{};
    EXPECT_ERR(decode_n({}, 0, B64, out), "truncated", WHERE);
    // mov %esi,0x300(%rax) with its disp32 cut after 2 bytes: needs 6, has 4
    const Status s = decode_n({0x89, 0xb0, 0x00, 0x03}, 4, B64, out);
    EXPECT_ERR(s, "truncated", WHERE);
    EXPECT_EQ(s.value, 6u);
    EXPECT_EQ(s.value2, 4u);
    // only prefixes
    EXPECT_ERR(decode_n({0x66, 0x48}, 2, B64, out), "truncated", WHERE);
}

TEST(InsnErrors, SixteenBytesOfPrefixes) {
    const Bytes enc(insn::MAX_LENGTH + 1, insn::PREFIX_OPERAND_SIZE);
    MmioStore out{};
    const Status s = decode_n(enc, enc.size(), B64, out);
    EXPECT_ERR(s, "longer than 15", WHERE);
    EXPECT_EQ(s.value, insn::MAX_LENGTH + 1);
    EXPECT_EQ(s.value2, insn::MAX_LENGTH);
    // 15 bytes of prefixes: whatever follows, the instruction is longer than 15 bytes
    EXPECT_ERR(decode_n(enc, insn::MAX_LENGTH, B64, out), "longer than 15", WHERE);
}

TEST(InsnErrors, SixteenBytesWithOpcode) {
    // 14 prefixes + mov %eax,(%rdx): the ModR/M would be byte 16
    Bytes enc(14, insn::PREFIX_DS);
    enc.push_back(0x89);
    enc.push_back(0x02);
    MmioStore out{};
    EXPECT_ERR(decode_n(enc, enc.size(), B64, out), "longer than 15", WHERE);
    // 10 prefixes + movq $-1,0x300(%rax,%rcx,4) with REX.W: 10 + 12 = 22 bytes, too long at the disp32
    Bytes longer(10, insn::PREFIX_FS);
    for (u8 b : {0x48, 0xc7, 0x84, 0x88, 0x00, 0x03, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff}) longer.push_back(b);
    const Status s = decode_n(longer, longer.size(), B64, out);
    EXPECT_ERR(s, "longer than 15", WHERE);
    EXPECT_EQ(s.value, 18u); // 10 + REX + opcode + ModR/M + SIB + disp32
}

// ---- Code size from guest state ----------------------------------------------------------------------------------

TEST(InsnCodeSize, FromGuestState) {
    //                  cr0_pe rflags_vm efer_lma cs_l   cs_d
    EXPECT_EQ(code_size(false, false, false, false, false), B16); // real mode
    EXPECT_EQ(code_size(false, false, false, false, true), B16);  // real mode: 16-bit whatever CS.D
    EXPECT_EQ(code_size(true, true, false, false, true), B16);    // virtual-8086 mode
    EXPECT_EQ(code_size(true, false, false, false, false), B16);  // 16-bit protected mode
    EXPECT_EQ(code_size(true, false, false, false, true), B32);   // 32-bit protected mode
    EXPECT_EQ(code_size(true, false, false, true, true), B32);    // CS.L means nothing outside IA-32e mode
    EXPECT_EQ(code_size(true, false, true, true, false), B64);    // 64-bit mode
    EXPECT_EQ(code_size(true, false, true, false, true), B32);    // compatibility mode, 32-bit
    EXPECT_EQ(code_size(true, false, true, false, false), B16);   // compatibility mode, 16-bit
}

} // namespace
} // namespace evmm

namespace evmm {
namespace {

// ---- read-modify-write, XADD, MOVNTI, STOS (encodings from GNU as --64 / .code32 / .code16) --------------------

MmioStore alu_store(u8 size, AluOp op, bool from_reg, u8 reg, u64 imm) {
    MmioStore s{};
    s.size = size;
    s.kind = StoreKind::Alu;
    s.from_reg = from_reg;
    s.reg = reg;
    s.imm = imm;
    s.alu = op;
    return s;
}

TEST(InsnRmw, AluForms) {
    constexpr CodeSize B64 = CodeSize::Bits64, B32 = CodeSize::Bits32, B16 = CodeSize::Bits16;
    MmioStore got{};
    // lock orl $0x10,0x80(%rax)
    ASSERT_OK(decode_n({0xf0, 0x83, 0x88, 0x80, 0x00, 0x00, 0x00, 0x10}, 8, B64, got));
    EXPECT_EQ(got.kind, StoreKind::Alu);
    EXPECT_EQ(got.alu, AluOp::Or);
    EXPECT_EQ(got.length, 8u);
    EXPECT_EQ(got.size, 4u);
    EXPECT_FALSE(got.from_reg);
    EXPECT_EQ(got.imm, 0x10u);
    // add %ecx,(%rdx)
    expect_store({0x01, 0x0a}, B64, alu_store(4, AluOp::Add, true, 1, 0));
    ASSERT_OK(decode_n({0x01, 0x0a}, 2, B64, got));
    EXPECT_EQ(got.alu, AluOp::Add);
    // subl $0x1,(%rax): 83 /5 ib, sign-extended
    ASSERT_OK(decode_n({0x83, 0x28, 0x01}, 3, B64, got));
    EXPECT_EQ(got.alu, AluOp::Sub);
    EXPECT_EQ(got.imm, 1u);
    ASSERT_OK(decode_n({0x83, 0x28, 0xff}, 3, B64, got)); // subl $-1,(%rax)
    EXPECT_EQ(got.imm, 0xffffffffu);
    // andb $3,(%rax)
    ASSERT_OK(decode_n({0x80, 0x20, 0x03}, 3, B64, got));
    EXPECT_EQ(got.alu, AluOp::And);
    EXPECT_EQ(got.size, 1u);
    // xor %r9d,0x8(%r10)
    ASSERT_OK(decode_n({0x45, 0x31, 0x4a, 0x08}, 4, B64, got));
    EXPECT_EQ(got.alu, AluOp::Xor);
    EXPECT_EQ(got.reg, 9u);
    EXPECT_EQ(got.length, 4u);
    // sbb %eax,(%rbx)
    ASSERT_OK(decode_n({0x19, 0x03}, 2, B64, got));
    EXPECT_EQ(got.alu, AluOp::Sbb);
    // .code32 addl $0x12345678,0x300(%eax): 81 /0 id
    ASSERT_OK(decode_n({0x81, 0x80, 0x00, 0x03, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12}, 10, B32, got));
    EXPECT_EQ(got.alu, AluOp::Add);
    EXPECT_EQ(got.imm, 0x12345678u);
    EXPECT_EQ(got.length, 10u);
    // .code16 orl $1,(%bx): 66 83 /1 ib
    ASSERT_OK(decode_n({0x66, 0x83, 0x0f, 0x01}, 4, B16, got));
    EXPECT_EQ(got.alu, AluOp::Or);
    EXPECT_EQ(got.size, 4u);
    // cmpl $1,(%rax) reads only
    EXPECT_ERR(decode_n({0x83, 0x38, 0x01}, 3, B64, got), "CMP", WHERE);
}

TEST(InsnRmw, XaddMovntiStos) {
    constexpr CodeSize B64 = CodeSize::Bits64;
    MmioStore got{};
    // xadd %ebx,0x80(%rdi)
    ASSERT_OK(decode_n({0x0f, 0xc1, 0x9f, 0x80, 0x00, 0x00, 0x00}, 7, B64, got));
    EXPECT_EQ(got.kind, StoreKind::Xadd);
    EXPECT_EQ(got.reg, 3u);
    EXPECT_EQ(got.size, 4u);
    EXPECT_EQ(got.length, 7u);
    // movnti %esi,(%rax)
    expect_store({0x0f, 0xc3, 0x30}, B64, reg_store(4, 6));
    EXPECT_ERR(decode_n({0xf0, 0x0f, 0xc3, 0x30}, 4, B64, got), "LOCK", WHERE);
    // rep stos %eax,%es:(%rdi)
    ASSERT_OK(decode_n({0xf3, 0xab}, 2, B64, got));
    EXPECT_EQ(got.kind, StoreKind::Stos);
    EXPECT_TRUE(got.rep);
    EXPECT_EQ(got.size, 4u);
    EXPECT_EQ(got.addr_size, 8u);
    EXPECT_EQ(got.length, 2u);
    // stos %eax,%es:(%rdi)
    ASSERT_OK(decode_n({0xab}, 1, B64, got));
    EXPECT_FALSE(got.rep);
    // .code32 rep stosb
    ASSERT_OK(decode_n({0xf3, 0xaa}, 2, CodeSize::Bits32, got));
    EXPECT_EQ(got.size, 1u);
    EXPECT_EQ(got.addr_size, 4u);
    // movq %mm0,(%rdx): an MMX store is not emulated (reading MMX registers would change the guest's x87 tags)
    EXPECT_ERR(decode_n({0x0f, 0x7f, 0x02}, 3, B64, got), "SSE/AVX opcode", WHERE);
    // pshufd-like 0F 70 is no store at all
    EXPECT_ERR(decode_n({0x66, 0x0f, 0x70, 0x02, 0x00}, 5, B64, got), "two-byte opcode", WHERE);
}

// MOVS (the MOVS page): destination ES:(E/R)DI, source DS:(E/R)SI or the override; REP and address size as STOS.
TEST(InsnMore, Movs) {
    MmioStore got{};
    ASSERT_OK(decode_n({0xf3, 0xa5}, 2, B64, got)); // rep movsl %ds:(%rsi),%es:(%rdi)
    EXPECT_EQ(got.kind, StoreKind::Movs);
    EXPECT_TRUE(got.rep);
    EXPECT_EQ(got.size, 4u);
    EXPECT_EQ(got.addr_size, 8u);
    EXPECT_EQ(got.src_seg, insn::Sreg::DS);
    EXPECT_EQ(got.length, 2u);
    ASSERT_OK(decode_n({0xa4}, 1, B64, got)); // movsb
    EXPECT_EQ(got.size, 1u);
    EXPECT_FALSE(got.rep);
    ASSERT_OK(decode_n({0x64, 0x48, 0xa5}, 3, B64, got)); // movsq %fs:(%rsi),%es:(%rdi)
    EXPECT_EQ(got.size, 8u);
    EXPECT_EQ(got.src_seg, insn::Sreg::FS);
    ASSERT_OK(decode_n({0x67, 0x66, 0xf3, 0xa5}, 4, B64, got)); // addr32 rep movsw
    EXPECT_EQ(got.size, 2u);
    EXPECT_EQ(got.addr_size, 4u);
    EXPECT_TRUE(got.rep);
    ASSERT_OK(decode_n({0x26, 0xa5}, 2, CodeSize::Bits16, got)); // movsw %es:(%si),%es:(%di)
    EXPECT_EQ(got.size, 2u);
    EXPECT_EQ(got.addr_size, 2u);
    EXPECT_EQ(got.src_seg, insn::Sreg::ES);
    EXPECT_ERR(decode_n({0xf0, 0xa5}, 2, B64, got), "LOCK", WHERE);
}

// Stack stores (the PUSH, PUSHF and CALL pages): 8 bytes in 64-bit mode (2 with 66), else the operand size.
TEST(InsnMore, StackStores) {
    MmioStore got{};
    auto ok = [&](const Bytes& enc, CodeSize cs) {
        got = MmioStore{};
        const Status s = decode_n(enc, enc.size(), cs, got);
        EXPECT_TRUE(s.ok()) << s.what;
        EXPECT_EQ(got.length, enc.size());
    };
    ok({0x50}, B64); // push %rax
    EXPECT_EQ(got.kind, StoreKind::Push);
    EXPECT_TRUE(got.from_reg);
    EXPECT_EQ(got.reg, 0u);
    EXPECT_EQ(got.size, 8u);
    ok({0x41, 0x54}, B64); // push %r12
    EXPECT_EQ(got.reg, 12u);
    ok({0x66, 0x53}, B64); // push %bx
    EXPECT_EQ(got.reg, 3u);
    EXPECT_EQ(got.size, 2u);
    ok({0x6a, 0xfe}, B64); // push $-2
    EXPECT_FALSE(got.from_reg);
    EXPECT_EQ(got.imm, 0xFFFF'FFFF'FFFF'FFFEull);
    ok({0x68, 0x78, 0x56, 0x34, 0x12}, B64); // push $0x12345678
    EXPECT_EQ(got.imm, 0x12345678u);
    EXPECT_EQ(got.size, 8u);
    ok({0x66, 0x68, 0x34, 0x12}, B64); // pushw $0x1234
    EXPECT_EQ(got.imm, 0x1234u);
    EXPECT_EQ(got.size, 2u);
    ok({0x9c}, B64); // pushfq
    EXPECT_EQ(got.kind, StoreKind::Pushf);
    EXPECT_EQ(got.size, 8u);
    ok({0xe8, 0x00, 0x01, 0x00, 0x00}, B64); // call .+0x105
    EXPECT_EQ(got.kind, StoreKind::Call);
    EXPECT_FALSE(got.from_reg);
    EXPECT_EQ(got.imm, 0x100u);
    EXPECT_EQ(got.size, 8u);
    ok({0xe8, 0x00, 0xff, 0xff, 0xff}, B64); // call .-0xfb: a negative displacement
    EXPECT_EQ(got.imm, 0xFFFF'FFFF'FFFF'FF00ull);
    ok({0x41, 0xff, 0xd3}, B64); // call *%r11
    EXPECT_EQ(got.kind, StoreKind::Call);
    EXPECT_TRUE(got.from_reg);
    EXPECT_EQ(got.reg, 11u);
    EXPECT_EQ(got.size, 8u);
    ok({0xff, 0xf0}, B64); // push %rax (FF /6)
    EXPECT_EQ(got.kind, StoreKind::Push);
    EXPECT_EQ(got.reg, 0u);
    // .code32
    ok({0x50}, CodeSize::Bits32); // push %eax
    EXPECT_EQ(got.size, 4u);
    ok({0x66, 0x53}, CodeSize::Bits32); // push %bx
    EXPECT_EQ(got.size, 2u);
    ok({0xe8, 0x00, 0x01, 0x00, 0x00}, CodeSize::Bits32); // call .+0x105
    EXPECT_EQ(got.size, 4u);
    EXPECT_ERR(decode_n({0x41}, 1, CodeSize::Bits32, got), "unsupported opcode", WHERE); // inc %ecx: not a store
    // .code16: call rel16
    got = MmioStore{};
    ASSERT_OK(decode_n({0xe8, 0x02, 0x01}, 3, CodeSize::Bits16, got));
    EXPECT_EQ(got.size, 2u);
    EXPECT_EQ(got.imm, 0x102u);
    EXPECT_EQ(got.length, 3u);
    ASSERT_OK(decode_n({0x9c}, 1, CodeSize::Bits16, got)); // pushf
    EXPECT_EQ(got.size, 2u);
    // other FF forms are refused
    EXPECT_ERR(decode_n({0xff, 0xe0}, 2, B64, got), "unsupported opcode", WHERE); // jmp *%rax
    EXPECT_ERR(decode_n({0xf0, 0x50}, 2, B64, got), "LOCK", WHERE);
    EXPECT_ERR(decode_n({0xf3, 0x50}, 2, B64, got), "REP", WHERE);
    EXPECT_ERR(decode_n({0x68, 0x78, 0x56}, 3, B64, got), "truncated", WHERE);
}

// PUSH m / CALL m: the source operand is decoded (base, index, scale, displacement, RIP-relative, segment) and
// effective_address() computes its address from the registers.
TEST(InsnMore, StackStoresFromMemory) {
    MmioStore got{};
    u64 gpr[16] = {};
    for (u32 i = 0; i < 16; ++i) gpr[i] = 0x1000 * (i + 1); // RAX 0x1000, RCX 0x2000, ..., R15 0x10000
    // push (%rax)
    ASSERT_OK(decode_n({0xff, 0x30}, 2, B64, got));
    EXPECT_EQ(got.kind, StoreKind::Push);
    EXPECT_TRUE(got.from_mem);
    EXPECT_FALSE(got.from_reg);
    EXPECT_EQ(got.size, 8u);
    EXPECT_EQ(got.length, 2u);
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0, gpr), 0x1000u);
    EXPECT_EQ(got.src.seg, insn::Sreg::DS);
    // call *0x10(%rbp): SS by default (RBP base), disp8
    got = MmioStore{};
    ASSERT_OK(decode_n({0xff, 0x55, 0x10}, 3, B64, got));
    EXPECT_EQ(got.kind, StoreKind::Call);
    EXPECT_TRUE(got.from_mem);
    EXPECT_EQ(got.length, 3u);
    EXPECT_EQ(got.src.seg, insn::Sreg::SS);
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0, gpr), 0x6010u);
    // push -8(%rsp,%r9,4): SIB with REX.X, disp8 negative
    got = MmioStore{};
    ASSERT_OK(decode_n({0x42, 0xff, 0x74, 0x8c, 0xf8}, 5, B64, got));
    EXPECT_EQ(got.src.base, 4u);
    EXPECT_EQ(got.src.index, 9u);
    EXPECT_EQ(got.src.scale, 4u);
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0, gpr), 0x5000u + 4 * 0xA000u - 8);
    // push 0x100(%rip): RIP-relative from the next instruction
    got = MmioStore{};
    ASSERT_OK(decode_n({0xff, 0x35, 0x00, 0x01, 0x00, 0x00}, 6, B64, got));
    EXPECT_TRUE(got.src.rip_relative);
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0x400006, gpr), 0x400106u);
    // %gs:push 0x20(%r13) (REX.B base 13: no special case with mod 01)
    got = MmioStore{};
    ASSERT_OK(decode_n({0x65, 0x41, 0xff, 0x75, 0x20}, 5, B64, got));
    EXPECT_EQ(got.src.base, 13u);
    EXPECT_EQ(got.src.seg, insn::Sreg::GS);
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0, gpr), 0xE020u);
    // 32-bit: push 0x12345678 (disp32 alone, no RIP-relative outside 64-bit mode)
    got = MmioStore{};
    ASSERT_OK(decode_n({0xff, 0x35, 0x78, 0x56, 0x34, 0x12}, 6, CodeSize::Bits32, got));
    EXPECT_FALSE(got.src.rip_relative);
    EXPECT_EQ(got.size, 4u);
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0, gpr), 0x12345678u);
    // 16-bit: push [bp+si+2] -> SS, wraps at 64 KiB
    got = MmioStore{};
    ASSERT_OK(decode_n({0xff, 0x72, 0x02}, 3, CodeSize::Bits16, got));
    EXPECT_EQ(got.src.seg, insn::Sreg::SS);
    u64 r16[16] = {};
    r16[5] = 0xFFF0; // BP
    r16[6] = 0x0020; // SI
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0, r16), 0x12u);
    // 64-bit mode with 67: 32-bit addressing truncates
    got = MmioStore{};
    ASSERT_OK(decode_n({0x67, 0xff, 0x30}, 3, B64, got));
    u64 big[16] = {};
    big[0] = 0x1'0000'1234ull;
    EXPECT_EQ(effective_address(got.src, got.addr_size, 0, big), 0x1234u);
    EXPECT_ERR(decode_n({0xff, 0x34}, 2, B64, got), "truncated", WHERE); // SIB missing
}

// SSE stores (legacy encoding): the mandatory prefix selects the form; REX.R the register, REX.W MOVQ.
TEST(InsnMore, SseStores) {
    struct Case {
        Bytes enc;
        u8 size, reg;
    };
    const Case cases[] = {
        {{0x66, 0x0f, 0x7e, 0x0a}, 4, 1},                         // movd %xmm1,(%rdx)
        {{0x66, 0x48, 0x0f, 0x7e, 0x0a}, 8, 1},                   // movq %xmm1,(%rdx) (66 REX.W 0F 7E)
        {{0x66, 0x44, 0x0f, 0xd6, 0x0a}, 8, 9},                   // movq %xmm9,(%rdx)
        {{0x66, 0x0f, 0xd6, 0x90, 0x80, 0x00, 0x00, 0x00}, 8, 2}, // movq %xmm2,0x80(%rax)
        {{0xf3, 0x0f, 0x11, 0x1a}, 4, 3},                         // movss %xmm3,(%rdx)
        {{0xf2, 0x0f, 0x11, 0x1a}, 8, 3},                         // movsd %xmm3,(%rdx)
        {{0x0f, 0x11, 0x02}, 16, 0},                              // movups %xmm0,(%rdx)
        {{0xf3, 0x44, 0x0f, 0x7f, 0x3a}, 16, 15},                 // movdqu %xmm15,(%rdx)
        {{0x66, 0x0f, 0x7f, 0x22}, 16, 4},                        // movdqa %xmm4,(%rdx)
        {{0x66, 0x0f, 0xe7, 0x2a}, 16, 5},                        // movntdq %xmm5,(%rdx)
        {{0x0f, 0x29, 0x32}, 16, 6},                              // movaps %xmm6,(%rdx)
        {{0x0f, 0x2b, 0x3a}, 16, 7},                              // movntps %xmm7,(%rdx)
        {{0x0f, 0x13, 0x0a}, 8, 1},                               // movlps %xmm1,(%rdx)
    };
    for (const Case& c : cases) {
        MmioStore got{};
        ASSERT_OK(decode_n(c.enc, c.enc.size(), B64, got));
        EXPECT_EQ(got.kind, StoreKind::Simd);
        EXPECT_EQ(got.size, c.size);
        EXPECT_EQ(got.reg, c.reg);
        EXPECT_EQ(got.length, c.enc.size());
    }
    MmioStore got{};
    EXPECT_ERR(decode_n({0xf0, 0x0f, 0x11, 0x02}, 4, B64, got), "LOCK", WHERE);
    EXPECT_ERR(decode_n({0x0f, 0x11, 0xc2}, 3, B64, got), "register destination", WHERE); // movups %xmm0,%xmm2
    EXPECT_ERR(decode_n({0x0f, 0xe7, 0x02}, 3, B64, got), "SSE/AVX", WHERE);              // movntq %mm0,(%rdx)
    ASSERT_OK(decode_n({0x66, 0x0f, 0x7e, 0x0a}, 4, CodeSize::Bits32, got));              // .code32 movd %xmm1,(%edx)
    EXPECT_EQ(got.size, 4u);
}

// VEX-encoded stores (§2.3.5): 2- and 3-byte VEX, VEX.L = 256 bits, VEX.R inverted, vvvv must be 1111.
TEST(InsnMore, VexStores) {
    struct Case {
        Bytes enc;
        u8 size, reg;
    };
    const Case cases[] = {
        {{0xc5, 0xf9, 0x7e, 0x0a}, 4, 1},         // vmovd %xmm1,(%rdx)
        {{0xc4, 0xe1, 0xf9, 0x7e, 0x0a}, 8, 1},   // vmovq %xmm1,(%rdx) (VEX.W1 0F 7E)
        {{0xc5, 0x79, 0xd6, 0x12}, 8, 10},        // vmovq %xmm10,(%rdx)
        {{0xc5, 0xfa, 0x7f, 0x12}, 16, 2},        // vmovdqu %xmm2,(%rdx)
        {{0xc5, 0xfe, 0x7f, 0x1a}, 32, 3},        // vmovdqu %ymm3,(%rdx)
        {{0xc5, 0x7e, 0x7f, 0x62, 0x10}, 32, 12}, // vmovdqu %ymm12,0x10(%rdx)
        {{0xc5, 0xfc, 0x29, 0x0a}, 32, 1},        // vmovaps %ymm1,(%rdx)
        {{0xc5, 0xf8, 0x11, 0x0a}, 16, 1},        // vmovups %xmm1,(%rdx)
        {{0xc5, 0xfa, 0x11, 0x0a}, 4, 1},         // vmovss %xmm1,(%rdx)
        {{0xc5, 0xfd, 0xe7, 0x02}, 32, 0},        // vmovntdq %ymm0,(%rdx)
    };
    for (const Case& c : cases) {
        MmioStore got{};
        ASSERT_OK(decode_n(c.enc, c.enc.size(), B64, got));
        EXPECT_EQ(got.kind, StoreKind::Simd);
        EXPECT_EQ(got.size, c.size);
        EXPECT_EQ(got.reg, c.reg);
        EXPECT_EQ(got.length, c.enc.size());
    }
    MmioStore got{};
    // .code32 vmovdqu %xmm1,(%edx); c4 02 there is LES (a load)
    ASSERT_OK(decode_n({0xc5, 0xfa, 0x7f, 0x0a}, 4, CodeSize::Bits32, got));
    EXPECT_EQ(got.size, 16u);
    EXPECT_ERR(decode_n({0xc4, 0x02}, 2, CodeSize::Bits32, got), "unsupported opcode", WHERE);
    EXPECT_ERR(decode_n({0xc5, 0xf1, 0x7e, 0x0a}, 4, B64, got), "vvvv", WHERE);      // vvvv = 0001
    EXPECT_ERR(decode_n({0xc5, 0xfd, 0x7e, 0x0a}, 4, B64, got), "VEX.L", WHERE);     // vmovd with L = 1
    EXPECT_ERR(decode_n({0x66, 0xc5, 0xf9, 0x7e, 0x0a}, 5, B64, got), "VEX", WHERE); // 66 before VEX
    EXPECT_ERR(decode_n({0xc4, 0xe2, 0x79, 0x7e, 0x0a}, 5, B64, got), "map", WHERE); // map 0F38
    EXPECT_ERR(decode_n({0xc5, 0xf9}, 2, B64, got), "truncated", WHERE);
}

TEST(InsnRmw, AluFlags) {
    // 32-bit ADD: carry out and signed overflow (SDM Vol. 2A "ADD": OF, SF, ZF, AF, CF, PF set by the result).
    AluResult r = alu_apply(AluOp::Add, 4, 0xFFFFFFFF, 1, false);
    EXPECT_EQ(r.value, 0u);
    EXPECT_EQ(r.flags, RFLAGS_CF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF);
    r = alu_apply(AluOp::Add, 4, 0x7FFFFFFF, 1, false);
    EXPECT_EQ(r.value, 0x80000000u);
    EXPECT_EQ(r.flags, RFLAGS_OF | RFLAGS_SF | RFLAGS_AF | RFLAGS_PF);
    r = alu_apply(AluOp::Adc, 4, 1, 1, true);
    EXPECT_EQ(r.value, 3u);
    EXPECT_EQ(r.flags, RFLAGS_PF);
    r = alu_apply(AluOp::Adc, 4, 0xFFFFFFFF, 0, true);
    EXPECT_EQ(r.value, 0u);
    EXPECT_TRUE(r.flags & RFLAGS_CF);
    // SUB borrow and overflow
    r = alu_apply(AluOp::Sub, 4, 0, 1, false);
    EXPECT_EQ(r.value, 0xFFFFFFFFu);
    EXPECT_EQ(r.flags, RFLAGS_CF | RFLAGS_SF | RFLAGS_AF | RFLAGS_PF);
    r = alu_apply(AluOp::Sub, 4, 0x80000000, 1, false);
    EXPECT_EQ(r.value, 0x7FFFFFFFu);
    EXPECT_EQ(r.flags, RFLAGS_OF | RFLAGS_AF | RFLAGS_PF);
    r = alu_apply(AluOp::Sbb, 4, 5, 5, true);
    EXPECT_EQ(r.value, 0xFFFFFFFFu);
    EXPECT_TRUE(r.flags & RFLAGS_CF);
    // logic: CF = OF = 0
    r = alu_apply(AluOp::Or, 4, 0x100, 0x10, false);
    EXPECT_EQ(r.value, 0x110u);
    EXPECT_EQ(r.flags, 0u); // 0x110: low byte 0x10 has odd parity
    r = alu_apply(AluOp::And, 4, 0xF0, 0x0F, false);
    EXPECT_EQ(r.value, 0u);
    EXPECT_EQ(r.flags, RFLAGS_ZF | RFLAGS_PF);
    r = alu_apply(AluOp::Xor, 1, 0x80, 0x00, false);
    EXPECT_EQ(r.flags, RFLAGS_SF);
}

} // namespace
} // namespace evmm

namespace evmm {
namespace {

// decode_cr_dr_insn: the CR/DR instructions an SVM CR/DR intercept without decode assists leaves to evmm.
CrDrInsn cr_dr(const Bytes& enc, CodeSize cs) {
    CrDrInsn d{};
    const Status s = decode_cr_dr_insn(enc.data(), enc.size(), cs, d);
    EXPECT_TRUE(s.ok()) << s.what;
    EXPECT_EQ(d.length, enc.size());
    return d;
}

TEST(InsnCrDr, MovToCr) {
    CrDrInsn d = cr_dr({0x0F, 0x22, 0xC0}, CodeSize::Bits64); // mov %rax,%cr0
    EXPECT_EQ(d.op, CrDrOp::MovToCr);
    EXPECT_EQ(d.reg, 0);
    EXPECT_EQ(d.gpr, 0);
    d = cr_dr({0x41, 0x0F, 0x22, 0xE1}, CodeSize::Bits64); // mov %r9,%cr4
    EXPECT_EQ(d.reg, 4);
    EXPECT_EQ(d.gpr, 9);
    d = cr_dr({0x44, 0x0F, 0x22, 0xC3}, CodeSize::Bits64); // mov %rbx,%cr8
    EXPECT_EQ(d.reg, 8);
    EXPECT_EQ(d.gpr, 3);
    d = cr_dr({0xF0, 0x0F, 0x22, 0xC1}, CodeSize::Bits32); // lock mov %ecx,%cr0: CR8 (AMD AltMovCr8)
    EXPECT_EQ(d.reg, 8);
    EXPECT_EQ(d.gpr, 1);
}

TEST(InsnCrDr, MovDrCltsLmsw) {
    CrDrInsn d = cr_dr({0x0F, 0x21, 0xF8}, CodeSize::Bits64); // mov %db7,%rax
    EXPECT_EQ(d.op, CrDrOp::MovFromDr);
    EXPECT_EQ(d.reg, 7);
    d = cr_dr({0x0F, 0x23, 0xC2}, CodeSize::Bits32); // mov %edx,%db0
    EXPECT_EQ(d.op, CrDrOp::MovToDr);
    EXPECT_EQ(d.gpr, 2);
    EXPECT_EQ(cr_dr({0x0F, 0x06}, CodeSize::Bits16).op, CrDrOp::Clts);
    d = cr_dr({0x0F, 0x01, 0xF0}, CodeSize::Bits64); // lmsw %ax
    EXPECT_EQ(d.op, CrDrOp::Lmsw);
    EXPECT_FALSE(d.memory);
    d = cr_dr({0x0F, 0x01, 0x73, 0x08}, CodeSize::Bits64); // lmsw 0x8(%rbx)
    EXPECT_TRUE(d.memory);
    EXPECT_EQ(d.mem.base, 3);
    EXPECT_EQ(d.mem.disp, 8u);
}

TEST(InsnCrDr, Refused) {
    CrDrInsn d{};
    const Bytes cpuid{0x0F, 0xA2};
    EXPECT_FALSE(decode_cr_dr_insn(cpuid.data(), cpuid.size(), CodeSize::Bits64, d).ok());
    const Bytes sgdt{0x0F, 0x01, 0x00};
    EXPECT_FALSE(decode_cr_dr_insn(sgdt.data(), sgdt.size(), CodeSize::Bits64, d).ok());
    const Bytes truncated{0x0F, 0x22};
    EXPECT_FALSE(decode_cr_dr_insn(truncated.data(), truncated.size(), CodeSize::Bits64, d).ok());
}

} // namespace
} // namespace evmm
