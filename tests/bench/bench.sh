#!/usr/bin/env bash
# One benchmark of docs/performance.md as a test: measures its figure, prints it, writes it to BUILD/bench/NAME.txt
# (what `tools/evmm bench` prints) and fails when the figure misses its target. Used by ctest (label bench,
# tests/bench/CMakeLists.txt); runs by hand just as well.
#
# usage: tests/bench/bench.sh BUILD_DIR FIGURE [TARGET]
#   p1        hypervisor instructions per CPUID exit round trip (guest0 bench.elf, loglevel=error); at most TARGET
#   p1_svm    the same on the SVM backend: QEMU TCG -cpu max with -icount shift=0 (TSC = instruction count); at most
#             TARGET
#   p2        instructions from GRUB's hand-over to guest0's launch (evmm's `perf:` line; bench.elf,
#             loglevel=error, 1 CPU); at most TARGET
#   p2_info   the same at loglevel=info (guest0 hello.elf): a figure, no target
#   p2_smp4   the same with 4 CPUs (loglevel=error, hello.elf): a figure, no target
#   p3        size of the stripped BUILD/evmm.elf in bytes; at most TARGET
#   p5        instructions per world-switch round trip guest0 -> test TEE (echo) -> guest0 (bench.elf p5=1 with
#             BUILD/guests/tee.elf as the `tee` module, loglevel=error); at most TARGET
#   p4        Bochs instructions of cpu0 to Linux's ACPI power-off under evmm (test linux_guest0, whose work directory
#             BUILD/boot-tests/linux_guest0_smp1 it reads) divided by the same bare (GRUB `linux`/`initrd`, run
#             here); at most TARGET (a decimal ratio)
# In Bochs the TSC advances once per instruction, so every figure but P3 is an instruction count: deterministic for
# a given image and configuration, whatever the load of the machine running Bochs.
# Exit status: 0 target met (or no target), 1 target missed or no figure, 2 the run itself failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EVMM_PROG=bench.sh
# shellcheck source=tools/lib.sh
source "$here/../../tools/lib.sh"

(($# >= 2)) || evmm_die "usage: tests/bench/bench.sh BUILD_DIR p1|p1_svm|p2|p2_info|p2_smp4|p3|p4|p5 [TARGET]"
build=$(cd "$1" && pwd) figure=$2 target=${3:-}
boot_test=$here/../boot/boot_test.sh
out_dir=$build/bench
mkdir -p "$out_dir" "$build/boot-tests"
result=$out_dir/$figure.txt
rm -f "$result"
linux_args="console=ttyS0,115200 loglevel=4 nokaslr mitigations=off cryptomgr.notests=1"

# Boots evmm in Bochs with guest0 GUEST at LOGLEVEL on CPUS CPUs (work directory BUILD/boot-tests/NAME); prints the
# `perf:` figure (instructions from the loader's entry to guest0's launch).
bench_boot() { # NAME LOGLEVEL GUEST CPUS [MODULE ARGS...]
    local work=$build/boot-tests/$1 extra=()
    local a
    for a in "${@:5}"; do extra+=(--module "$a"); done
    bash "$boot_test" --emu bochs --name "$1" --build "$build" --smp "$4" \
        --cmdline "loglevel=$2 testexit=bochs" --module "$build/guests/$3.elf guest0${GUEST_ARGS:+ $GUEST_ARGS}" "${extra[@]}" \
        --expect 'perf: [0-9]+ TSC ticks from the loader.s entry to guest0.s launch' --reject PANIC --timeout 300 \
        >"$work.log" 2>&1 || { cat "$work.log"; echo "FAIL: bench run $1 failed" >&2; exit 2; }
}
perf_of() { # NAME
    grep -a -o -E 'perf: [0-9]+' "$build/boot-tests/$1/serial.txt" | grep -o -E '[0-9]+$' | head -n 1
}

# Records LINE as the figure's result; fails when VALUE is empty or above TARGET (when there is one).
report() { # VALUE LINE [EXTRA_LINES_FILE]
    local value=$1 line=$2 verdict="" ok=1
    if [[ -z $value ]]; then
        verdict="FAIL (no figure)" ok=0
    elif [[ -n $target ]]; then
        if awk -v v="$value" -v t="$target" 'BEGIN { exit !(v <= t) }'; then
            verdict="ok"
        else
            verdict="FAIL: above the target" ok=0
        fi
    fi
    {
        echo "evmm bench: $line${verdict:+ -- $verdict}"
        [[ -z ${3:-} ]] || cat "$3"
    } | tee "$result"
    ((ok)) || exit 1
}

case $figure in
p1)
    bench_boot bench_p1 error bench 1
    p1=$(grep -a -o -E 'P1 = [0-9]+' "$build/boot-tests/bench_p1/serial.txt" | grep -o -E '[0-9]+$' || true)
    report "$p1" "P1 ${p1:-?} instructions per CPUID exit round trip (target <= ${target:-?})"
    ;;
p5)
    GUEST_ARGS="p5=1" bench_boot bench_p5 error bench 1 "$build/guests/tee.elf tee"
    p5=$(grep -a -o -E 'P5 = [0-9]+' "$build/boot-tests/bench_p5/serial.txt" | grep -o -E '[0-9]+$' || true)
    goal="no target"
    [[ -z $target ]] || goal="target <= $target"
    report "$p5" "P5 ${p5:-?} instructions per world-switch round trip guest0 -> TEE -> guest0 ($goal)"
    ;;
