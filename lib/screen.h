// The screen console's text: a grid of character cells over a ScreenSurface (lib/screen_surface.h), written line by
// line like a terminal: a newline starts the next row, a row that is full wraps, a write below the last row scrolls.
// The grid keeps what the screen shows, so scrolling only writes the cells that change (never reads the screen:
// framebuffer reads are slow on real hardware) and another image (the VMM after the loader) can take the screen over
// with its text (evmm_screen_t.text_addr). Pure: the surface's memory is injected.
#pragma once

#include "evmm/base.h"
#include "lib/screen_surface.h"

namespace evmm {

// The grid's limits: a larger screen is used up to this many cells (from its top left corner). 256 x 128 cells of
// 8x16 pixels cover 2048 x 2048 pixels.
inline constexpr u32 SCREEN_MAX_COLS = 256;
inline constexpr u32 SCREEN_MAX_ROWS = 128;
inline constexpr u32 SCREEN_TAB = 8; // tab stops every 8 columns

class Screen {
public:
    // Takes over `sf` (kept by pointer; it must outlive the screen's use) with the cursor at the start of `row`
    // (at most the last row + 1: the next character scrolls). `text`, when not null, is what the screen shows now
    // (`rows()` lines of `cols()` characters, e.g. the loader's grid), else the surface is cleared. scroll_step:
    // rows moved up at once when a character goes below the last row (at least 1).
    void start(const ScreenSurface* sf, u32 row, const char* text, u32 scroll_step);
    // Writes n characters: '\n' ends a line, '\t' moves to the next tab stop, '\r' is ignored, other characters
    // without a glyph are drawn as FONT_REPLACEMENT. Nothing when not started.
    void write(const char* s, size_t n);
    void stop() { sf_ = nullptr; }

    // The grid a surface gets: its cells up to the limits above.
    static u32 cols_for(const ScreenSurface& sf) { return sf.cols < SCREEN_MAX_COLS ? sf.cols : SCREEN_MAX_COLS; }
    static u32 rows_for(const ScreenSurface& sf) { return sf.rows < SCREEN_MAX_ROWS ? sf.rows : SCREEN_MAX_ROWS; }

    bool active() const { return sf_ != nullptr; }
    u32 cols() const { return cols_; }
    u32 rows() const { return rows_; }
    u32 row() const { return row_; } // where the next line starts (after a newline); rows() when the next scrolls
    u32 col() const { return col_; }
    char at(u32 col, u32 row) const { return col < cols_ && row < rows_ ? text_[row * cols_ + col] : '\0'; }
    const char* text() const { return text_; } // rows() x cols() characters, row-major

private:
    void put(char c);
    void newline();
    void scroll();

    const ScreenSurface* sf_ = nullptr;
    u32 cols_ = 0, rows_ = 0, row_ = 0, col_ = 0, step_ = 0; // all zero: a global Screen lies in .bss (P3)
    alignas(u64) char text_[SCREEN_MAX_COLS * SCREEN_MAX_ROWS] = {};
};

} // namespace evmm
