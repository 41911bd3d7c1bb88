// The VMCALL interface (exit 18, unconditional: SDM Vol. 3C §26.1.2). docs/vmcall.md is the ABI reference; the
// numbers below are the ones tests/guests/lib/guest.h uses (it defines them only if this header has not).
//
//   VMCALL at CPL 0, RAX = number, RBX / RCX / RDX = arguments (their low 32 bits outside 64-bit mode);
//   returns RAX = 0 or a negative errno, RBX = first result; every other register is preserved.
//   VMCALL at CPL > 0 raises #UD (as it does without a hypervisor).
#pragma once

#include "evmm/base.h"
#include "lib/log.h"

#define EVMM_VMCALL_PING 0            /* RBX = 0x6d6d7665 ("evmm") */
#define EVMM_VMCALL_VERSION 1         /* RBX = ABI version (1) */
#define EVMM_VMCALL_LOG 2             /* RBX = guest-physical address of the text, RCX = length */
#define EVMM_VMCALL_EXIT 3            /* RBX = status: the hypervisor stops */
#define EVMM_VMCALL_DEBUG_PANIC 4     /* debug builds: the hypervisor panics */
#define EVMM_VMCALL_DEBUG_HV_REGION 5 /* debug builds: RBX = base, RCX = size of the hypervisor's runtime region */
#define EVMM_VMCALL_DEBUG_EPT_REMAP                                                     \
    6 /* debug builds: guest-physical page RBX now shows guest RAM page RCX (RCX == RBX \
         restores it), on every CPU at once (EPT change + INVEPT on all CPUs) */
#define EVMM_VMCALL_LOG_READ                                                                                       \
    7 /* RBX = guest-physical buffer, RCX = its size (<= 16384), RDX = cursor (stream position): copies evmm's log \
         ring from the cursor; RBX = bytes copied, RCX = next cursor, RDX = end of the log */

namespace evmm {

inline constexpr u64 VMCALL_ABI_VERSION = 1;
inline constexpr u64 VMCALL_PING_MAGIC = 0x6d6d7665; // "evmm" little-endian
// LOG_READ's largest buffer: the whole ring (lib/log.h), one call can read everything evmm still holds.
inline constexpr u64 VMCALL_LOG_READ_MAX = EVMM_LOG_RING_SIZE;

// Results (RAX): 0 or -errno (Linux numbering).
inline constexpr i64 VMCALL_OK = 0;
inline constexpr i64 VMCALL_EPERM = -1;
inline constexpr i64 VMCALL_EFAULT = -14;
inline constexpr i64 VMCALL_EINVAL = -22;
inline constexpr i64 VMCALL_ENOSYS = -38;

void vmcall_init(); // stage 3, after modules_init recorded the descriptor

} // namespace evmm
