#!/usr/bin/env bash
# shellcheck disable=SC2054,SC2317  # commas inside QEMU option values; functions run from traps
# Checks that tools/gdb/evmm.gdb can debug evmm: boots the image in QEMU (TCG, BIOS, -smp 1) halted with a gdbstub on
# a free port, runs GDB in batch mode with the script, stops in vmm_main, prints the backtrace and desc->num_cpus,
# detaches (evmm then runs to its final stop, testexit=qemu), and compares num_cpus with the serial log's
# "desc: cpus=N".
#
# usage: tests/boot/gdb_test.sh [--build DIR] [--name NAME] [--timeout S] [--port N] [--module "FILE ROLE ARGS"]...
#   --build DIR    build directory with evmm.elf, loader.elf, vmm.elf (default $EVMM_BUILD_DIR, else build/)
#   --name NAME    work directory BUILD/boot-tests/NAME (default gdb_vmm_main): serial.log, gdb.log, emu.log
#   --timeout S    limit for the whole run (default 120)
#   --port N       gdbstub port (default: a free one from 20000 up)
#   --module SPEC  GRUB module (default "BUILD/guests/hello.elf guest0" when that file exists)
# Exit status: 0 pass, 1 fail, 2 usage or setup error.
set -euo pipefail

EVMM_PROG=gdb_test.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/lib.sh
source "$here/../../tools/lib.sh"

usage() {
    awk 'NR > 1 && /^# shellcheck/ { next }
         NR > 1 && /^#/ { sub(/^# ?/, ""); print; next }
         NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-2}"
}

build=${EVMM_BUILD_DIR:-$EVMM_REPO_ROOT/build} name=gdb_vmm_main timeout_s=120 port="" modules=() have_modules=0
while (($#)); do
    case $1 in
    -h | --help) usage 0 ;;
    --build | --name | --timeout | --port | --module)
        (($# >= 2)) || evmm_die "$1 needs a value"
        case $1 in
        --build) build=$2 ;;
        --name) name=$2 ;;
        --timeout) timeout_s=$2 ;;
        --port) port=$2 ;;
        --module) modules+=("$2") have_modules=1 ;;
        esac
        shift 2
        ;;
    *) evmm_die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || evmm_die "--timeout must be a positive number"
[[ -z $port || $port =~ ^[1-9][0-9]*$ ]] || evmm_die "--port must be a number"
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || evmm_die "--name may only use letters, digits, '_', '.', '-'"
build=$(cd "$build" 2>/dev/null && pwd) || evmm_die "build directory $build does not exist"
if ((!have_modules)) && [[ -f $build/guests/hello.elf ]]; then
    modules=("$build/guests/hello.elf guest0")
fi

evmm_need qemu-system-x86_64 qemu-system-x86
evmm_need gdb gdb
evmm_need timeout coreutils
for f in evmm.elf loader.elf vmm.elf; do
    [[ -f $build/$f ]] || evmm_die "$build/$f does not exist (build first: tools/evmm build, or cmake --build build)"
done
script=$EVMM_REPO_ROOT/tools/gdb/evmm.gdb
[[ -f $script ]] || evmm_die "$script is missing"

work=$build/boot-tests/$name
rm -rf "$work"
mkdir -p "$work"
iso=$work/evmm.iso serial=$work/serial.log emulog=$work/emu.log gdblog=$work/gdb.log
bash "$EVMM_REPO_ROOT/tools/mkiso.sh" --evmm "$build/evmm.elf" "$iso" "loglevel=info serial=com1 testexit=qemu" "${modules[@]}" ||
    exit 2

