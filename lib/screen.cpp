// The screen console's grid: see screen.h.
#include "lib/screen.h"

#include "evmm/unaligned.h"

namespace evmm {
namespace {
constexpr char BLANK = ' ';
} // namespace

void Screen::start(const ScreenSurface* sf, u32 row, const char* text, u32 scroll_step) {
    sf_ = nullptr;
    if (sf == nullptr || sf->kind == ScreenSurface::Kind::None) return;
    cols_ = cols_for(*sf);
    rows_ = rows_for(*sf);
    step_ = scroll_step == 0 ? 1 : (scroll_step > rows_ ? rows_ : scroll_step);
    row_ = row > rows_ ? rows_ : row;
    col_ = 0;
    // Whole 8-byte words where they fit (P2 counts Bochs instructions: 2000 cells on a BIOS screen).
    const u32 cells = cols_ * rows_;
    const u32 words = cells / sizeof(u64);
    if (text != nullptr) {
        for (u32 w = 0; w < words; ++w)
            store_unaligned<u64>(text_ + w * sizeof(u64), load_unaligned<u64>(text + w * sizeof(u64)));
        for (u32 i = words * sizeof(u64); i < cells; ++i) text_[i] = text[i];
    } else {
        constexpr u64 BLANKS = 0x0101010101010101ull * static_cast<u8>(BLANK);
        for (u32 w = 0; w < words; ++w) store_unaligned<u64>(text_ + w * sizeof(u64), BLANKS);
        for (u32 i = words * sizeof(u64); i < cells; ++i) text_[i] = BLANK;
        screen_surface_clear(*sf);
    }
    sf_ = sf;
}

void Screen::write(const char* s, size_t n) {
    if (sf_ == nullptr) return;
    for (size_t i = 0; i < n; ++i) put(s[i]);
}

void Screen::newline() {
    col_ = 0;
    if (row_ >= rows_) scroll(); // a newline below the last row (an empty line there) scrolls too
    ++row_;
}

// Everything moves up step_ rows; only the cells whose character changes are drawn.
void Screen::scroll() {
    const u32 moved = (rows_ - step_) * cols_;
    const u32 shift = step_ * cols_;
    for (u32 i = 0; i < moved; ++i) {
        const char c = text_[i + shift];
        if (c == text_[i]) continue;
        text_[i] = c;
        screen_surface_draw(*sf_, i % cols_, i / cols_, c);
    }
    for (u32 i = moved; i < rows_ * cols_; ++i) {
        if (text_[i] == BLANK) continue;
        text_[i] = BLANK;
        screen_surface_draw(*sf_, i % cols_, i / cols_, BLANK);
    }
    row_ -= step_;
}

void Screen::put(char c) {
    switch (c) {
    case '\n': newline(); return;
    case '\r': return;
    case '\t': {
        const u32 next = (col_ / SCREEN_TAB + 1) * SCREEN_TAB;
        while (col_ < next && col_ < cols_) put(BLANK);
        return;
    }
    default: break;
    }
    if (col_ >= cols_) newline(); // the row is full: wrap
    if (row_ >= rows_) scroll();
    if (!font_has(c)) c = FONT_REPLACEMENT;
    const u32 i = row_ * cols_ + col_;
    if (text_[i] != c) {
        text_[i] = c;
        screen_surface_draw(*sf_, col_, row_, c);
    }
    ++col_;
}

} // namespace evmm
