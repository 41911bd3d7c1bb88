// Unit tests for loader/cmdline: evmm's own command line -> evmm_options_t, with per-token warnings.
#include "loader/cmdline.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>

using namespace evmm;

namespace {

// Parses its own copy of the text, so the warnings' pointers stay valid as long as the object lives.
struct Parsed {
    std::string text;
    evmm_options_t opt{};
    CmdlineWarnings warn{};
    Status status;

    explicit Parsed(std::string s) : text(std::move(s)) {
        opt.log_level = 0xad; // parse must start from the defaults, not from what was there
        opt.vtdtest = 0xad;
        opt.forceexits = 0xad;
        opt.console = 0xad;
        status = cmdline_parse(text.data(), text.size(), opt, warn);
    }
    Parsed(const Parsed&) = delete;
    Parsed& operator=(const Parsed&) = delete;
};

std::string span(const char* p, size_t n) { return std::string(p, n); }

} // namespace

TEST(Cmdline, Defaults) {
    evmm_options_t o{};
    o.crashtest = 7;
    o.vtdtest = 1;
    o.forceexits = 1;
    o.console = 0;
    cmdline_default_options(o);
    EXPECT_EQ(o.console, EVMM_CONSOLE_BOTH);
    EXPECT_EQ(o.vtdtest, 0);
    EXPECT_EQ(o.forceexits, 0);
    EXPECT_EQ(o.log_level, EVMM_LOG_INFO);
    EXPECT_EQ(o.serial_port, 0x3f8);
    EXPECT_EQ(o.testexit, EVMM_TESTEXIT_NONE);
    EXPECT_EQ(o.crashtest, EVMM_CRASHTEST_NONE);
}

TEST(Cmdline, EmptyAndNullGiveDefaults) {
    for (const std::string& s : {std::string(), std::string("   \t ")}) {
        Parsed p(s);
        ASSERT_TRUE(p.status.ok());
        EXPECT_EQ(p.opt.log_level, EVMM_LOG_INFO);
        EXPECT_EQ(p.opt.serial_port, 0x3f8);
        EXPECT_EQ(p.opt.testexit, EVMM_TESTEXIT_NONE);
        EXPECT_EQ(p.warn.count, 0u);
    }
    evmm_options_t o{};
    CmdlineWarnings w{};
    EXPECT_TRUE(cmdline_parse(nullptr, 0, o, w).ok());
    EXPECT_EQ(o.serial_port, 0x3f8);
    EXPECT_FALSE(cmdline_parse(nullptr, 5, o, w).ok());
}

TEST(Cmdline, LogLevelNamesAndNumbers) {
    const struct {
        const char* v;
        u32 want;
    } cases[] = {{"error", EVMM_LOG_ERROR}, {"warn", EVMM_LOG_WARN},   {"info", EVMM_LOG_INFO},
                 {"debug", EVMM_LOG_DEBUG}, {"DEBUG", EVMM_LOG_DEBUG}, {"0", EVMM_LOG_ERROR},
                 {"1", EVMM_LOG_WARN},      {"2", EVMM_LOG_INFO},      {"3", EVMM_LOG_DEBUG}};
    for (const auto& c : cases) {
        Parsed p(std::string("loglevel=") + c.v);
        EXPECT_EQ(p.opt.log_level, c.want) << c.v;
        EXPECT_EQ(p.warn.count, 0u) << c.v;
    }
}

TEST(Cmdline, SerialNamesAndPorts) {
    const struct {
        const char* v;
        u16 want;
    } cases[] = {{"com1", 0x3f8},  {"com2", 0x2f8}, {"com3", 0x3e8},    {"COM4", 0x2e8}, {"none", 0},
                 {"0x3f8", 0x3f8}, {"0XE9", 0xe9},  {"0xffff", 0xffff}, {"0x0", 0}};
    for (const auto& c : cases) {
        Parsed p(std::string("serial=") + c.v);
        EXPECT_EQ(p.opt.serial_port, c.want) << c.v;
        EXPECT_EQ(p.warn.count, 0u) << c.v;
    }
}

