// Unit tests for the screen console's pure parts: the font (lib/font), the surfaces (lib/screen_surface: EGA text
// cells and RGB framebuffers of 16/24/32 bits per pixel) and the text grid with wrapping and scrolling (lib/screen),
// over fake screens in host memory with guard bytes around them: nothing may be written outside the screen.
#include "lib/screen.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "lib/font.h"
#include "lib/screen_surface.h"
#include "status_expect.h"

using namespace evmm;

namespace {

constexpr u8 GUARD = 0x5a;
constexpr size_t GUARD_BYTES = 64;

// A screen in host memory: GUARD_BYTES of guard on each side, the pitch padding filled with guard bytes too.
struct FakeScreen {
    evmm_screen_t desc{};
    std::vector<u8> mem;
    ScreenSurface sf{};

    u8* base() { return mem.data() + GUARD_BYTES; }

    static FakeScreen text(u32 cols, u32 rows, u32 pitch = 0) {
        FakeScreen f;
        f.desc.type = EVMM_SCREEN_EGA_TEXT;
        f.desc.addr = 0xb8000;
        f.desc.width = cols;
        f.desc.height = rows;
        f.desc.bpp = 16;
        f.desc.pitch = pitch ? pitch : cols * 2;
        f.alloc();
        return f;
    }
    static FakeScreen rgb(u32 width, u32 height, u8 bpp, u32 pitch = 0, const u8 (&fields)[6] = {16, 8, 8, 8, 0, 8}) {
        FakeScreen f;
        f.desc.type = EVMM_SCREEN_RGB;
        f.desc.addr = 0x80000000;
        f.desc.width = width;
        f.desc.height = height;
        f.desc.bpp = bpp;
        f.desc.pitch = pitch ? pitch : width * (bpp / 8);
        f.desc.red_pos = fields[0], f.desc.red_size = fields[1];
        f.desc.green_pos = fields[2], f.desc.green_size = fields[3];
        f.desc.blue_pos = fields[4], f.desc.blue_size = fields[5];
        f.alloc();
        return f;
    }
    void alloc() { mem.assign(screen_bytes(desc) + 2 * GUARD_BYTES, GUARD); }
    Status init() { return screen_surface_init(desc, base(), sf); }

    // Every byte outside the visible screen (guards, pitch padding) still holds GUARD.
    bool untouched_outside() const {
        const u32 bytes_per_unit = desc.type == EVMM_SCREEN_EGA_TEXT ? 2 : desc.bpp / 8;
        for (size_t i = 0; i < mem.size(); ++i) {
            bool inside = false;
            if (i >= GUARD_BYTES && i < GUARD_BYTES + screen_bytes(desc))
                inside = (i - GUARD_BYTES) % desc.pitch < u64{desc.width} * bytes_per_unit;
            if (!inside && mem[i] != GUARD) return false;
        }
        return true;
    }
    char text_at(u32 col, u32 row) { return static_cast<char>(base()[row * desc.pitch + col * 2]); }
    u32 pixel(u32 x, u32 y) {
        const u32 bpp = desc.bpp / 8;
        u32 v = 0;
        for (u32 i = 0; i < bpp; ++i) v |= u32{base()[y * desc.pitch + x * bpp + i]} << (8 * i);
        return v;
    }
};

// The row of text shown on a text screen (trailing blanks removed).
std::string shown_row(FakeScreen& f, u32 row) {
    std::string s;
    for (u32 c = 0; c < f.desc.width; ++c) s += f.text_at(c, row);
    return s.substr(0, s.find_last_not_of(' ') + 1);
}

std::string grid_row(const Screen& s, u32 row) {
    std::string r;
    for (u32 c = 0; c < s.cols(); ++c) r += s.at(c, row);
    return r.substr(0, r.find_last_not_of(' ') + 1);
}

void write(Screen& s, const std::string& text) { s.write(text.data(), text.size()); }

} // namespace

// --- font -----------------------------------------------------------------------------------------------------------

