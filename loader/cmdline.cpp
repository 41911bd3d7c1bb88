// evmm command line parser: see cmdline.h.
#include "loader/cmdline.h"

namespace evmm {

namespace {

constexpr char KEY_VALUE_SEPARATOR = '=';
constexpr char HEX_PREFIX_0 = '0';
constexpr u32 HEX_PREFIX_LEN = 2;
constexpr u32 HEX_RADIX = 16;
constexpr u32 DECIMAL_DIGITS = 10;
constexpr u64 IO_PORT_MAX = 0xffff; // 64K I/O ports (Intel SDM Vol. 1, chapter "Input/Output", "I/O Port Addressing")

// A piece of the command line.
struct Span {
    const char* p;
    size_t n;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Case-insensitive comparison of a span with a lowercase literal.
bool equals(Span s, const char* lit) {
    size_t i = 0;
    for (; i < s.n; ++i) {
        if (lit[i] == '\0' || to_lower(s.p[i]) != lit[i]) return false;
    }
    return lit[i] == '\0';
}

struct Named {
    const char* name;
    u32 value;
};

// Looks `s` up in table[0..n); false if absent.
template <size_t N>
bool lookup(Span s, const Named (&table)[N], u32& out) {
    for (const Named& e : table) {
        if (equals(s, e.name)) {
            out = e.value;
            return true;
        }
    }
    return false;
}

constexpr Named LOG_LEVELS[] = {
    {"error", EVMM_LOG_ERROR},
    {"warn", EVMM_LOG_WARN},
    {"info", EVMM_LOG_INFO},
    {"debug", EVMM_LOG_DEBUG},
};

constexpr Named SERIAL_PORTS[] = {
    {"com1", static_cast<u32>(SerialPort::Com1)},
    {"com2", static_cast<u32>(SerialPort::Com2)},
    {"com3", static_cast<u32>(SerialPort::Com3)},
    {"com4", static_cast<u32>(SerialPort::Com4)},
    {"none", 0},
};

constexpr Named TESTEXITS[] = {
    {"none", EVMM_TESTEXIT_NONE},
    {"qemu", EVMM_TESTEXIT_QEMU},
    {"bochs", EVMM_TESTEXIT_BOCHS},
};

constexpr Named CRASHTESTS[] = {
    {"none", EVMM_CRASHTEST_NONE},   {"ud", EVMM_CRASHTEST_UD},       {"pf", EVMM_CRASHTEST_PF},
    {"stack", EVMM_CRASHTEST_STACK}, {"panic", EVMM_CRASHTEST_PANIC}, {"vmentry", EVMM_CRASHTEST_VMENTRY},
    {"ap", EVMM_CRASHTEST_AP_PANIC}, {"msr", EVMM_CRASHTEST_MSR},
};

constexpr Named CONSOLES[] = {
    {"serial", EVMM_CONSOLE_SERIAL},
    {"screen", EVMM_CONSOLE_SCREEN},
    {"both", EVMM_CONSOLE_BOTH},
};

constexpr Named ON_OFF[] = {{"0", 0}, {"1", 1}, {"off", 0}, {"on", 1}};

constexpr Named FALLBACKS[] = {{"stop", EVMM_FALLBACK_STOP}, {"boot-guest0", EVMM_FALLBACK_BOOT_GUEST0}};

bool parse_log_level(Span v, u32& out) {
    if (lookup(v, LOG_LEVELS, out)) return true;
    if (v.n == 1 && v.p[0] >= '0' && static_cast<u32>(v.p[0] - '0') <= EVMM_LOG_DEBUG) {
        out = static_cast<u32>(v.p[0] - '0');
        return true;
    }
    return false;
}

int hex_digit(char c) {
    c = to_lower(c);
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + static_cast<int>(DECIMAL_DIGITS);
    return -1;
}

// "0x" followed by 1+ hex digits, value within the I/O space.
bool parse_io_port(Span v, u32& out) {
    if (v.n <= HEX_PREFIX_LEN || v.p[0] != HEX_PREFIX_0 || to_lower(v.p[1]) != 'x') return false;
    u64 value = 0;
    for (size_t i = HEX_PREFIX_LEN; i < v.n; ++i) {
        const int d = hex_digit(v.p[i]);
        if (d < 0) return false;
        value = value * HEX_RADIX + static_cast<u64>(d);
        if (value > IO_PORT_MAX) return false;
    }
    out = static_cast<u32>(value);
    return true;
}

void record(CmdlineWarnings& warn, CmdlineWarning::Kind kind, Span token, Span key, Span value) {
    if (warn.count >= CMDLINE_MAX_WARNINGS) {
        ++warn.dropped;
        return;
    }
    warn.items[warn.count++] = CmdlineWarning{kind, token.p, token.n, key.p, key.n, value.p, value.n};
}

void apply_token(Span token, evmm_options_t& out, CmdlineWarnings& warn) {
    size_t eq = 0;
    while (eq < token.n && token.p[eq] != KEY_VALUE_SEPARATOR) ++eq;
    if (eq == token.n) {
        record(warn, CmdlineWarning::Kind::NotKeyValue, token, token, Span{token.p + token.n, 0});
        return;
    }
    const Span key{token.p, eq};
    const Span value{token.p + eq + 1, token.n - eq - 1};
    u32 v = 0;
    if (equals(key, "loglevel")) {
        if (parse_log_level(value, v))
            out.log_level = static_cast<u8>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else if (equals(key, "serial")) {
        if (lookup(value, SERIAL_PORTS, v) || parse_io_port(value, v))
            out.serial_port = static_cast<u16>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else if (equals(key, "testexit")) {
        if (lookup(value, TESTEXITS, v))
            out.testexit = static_cast<u8>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else if (equals(key, "crashtest")) {
        if (lookup(value, CRASHTESTS, v))
            out.crashtest = static_cast<u8>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else if (equals(key, "vtdtest")) {
        if (lookup(value, ON_OFF, v))
            out.vtdtest = static_cast<u8>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else if (equals(key, "console")) {
        if (lookup(value, CONSOLES, v))
            out.console = static_cast<u8>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else if (equals(key, "forceexits")) {
        if (lookup(value, ON_OFF, v))
            out.forceexits = static_cast<u8>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else if (equals(key, "fallback")) {
        if (lookup(value, FALLBACKS, v))
            out.fallback = static_cast<u8>(v);
        else
            record(warn, CmdlineWarning::Kind::BadValue, token, key, value);
    } else {
        record(warn, CmdlineWarning::Kind::UnknownKey, token, key, value);
    }
}

} // namespace

const char* cmdline_warning_text(CmdlineWarning::Kind kind) {
    switch (kind) {
    case CmdlineWarning::Kind::UnknownKey: return "unknown key";
    case CmdlineWarning::Kind::BadValue: return "bad value for";
    case CmdlineWarning::Kind::NotKeyValue: return "expected key=value, got";
    }
    return "bad token";
}

void cmdline_default_options(evmm_options_t& out) {
    out.log_level = EVMM_LOG_INFO;
    out.serial_port = static_cast<u16>(SerialPort::Com1);
    out.testexit = EVMM_TESTEXIT_NONE;
    out.crashtest = EVMM_CRASHTEST_NONE;
    out.vtdtest = 0;
    out.forceexits = 0;
    out.console = EVMM_CONSOLE_BOTH;
    out.fallback = EVMM_FALLBACK_STOP;
    for (u8& r : out.reserved) r = 0;
}

Status cmdline_parse(const char* s, size_t len, evmm_options_t& out, CmdlineWarnings& warn) {
    cmdline_default_options(out);
    warn.count = 0;
    warn.dropped = 0;
    if (s == nullptr) {
        if (len != 0) return Status::error("command line pointer is null", "evmm command line", len);
        return Status::success();
    }
    size_t i = 0;
    for (;;) {
        while (i < len && s[i] != '\0' && is_space(s[i])) ++i;
        if (i >= len || s[i] == '\0') break;
        const size_t start = i;
        while (i < len && s[i] != '\0' && !is_space(s[i])) ++i;
        apply_token(Span{s + start, i - start}, out, warn);
    }
    return Status::success();
}

} // namespace evmm
