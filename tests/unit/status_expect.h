// gtest helpers for evmm::Status, shared by the loader tests: EXPECT_OK / ASSERT_OK print what failed, where, and
// the values; EXPECT_ERR checks that an error's what and where contain the given parts.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "evmm/status.h"

namespace evmm::test {
inline std::string str(const char* s) { return s != nullptr ? std::string(s) : std::string("<null>"); }
} // namespace evmm::test

#define EXPECT_OK(expr)                                                                                       \
    do {                                                                                                      \
        const ::evmm::Status s_ = (expr);                                                                     \
        EXPECT_TRUE(s_.ok()) << ::evmm::test::str(s_.what) << " in " << ::evmm::test::str(s_.where) << " (0x" \
                             << std::hex << s_.value << ", 0x" << s_.value2 << ")";                           \
    } while (0)
#define ASSERT_OK(expr)                                                                                       \
    do {                                                                                                      \
        const ::evmm::Status s_ = (expr);                                                                     \
        ASSERT_TRUE(s_.ok()) << ::evmm::test::str(s_.what) << " in " << ::evmm::test::str(s_.where) << " (0x" \
                             << std::hex << s_.value << ", 0x" << s_.value2 << ")";                           \
    } while (0)
#define EXPECT_ERR(expr, what_part, where_part)                                                                    \
    do {                                                                                                           \
        const ::evmm::Status s_ = (expr);                                                                          \
        ASSERT_FALSE(s_.ok()) << "expected an error containing \"" << what_part << "\"";                           \
        EXPECT_NE(::evmm::test::str(s_.what).find(what_part), std::string::npos) << ::evmm::test::str(s_.what);    \
        EXPECT_NE(::evmm::test::str(s_.where).find(where_part), std::string::npos) << ::evmm::test::str(s_.where); \
    } while (0)