TEST(Cmdline, TestExit) {
    EXPECT_EQ(Parsed("testexit=qemu").opt.testexit, EVMM_TESTEXIT_QEMU);
    EXPECT_EQ(Parsed("testexit=bochs").opt.testexit, EVMM_TESTEXIT_BOCHS);
    EXPECT_EQ(Parsed("testexit=qemu testexit=none").opt.testexit, EVMM_TESTEXIT_NONE); // the last one wins
}

TEST(Cmdline, VtdTest) {
    EXPECT_EQ(Parsed("").opt.vtdtest, 0);
    EXPECT_EQ(Parsed("vtdtest=1").opt.vtdtest, 1);
    EXPECT_EQ(Parsed("VTDTEST=on").opt.vtdtest, 1);
    EXPECT_EQ(Parsed("vtdtest=1 vtdtest=0").opt.vtdtest, 0);
    Parsed p("vtdtest=yes");
    EXPECT_EQ(p.opt.vtdtest, 0);
    ASSERT_EQ(p.warn.count, 1u);
    EXPECT_EQ(p.warn.items[0].kind, CmdlineWarning::Kind::BadValue);
}

TEST(Cmdline, ForceExits) {
    EXPECT_EQ(Parsed("").opt.forceexits, 0);
    EXPECT_EQ(Parsed("forceexits=1").opt.forceexits, 1);
    EXPECT_EQ(Parsed("ForceExits=ON").opt.forceexits, 1);
    EXPECT_EQ(Parsed("forceexits=on forceexits=off").opt.forceexits, 0);
    Parsed p("forceexits=2");
    EXPECT_EQ(p.opt.forceexits, 0);
    ASSERT_EQ(p.warn.count, 1u);
    EXPECT_EQ(p.warn.items[0].kind, CmdlineWarning::Kind::BadValue);
}

TEST(Cmdline, Fallback) {
    EXPECT_EQ(Parsed("").opt.fallback, EVMM_FALLBACK_STOP);
    EXPECT_EQ(Parsed("fallback=boot-guest0").opt.fallback, EVMM_FALLBACK_BOOT_GUEST0);
    EXPECT_EQ(Parsed("fallback=Boot-Guest0").opt.fallback, EVMM_FALLBACK_BOOT_GUEST0);
    EXPECT_EQ(Parsed("fallback=boot-guest0 fallback=stop").opt.fallback, EVMM_FALLBACK_STOP);
    Parsed p("fallback=linux");
    EXPECT_EQ(p.opt.fallback, EVMM_FALLBACK_STOP);
    ASSERT_EQ(p.warn.count, 1u);
    EXPECT_EQ(p.warn.items[0].kind, CmdlineWarning::Kind::BadValue);
}

TEST(Cmdline, Console) {
    EXPECT_EQ(Parsed("").opt.console, EVMM_CONSOLE_BOTH);
    EXPECT_EQ(Parsed("console=serial").opt.console, EVMM_CONSOLE_SERIAL);
    EXPECT_EQ(Parsed("console=screen").opt.console, EVMM_CONSOLE_SCREEN);
    EXPECT_EQ(Parsed("Console=BOTH").opt.console, EVMM_CONSOLE_BOTH);
    EXPECT_EQ(Parsed("console=screen console=serial").opt.console, EVMM_CONSOLE_SERIAL);
    for (const char* bad : {"console=", "console=vga", "console=screens", "console=1"}) {
        Parsed p(std::string("console=serial ") + bad);
        EXPECT_EQ(p.opt.console, EVMM_CONSOLE_SERIAL) << bad; // a bad value keeps the previous one
        ASSERT_EQ(p.warn.count, 1u) << bad;
        EXPECT_EQ(p.warn.items[0].kind, CmdlineWarning::Kind::BadValue) << bad;
        EXPECT_EQ(span(p.warn.items[0].key, p.warn.items[0].key_len), "console");
    }
}

