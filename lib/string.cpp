#include "lib/string.h"

namespace evmm {

size_t str_len(const char* s, size_t max) {
    size_t n = 0;
    while (n < max && s[n] != '\0') ++n;
    return n;
}

bool str_eq(const char* a, size_t alen, const char* b) {
    size_t i = 0;
    for (; i < alen; ++i)
        if (b[i] == '\0' || a[i] != b[i]) return false;
    return b[i] == '\0';
}

bool str_copy(char* dst, size_t cap, const char* s, size_t len) {
    if (cap == 0) return len == 0;
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; ++i) dst[i] = s[i];
    dst[n] = '\0';
    return n == len;
}

bool parse_u64(const char* s, size_t len, u64& out) {
    if (len == 0) return false;
    unsigned base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    u64 v = 0;
    for (size_t i = 0; i < len; ++i) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = static_cast<unsigned>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = static_cast<unsigned>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = static_cast<unsigned>(c - 'A' + 10);
        else
            return false;
        if (d >= base) return false;
        if (v > (~u64{0} - d) / base) return false; // overflow
        v = v * base + d;
    }
    out = v;
    return true;
}

} // namespace evmm
