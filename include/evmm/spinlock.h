// A test-and-test-and-set spin lock for boot-time shared structures (the heap while CPUs set themselves up).
// Never used on VM-exit fast paths. Constant-initialised, so globals of it need no constructor.
#pragma once

#include "evmm/base.h"

namespace evmm {

class SpinLock {
public:
    constexpr SpinLock() = default;
    void lock() {
        for (;;) {
            if (!__atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE)) return;
            while (__atomic_load_n(&locked_, __ATOMIC_RELAXED)) __builtin_ia32_pause();
        }
    }
    void unlock() { __atomic_store_n(&locked_, false, __ATOMIC_RELEASE); }

private:
    bool locked_ = false;
};

class LockGuard {
public:
    explicit LockGuard(SpinLock& l) : l_(l) { l_.lock(); }
    ~LockGuard() { l_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    SpinLock& l_;
};

} // namespace evmm
