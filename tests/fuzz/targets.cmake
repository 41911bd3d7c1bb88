# The fuzz targets, one tests/fuzz/fuzz_NAME.cpp each (read by cmake/fuzz.cmake for the ctest tests and by
# tests/fuzz/CMakeLists.txt for the executables; tools/fuzz-long runs every build/fuzz/fuzz_* it finds).
set(EVMM_FUZZ_TARGETS
    multiboot2
    elf
    linux_bzimage
    multiboot1_guest
    multiboot2_guest
    acpi
    insn
    vmentry_check
    virt_policy
    cmdline
    guest_paging
    lz4)
