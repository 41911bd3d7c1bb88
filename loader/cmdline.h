// evmm's own command line (the ARGS of GRUB's `multiboot2 /boot/evmm.elf ARGS`) -> evmm_options_t.
//
// Syntax: whitespace-separated `key=value` tokens; a later token for the same key wins. Keys and values are
// matched case-insensitively.
//   loglevel=error|warn|info|debug|0|1|2|3     default info
//   serial=com1|com2|com3|com4|none|0xNNNN     default com1 (0x3f8); none (or 0x0) = no serial log
//   testexit=qemu|bochs|none                   default none
//   crashtest=none|ud|pf|stack|panic|vmentry|ap|msr   default none (EVMM_CRASHTEST_*: a deliberate fault for tests)
//   vtdtest=0|1|off|on                         default 0 (1: the VT-d DMA test in stage 2, QEMU only)
//   forceexits=0|1|off|on                      default 0 (1: VT-x exits evmm never needs turned on, for tests)
//   console=serial|screen|both                 default both (where the log goes; the screen until guest0 starts)
// A bad token never aborts parsing: it is recorded in CmdlineWarnings (the option keeps its previous value) so
// the loader can print one warning per token.
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"
#include "evmm_desc.h"

namespace evmm {

// Conventional PC/AT UART I/O base addresses (COM1..COM4).
enum class SerialPort : u16 {
    Com1 = 0x3f8,
    Com2 = 0x2f8,
    Com3 = 0x3e8,
    Com4 = 0x2e8,
};

struct CmdlineWarning {
    enum class Kind : u8 {
        UnknownKey,  // `foo=1`, or `=1`
        BadValue,    // `loglevel=xyz`, `serial=`
        NotKeyValue, // `foo` (no '=')
    };
    Kind kind;
    const char* token; // the whole offending token, inside the parsed string (not NUL-terminated)
    size_t token_len;
    const char* key; // the part before '=' (the whole token for NotKeyValue)
    size_t key_len;
    const char* value; // the part after '=' (empty for NotKeyValue)
    size_t value_len;
};

inline constexpr u32 CMDLINE_MAX_WARNINGS = 8;

struct CmdlineWarnings {
    CmdlineWarning items[CMDLINE_MAX_WARNINGS];
    u32 count;   // recorded items
    u32 dropped; // further bad tokens that did not fit
};

// "unknown key", "bad value for", "expected key=value, got": a message prefix for one warning.
const char* cmdline_warning_text(CmdlineWarning::Kind kind);

// Defaults: log level info, serial COM1, testexit none, crashtest none, vtdtest 0, forceexits 0, console both.
void cmdline_default_options(evmm_options_t& out);

// Parses s[0..len) (stopping early at a NUL) into `out`, starting from the defaults; `warn` is reset first.
// Error only for s == nullptr with len != 0; bad tokens are warnings, not errors.
Status cmdline_parse(const char* s, size_t len, evmm_options_t& out, CmdlineWarnings& warn);

} // namespace evmm
