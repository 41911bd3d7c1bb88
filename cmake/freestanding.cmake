# Flags shared by every freestanding image (loader, VMM, test guests).
# C++20, no exceptions, no RTTI, no libc/libstdc++ (freestanding headers only), no red zone (interrupts use the
# stack), no SSE/x87 in generated code (the VMM must not clobber guest FPU state), warnings are errors.
set(EVMM_FREESTANDING_FLAGS
    -ffreestanding -fno-exceptions -fno-rtti -nostdlib -mno-red-zone -mgeneral-regs-only
    -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-threadsafe-statics
    -fno-use-cxa-atexit -fno-omit-frame-pointer -fcf-protection=none -fno-builtin-printf -fno-tree-loop-distribute-patterns
    -Wall -Wextra -Werror -Wno-missing-field-initializers -g)
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O2")
set(CMAKE_CXX_FLAGS_RELEASE "-O2")
set(CMAKE_CXX_FLAGS_DEBUG "-O1")
set(CMAKE_ASM_FLAGS_RELWITHDEBINFO "")
if(NOT CMAKE_BUILD_TYPE)
    set(CMAKE_BUILD_TYPE RelWithDebInfo)
endif()
if(NOT EVMM_OUT_DIR)
    set(EVMM_OUT_DIR ${CMAKE_BINARY_DIR})
endif()
option(EVMM_DEBUG_CHECKS "self-checks at boot (W^X walk of the live page tables)" ON)

# A freestanding static library of the runtime + pure logic, built once per code model.
# Cold code (parsers, checkers, name tables: run once at boot or on a fatal path) is optimized for size; the rest
# (exit handling, and the page-table/EPT builders that dominate the boot path, P2) for speed. Keeps build/evmm.elf within its size budget (docs/performance.md, P3).
set(EVMM_COLD_SOURCES
    lib/format.cpp lib/formats/memmap.cpp lib/symtab.cpp lib/formats/multiboot2.cpp loader/cmdline.cpp lib/formats/acpi.cpp
    lib/formats/elf.cpp loader/desc_builder.cpp arch/x86_64/vmcs_names.cpp arch/x86_64/vmx_controls.cpp
    vmm/vmx/vmentry_check.cpp vmm/guest/boot/multiboot2_guest.cpp vmm/guest/boot/kernel_image.cpp
    vmm/guest/boot/linux_bzimage.cpp vmm/guest/boot/multiboot1_guest.cpp vmm/guest/boot/entry_state.cpp
    lib/formats/dmar.cpp arch/x86_64/vtd.cpp lib/formats/ivrs.cpp arch/x86_64/amdvi.cpp vmm/iommu/dma_domain.cpp vmm/modules/smram_policy.cpp
    vmm/modules/icr_route.cpp vmm/modules/apic_base.cpp arch/x86_64/insn.cpp vmm/guest/guest_paging.cpp
    vmm/modules/task_switch.cpp vmm/guest/native_boot.cpp
    arch/x86_64/vmx_caps.cpp loader/smp_boot.cpp loader/tee_image.cpp lib/log.cpp lib/console.cpp lib/serial.cpp
    lib/string.cpp arch/x86_64/cpu.cpp arch/x86_64/paging.cpp)
list(TRANSFORM EVMM_COLD_SOURCES PREPEND "${CMAKE_SOURCE_DIR}/")
set(EVMM_BULK_COPY_SOURCES vmm/guest/boot/linux_bzimage.cpp vmm/guest/boot/multiboot1_guest.cpp
    vmm/guest/boot/multiboot2_guest.cpp vmm/guest/boot/kernel_image.cpp)
list(TRANSFORM EVMM_BULK_COPY_SOURCES PREPEND "${CMAKE_SOURCE_DIR}/")

function(evmm_runtime_library name)
    cmake_parse_arguments(A "" "" "FLAGS" ${ARGN})
    set_source_files_properties(${EVMM_COLD_SOURCES} PROPERTIES COMPILE_OPTIONS -Os)
    # The guest loaders copy and clear megabytes (a Linux kernel and initrd, ELF segments): at -Os GCC would inline
    # those copies of unknown size as `rep movsb`, one emulator-counted iteration per byte (12 M more Bochs
    # instructions to load a 14 MB kernel: P4 1.0088 -> 1.0128); here they call lib/libc.cpp's rep movsq/stosq.
    set_source_files_properties(${EVMM_BULK_COPY_SOURCES} PROPERTIES COMPILE_OPTIONS "-Os;-mstringop-strategy=libcall")
    add_library(${name} STATIC
        ${EVMM_PURE_SOURCES}
        ${CMAKE_SOURCE_DIR}/lib/libc.cpp
        ${CMAKE_SOURCE_DIR}/lib/serial.cpp
        ${CMAKE_SOURCE_DIR}/lib/log.cpp
        ${CMAKE_SOURCE_DIR}/lib/console.cpp
        ${CMAKE_SOURCE_DIR}/arch/x86_64/cpu.cpp)
    target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR})
    target_compile_options(${name} PUBLIC ${EVMM_FREESTANDING_FLAGS} ${A_FLAGS})
    if(EVMM_DEBUG_CHECKS)
        target_compile_definitions(${name} PUBLIC EVMM_DEBUG_CHECKS=1)
    endif()
endfunction()
