// The screen console: see console.h.
#include "lib/console.h"

#include "lib/log.h"
#include "lib/screen.h"
#include "lib/screen_surface.h"

namespace evmm {
namespace {

constexpr u64 CONSOLE_IDENTITY_LIMIT = 4 * GiB; // the loader's page tables, and at least the VMM's identity map

// Zero-initialised (.bss): no constructor runs; console_screen_start sets them up.
ScreenSurface g_surface;
Screen g_screen;

void screen_sink(const char* s, size_t n) { g_screen.write(s, n); }

} // namespace

Status console_screen_start(const evmm_screen_t& screen) {
    console_screen_stop();
    if (add_overflows(screen.addr, screen_bytes(screen)) || screen.addr + screen_bytes(screen) > CONSOLE_IDENTITY_LIMIT)
        return Status::error("screen memory past the identity map", "screen", screen.addr, screen_bytes(screen));
    // The identity map: the screen's physical address is its address here (checked below 4 GiB by the loader).
    EVMM_TRY(screen_surface_init(screen, reinterpret_cast<u8*>(static_cast<uptr>(screen.addr)), g_surface));
    const u32 step = g_surface.kind == ScreenSurface::Kind::Pixels ? g_surface.rows / CONSOLE_PIXEL_SCROLL_DIVISOR : 1;
    // The loader's grid is taken only when it has the shape this console computes from the same screen.
    const char* text = reinterpret_cast<const char*>(static_cast<uptr>(screen.text_addr));
    if (text != nullptr && screen.text_cols == Screen::cols_for(g_surface) &&
        screen.text_rows == Screen::rows_for(g_surface))
        g_screen.start(&g_surface, screen.cursor_row, text, step);
    else
        g_screen.start(&g_surface, 0, nullptr, step);
    log_set_sink(screen_sink);
    return Status::success();
}

void console_screen_export(evmm_screen_t& screen) {
    if (!g_screen.active()) return;
    screen.text_addr = reinterpret_cast<uptr>(g_screen.text());
    screen.text_cols = static_cast<u16>(g_screen.cols());
    screen.text_rows = static_cast<u16>(g_screen.rows());
    screen.cursor_row = g_screen.row();
}

void console_screen_stop() {
    log_set_sink(nullptr);
    g_screen.stop();
}

void console_screen_handover(const char* owner) {
    if (!g_screen.active()) return;
    logf_then_set_sink(nullptr, LogLevel::Info, "console: screen handed to %s", owner);
    g_screen.stop();
}

bool console_screen_active() { return g_screen.active(); }

} // namespace evmm
