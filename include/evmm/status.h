// Status: the error value every pure-logic routine returns. No exceptions in evmm: a routine that can fail
// returns a Status saying what failed (a static string), where (a static string: a tag, a field, a table),
// and up to two values, so the caller can print one clear line and stop.
#pragma once

#include "evmm/base.h"

namespace evmm {

struct [[nodiscard]] Status {
    const char* what = nullptr;  // nullptr means success
    const char* where = nullptr; // optional context
    u64 value = 0;
    u64 value2 = 0;

    constexpr bool ok() const { return what == nullptr; }
    constexpr explicit operator bool() const { return ok(); }

    static constexpr Status success() { return {}; }
    static constexpr Status error(const char* what, const char* where = nullptr, u64 value = 0, u64 value2 = 0) {
        return Status{what, where, value, value2};
    }
};

#define EVMM_TRY(expr)                             \
    do {                                           \
        ::evmm::Status evmm_try_s_ = (expr);       \
        if (!evmm_try_s_.ok()) return evmm_try_s_; \
    } while (0)

} // namespace evmm
