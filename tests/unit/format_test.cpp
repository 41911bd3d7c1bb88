// Unit tests for lib/format: the printf subset, truncation, NUL termination and the return value.
#include "lib/format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

// Some cases below feed format() deliberately odd format strings (unknown conversions, a trailing %).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-zero-length"

using namespace evmm;

namespace {

// Formats into a roomy buffer and checks that the return value matches the NUL-terminated length.
template <typename... Args>
std::string fmt(const char* f, Args... args) {
    char buf[256];
    std::memset(buf, 'Z', sizeof buf);
    size_t n = format(buf, sizeof buf, f, args...);
    EXPECT_EQ(n, std::strlen(buf)) << "format string: " << f;
    return std::string(buf);
}

} // namespace

TEST(Format, PlainTextAndPercent) {
    EXPECT_EQ(fmt("hello"), "hello");
    EXPECT_EQ(fmt(""), "");
    EXPECT_EQ(fmt("100%%"), "100%");
    EXPECT_EQ(fmt("%%%%"), "%%");
}

TEST(Format, Char) {
    EXPECT_EQ(fmt("[%c]", 'A'), "[A]");
    EXPECT_EQ(fmt("[%3c]", 'A'), "[  A]");
    EXPECT_EQ(fmt("[%-3c]", 'A'), "[A  ]");
}

TEST(Format, String) {
    EXPECT_EQ(fmt("[%s]", "abc"), "[abc]");
    EXPECT_EQ(fmt("[%s]", ""), "[]");
    EXPECT_EQ(fmt("[%s]", static_cast<const char*>(nullptr)), "[(null)]");
    EXPECT_EQ(fmt("[%5s]", "abc"), "[  abc]");
    EXPECT_EQ(fmt("[%-5s]", "abc"), "[abc  ]");
    EXPECT_EQ(fmt("[%2s]", "abcdef"), "[abcdef]"); // width never truncates
    EXPECT_EQ(fmt("[%*s]", 4, "ab"), "[  ab]");
    EXPECT_EQ(fmt("[%-*s]", 4, "ab"), "[ab  ]");
}

TEST(Format, StringPrecision) {
    EXPECT_EQ(fmt("[%.*s]", 3, "abcdef"), "[abc]");
    EXPECT_EQ(fmt("[%.*s]", 0, "abcdef"), "[]");
    EXPECT_EQ(fmt("[%.*s]", 10, "abc"), "[abc]"); // stops at the NUL
    EXPECT_EQ(fmt("[%.2s]", "abcdef"), "[ab]");
    EXPECT_EQ(fmt("[%5.*s]", 2, "abcdef"), "[   ab]");
    // The precision bounds the read: a string that is not NUL-terminated within it is fine (ASan checks this).
    const char unterminated[3] = {'x', 'y', 'z'};
    EXPECT_EQ(fmt("[%.*s]", 3, unterminated), "[xyz]");
}

TEST(Format, SignedDecimal) {
    EXPECT_EQ(fmt("%d", 0), "0");
    EXPECT_EQ(fmt("%d", 42), "42");
    EXPECT_EQ(fmt("%i", -42), "-42");
    EXPECT_EQ(fmt("%d", INT32_MAX), "2147483647");
    EXPECT_EQ(fmt("%d", INT32_MIN), "-2147483648");
    EXPECT_EQ(fmt("%ld", static_cast<long>(-1)), "-1");
    EXPECT_EQ(fmt("%lld", static_cast<long long>(INT64_MAX)), "9223372036854775807");
    EXPECT_EQ(fmt("%lld", static_cast<long long>(INT64_MIN)), "-9223372036854775808");
    EXPECT_EQ(fmt("%ld", static_cast<long>(INT64_MIN)), "-9223372036854775808");
    // Without a length modifier the argument is an int: the upper half of a 64-bit slot is ignored.
    EXPECT_EQ(fmt("%d %d", -5, 7), "-5 7");
}

