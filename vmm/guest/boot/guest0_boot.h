// guest0's boot: evmm acting as guest0's boot loader. The image of the boot module with role "guest0" says what it is
// — a Multiboot2 header, a Linux setup header ("HdrS"), a Multiboot1 header, checked in that order — and evmm boots
// it the way the matching boot loader would (vmm/guest/boot/multiboot2_guest.h, linux_bzimage.h, multiboot1_guest.h),
// placing kernel, boot information and initrd in guest0's RAM clear of the hypervisor and of every boot module, and
// producing the first vCPU's state.
#pragma once

#include "evmm/gcpu_state.h"
#include "evmm/status.h"
#include "evmm_desc.h"
#include "vmm/guest/boot/guest_mem.h"

namespace evmm {

// What the guest's boot loader did (stage 4), for the log and for the first vCPU.
struct GuestBoot {
    evmm_gcpu_state_t entry; // the first vCPU's first state
    u64 info_gpa, info_size; // boot information (Multiboot information, Linux zero page)
    u64 kernel_base, kernel_end;
    u64 initrd_base, initrd_size; // Linux only
    const char* kind;             // "Multiboot2 kernel", "Linux bzImage", "Multiboot1 kernel"
};

// Stage 4, BSP. `mem` reaches guest0's physical memory (never the hypervisor's). Errors say what is wrong with
// guest0's image (no guest0 boot module, no header evmm knows, a segment over the hypervisor or a module, ...).
Status guest0_boot(const evmm_desc_t& d, GuestMem& mem, GuestBoot& out);

} // namespace evmm
