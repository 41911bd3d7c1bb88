// The MMIO store decoder (arch/x86_64/insn: decode_mmio_store) on any bytes, in each code size. It must never read
// past `avail` (the input is a heap block of exactly that size) nor more than 15 bytes, and a decoded store must
// be one the emulation can apply: length within both limits, size 1/2/4/8, a register number 0-15, an ALU operation
// of the group, REP only on STOS.
#include "arch/x86_64/insn.h"
#include "fuzz_common.h"

using namespace evmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    for (CodeSize cs : {CodeSize::Bits16, CodeSize::Bits32, CodeSize::Bits64}) {
        MmioStore st{};
        if (!decode_mmio_store(data, size, cs, st).ok()) continue;
        // STOS, MOVS, PUSH r and PUSHF can be a single opcode byte; the other stores have a ModR/M or an operand.
        const bool one_byte = st.kind == StoreKind::Stos || st.kind == StoreKind::Movs || st.kind == StoreKind::Push ||
                              st.kind == StoreKind::Pushf;
        FUZZ_CHECK(st.length >= (one_byte ? 1 : 2) && st.length <= size && st.length <= insn::MAX_LENGTH);
        FUZZ_CHECK(st.kind != StoreKind::Stos || (st.from_reg && st.reg == 0 && !st.high_byte));
        FUZZ_CHECK(st.addr_size == 2 || st.addr_size == 4 || st.addr_size == 8);
        FUZZ_CHECK(st.kind != StoreKind::Alu || static_cast<u8>(st.alu) <= static_cast<u8>(AluOp::Xor));
        FUZZ_CHECK(st.rep == false || st.kind == StoreKind::Stos || st.kind == StoreKind::Movs);
        FUZZ_CHECK(st.size == 1 || st.size == 2 || st.size == 4 || st.size == 8 ||
                   (st.kind == StoreKind::Simd && (st.size == 16 || st.size == 32)));
        FUZZ_CHECK(static_cast<u8>(st.src_seg) <= static_cast<u8>(insn::Sreg::GS));
        FUZZ_CHECK(st.reg < 16);
        FUZZ_CHECK(!st.high_byte || (st.from_reg && st.size == 1 && st.reg < 4));
        FUZZ_CHECK(st.from_reg || st.reg == 0 || st.kind == StoreKind::Simd);
        FUZZ_CHECK(!st.from_reg || st.imm == 0);
        // CALL rel: the displacement sign-extended to 64 bits; other immediates fit the size.
        FUZZ_CHECK(st.kind == StoreKind::Call || st.size >= 8 || (st.imm >> (8 * st.size)) == 0);
        FUZZ_CHECK(cs == CodeSize::Bits64 || st.size != 8 || st.kind == StoreKind::Simd);
    }
    return 0;
}