TEST(Cmdline, CrashTest) {
    EXPECT_EQ(Parsed("").opt.crashtest, EVMM_CRASHTEST_NONE);
    EXPECT_EQ(Parsed("crashtest=ud").opt.crashtest, EVMM_CRASHTEST_UD);
    EXPECT_EQ(Parsed("crashtest=pf").opt.crashtest, EVMM_CRASHTEST_PF);
    EXPECT_EQ(Parsed("crashtest=stack").opt.crashtest, EVMM_CRASHTEST_STACK);
    EXPECT_EQ(Parsed("crashtest=panic").opt.crashtest, EVMM_CRASHTEST_PANIC);
    EXPECT_EQ(Parsed("crashtest=msr").opt.crashtest, EVMM_CRASHTEST_MSR);
    EXPECT_EQ(Parsed("crashtest=panic crashtest=none").opt.crashtest, EVMM_CRASHTEST_NONE);
    Parsed p("crashtest=boom");
    EXPECT_EQ(p.opt.crashtest, EVMM_CRASHTEST_NONE);
    ASSERT_EQ(p.warn.count, 1u);
    EXPECT_EQ(p.warn.items[0].kind, CmdlineWarning::Kind::BadValue);
}

TEST(Cmdline, SeveralKeysWithMixedWhitespace) {
    Parsed p("  loglevel=debug\tserial=com2 \r\n testexit=qemu crashtest=pf ");
    ASSERT_TRUE(p.status.ok());
    EXPECT_EQ(p.opt.crashtest, EVMM_CRASHTEST_PF);
    EXPECT_EQ(p.opt.log_level, EVMM_LOG_DEBUG);
    EXPECT_EQ(p.opt.serial_port, 0x2f8);
    EXPECT_EQ(p.opt.testexit, EVMM_TESTEXIT_QEMU);
    EXPECT_EQ(p.warn.count, 0u);
}

TEST(Cmdline, UnknownKeyIsAWarningAndParsingGoesOn) {
    Parsed p("foo=1 loglevel=warn");
    ASSERT_TRUE(p.status.ok());
    EXPECT_EQ(p.opt.log_level, EVMM_LOG_WARN);
    ASSERT_EQ(p.warn.count, 1u);
    const CmdlineWarning& w = p.warn.items[0];
    EXPECT_EQ(w.kind, CmdlineWarning::Kind::UnknownKey);
    EXPECT_EQ(span(w.token, w.token_len), "foo=1");
    EXPECT_EQ(span(w.key, w.key_len), "foo");
    EXPECT_EQ(span(w.value, w.value_len), "1");
    EXPECT_STREQ(cmdline_warning_text(w.kind), "unknown key");
}

TEST(Cmdline, BadValuesKeepThePreviousValue) {
    Parsed p(
        "loglevel=xyz serial=com5 serial=0x10000 serial=0x serial=0x3g8 testexit=reboot loglevel=4 "
        "loglevel=");
    ASSERT_TRUE(p.status.ok());
    EXPECT_EQ(p.opt.log_level, EVMM_LOG_INFO);
    EXPECT_EQ(p.opt.serial_port, 0x3f8);
    EXPECT_EQ(p.opt.testexit, EVMM_TESTEXIT_NONE);
    ASSERT_EQ(p.warn.count, 8u);
    EXPECT_EQ(p.warn.dropped, 0u);
    for (u32 i = 0; i < p.warn.count; ++i) EXPECT_EQ(p.warn.items[i].kind, CmdlineWarning::Kind::BadValue) << i;
    EXPECT_EQ(span(p.warn.items[0].key, p.warn.items[0].key_len), "loglevel");
    EXPECT_EQ(span(p.warn.items[0].value, p.warn.items[0].value_len), "xyz");
    EXPECT_EQ(span(p.warn.items[2].token, p.warn.items[2].token_len), "serial=0x10000");
    EXPECT_EQ(span(p.warn.items[5].value, p.warn.items[5].value_len), "reboot");
    EXPECT_EQ(p.warn.items[7].value_len, 0u);
    EXPECT_STREQ(cmdline_warning_text(CmdlineWarning::Kind::BadValue), "bad value for");
}

