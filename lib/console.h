// The screen console (docs/debugging.md#screen-console): every log line also drawn on the screen evmm_screen_t
// describes (lib/screen.h over lib/screen_surface.h), in the loader and in the VMM (each image has its own), until
// guest0 starts. Not pure: it draws on the identity-mapped physical memory of the screen and is lib/log.h's sink.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"

namespace evmm {

// Framebuffers scroll by a quarter of their rows at once (fewer redraws of a large screen); text screens by one.
inline constexpr u32 CONSOLE_PIXEL_SCROLL_DIVISOR = 4;

// Starts the console on `screen` (whose memory must be identity mapped). With screen.text_addr == 0 (the loader)
// the screen is cleared and the log starts on its first row; otherwise (the VMM) the screen keeps the text at
// text_addr (text_rows x text_cols characters: the loader's grid, copied now) and the log continues on cursor_row.
// Errors: the screen's (lib/screen_surface.h); the console then stays off.
Status console_screen_start(const evmm_screen_t& screen);

// Fills screen.text_addr/text_cols/text_rows/cursor_row for the next image: the text this console keeps and the
// row its next line would go to. Nothing when the console is off.
void console_screen_export(evmm_screen_t& screen);

// Stops drawing (under the log lock): the screen is left as it is, to guest0 (stage 6) or to the VMM (the loader).
void console_screen_stop();

// The screen's last line, "console: screen handed to OWNER" (level info), then console_screen_stop(), under one hold
// of the log lock: no other CPU's line follows it on the screen. Nothing when the console is off.
void console_screen_handover(const char* owner);

bool console_screen_active();

} // namespace evmm
