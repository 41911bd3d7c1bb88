# Fuzz targets (tests/fuzz): libFuzzer, which only clang has, so they are a sub-build of their own configured with
# clang++ (the host build may use g++), like the freestanding images. EVMM_FUZZ defaults to ON when a clang++ that
# links -fsanitize=fuzzer,address,undefined is found, else OFF with a message. Targets land in build/fuzz/; the
# ctest tests fuzz_NAME (label fuzz) run each one for EVMM_FUZZ_SECONDS over its seed corpus, and a crash, a
# sanitizer report, a leak or a hang (-timeout) fails the test. The long run is tools/fuzz-long (docs/fuzzing.md).

include(${CMAKE_SOURCE_DIR}/tests/fuzz/targets.cmake)

find_program(EVMM_FUZZ_CXX NAMES clang++ clang++-14 clang++-15 clang++-16 DOC "clang++ for the libFuzzer targets")
set(evmm_fuzz_found OFF)
if(EVMM_FUZZ_CXX)
    set(evmm_fuzz_probe_dir ${CMAKE_BINARY_DIR}/CMakeFiles/evmm_fuzz_probe)
    file(WRITE ${evmm_fuzz_probe_dir}/probe.cpp
         "#include <cstddef>\n#include <cstdint>\n"
         "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
    execute_process(
        COMMAND ${EVMM_FUZZ_CXX} -fsanitize=fuzzer,address,undefined ${evmm_fuzz_probe_dir}/probe.cpp
                -o ${evmm_fuzz_probe_dir}/probe
        RESULT_VARIABLE evmm_fuzz_probe_rc OUTPUT_QUIET ERROR_QUIET)
    if(evmm_fuzz_probe_rc EQUAL 0)
        set(evmm_fuzz_found ON)
    endif()
endif()
option(EVMM_FUZZ "build the libFuzzer targets (tests/fuzz) and run them briefly as ctest tests (label fuzz)"
       ${evmm_fuzz_found})
set(EVMM_FUZZ_SECONDS 10 CACHE STRING "seconds each ctest fuzz_NAME test fuzzes")
if(EVMM_FUZZ AND NOT evmm_fuzz_found)
    message(FATAL_ERROR "EVMM_FUZZ=ON but no clang++ links -fsanitize=fuzzer (Debian 12: clang, libclang-rt-14-dev)")
endif()
if(NOT EVMM_FUZZ)
    if(NOT evmm_fuzz_found)
        message(STATUS "EVMM_FUZZ OFF: no clang++ that links -fsanitize=fuzzer,address,undefined "
                       "(Debian 12: clang, libclang-rt-14-dev); no fuzz targets, no fuzz tests")
    endif()
    return()
endif()

include(ExternalProject)
ExternalProject_Add(evmm_fuzz
    SOURCE_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz
    BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
    CMAKE_ARGS -DCMAKE_CXX_COMPILER=${EVMM_FUZZ_CXX}
               -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
    BUILD_ALWAYS ON
    INSTALL_COMMAND ""
    USES_TERMINAL_BUILD ON)

foreach(t IN LISTS EVMM_FUZZ_TARGETS)
    add_test(NAME fuzz_${t}
             COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_test.sh ${CMAKE_BINARY_DIR}/fuzz ${t}
                     ${EVMM_FUZZ_SECONDS})
    set_tests_properties(fuzz_${t} PROPERTIES LABELS fuzz TIMEOUT 120)
endforeach()
