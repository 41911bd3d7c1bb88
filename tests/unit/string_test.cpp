// Unit tests for lib/string: bounded length, comparison, copy with truncation, and number parsing.
#include "lib/string.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using namespace evmm;

namespace {

bool parse(const std::string& s, u64& out) { return parse_u64(s.data(), s.size(), out); }

} // namespace

TEST(String, StrLen) {
    EXPECT_EQ(str_len("", 10), 0u);
    EXPECT_EQ(str_len("abc", 10), 3u);
    EXPECT_EQ(str_len("abc", 3), 3u);
    EXPECT_EQ(str_len("abcdef", 4), 4u);
    EXPECT_EQ(str_len("abc", 0), 0u);
    // Never reads past max: an unterminated array is fine (ASan checks this).
    const char raw[4] = {'w', 'x', 'y', 'z'};
    EXPECT_EQ(str_len(raw, sizeof raw), 4u);
}

TEST(String, StrEq) {
    EXPECT_TRUE(str_eq("guest0", 6, "guest0"));
    EXPECT_TRUE(str_eq("", 0, ""));
    EXPECT_TRUE(str_eq("guest0 extra", 6, "guest0")); // only a[0..alen) counts
    EXPECT_FALSE(str_eq("guest", 5, "guest0"));       // a is a prefix of b
    EXPECT_FALSE(str_eq("guest01", 7, "guest0"));     // b is a prefix of a
    EXPECT_FALSE(str_eq("guest1", 6, "guest0"));
    EXPECT_FALSE(str_eq("x", 1, ""));
    EXPECT_FALSE(str_eq("", 0, "x"));
    const char raw[3] = {'a', 'b', 'c'}; // a need not be NUL-terminated
    EXPECT_TRUE(str_eq(raw, 3, "abc"));
    EXPECT_FALSE(str_eq(raw, 2, "abc"));
}

TEST(String, StrCopyFits) {
    char dst[8];
    std::memset(dst, 'G', sizeof dst);
    EXPECT_TRUE(str_copy(dst, sizeof dst, "abc", 3));
    EXPECT_STREQ(dst, "abc");
    EXPECT_EQ(dst[4], 'G'); // nothing written after the NUL

    std::memset(dst, 'G', sizeof dst);
    EXPECT_TRUE(str_copy(dst, sizeof dst, "1234567", 7)); // exactly cap - 1
    EXPECT_STREQ(dst, "1234567");

    std::memset(dst, 'G', sizeof dst);
    EXPECT_TRUE(str_copy(dst, sizeof dst, "xyz", 0));
    EXPECT_EQ(dst[0], '\0');

    std::memset(dst, 'G', sizeof dst);
    EXPECT_TRUE(str_copy(dst, sizeof dst, "abcdef", 2)); // len, not the NUL, bounds the source
    EXPECT_STREQ(dst, "ab");
}

TEST(String, StrCopyTruncates) {
    char buf[16];
    std::memset(buf, 'G', sizeof buf);
    EXPECT_FALSE(str_copy(buf, 8, "12345678", 8)); // one too many
    EXPECT_STREQ(buf, "1234567");
    for (size_t i = 8; i < sizeof buf; ++i) EXPECT_EQ(buf[i], 'G') << "byte " << i;

    std::memset(buf, 'G', sizeof buf);
    EXPECT_FALSE(str_copy(buf, 1, "a", 1));
    EXPECT_EQ(buf[0], '\0');
    EXPECT_EQ(buf[1], 'G');
    EXPECT_TRUE(str_copy(buf, 1, "", 0));
}

TEST(String, StrCopyCapZero) {
    char buf[2] = {'G', 'G'};
    EXPECT_TRUE(str_copy(buf, 0, "", 0));
    EXPECT_FALSE(str_copy(buf, 0, "a", 1));
    EXPECT_EQ(buf[0], 'G'); // nothing written, not even a NUL
    EXPECT_TRUE(str_copy(nullptr, 0, "", 0));
}

TEST(String, ParseDecimal) {
    u64 v = 99;
    EXPECT_TRUE(parse("0", v));
    EXPECT_EQ(v, 0u);
    EXPECT_TRUE(parse("12345", v));
    EXPECT_EQ(v, 12345u);
    EXPECT_TRUE(parse("007", v));
    EXPECT_EQ(v, 7u);
    EXPECT_TRUE(parse("18446744073709551615", v)); // UINT64_MAX
    EXPECT_EQ(v, UINT64_MAX);
    // Only [s, s+len) is parsed.
    EXPECT_TRUE(parse_u64("123456", 3, v));
    EXPECT_EQ(v, 123u);
}

TEST(String, ParseHex) {
    u64 v = 0;
    EXPECT_TRUE(parse("0x0", v));
    EXPECT_EQ(v, 0u);
    EXPECT_TRUE(parse("0x3f8", v));
    EXPECT_EQ(v, 0x3f8u);
    EXPECT_TRUE(parse("0XABCdef", v));
    EXPECT_EQ(v, 0xabcdefu);
    EXPECT_TRUE(parse("0xFFFFFFFFFFFFFFFF", v));
    EXPECT_EQ(v, UINT64_MAX);
    EXPECT_TRUE(parse("0x000000000000000000001", v)); // leading zeros do not overflow
    EXPECT_EQ(v, 1u);
}

TEST(String, ParseRejectsOverflow) {
    u64 v = 42;
    EXPECT_FALSE(parse("18446744073709551616", v)); // UINT64_MAX + 1
    EXPECT_FALSE(parse("18446744073709551620", v)); // last digit overflows
    EXPECT_FALSE(parse("99999999999999999999", v));
    EXPECT_FALSE(parse("0x10000000000000000", v)); // 2^64
    EXPECT_FALSE(parse("0x1FFFFFFFFFFFFFFFF", v));
    EXPECT_EQ(v, 42u); // out untouched on failure
}

TEST(String, ParseRejectsEmptyAndJunk) {
    u64 v = 42;
    EXPECT_FALSE(parse("", v));
    EXPECT_FALSE(parse_u64(nullptr, 0, v));
    EXPECT_FALSE(parse("0x", v)); // prefix alone
    EXPECT_FALSE(parse("0X", v));
    EXPECT_FALSE(parse("x10", v));
    EXPECT_FALSE(parse("12a", v)); // hex digit without 0x
    EXPECT_FALSE(parse("0x12g", v));
    EXPECT_FALSE(parse("-1", v));
    EXPECT_FALSE(parse("+1", v));
    EXPECT_FALSE(parse(" 1", v));
    EXPECT_FALSE(parse("1 ", v));
    EXPECT_FALSE(parse("1.5", v));
    EXPECT_FALSE(parse("0x0x1", v));
    EXPECT_FALSE(parse("00x1", v));
    EXPECT_FALSE(parse(std::string("1\0"
                                   "2",
                                   3),
                       v)); // an embedded NUL is junk
    EXPECT_EQ(v, 42u);
}

TEST(String, IsSpace) {
    EXPECT_TRUE(is_space(' '));
    EXPECT_TRUE(is_space('\t'));
    EXPECT_TRUE(is_space('\n'));
    EXPECT_TRUE(is_space('\r'));
    EXPECT_FALSE(is_space('a'));
    EXPECT_FALSE(is_space('\0'));
}