deadline=$((SECONDS + timeout_s))
qemu_pid=""
cleanup() {
    if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 130' INT

# Is something listening on TCP port $1 (IPv4 or IPv6)? Read from /proc: connecting would disturb a gdbstub.
port_busy() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Starts QEMU halted (-S) with its gdbstub on $port; returns 1 if the port was taken.
start_qemu() {
    : >"$serial"
    timeout -k 5 "$timeout_s" qemu-system-x86_64 -machine q35 -m 512 -smp 1 -nographic -no-reboot \
        -serial "file:$serial" -monitor none -display none -device isa-debug-exit,iobase=0xf4,iosize=1 \
        -cdrom "$iso" -nic none -accel tcg -cpu max -gdb "tcp:127.0.0.1:$port" -S </dev/null >"$emulog" 2>&1 &
    qemu_pid=$!
    # QEMU binds the gdbstub socket before it starts the machine; a bind error ends it at once.
    for _ in 1 2 3 4 5; do
        sleep 0.2
        if ! kill -0 "$qemu_pid" 2>/dev/null; then
            wait "$qemu_pid" || true
            qemu_pid=""
            grep -q 'Address already in use\|Failed to find an available port' "$emulog" && return 1
            echo "FAIL: $name: QEMU did not start:" >&2
            cat "$emulog" >&2
            exit 1
        fi
        port_busy "$port" && return 0
    done
    return 0
}

if [[ -n $port ]]; then
    start_qemu || evmm_die "port $port is in use"
else
    port=$((20000 + $$ % 20000))
    for _ in $(seq 1 30); do
        if ! port_busy "$port" && start_qemu; then
            break
        fi
        port=$((port + 1))
    done
    [[ -n $qemu_pid ]] || evmm_die "found no free TCP port for QEMU's gdbstub"
fi

gdb_cmd=(gdb -batch -nx
    -ex "set \$evmm_gdb_port = $port"
    -ex "set \$evmm_build_dir = \"$build\""
    -x "$script"
    -ex 'break vmm_main'
    -ex 'continue'
    -ex 'bt'
    -ex 'printf "EVMM_NUM_CPUS=%u\n", desc->num_cpus'
    -ex 'printf "EVMM_RUNTIME_BASE=0x%lx\n", desc->runtime_base'
    -ex 'detach')
printf '%q ' "${gdb_cmd[@]}" >"$work/command"
echo >>"$work/command"
gdb_rc=0
(cd "$EVMM_REPO_ROOT" && timeout -k 5 "$((deadline - SECONDS > 5 ? deadline - SECONDS : 5))" "${gdb_cmd[@]}") \
    </dev/null >"$gdblog" 2>&1 || gdb_rc=$?

# After the detach evmm runs on to its final stop and QEMU exits (testexit=qemu); the serial log then has the
# "desc:" line wherever evmm prints it.
qemu_rc=0
while kill -0 "$qemu_pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
done
cleanup
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=""

clean=$work/serial.txt
tr -d '\r\000' <"$serial" >"$clean"
failures=()
((gdb_rc != 124 && gdb_rc != 137)) || failures+=("gdb timed out")
grep -q '^evmm: loader.elf and vmm.elf symbols loaded' "$gdblog" ||
    failures+=("tools/gdb/evmm.gdb did not report the VMM symbols as loaded")
stopped=1
grep -qE '^(Breakpoint|Temporary breakpoint) [0-9]+, (0x[0-9a-f]+ in )?vmm_main \(' "$gdblog" || stopped=0
((stopped)) || failures+=("gdb did not stop at the breakpoint in vmm_main")
grep -qE '^#0 +(0x[0-9a-f]+ in )?vmm_main \(' "$gdblog" ||
    failures+=("the backtrace has no 'vmm_main' in frame #0")
gdb_cpus=$(sed -n 's/^EVMM_NUM_CPUS=\([0-9]*\)$/\1/p' "$gdblog" | head -n1)
base=$(sed -n 's/^EVMM_RUNTIME_BASE=\(0x[0-9a-f]*\)$/\1/p' "$gdblog" | head -n1)
log_cpus=$(grep -aoE 'desc: cpus=[0-9]+' "$clean" | head -n1 | sed 's/.*=//') || true
if ((!stopped)); then
    failures+=("desc->num_cpus not checked (not stopped in vmm_main)")
elif [[ -z $gdb_cpus ]]; then
    failures+=("gdb could not print desc->num_cpus")
elif [[ -z $log_cpus ]]; then
    failures+=("the serial log has no 'desc: cpus=N' line")
elif [[ $gdb_cpus != "$log_cpus" ]]; then
    failures+=("gdb's desc->num_cpus = $gdb_cpus, but the serial log says cpus=$log_cpus")
fi
((!stopped)) || [[ -n $base ]] || failures+=("gdb could not print desc->runtime_base")

qemu_status="$qemu_rc ($(evmm_qemu_exit_meaning "$qemu_rc"))"
if ((${#failures[@]} == 0)); then
    echo "PASS: $name (gdbstub port $port; gdb stopped in vmm_main; desc->num_cpus = $gdb_cpus as in the serial" \
        "log; desc->runtime_base = $base; QEMU exit $qemu_status)"
    exit 0
fi
{
    echo "FAIL: $name (gdbstub port $port; gdb exit $gdb_rc; QEMU exit $qemu_status)"
    for f in "${failures[@]}"; do
        echo "  - $f"
    done
    echo "gdb command: $(cat "$work/command")"
    echo "work directory: $work"
    echo "---- gdb output ($gdblog) ----"
    tail -n 80 "$gdblog"
    echo "---- last 60 lines of $serial ----"
    tail -n 60 "$clean"
    echo "---- end ----"
    if [[ -s $emulog ]]; then
        echo "---- QEMU output ($emulog) ----"
        tail -n 20 "$emulog"
    fi
} >&2
exit 1