TEST(Format, SignedDecimalWidth) {
    EXPECT_EQ(fmt("[%5d]", 42), "[   42]");
    EXPECT_EQ(fmt("[%-5d]", 42), "[42   ]");
    EXPECT_EQ(fmt("[%05d]", 42), "[00042]");
    EXPECT_EQ(fmt("[%5d]", -42), "[  -42]");
    EXPECT_EQ(fmt("[%-5d]", -42), "[-42  ]");
    EXPECT_EQ(fmt("[%-05d]", 42), "[42   ]"); // '-' pads with spaces on the right, never zeros
    EXPECT_EQ(fmt("[%1d]", 12345), "[12345]");
    EXPECT_EQ(fmt("[%*d]", 6, 7), "[     7]");
}

// BUG (lib/format.cpp, case 'd'/'i'): zero padding goes before the sign: %05d of -42 gives "00-42" where printf
// gives "-0042". Fix: when pad == '0' and v < 0, put '-' first, then pad the digits to width - 1.
TEST(Format, ZeroPaddedNegativeKeepsSignFirst) {
    EXPECT_EQ(fmt("[%05d]", -42), "[-0042]");
    EXPECT_EQ(fmt("[%04lld]", static_cast<long long>(-1)), "[-001]");
}

TEST(Format, Unsigned) {
    EXPECT_EQ(fmt("%u", 0u), "0");
    EXPECT_EQ(fmt("%u", 4294967295u), "4294967295");
    EXPECT_EQ(fmt("%lu", static_cast<unsigned long>(UINT64_MAX)), "18446744073709551615");
    EXPECT_EQ(fmt("%llu", static_cast<unsigned long long>(1ull << 32)), "4294967296");
    EXPECT_EQ(fmt("%zu", static_cast<size_t>(123456789012ull)), "123456789012");
    EXPECT_EQ(fmt("[%08u]", 123u), "[00000123]");
}

TEST(Format, Hex) {
    EXPECT_EQ(fmt("%x", 0u), "0");
    EXPECT_EQ(fmt("%x", 0xdeadbeefu), "deadbeef");
    EXPECT_EQ(fmt("%X", 0xdeadbeefu), "DEADBEEF");
    EXPECT_EQ(fmt("%lx", static_cast<unsigned long>(0x123456789abcdef0ull)), "123456789abcdef0");
    EXPECT_EQ(fmt("%llX", static_cast<unsigned long long>(UINT64_MAX)), "FFFFFFFFFFFFFFFF");
    EXPECT_EQ(fmt("%zx", static_cast<size_t>(0x1000)), "1000");
    EXPECT_EQ(fmt("[%08x]", 0xabcu), "[00000abc]");
    EXPECT_EQ(fmt("[%016llx]", static_cast<unsigned long long>(0x1f)), "[000000000000001f]");
    EXPECT_EQ(fmt("[%-6x]", 0xabu), "[ab    ]");
    EXPECT_EQ(fmt("[%*x]", 4, 0xfu), "[   f]");
    EXPECT_EQ(fmt("[%0*x]", 4, 0xfu), "[000f]");
    EXPECT_EQ(fmt("%x", -1), "ffffffff"); // no length modifier: 32 bits
}

TEST(Format, Pointer) {
    EXPECT_EQ(fmt("%p", reinterpret_cast<void*>(0x1234)), "0x1234");
    EXPECT_EQ(fmt("%p", static_cast<void*>(nullptr)), "0x0");
    EXPECT_EQ(fmt("%p", reinterpret_cast<void*>(UINTPTR_MAX)), "0xffffffffffffffff");
    EXPECT_EQ(fmt("[%8p]", reinterpret_cast<void*>(0xab)), "[    0xab]");
    EXPECT_EQ(fmt("[%-8p]", reinterpret_cast<void*>(0xab)), "[0xab    ]");
}

TEST(Format, MixedArgumentsStayInStep) {
    EXPECT_EQ(fmt("%s=%d (%#)", "a", 1), "a=1 (%#)"); // unknown conversion printed as is
    EXPECT_EQ(fmt("%c%s%lld%x%p|%u", 'x', "yz", static_cast<long long>(-3), 0x10u, reinterpret_cast<void*>(0x20), 9u),
              "xyz-3100x20|9");
    EXPECT_EQ(fmt("%zu-%llu-%lu", static_cast<size_t>(1), 2ull, 3ul), "1-2-3");
}

