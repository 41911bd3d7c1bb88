// The screen console's built-in font (lib/screen_surface.h): 8x8 bitmaps of the printable ASCII characters,
// 0x20 (space) to 0x7E (~), drawn evmm's own way in the style of the PC's 8x8 character set. Each glyph is 8 rows,
// top first; in a row, bit 7 is the leftmost pixel. A framebuffer cell is 8x16 pixels: every row drawn twice.
// tests/boot/screen_read.py reads this file to decode a framebuffer back into text.
#pragma once

#include "evmm/base.h"

namespace evmm {

inline constexpr u32 FONT_WIDTH = 8;  // pixels per glyph row: one byte
inline constexpr u32 FONT_HEIGHT = 8; // rows per glyph
inline constexpr char FONT_FIRST = ' ';
inline constexpr char FONT_LAST = '~';
inline constexpr u32 FONT_GLYPHS = FONT_LAST - FONT_FIRST + 1;
inline constexpr char FONT_REPLACEMENT = '?'; // what a character without a glyph is drawn as

// Whether `c` has a glyph.
constexpr bool font_has(char c) { return c >= FONT_FIRST && c <= FONT_LAST; }

// The glyph of `c` (FONT_HEIGHT bytes); a character without one gets FONT_REPLACEMENT's.
const u8* font_glyph(char c);

} // namespace evmm
