// Guest-physical memory as guest0's boot loaders (vmm/guest/boot/) see it: injected, so the loaders stay pure
// logic and are tested against a buffer.
#pragma once

#include "evmm/base.h"

namespace evmm {

// Write access to guest-physical memory. On the machine guest0 is identity-mapped (gpa == hpa); tests use a
// buffer. map() returns a pointer through which [gpa, gpa + len) can be read and written contiguously, or nullptr
// when that range is not accessible. Never faults.
class GuestMem {
public:
    virtual u8* map(u64 gpa, u64 len) = 0;

protected:
    ~GuestMem() = default;
};

} // namespace evmm
