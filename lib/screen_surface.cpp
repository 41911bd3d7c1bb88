// The screen console's surfaces: see screen_surface.h.
#include "lib/screen_surface.h"

namespace evmm {
namespace {

constexpr const char* WHERE = "screen";
constexpr u32 BITS_PER_BYTE = 8;
constexpr u32 TEXT_CELL_BITS = 16; // EGA text: character byte, attribute byte
constexpr u32 TEXT_CELL_BYTES = TEXT_CELL_BITS / BITS_PER_BYTE;
constexpr u32 INTENSITY_BITS = 8; // SCREEN_FG_INTENSITY's scale
constexpr u32 GLYPH_MSB = 0x80;   // a glyph row's leftmost pixel (lib/font.h)

constexpr u32 BPP_HIGH_COLOR = 16;        // 5:6:5 or 5:5:5
constexpr u32 BPP_TRUE_COLOR = 24;        // 8:8:8, packed
constexpr u32 BPP_TRUE_COLOR_PADDED = 32; // 8:8:8 and a byte unused (UEFI GOP's usual format)

bool supported_bpp(u32 bpp) { return bpp == BPP_HIGH_COLOR || bpp == BPP_TRUE_COLOR || bpp == BPP_TRUE_COLOR_PADDED; }

// An 8-bit intensity scaled into a channel of `size` bits at `pos`.
u32 channel(u32 intensity, u8 pos, u8 size) {
    const u32 v = size <= INTENSITY_BITS ? intensity >> (INTENSITY_BITS - size) : intensity << (size - INTENSITY_BITS);
    return v << pos;
}

bool channel_fits(u8 pos, u8 size, u32 bpp) { return size != 0 && u32{pos} + size <= bpp; }

void store_pixel(volatile u8* p, u32 value, u32 bytes) {
    for (u32 i = 0; i < bytes; ++i) p[i] = static_cast<u8>(value >> (BITS_PER_BYTE * i));
}

} // namespace

Status screen_surface_init(const evmm_screen_t& s, u8* mem, ScreenSurface& out) {
    out = ScreenSurface{};
    if (mem == nullptr) return Status::error("no memory for the screen", WHERE, s.addr);
    ScreenSurface sf{};
    sf.mem = mem;
    sf.pitch = s.pitch;
    sf.width = s.width;
    sf.height = s.height;
    switch (s.type) {
    case EVMM_SCREEN_EGA_TEXT:
        if (s.bpp != TEXT_CELL_BITS) return Status::error("text cells are not 16 bits", WHERE, s.bpp);
        if (s.width == 0 || s.height == 0) return Status::error("text screen without cells", WHERE, s.width, s.height);
        if (u64{s.pitch} < u64{s.width} * TEXT_CELL_BYTES)
            return Status::error("text pitch shorter than a row of cells", WHERE, s.pitch, s.width);
        sf.kind = ScreenSurface::Kind::Text;
        sf.cols = s.width;
        sf.rows = s.height;
        break;
    case EVMM_SCREEN_RGB:
        if (!supported_bpp(s.bpp)) return Status::error("framebuffer not 16, 24 or 32 bits per pixel", WHERE, s.bpp);
        if (!channel_fits(s.red_pos, s.red_size, s.bpp) || !channel_fits(s.green_pos, s.green_size, s.bpp) ||
            !channel_fits(s.blue_pos, s.blue_size, s.bpp))
            return Status::error("framebuffer color channel outside its pixel", WHERE, s.bpp);
        if (s.width < SCREEN_CELL_WIDTH || s.height < SCREEN_CELL_HEIGHT)
            return Status::error("framebuffer smaller than one character", WHERE, s.width, s.height);
        sf.bytes_per_pixel = s.bpp / BITS_PER_BYTE;
        if (u64{s.pitch} < u64{s.width} * sf.bytes_per_pixel)
            return Status::error("framebuffer pitch shorter than a line", WHERE, s.pitch, s.width);
        sf.kind = ScreenSurface::Kind::Pixels;
        sf.fg = channel(SCREEN_FG_INTENSITY, s.red_pos, s.red_size) |
                channel(SCREEN_FG_INTENSITY, s.green_pos, s.green_size) |
                channel(SCREEN_FG_INTENSITY, s.blue_pos, s.blue_size);
        sf.bg = 0;
        sf.cols = s.width / SCREEN_CELL_WIDTH;
        sf.rows = s.height / SCREEN_CELL_HEIGHT;
        break;
    default: return Status::error("no screen of a known type", WHERE, s.type);
    }
    out = sf;
    return Status::success();
}

void screen_surface_clear(const ScreenSurface& sf) {
    switch (sf.kind) {
    case ScreenSurface::Kind::Text:
        // A tight loop (P2 counts Bochs instructions: 2000 cells on a BIOS screen).
        for (u32 r = 0; r < sf.rows; ++r) {
            volatile u8* cell = sf.mem + u64{r} * sf.pitch;
            for (u32 c = 0; c < sf.cols; ++c, cell += TEXT_CELL_BYTES) {
                cell[0] = ' ';
                cell[1] = SCREEN_TEXT_ATTRIBUTE;
            }
        }
        break;
    case ScreenSurface::Kind::Pixels:
        for (u32 y = 0; y < sf.height; ++y) {
            volatile u8* line = sf.mem + u64{y} * sf.pitch;
            for (u32 x = 0; x < sf.width; ++x)
                store_pixel(line + u64{x} * sf.bytes_per_pixel, sf.bg, sf.bytes_per_pixel);
        }
        break;
    case ScreenSurface::Kind::None: break;
    }
}

void screen_surface_draw(const ScreenSurface& sf, u32 col, u32 row, char c) {
    if (col >= sf.cols || row >= sf.rows) return;
    if (!font_has(c)) c = FONT_REPLACEMENT;
    switch (sf.kind) {
    case ScreenSurface::Kind::Text: {
        volatile u8* cell = sf.mem + u64{row} * sf.pitch + u64{col} * TEXT_CELL_BYTES;
        cell[0] = static_cast<u8>(c);
        cell[1] = SCREEN_TEXT_ATTRIBUTE;
        break;
    }
    case ScreenSurface::Kind::Pixels: {
        const u8* glyph = font_glyph(c);
        const u64 x0 = u64{col} * SCREEN_CELL_WIDTH * sf.bytes_per_pixel;
        for (u32 y = 0; y < SCREEN_CELL_HEIGHT; ++y) {
            const u8 bits = glyph[y / SCREEN_ROW_SCALE];
            volatile u8* p = sf.mem + (u64{row} * SCREEN_CELL_HEIGHT + y) * sf.pitch + x0;
            for (u32 x = 0; x < SCREEN_CELL_WIDTH; ++x, p += sf.bytes_per_pixel)
                store_pixel(p, (bits & (GLYPH_MSB >> x)) ? sf.fg : sf.bg, sf.bytes_per_pixel);
        }
        break;
    }
    case ScreenSurface::Kind::None: break;
    }
}

} // namespace evmm
