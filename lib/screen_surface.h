// Where the screen console draws: character cells on an EGA text buffer (a byte for the character, a byte for its
// color) or on a linear framebuffer with direct RGB color, 16, 24 or 32 bits per pixel, in the built-in font
// (lib/font.h; a cell is SCREEN_CELL_WIDTH x SCREEN_CELL_HEIGHT pixels). Pure: the screen's memory is injected (the
// identity-mapped physical address on the machine, a buffer in the unit tests), and nothing is ever written outside
// its first `height` lines of `width` pixels (or cells).
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "lib/font.h"

namespace evmm {

inline constexpr u32 SCREEN_CELL_WIDTH = FONT_WIDTH;
inline constexpr u32 SCREEN_ROW_SCALE = 2; // each glyph row is drawn twice: 8x16 cells, the VGA's proportions
inline constexpr u32 SCREEN_CELL_HEIGHT = FONT_HEIGHT * SCREEN_ROW_SCALE;
inline constexpr u8 SCREEN_TEXT_ATTRIBUTE = 0x07; // EGA attribute: light grey on black
inline constexpr u8 SCREEN_FG_INTENSITY = 0xAA;   // the framebuffer's foreground: the same light grey (8-bit scale)

struct ScreenSurface {
    enum class Kind : u8 { None, Text, Pixels };
    Kind kind = Kind::None;
    volatile u8* mem = nullptr;
    u32 pitch = 0, width = 0, height = 0; // as evmm_screen_t: text in cells, pixels otherwise
    u32 bytes_per_pixel = 0;              // Pixels: 2, 3 or 4
    u32 fg = 0, bg = 0;                   // Pixels: the foreground and background pixel values
    u32 cols = 0, rows = 0;               // character cells
};

// The bytes of memory a screen spans (pitch x height).
constexpr u64 screen_bytes(const evmm_screen_t& s) { return u64{s.pitch} * s.height; }

// Checks the description and sets `out` up on `mem` (screen_bytes(s) bytes). Errors (out stays Kind::None): no
// memory, type none or unknown, text cells not 16 bits, RGB not 16/24/32 bits per pixel, a channel outside the
// pixel or of size 0, a screen smaller than one cell, a pitch shorter than a line.
Status screen_surface_init(const evmm_screen_t& s, u8* mem, ScreenSurface& out);

// Blank cells (text) or background pixels over the whole visible screen.
void screen_surface_clear(const ScreenSurface& sf);

// Draws `c` (a character without a glyph as FONT_REPLACEMENT) in cell (col, row); outside the cells: nothing.
void screen_surface_draw(const ScreenSurface& sf, u32 col, u32 row, char c);

} // namespace evmm