TEST(Font, EveryPrintableCharacterHasItsOwnGlyph) {
    std::set<std::vector<u8>> seen;
    for (char c = FONT_FIRST; c <= FONT_LAST; ++c) {
        ASSERT_TRUE(font_has(c));
        const u8* g = font_glyph(c);
        EXPECT_TRUE(seen.insert(std::vector<u8>(g, g + FONT_HEIGHT)).second) << "glyph of '" << c << "' is not unique";
    }
    EXPECT_EQ(seen.size(), FONT_GLYPHS);
    const u8* space = font_glyph(' ');
    for (u32 r = 0; r < FONT_HEIGHT; ++r) EXPECT_EQ(space[r], 0u);
    for (char c = 'A'; c <= 'Z'; ++c) {
        const u8* g = font_glyph(c);
        u32 bits = 0;
        for (u32 r = 0; r < FONT_HEIGHT; ++r) bits += __builtin_popcount(g[r]);
        EXPECT_GT(bits, 10u) << c; // a letter has some ink
    }
}

TEST(Font, CharactersWithoutAGlyphGetTheReplacement) {
    for (int c : {0, 1, int{'\n'}, 0x1f, 0x7f, 0x80, 0xff}) {
        EXPECT_FALSE(font_has(static_cast<char>(c)));
        EXPECT_EQ(font_glyph(static_cast<char>(c)), font_glyph(FONT_REPLACEMENT)) << c;
    }
}

// --- surfaces -------------------------------------------------------------------------------------------------------

TEST(ScreenSurface, RejectsWhatItCannotDrawOn) {
    ScreenSurface sf{};
    FakeScreen ok = FakeScreen::rgb(64, 32, 32);
    EXPECT_ERR(screen_surface_init(ok.desc, nullptr, sf), "no memory", "screen");
    struct Case {
        const char* what;
        void (*change)(evmm_screen_t&);
    };
    const Case cases[] = {
        {"no screen of a known type", [](evmm_screen_t& d) { d.type = EVMM_SCREEN_NONE; }},
        {"no screen of a known type", [](evmm_screen_t& d) { d.type = 9; }},
        {"16, 24 or 32", [](evmm_screen_t& d) { d.bpp = 8; }},
        {"16, 24 or 32", [](evmm_screen_t& d) { d.bpp = 15; }},
        {"channel outside", [](evmm_screen_t& d) { d.red_pos = 28; }}, // 28 + 8 > 32
        {"channel outside", [](evmm_screen_t& d) { d.green_size = 0; }},
        {"channel outside", [](evmm_screen_t& d) { d.bpp = 24, d.pitch = 64 * 3, d.red_pos = 24; }},
        {"smaller than one character", [](evmm_screen_t& d) { d.width = 7; }},
        {"smaller than one character", [](evmm_screen_t& d) { d.height = 15; }},
        {"pitch shorter than a line", [](evmm_screen_t& d) { d.pitch = 64 * 4 - 1; }},
    };
    for (const Case& c : cases) {
        FakeScreen f = FakeScreen::rgb(64, 32, 32);
        c.change(f.desc);
        f.alloc();
        sf.kind = ScreenSurface::Kind::Pixels;
        EXPECT_ERR(f.init(), c.what, "screen");
        EXPECT_EQ(f.sf.kind, ScreenSurface::Kind::None) << c.what;
    }
    FakeScreen t = FakeScreen::text(80, 25);
    t.desc.bpp = 8;
    EXPECT_ERR(t.init(), "not 16 bits", "screen");
    t = FakeScreen::text(80, 25, 159);
    EXPECT_ERR(t.init(), "pitch shorter", "screen");
    t = FakeScreen::text(0, 25);
    EXPECT_ERR(t.init(), "without cells", "screen");
}

TEST(ScreenSurface, TextCellsAreCharacterAndAttribute) {
    FakeScreen f = FakeScreen::text(80, 25, 168); // a pitch with 8 bytes of padding per row
    ASSERT_OK(f.init());
    EXPECT_EQ(f.sf.cols, 80u);
    EXPECT_EQ(f.sf.rows, 25u);
    screen_surface_clear(f.sf);
    for (u32 r = 0; r < 25; ++r)
        for (u32 c = 0; c < 80; ++c) {
            ASSERT_EQ(f.text_at(c, r), ' ');
            ASSERT_EQ(f.base()[r * 168 + c * 2 + 1], SCREEN_TEXT_ATTRIBUTE);
        }
    screen_surface_draw(f.sf, 79, 24, 'Z');
    screen_surface_draw(f.sf, 0, 0, '\x01'); // no glyph: the replacement
    EXPECT_EQ(f.text_at(79, 24), 'Z');
    EXPECT_EQ(f.text_at(0, 0), FONT_REPLACEMENT);
    screen_surface_draw(f.sf, 80, 0, 'X'); // outside the cells: nothing
    screen_surface_draw(f.sf, 0, 25, 'X');
    EXPECT_TRUE(f.untouched_outside());
}

