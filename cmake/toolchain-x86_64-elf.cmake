# The "cross" toolchain for evmm's freestanding images.
#
# Debian ships no separate x86_64-elf cross compiler, so by default this file uses the machine's own x86-64
# GCC/binutils with freestanding flags (set in cmake/freestanding.cmake): no libc, no libstdc++, no start files.
# If a real bare-metal cross toolchain is on PATH (x86_64-elf-g++, x86_64-elf-ld, ...) it is preferred, or pass
# -DEVMM_CROSS_PREFIX=/path/to/x86_64-elf- explicitly.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(EVMM_FREESTANDING ON CACHE BOOL "building the bare-metal images" FORCE)

if(NOT DEFINED EVMM_CROSS_PREFIX)
    find_program(EVMM_CROSS_GXX x86_64-elf-g++)
    if(EVMM_CROSS_GXX)
        get_filename_component(_dir ${EVMM_CROSS_GXX} DIRECTORY)
        set(EVMM_CROSS_PREFIX "${_dir}/x86_64-elf-")
    else()
        set(EVMM_CROSS_PREFIX "")
    endif()
endif()

set(CMAKE_C_COMPILER ${EVMM_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${EVMM_CROSS_PREFIX}g++)
set(CMAKE_ASM_COMPILER ${EVMM_CROSS_PREFIX}gcc)
set(CMAKE_OBJCOPY ${EVMM_CROSS_PREFIX}objcopy CACHE FILEPATH "")
set(CMAKE_NM ${EVMM_CROSS_PREFIX}nm CACHE FILEPATH "")
set(CMAKE_STRIP ${EVMM_CROSS_PREFIX}strip CACHE FILEPATH "")
