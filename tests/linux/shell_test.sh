#!/usr/bin/env bash
# The README's demo, driven like a user would: `tools/evmm run --bochs` in a terminal (a pseudo-terminal made by
# util-linux `script`), Linux + busybox as guest0 with COM1 on that terminal. Waits for the shell's prompt, types a
# command and checks its answer (so input reaches guest0 through evmm, not just output), then types `poweroff -f`
# and checks that evmm saw the ACPI power-off and that `tools/evmm run` ended with status 0.
# With `tee` (issue 11's secure world, docs/tee-linux.md): `tools/evmm run --tee`, and the typed command is a
# `tee-call mac` through evmm_tee.ko, whose answer is the test TEE's MAC.
# With EMU qemu: `tools/evmm run --qemu`, QEMU TCG with its emulated AMD SVM (evmm's SVM backend, docs/svm.md).
# usage: tests/linux/shell_test.sh BUILD_DIR [TIMEOUT_S [CPUS [tee|-] [bochs|qemu]]]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd) timeout_s=${2:-500} cpus=${3:-1} tee=${4:-} emu=${5:-bochs}
[[ $tee == tee ]] || tee=""
[[ $emu == bochs || $emu == qemu ]] || { echo "usage: EMU is bochs or qemu, not '$emu'" >&2; exit 2; }
run_opts=""
[[ $tee != tee ]] || run_opts=" --tee"
online=0
((cpus == 1)) || online=0-$((cpus - 1))
suffix=${tee:+_$tee}
[[ $emu == bochs ]] || suffix+=_$emu
work=$build/boot-tests/linux_shell_demo$suffix
rm -rf "$work" && mkdir -p "$work"
log=$work/terminal.log fifo=$work/keys
mkfifo "$fifo"
exec 3<>"$fifo"  # held open for writing: `script` sees no end of input until the test is done

fail() {
    echo "FAIL: $*" >&2
    echo "--- last lines of the terminal ($log):" >&2
    tail -n 40 "$log" | tr -d '\r' >&2 || true
    kill -TERM "$pid" 2>/dev/null || true
    pkill -TERM -f "bochs -q -f $build/run/bochsrc" 2>/dev/null || true
    pkill -TERM -f "qemu-system-x86_64 .*$build/run/evmm.iso" 2>/dev/null || true
    exit 1
}

# Waits until the terminal shows a line matching REGEX; SECONDS_LEFT is shared by all waits.
deadline=$((SECONDS + timeout_s))
wait_for() { # REGEX WHAT
    while ! tr -d '\r' <"$log" | grep -aqE "$1"; do
        kill -0 "$pid" 2>/dev/null || fail "tools/evmm run ended before $2"
        ((SECONDS < deadline)) || fail "no $2 within ${timeout_s} s"
        sleep 1
    done
}
type_line() { # TEXT: what a user types, then Enter (a carriage return, as a terminal sends it)
    printf '%s\r' "$1" >&3
}

: >"$log"
EVMM_BUILD_DIR=$build EVMM_SKIP_DEPS=1 script -qfec "$repo/tools/evmm run --$emu --no-build --cpus $cpus$run_opts" \
    "$log" <&3 >/dev/null 2>&1 &
pid=$!

wait_for 'EVMM-LINUX: shell ready' "shell banner from guest0's /init"
wait_for 'guest0 [^ ]* # ' "shell prompt"
# $((6*7)) is expanded by guest0's shell: the answer proves the keys went in and the command ran.
type_line 'echo "EVMM-SHELL: $((6*7)) cpus=$(cat /sys/devices/system/cpu/online) hv=$(grep -c hypervisor /proc/cpuinfo)"'
wait_for "EVMM-SHELL: 42 cpus=$online hv=$cpus" "answer to the typed command"
if [[ $tee == tee ]]; then
    wait_for '^EVMM-TEE: driver: evmm detected, the TEE answers' "evmm_tee.ko's load line"
    type_line 'tee-call mac "typed into guest0"'
    wait_for '^tee-call: mac "typed into guest0" = 0x[0-9a-f]{16} \[cpu 0\]' "the TEE's MAC from tee-call"
fi
type_line 'poweroff -f'
wait_for 'guest0 cpu0 powers the machine off \(ACPI S5' "evmm's power-off line"
rc=0
while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "tools/evmm run did not end after the power-off"
    sleep 1
done
wait "$pid" || rc=$?
((rc == 0)) || fail "tools/evmm run ended with status $rc after guest0's power-off (expected 0)"
if [[ $emu == bochs ]]; then
    grep -aq 'evmm run: Bochs exited' "$log" || fail "tools/evmm run did not report Bochs' end"
else
    grep -aq 'evmm run: QEMU exit status 0' "$log" || fail "tools/evmm run did not report QEMU's end (status 0)"
    grep -aq 'SVM present: nested paging yes' "$log" || fail "evmm did not run on its SVM backend"
fi
echo "PASS: the Linux demo's shell answered a typed command under evmm and powered off cleanly"
