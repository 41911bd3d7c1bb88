// The few C library symbols a freestanding C++ image needs: GCC emits calls to memcpy/memset/memmove/memcmp for
// struct copies and large initialisations, and pure virtual calls go to __cxa_pure_virtual.
// Built into the freestanding images only (the host tests use the real libc).
#include "evmm/base.h"

extern "C" {

// Quadwords first, then the tail bytes: a string instruction's iterations are what an emulator counts, and the
// boot path copies and clears hundreds of KiB (the VMM image, guest0's kernel, page tables).
void* memcpy(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    size_t q = n / 8, r = n % 8;
    asm volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(q) : : "memory");
    asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(r) : : "memory");
    return dst;
}

void* memset(void* dst, int c, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    const unsigned long long pattern = 0x0101010101010101ull * static_cast<unsigned char>(c);
    size_t q = n / 8, r = n % 8;
    asm volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(pattern) : "memory");
    asm volatile("rep stosb" : "+D"(d), "+c"(r) : "a"(pattern) : "memory");
    return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    if (d <= s || d >= s + n) return memcpy(dst, src, n);
    for (size_t i = n; i > 0; --i) d[i - 1] = s[i - 1];
    return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
    const auto* x = static_cast<const unsigned char*>(a);
    const auto* y = static_cast<const unsigned char*>(b);
    for (size_t i = 0; i < n; ++i)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char* s) {
    size_t n = 0;
    while (s[n] != '\0') ++n;
    return n;
}

[[noreturn]] void evmm_pure_virtual_called();
void __cxa_pure_virtual() { evmm_pure_virtual_called(); }
}