TEST(ScreenSurface, GlyphPixelsAt32BitsEachRowTwice) {
    FakeScreen f = FakeScreen::rgb(64, 48, 32, 64 * 4 + 12); // 8 x 3 cells, padded lines
    ASSERT_OK(f.init());
    EXPECT_EQ(f.sf.cols, 8u);
    EXPECT_EQ(f.sf.rows, 3u);
    EXPECT_EQ(f.sf.fg, 0x00aaaaaau);
    screen_surface_clear(f.sf);
    EXPECT_EQ(f.pixel(63, 47), 0u);
    screen_surface_draw(f.sf, 2, 1, 'A');
    const u8* g = font_glyph('A');
    for (u32 y = 0; y < SCREEN_CELL_HEIGHT; ++y)
        for (u32 x = 0; x < SCREEN_CELL_WIDTH; ++x) {
            const bool ink = (g[y / 2] >> (7 - x)) & 1;
            ASSERT_EQ(f.pixel(16 + x, 16 + y), ink ? 0x00aaaaaau : 0u) << "x " << x << " y " << y;
        }
    EXPECT_EQ(f.pixel(15, 16), 0u); // the neighbours stay background
    EXPECT_EQ(f.pixel(24, 31), 0u);
    EXPECT_TRUE(f.untouched_outside());
}

TEST(ScreenSurface, PixelFormatsFollowTheChannelFields) {
    {
        FakeScreen f = FakeScreen::rgb(16, 16, 32, 0, {0, 8, 8, 8, 16, 8}); // BGR order
        ASSERT_OK(f.init());
        EXPECT_EQ(f.sf.fg, 0x00aaaaaau);
    }
    {
        FakeScreen f = FakeScreen::rgb(16, 16, 32, 0, {16, 8, 8, 8, 0, 0}); // no blue: refused
        EXPECT_ERR(f.init(), "channel outside", "screen");
    }
    {
        FakeScreen f = FakeScreen::rgb(16, 16, 32, 0, {20, 10, 10, 10, 0, 10}); // 10:10:10
        ASSERT_OK(f.init());
        EXPECT_EQ(f.sf.fg, (0x2a8u << 20) | (0x2a8u << 10) | 0x2a8u);
    }
    {
        FakeScreen f = FakeScreen::rgb(16, 16, 16, 0, {11, 5, 5, 6, 0, 5}); // 5:6:5
        ASSERT_OK(f.init());
        EXPECT_EQ(f.sf.bytes_per_pixel, 2u);
        EXPECT_EQ(f.sf.fg, (0x15u << 11) | (0x2au << 5) | 0x15u);
        screen_surface_clear(f.sf);
        screen_surface_draw(f.sf, 0, 0, '#');
        const u8* g = font_glyph('#');
        for (u32 y = 0; y < 16; ++y)
            for (u32 x = 0; x < 8; ++x) ASSERT_EQ(f.pixel(x, y), ((g[y / 2] >> (7 - x)) & 1) ? f.sf.fg : 0u);
        EXPECT_TRUE(f.untouched_outside());
    }
    {
        FakeScreen f = FakeScreen::rgb(24, 16, 24); // packed 8:8:8
        ASSERT_OK(f.init());
        EXPECT_EQ(f.sf.bytes_per_pixel, 3u);
        screen_surface_clear(f.sf);
        screen_surface_draw(f.sf, 2, 0, '|');
        const u8* g = font_glyph('|');
        for (u32 y = 0; y < 16; ++y)
            for (u32 x = 0; x < 8; ++x) ASSERT_EQ(f.pixel(16 + x, y), ((g[y / 2] >> (7 - x)) & 1) ? 0xaaaaaau : 0u);
        EXPECT_TRUE(f.untouched_outside());
    }
}

TEST(ScreenSurface, NeverWritesOutsideAScreenThatIsNotWholeCells) {
    // 21 x 37 pixels: 2 x 2 cells; the 5 columns and 5 lines left over belong to the screen but get no character.
    FakeScreen f = FakeScreen::rgb(21, 37, 32, 21 * 4 + 4);
    ASSERT_OK(f.init());
    EXPECT_EQ(f.sf.cols, 2u);
    EXPECT_EQ(f.sf.rows, 2u);
    screen_surface_clear(f.sf);
    for (u32 r = 0; r < 4; ++r)
        for (u32 c = 0; c < 4; ++c) screen_surface_draw(f.sf, c, r, '@');
    EXPECT_TRUE(f.untouched_outside());
    EXPECT_EQ(f.pixel(20, 36), 0u); // cleared, never drawn
}

