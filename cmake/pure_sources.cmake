# Pure logic: compiled into the freestanding images AND into the host unit tests (tests/unit).
# Everything here must build with -ffreestanding and touch hardware only through include/evmm/physmem.h-style
# interfaces.
set(EVMM_PURE_SOURCES
    lib/format.cpp
    lib/string.cpp
    lib/memmap.cpp
    lib/symtab.cpp
    loader/multiboot2.cpp
    loader/cmdline.cpp
    loader/acpi.cpp
    loader/elf.cpp
    loader/desc_builder.cpp
    loader/smp_boot.cpp
    arch/x86_64/paging.cpp
    arch/x86_64/mtrr.cpp
    arch/x86_64/vmx_caps.cpp
    vmm/heap.cpp
    arch/x86_64/vmcs_names.cpp
    arch/x86_64/vmx_controls.cpp
    arch/x86_64/ept.cpp
    arch/x86_64/insn.cpp
    vmm/vmentry_check.cpp
    vmm/gpm.cpp
    vmm/guest_loader/multiboot2_guest.cpp
    vmm/guest_loader/linux_bzimage.cpp
    vmm/guest_loader/multiboot1_guest.cpp
    vmm/modules/virt_policy.cpp
    vmm/guest_paging.cpp
)
list(TRANSFORM EVMM_PURE_SOURCES PREPEND "${CMAKE_CURRENT_LIST_DIR}/../")
