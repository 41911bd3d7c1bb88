// Unit tests for lib/log.h's log_ring_window: which bytes of the log ring a reader gets for a cursor and a length
// (the arithmetic behind VMCALL LOG_READ, docs/vmcall.md).
#include "lib/log.h"

#include <gtest/gtest.h>

using namespace evmm;

namespace {
constexpr u64 RING = 16; // a small ring: the arithmetic does not depend on the size
}

TEST(LogRingWindow, EmptyLogReadsNothing) {
    const LogRingWindow w = log_ring_window(0, 8, 0, RING);
    EXPECT_TRUE(w.ok);
    EXPECT_EQ(w.first, 0u);
    EXPECT_EQ(w.count, 0u);
}

TEST(LogRingWindow, ReadFromStartBeforeWrap) {
    const LogRingWindow w = log_ring_window(0, 8, 10, RING);
    EXPECT_TRUE(w.ok);
    EXPECT_EQ(w.first, 0u);
    EXPECT_EQ(w.count, 8u);
    const LogRingWindow rest = log_ring_window(w.first + w.count, 8, 10, RING);
    EXPECT_EQ(rest.first, 8u);
    EXPECT_EQ(rest.count, 2u); // only what was logged
}

TEST(LogRingWindow, CursorAtEndReadsNothing) {
    const LogRingWindow w = log_ring_window(100, 8, 100, RING);
    EXPECT_TRUE(w.ok);
    EXPECT_EQ(w.first, 100u);
    EXPECT_EQ(w.count, 0u);
}

TEST(LogRingWindow, CursorPastEndIsInvalid) { EXPECT_FALSE(log_ring_window(101, 8, 100, RING).ok); }

TEST(LogRingWindow, OverwrittenBytesSkippedToOldest) {
    // 100 bytes logged, the ring holds [84, 100): a cursor of 0 starts at 84.
    const LogRingWindow w = log_ring_window(0, 64, 100, RING);
    EXPECT_TRUE(w.ok);
    EXPECT_EQ(w.first, 84u);
    EXPECT_EQ(w.count, RING);
}

TEST(LogRingWindow, CursorInsideRingAfterWrap) {
    const LogRingWindow w = log_ring_window(90, 4, 100, RING);
    EXPECT_EQ(w.first, 90u);
    EXPECT_EQ(w.count, 4u);
}

TEST(LogRingWindow, ZeroLength) {
    const LogRingWindow w = log_ring_window(5, 0, 10, RING);
    EXPECT_TRUE(w.ok);
    EXPECT_EQ(w.first, 5u);
    EXPECT_EQ(w.count, 0u);
}

TEST(LogRingWindow, HugeValuesDoNotWrap) {
    const u64 end = ~u64{0};
    const LogRingWindow w = log_ring_window(end - 3, ~u64{0}, end, RING);
    EXPECT_TRUE(w.ok);
    EXPECT_EQ(w.first, end - 3);
    EXPECT_EQ(w.count, 3u);
}