// --- the grid -------------------------------------------------------------------------------------------------------

TEST(Screen, LinesNewlinesAndWrapping) {
    FakeScreen f = FakeScreen::text(10, 4);
    ASSERT_OK(f.init());
    std::fill(f.mem.begin() + GUARD_BYTES, f.mem.end() - GUARD_BYTES, 'x'); // the firmware's leftovers
    Screen s;
    EXPECT_FALSE(s.active());
    s.start(&f.sf, 0, nullptr, 1);
    ASSERT_TRUE(s.active());
    EXPECT_EQ(shown_row(f, 3), ""); // cleared
    write(s, "hello\n");
    EXPECT_EQ(s.row(), 1u);
    EXPECT_EQ(s.col(), 0u);
    write(s, "0123456789abc\n"); // 13 characters: a full row, then "abc" on the next
    EXPECT_EQ(shown_row(f, 0), "hello");
    EXPECT_EQ(shown_row(f, 1), "0123456789");
    EXPECT_EQ(shown_row(f, 2), "abc");
    write(s, "0123456789\n"); // exactly one row: the newline does not leave an empty row
    EXPECT_EQ(shown_row(f, 3), "0123456789");
    EXPECT_EQ(s.row(), 4u); // the next character scrolls
    for (u32 r = 0; r < 4; ++r) EXPECT_EQ(grid_row(s, r), shown_row(f, r));
    EXPECT_TRUE(f.untouched_outside());
}

TEST(Screen, ScrollsOneRowAtATimeKeepingScreenAndGridAlike) {
    FakeScreen f = FakeScreen::text(16, 3);
    ASSERT_OK(f.init());
    Screen s;
    s.start(&f.sf, 0, nullptr, 1);
    for (int i = 0; i < 7; ++i) write(s, "[cpu0] line " + std::to_string(i) + "\n");
    EXPECT_EQ(shown_row(f, 0), "[cpu0] line 4");
    EXPECT_EQ(shown_row(f, 1), "[cpu0] line 5");
    EXPECT_EQ(shown_row(f, 2), "[cpu0] line 6");
    write(s, "x"); // scrolls now, not at the newline before
    EXPECT_EQ(shown_row(f, 1), "[cpu0] line 6");
    EXPECT_EQ(shown_row(f, 2), "x");
    write(s, "\n\n"); // the second newline, below the last row, scrolls too: an empty line
    EXPECT_EQ(shown_row(f, 0), "[cpu0] line 6");
    EXPECT_EQ(shown_row(f, 1), "x");
    EXPECT_EQ(shown_row(f, 2), "");
    EXPECT_EQ(s.row(), 3u);
    for (u32 r = 0; r < 3; ++r) EXPECT_EQ(grid_row(s, r), shown_row(f, r));
    EXPECT_TRUE(f.untouched_outside());
}

TEST(Screen, ScrollsSeveralRowsAtOnce) {
    FakeScreen f = FakeScreen::text(8, 8);
    ASSERT_OK(f.init());
    Screen s;
    s.start(&f.sf, 0, nullptr, 3);
    for (int i = 0; i < 9; ++i) write(s, "l" + std::to_string(i) + "\n");
    // l0..l7 filled the screen, l8 moved everything up by 3: l3..l7, l8, two empty rows.
    EXPECT_EQ(shown_row(f, 0), "l3");
    EXPECT_EQ(shown_row(f, 4), "l7");
    EXPECT_EQ(shown_row(f, 5), "l8");
    EXPECT_EQ(shown_row(f, 6), "");
    EXPECT_EQ(shown_row(f, 7), "");
    EXPECT_EQ(s.row(), 6u);
    Screen big;
    big.start(&f.sf, 0, nullptr, 100); // a step above the row count: the whole screen
    for (int i = 0; i < 9; ++i) write(big, "m" + std::to_string(i) + "\n");
    EXPECT_EQ(shown_row(f, 0), "m8");
    EXPECT_EQ(shown_row(f, 1), "");
}

