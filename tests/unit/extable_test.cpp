// Unit tests for arch/x86_64/extable.h: the exception table's lookup (faulting RIP -> fixup RIP), with tables built in
// memory whose self-relative offsets point into a fake code buffer.
#include "arch/x86_64/extable.h"

#include <gtest/gtest.h>

using namespace evmm;

namespace {

struct Table {
    u8 code[64] = {};
    ExtableEntry e[3] = {};

    // Entry i: instruction at code[insn], fixup at code[fixup] (the offsets relative to each field, as the assembler
    // writes ".long label - .").
    void set(int i, size_t insn, size_t fixup) {
        e[i].insn = static_cast<i32>(reinterpret_cast<uptr>(&code[insn]) - reinterpret_cast<uptr>(&e[i].insn));
        e[i].fixup = static_cast<i32>(reinterpret_cast<uptr>(&code[fixup]) - reinterpret_cast<uptr>(&e[i].fixup));
    }
    u64 at(size_t off) const { return reinterpret_cast<uptr>(&code[off]); }
};

} // namespace

TEST(Extable, EntryAddressesAreSelfRelative) {
    Table t;
    t.set(0, 10, 20);
    EXPECT_EQ(t.e[0].insn_addr(), t.at(10));
    EXPECT_EQ(t.e[0].fixup_addr(), t.at(20));
}

TEST(Extable, FindsEachEntry) {
    Table t;
    t.set(0, 4, 40);
    t.set(1, 12, 44);
    t.set(2, 30, 50);
    EXPECT_EQ(extable_fixup(t.e, t.e + 3, t.at(4)), t.at(40));
    EXPECT_EQ(extable_fixup(t.e, t.e + 3, t.at(12)), t.at(44));
    EXPECT_EQ(extable_fixup(t.e, t.e + 3, t.at(30)), t.at(50));
}

TEST(Extable, MissIsZero) {
    Table t;
    t.set(0, 4, 40);
    t.set(1, 12, 44);
    // Neither the bytes after an instruction's start nor a fixup address are keys.
    EXPECT_EQ(extable_fixup(t.e, t.e + 2, t.at(5)), 0u);
    EXPECT_EQ(extable_fixup(t.e, t.e + 2, t.at(40)), 0u);
    EXPECT_EQ(extable_fixup(t.e, t.e + 2, 0), 0u);
}

TEST(Extable, EmptyTable) {
    Table t;
    EXPECT_EQ(extable_fixup(t.e, t.e, t.at(0)), 0u);
}

TEST(Extable, BackwardOffsets) {
    // Fixup before the instruction and the table after both: negative offsets.
    Table t;
    t.set(0, 50, 2);
    EXPECT_LT(t.e[0].insn, 0);
    EXPECT_EQ(extable_fixup(t.e, t.e + 1, t.at(50)), t.at(2));
}