TEST(Cmdline, TokenWithoutEqualsOrKey) {
    Parsed p("quiet =5 serial=none");
    EXPECT_EQ(p.opt.serial_port, 0);
    ASSERT_EQ(p.warn.count, 2u);
    EXPECT_EQ(p.warn.items[0].kind, CmdlineWarning::Kind::NotKeyValue);
    EXPECT_EQ(span(p.warn.items[0].token, p.warn.items[0].token_len), "quiet");
    EXPECT_EQ(p.warn.items[1].kind, CmdlineWarning::Kind::UnknownKey);
    EXPECT_EQ(span(p.warn.items[1].token, p.warn.items[1].token_len), "=5");
    EXPECT_EQ(p.warn.items[1].key_len, 0u);
}

TEST(Cmdline, KeysAreMatchedExactlyNotByPrefix) {
    Parsed p("log=debug loglevelx=debug serial1=com2");
    EXPECT_EQ(p.opt.log_level, EVMM_LOG_INFO);
    EXPECT_EQ(p.opt.serial_port, 0x3f8);
    ASSERT_EQ(p.warn.count, 3u);
    for (u32 i = 0; i < 3; ++i) EXPECT_EQ(p.warn.items[i].kind, CmdlineWarning::Kind::UnknownKey);
}

TEST(Cmdline, ValuesAreMatchedExactlyNotByPrefix) {
    Parsed p("loglevel=debugx serial=com testexit=qemuu loglevel=10");
    EXPECT_EQ(p.opt.log_level, EVMM_LOG_INFO);
    EXPECT_EQ(p.opt.serial_port, 0x3f8);
    EXPECT_EQ(p.opt.testexit, EVMM_TESTEXIT_NONE);
    EXPECT_EQ(p.warn.count, 4u);
}

TEST(Cmdline, WarningsOverflowIsCounted) {
    std::string s;
    for (u32 i = 0; i < CMDLINE_MAX_WARNINGS + 3; ++i) s += "bad" + std::to_string(i) + "=1 ";
    s += "loglevel=error";
    Parsed p(s);
    EXPECT_EQ(p.warn.count, CMDLINE_MAX_WARNINGS);
    EXPECT_EQ(p.warn.dropped, 3u);
    EXPECT_EQ(p.opt.log_level, EVMM_LOG_ERROR); // parsing went on after the warnings filled up
}

TEST(Cmdline, StopsAtLengthAndAtNul) {
    const char s[] = "loglevel=debug serial=com2";
    evmm_options_t o{};
    CmdlineWarnings w{};
    ASSERT_TRUE(cmdline_parse(s, 14, o, w).ok()); // only "loglevel=debug"
    EXPECT_EQ(o.log_level, EVMM_LOG_DEBUG);
    EXPECT_EQ(o.serial_port, 0x3f8);
    ASSERT_TRUE(cmdline_parse(s, 12, o, w).ok()); // "loglevel=deb": cut mid-value
    EXPECT_EQ(o.log_level, EVMM_LOG_INFO);
    EXPECT_EQ(w.count, 1u);
    const char z[] = "testexit=qemu\0serial=none";
    ASSERT_TRUE(cmdline_parse(z, sizeof z - 1, o, w).ok());
    EXPECT_EQ(o.testexit, EVMM_TESTEXIT_QEMU);
    EXPECT_EQ(o.serial_port, 0x3f8); // after the NUL: not parsed
}