TEST(Screen, TabsCarriageReturnsAndUnprintables) {
    FakeScreen f = FakeScreen::text(20, 2);
    ASSERT_OK(f.init());
    Screen s;
    s.start(&f.sf, 0, nullptr, 1);
    write(s, std::string("a\tb\r\x01\xff") + "\n");
    EXPECT_EQ(shown_row(f, 0), "a       b??");
    write(s, "0123456789012345678\t|"); // the tab fills the row; '|' wraps and scrolls
    EXPECT_EQ(shown_row(f, 0), "0123456789012345678");
    EXPECT_EQ(s.at(19, 0), ' ');
    EXPECT_EQ(shown_row(f, 1), "|");
}

TEST(Screen, TakesOverAScreenWithItsText) {
    FakeScreen f = FakeScreen::text(12, 3);
    ASSERT_OK(f.init());
    Screen loader;
    loader.start(&f.sf, 0, nullptr, 1);
    write(loader, "loader: a\nloader: b\n");
    std::vector<char> text(loader.text(), loader.text() + loader.cols() * loader.rows());
    const u32 row = loader.row();
    loader.stop();
    write(loader, "lost\n"); // stopped: nothing drawn
    EXPECT_EQ(shown_row(f, 2), "");

    Screen vmm;
    vmm.start(&f.sf, row, text.data(), 1);
    EXPECT_EQ(shown_row(f, 0), "loader: a"); // not cleared
    write(vmm, "stage 1\nstage 2\n");
    EXPECT_EQ(shown_row(f, 0), "loader: b");
    EXPECT_EQ(shown_row(f, 1), "stage 1");
    EXPECT_EQ(shown_row(f, 2), "stage 2");
    EXPECT_EQ(grid_row(vmm, 0), "loader: b");

    Screen clamp;
    clamp.start(&f.sf, 99, text.data(), 1); // a row past the end: the next character scrolls
    EXPECT_EQ(clamp.row(), 3u);
}

TEST(Screen, ALargeScreenIsUsedUpToTheGridsLimits) {
    FakeScreen f = FakeScreen::text(SCREEN_MAX_COLS + 44, SCREEN_MAX_ROWS + 2);
    ASSERT_OK(f.init());
    Screen s;
    s.start(&f.sf, 0, nullptr, 1);
    EXPECT_EQ(s.cols(), SCREEN_MAX_COLS);
    EXPECT_EQ(s.rows(), SCREEN_MAX_ROWS);
    write(s, std::string(SCREEN_MAX_COLS + 1, '=') + "\n");
    EXPECT_EQ(f.text_at(SCREEN_MAX_COLS - 1, 0), '=');
    EXPECT_EQ(f.text_at(SCREEN_MAX_COLS, 0), ' '); // beyond the grid: cleared, never written
    EXPECT_EQ(f.text_at(0, 1), '=');
    EXPECT_TRUE(f.untouched_outside());
}

TEST(Screen, WithoutASurfaceNothingHappens) {
    Screen s;
    s.start(nullptr, 0, nullptr, 1);
    EXPECT_FALSE(s.active());
    write(s, "nothing\n");
    ScreenSurface none{};
    s.start(&none, 0, nullptr, 1);
    EXPECT_FALSE(s.active());
}

TEST(Screen, FramebufferScreenShowsTheGridsGlyphs) {
    FakeScreen f = FakeScreen::rgb(40, 32, 32); // 5 x 2 cells
    ASSERT_OK(f.init());
    Screen s;
    s.start(&f.sf, 0, nullptr, 1);
    write(s, "ab\ncd\nef");
    // After the scroll: "cd" on row 0, "ef" on row 1; each cell's pixels are its character's glyph.
    for (u32 r = 0; r < 2; ++r)
        for (u32 c = 0; c < 5; ++c) {
            const u8* g = font_glyph(s.at(c, r));
            for (u32 y = 0; y < 16; ++y)
                for (u32 x = 0; x < 8; ++x)
                    ASSERT_EQ(f.pixel(c * 8 + x, r * 16 + y), ((g[y / 2] >> (7 - x)) & 1) ? f.sf.fg : 0u)
                        << "cell " << c << "," << r;
        }
    EXPECT_EQ(grid_row(s, 0), "cd");
    EXPECT_EQ(grid_row(s, 1), "ef");
    EXPECT_TRUE(f.untouched_outside());
}
