# Pure logic: compiled into the freestanding images AND into the host unit tests (tests/unit).
# Everything here must build with -ffreestanding and touch hardware only through include/evmm/physmem.h-style
# interfaces.
set(EVMM_PURE_SOURCES
    lib/format.cpp
    lib/string.cpp
    lib/formats/memmap.cpp
    lib/symtab.cpp
    lib/font.cpp
    lib/screen_surface.cpp
    lib/screen.cpp
    lib/formats/multiboot2.cpp
    loader/cmdline.cpp
    lib/formats/acpi.cpp
    lib/formats/dmar.cpp
    arch/x86_64/vtd.cpp
    vmm/iommu/dma_domain.cpp
    lib/formats/elf.cpp
    lib/lz4.cpp
    lib/formats/vmm_pack.cpp
    loader/desc_builder.cpp
    loader/smp_boot.cpp
    loader/tee_image.cpp
    arch/x86_64/paging.cpp
    arch/x86_64/mtrr.cpp
    arch/x86_64/vmx_caps.cpp
    vmm/host/heap.cpp
    arch/x86_64/vmcs_names.cpp
    arch/x86_64/vmx_controls.cpp
    arch/x86_64/ept.cpp
    arch/x86_64/insn.cpp
    vmm/vmx/vmentry_check.cpp
    vmm/guest/gpm.cpp
    vmm/guest/boot/kernel_image.cpp
    vmm/guest/boot/multiboot2_guest.cpp
    vmm/guest/boot/linux_bzimage.cpp
    vmm/guest/boot/multiboot1_guest.cpp
    vmm/guest/boot/entry_state.cpp
    vmm/guest/native_boot.cpp
    vmm/modules/virt_policy.cpp
    vmm/modules/icr_route.cpp
    vmm/modules/apic_base.cpp
    vmm/modules/smram_policy.cpp
    vmm/modules/task_switch.cpp
    vmm/guest/guest_paging.cpp
)
list(TRANSFORM EVMM_PURE_SOURCES PREPEND "${CMAKE_CURRENT_LIST_DIR}/../")