p1_svm)
    # The same guest and loop on evmm's SVM backend: QEMU TCG -cpu max (AMD SVM with nested paging) with -icount
    # shift=0, where the TSC advances once per instruction as in Bochs (docs/svm.md).
    work=$build/boot-tests/bench_p1_svm
    bash "$boot_test" --emu qemu --qemu-cpu max --qemu-icount --name bench_p1_svm --build "$build" --smp 1 \
        --cmdline "loglevel=error testexit=qemu" --module "$build/guests/bench.elf guest0" \
        --expect 'P1 = [0-9]+ instructions' --reject PANIC --timeout 120 >"$work.log" 2>&1 ||
        { cat "$work.log"; echo "FAIL: bench run bench_p1_svm failed" >&2; exit 2; }
    v=$(grep -a -o -E 'P1 = [0-9]+' "$work/serial.txt" | grep -o -E '[0-9]+$' || true)
    report "$v" "P1 on SVM ${v:-?} instructions per CPUID exit round trip (QEMU TCG -cpu max -icount; target <= ${target:-?})"
    ;;
p2)
    bench_boot bench_p2 error bench 1
    p2=$(perf_of bench_p2)
    report "$p2" "P2 ${p2:-?} instructions from GRUB's hand-over to guest0's launch, loglevel=error (target <= ${target:-?})"
    ;;
p2_info)
    bench_boot bench_p2_info info hello 1
    v=$(perf_of bench_p2_info)
    report "$v" "P2 ${v:-?} with loglevel=info (serial output at 115200 baud; no target)"
    ;;
p2_smp4)
    bench_boot bench_p2_smp4 error hello 4
    v=$(perf_of bench_p2_smp4)
    report "$v" "P2 ${v:-?} with 4 CPUs, loglevel=error (no target)"
    ;;
p3)
    [[ -f $build/evmm.elf ]] || { echo "FAIL: $build/evmm.elf does not exist (build first)" >&2; exit 2; }
    size=$(stat -c %s "$build/evmm.elf")
    report "$size" "P3 $size bytes ($(((size + 1023) / 1024)) KiB), build/evmm.elf stripped (target <= ${target:-?})"
    ;;
p4)
    evmm_work=$build/boot-tests/linux_guest0_smp1
    grep -aq 'soft power off' "$evmm_work/emu.log" 2>/dev/null ||
        { echo "FAIL: no finished run of linux_guest0 in $evmm_work (ctest runs it first: fixture)" >&2; exit 2; }
    bash "$here/../../tools/linux-prepare.sh" "$build/linux" >/dev/null
    bash "$boot_test" --emu bochs --grub-linux --name bench_p4_bare --build "$build" --timeout 400 \
        --evmm "$build/linux/vmlinuz" --cmdline "$linux_args" --module "$build/linux/initramfs.cpio.gz" \
        --expect 'EVMM-LINUX: /init reached' --expect 'EVMM-LINUX: hypervisor flag absent' \
        >"$build/boot-tests/bench_p4_bare.log" 2>&1 ||
        { cat "$build/boot-tests/bench_p4_bare.log"; echo "FAIL: bench run P4 (bare Linux) failed" >&2; exit 2; }
    grep -aq 'soft power off' "$build/boot-tests/bench_p4_bare/emu.log" ||
        { echo "FAIL: bare Linux did not end through its ACPI power-off" >&2; exit 2; }
    under=$(evmm_bochs_cpu0_insns "$evmm_work/emu.log")
    bare=$(evmm_bochs_cpu0_insns "$build/boot-tests/bench_p4_bare/emu.log")
    ratio=""
    [[ -z $under || -z $bare ]] || ratio=$(awk -v a="$under" -v b="$bare" 'BEGIN { if (b > 0) printf "%.4f", a / b }')
    exits=$out_dir/p4_exits.txt
    grep -a -A30 'vm exits: .*(guest0 power-off)' "$evmm_work/serial.txt" |
        grep -a -E '^\[cpu0\] (vm exits|  [A-Z_0-9]+ \()' | sed 's/^\[cpu0\]/evmm bench:  /' >"$exits" || true
    report "$ratio" "P4 ${ratio:-?} = ${under:-?} / ${bare:-?} instructions to Linux's ACPI power-off, under evmm / bare (target <= ${target:-?})" "$exits"
    ;;
*) evmm_die "unknown figure '$figure' (p1, p1_svm, p2, p2_info, p2_smp4, p3, p4, p5)" ;;
esac