TEST(Format, UnknownConversionAndTrailingPercent) {
    EXPECT_EQ(fmt("a%qb"), "a%qb");
    EXPECT_EQ(fmt("abc%"), "abc"); // a lone '%' at the end prints nothing and stops cleanly
    EXPECT_EQ(fmt("abc%5"), "abc");
}

TEST(Format, TruncatesAndTerminates) {
    char buf[8];
    std::memset(buf, 'Z', sizeof buf);
    size_t n = format(buf, sizeof buf, "%s", "0123456789");
    EXPECT_EQ(n, 7u); // the length written, not the length wanted
    EXPECT_STREQ(buf, "0123456");

    std::memset(buf, 'Z', sizeof buf);
    n = format(buf, sizeof buf, "abcdefg"); // exactly fits: 7 chars + NUL
    EXPECT_EQ(n, 7u);
    EXPECT_STREQ(buf, "abcdefg");

    std::memset(buf, 'Z', sizeof buf);
    n = format(buf, sizeof buf, "%d", -1234567890);
    EXPECT_EQ(n, 7u);
    EXPECT_STREQ(buf, "-123456");

    std::memset(buf, 'Z', sizeof buf);
    n = format(buf, sizeof buf, "%020x", 1u);
    EXPECT_EQ(n, 7u);
    EXPECT_STREQ(buf, "0000000");
}

TEST(Format, NeverWritesPastCap) {
    // The bytes after cap must stay untouched (a guard region inside one buffer).
    char buf[16];
    std::memset(buf, 'G', sizeof buf);
    size_t n = format(buf, 5, "%s and more %d", "long text", 12345);
    EXPECT_EQ(n, 4u);
    EXPECT_EQ(std::string(buf, 5), std::string("long\0", 5));
    for (size_t i = 5; i < sizeof buf; ++i) EXPECT_EQ(buf[i], 'G') << "byte " << i;
}

TEST(Format, CapZeroWritesNothing) {
    char buf[4] = {'G', 'G', 'G', 'G'};
    EXPECT_EQ(format(buf, 0, "hello %d", 1), 0u);
    for (char c : buf) EXPECT_EQ(c, 'G');
    EXPECT_EQ(format(nullptr, 0, "hello"), 0u); // no write at all, so no buffer is needed
}

TEST(Format, CapOneWritesOnlyNul) {
    char buf[4] = {'G', 'G', 'G', 'G'};
    EXPECT_EQ(format(buf, 1, "hello"), 0u);
    EXPECT_EQ(buf[0], '\0');
    EXPECT_EQ(buf[1], 'G');
    EXPECT_EQ(format(buf, 1, ""), 0u);
    EXPECT_EQ(buf[0], '\0');
}

TEST(Format, EmptyResultIsTerminated) {
    char buf[4] = {'G', 'G', 'G', 'G'};
    EXPECT_EQ(format(buf, sizeof buf, "%s", ""), 0u);
    EXPECT_EQ(buf[0], '\0');
}

namespace {
size_t via_vformat(char* buf, size_t cap, const char* f, ...) {
    va_list ap;
    va_start(ap, f);
    size_t n = vformat(buf, cap, f, ap);
    va_end(ap);
    return n;
}
} // namespace

TEST(Format, VformatMatchesFormat) {
    char a[64], b[64];
    size_t na = format(a, sizeof a, "%s %d %llx %p", "x", -7, 0xffull, reinterpret_cast<void*>(0x10));
    size_t nb = via_vformat(b, sizeof b, "%s %d %llx %p", "x", -7, 0xffull, reinterpret_cast<void*>(0x10));
    EXPECT_EQ(na, nb);
    EXPECT_STREQ(a, b);
    EXPECT_STREQ(a, "x -7 ff 0x10");
}

#pragma GCC diagnostic pop
