#include "lib/format.h"

namespace evmm {
namespace {

struct Out {
    char* buf;
    size_t cap;
    size_t len = 0;
    void put(char c) {
        if (len + 1 < cap) buf[len] = c;
        ++len;
    }
};

void put_padded(Out& o, const char* s, size_t n, int width, bool left, char pad) {
    int fill = width > static_cast<int>(n) ? width - static_cast<int>(n) : 0;
    if (!left)
        for (int i = 0; i < fill; ++i) o.put(pad);
    for (size_t i = 0; i < n; ++i) o.put(s[i]);
    if (left)
        for (int i = 0; i < fill; ++i) o.put(' ');
}

size_t utoa(u64 v, unsigned base, bool upper, char* tmp) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    size_t n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v != 0);
    for (size_t i = 0; i < n / 2; ++i) {
        char c = tmp[i];
        tmp[i] = tmp[n - 1 - i];
        tmp[n - 1 - i] = c;
    }
    return n;
}

} // namespace

size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap) {
    Out o{buf, cap};
    for (const char* p = fmt; *p != '\0'; ++p) {
        if (*p != '%') {
            o.put(*p);
            continue;
        }
        ++p;
        bool left = false;
        char pad = ' ';
        for (;; ++p) {
            if (*p == '-')
                left = true;
            else if (*p == '0')
                pad = '0';
            else
                break;
        }
        int width = 0;
        if (*p == '*') {
            width = va_arg(ap, int);
            ++p;
        } else {
            while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        }
        int precision = -1;
        if (*p == '.') {
            ++p;
            if (*p == '*') {
                precision = va_arg(ap, int);
                ++p;
            } else {
                precision = 0;
                while (*p >= '0' && *p <= '9') precision = precision * 10 + (*p++ - '0');
            }
        }
        int longs = 0;
        while (*p == 'l' || *p == 'z') {
            longs += (*p == 'z') ? 2 : 1;
            ++p;
        }
        char tmp[24];
        switch (*p) {
        case '%': o.put('%'); break;
        case 'c': {
            char c = static_cast<char>(va_arg(ap, int));
            put_padded(o, &c, 1, width, left, ' ');
            break;
        }
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (s == nullptr) s = "(null)";
            size_t n = 0;
            while ((precision < 0 || n < static_cast<size_t>(precision)) && s[n] != '\0') ++n;
            put_padded(o, s, n, width, left, ' ');
            break;
        }
        case 'd':
        case 'i': {
            i64 v = longs ? va_arg(ap, i64) : va_arg(ap, int);
            u64 mag = v < 0 ? u64{0} - static_cast<u64>(v) : static_cast<u64>(v);
            char num[24];
            if (v < 0 && pad == '0' && !left) { // printf: the sign goes before the zero padding
                o.put('-');
                put_padded(o, num, utoa(mag, 10, false, num), width > 0 ? width - 1 : 0, false, '0');
                break;
            }
            size_t n = 0;
            if (v < 0) num[n++] = '-';
            n += utoa(mag, 10, false, num + n);
            put_padded(o, num, n, width, left, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            u64 v = longs ? va_arg(ap, u64) : va_arg(ap, unsigned);
            size_t n = utoa(v, *p == 'u' ? 10 : 16, *p == 'X', tmp);
            put_padded(o, tmp, n, width, left, pad);
            break;
        }
        case 'p': {
            u64 v = reinterpret_cast<uptr>(va_arg(ap, void*));
            tmp[0] = '0';
            tmp[1] = 'x';
            size_t n = 2 + utoa(v, 16, false, tmp + 2);
            put_padded(o, tmp, n, width, left, ' ');
            break;
        }
        case '\0': --p; break;
        default:
            o.put('%');
            o.put(*p);
            break;
        }
    }
    if (cap > 0) buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len < cap ? o.len : (cap > 0 ? cap - 1 : 0);
}

size_t format(char* buf, size_t cap, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

} // namespace evmm
