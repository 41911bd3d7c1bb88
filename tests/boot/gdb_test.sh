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
#   --ext          test tools/gdb/evmm.py instead: QEMU -smp 2, stop in stage 2 (evmm::vtd_discover), run
#                  `evmm desc`, `evmm cpus`, `evmm log`, `evmm vcpu 0`, `evmm ept 0x1000` and check their output
#                  against the descriptor's constants, the CPU count and the serial log
#   --svm          the whole flow on the SVM backend (QEMU -cpu max) with guest0 running (default module
#                  BUILD/guests/cpuid.elf): stops in stage 4 (Guest::create_guest0), stage 6 (evmm_svm_run), in
#                  guest0's own code (its guest_main) and in an exit handler (the CPUID module's), where it runs
#                  `evmm cpus`, `evmm vcpu 0`, `evmm npt` (guest0 RAM and evmm's region), `evmm log`, `evmm desc`
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

build=${EVMM_BUILD_DIR:-$EVMM_REPO_ROOT/build} name=gdb_vmm_main timeout_s=120 port="" modules=() have_modules=0 ext=0
svm=0
while (($#)); do
    case $1 in
    -h | --help) usage 0 ;;
    --ext)
        ext=1
        shift
        ;;
    --svm)
        svm=1
        shift
        ;;
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
guest_elf=""
if ((svm)); then
    guest_elf=$build/guests/cpuid.elf
    ((have_modules)) || modules=("$guest_elf guest0")
    guest_elf=${modules[0]%% *}
    [[ -f $guest_elf ]] || evmm_die "$guest_elf does not exist (build first)"
elif ((!have_modules)) && [[ -f $build/guests/hello.elf ]]; then
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

smp=1 qemu_cpu=max,-svm
((!ext)) || smp=2
((!svm)) || qemu_cpu=max # AMD SVM with nested paging: evmm runs guest0 (docs/svm.md)
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
    timeout -k 5 "$timeout_s" qemu-system-x86_64 -machine q35 -m 512 -smp "$smp" -nographic -no-reboot \
        -serial "file:$serial" -monitor none -display none -device isa-debug-exit,iobase=0xf4,iosize=1 \
        -cdrom "$iso" -nic none -accel tcg -cpu "$qemu_cpu" -gdb "tcp:127.0.0.1:$port" -S </dev/null >"$emulog" 2>&1 &
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
    -x "$script")
if ((ext)); then
    gdb_cmd+=(-ex 'break evmm::vtd_discover' -ex 'continue'
        -ex 'echo EVMM_DESC_BEGIN\n' -ex 'evmm desc' -ex 'echo EVMM_CPUS_BEGIN\n' -ex 'evmm cpus'
        -ex 'echo EVMM_LOG_BEGIN\n' -ex 'evmm log 100' -ex 'echo EVMM_LOADER_LOG_BEGIN\n' -ex 'evmm log 5 loader'
        -ex 'echo EVMM_VCPU_BEGIN\n' -ex 'evmm vcpu 0' -ex 'echo EVMM_EPT_BEGIN\n' -ex 'evmm ept 0x1000'
        -ex 'echo EVMM_END\n' -ex 'detach')
elif ((svm)); then
    guest_main=$(nm "$guest_elf" | awk '$3 == "guest_main" { print $1 }' | sed 's/^0*//')
    guest_main=0x$guest_main
    [[ -n $guest_main ]] || evmm_die "$guest_elf has no guest_main symbol"
    gdb_cmd+=(-ex 'break evmm::Guest::create_guest0' -ex 'continue'
        -ex 'echo EVMM_STAGE4_BEGIN\n' -ex 'evmm cpus'
        -ex 'break evmm_svm_run' -ex 'continue'
        -ex 'echo EVMM_STAGE6_BEGIN\n' -ex 'bt 1'
        -ex 'delete' -ex "break *$guest_main" -ex 'continue'
        -ex 'echo EVMM_GUEST_BEGIN\n' -ex 'printf "EVMM_GUEST_PC=0x%lx\n", $pc'
        -ex 'delete' -ex "break 'evmm::(anonymous namespace)::on_cpuid(evmm::Gcpu&)'" -ex 'continue'
        -ex 'echo EVMM_EXIT_BEGIN\n' -ex 'bt 2'
        -ex 'echo EVMM_CPUS_BEGIN\n' -ex 'evmm cpus'
        -ex 'echo EVMM_VCPU_BEGIN\n' -ex 'evmm vcpu 0'
        -ex 'echo EVMM_NPT_BEGIN\n' -ex 'evmm npt 0x100000'
        -ex 'echo EVMM_DESC_BEGIN\n' -ex 'evmm desc'
        -ex 'echo EVMM_NPTHV_BEGIN\n' -ex 'evmm npt $evmm_runtime_base'
        -ex 'echo EVMM_LOG_BEGIN\n' -ex 'evmm log 60'
        -ex 'echo EVMM_END\n' -ex 'delete' -ex 'detach')
else
    gdb_cmd+=(-ex 'break vmm_main'
    -ex 'continue'
    -ex 'bt'
    -ex 'printf "EVMM_NUM_CPUS=%u\n", desc->num_cpus'
    -ex 'printf "EVMM_RUNTIME_BASE=0x%lx\n", desc->runtime_base'
    -ex 'detach')
fi
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
# The lines of gdb's output between "EVMM_$1_BEGIN" and the next marker line.
section() {
    awk -v b="EVMM_$1_BEGIN" '$0 == b { on = 1; next } /^EVMM_[A-Z_]+$/ { on = 0 } on' "$gdblog"
}
# expect SECTION REGEX WHAT: a line of the section matches the extended regex.
expect() {
    section "$1" | grep -qE -- "$2" || failures+=("evmm ${1,,}: $3 (no line matches '$2')")
}
check_ext() {
    local magic version want_cpus=$smp line n
    magic=$(sed -n 's/^#define EVMM_DESC_MAGIC \(0x[0-9a-fA-F]*\).*/\1/p' "$EVMM_REPO_ROOT/include/evmm_desc.h")
    version=$(sed -n 's/^#define EVMM_DESC_VERSION \([0-9]*\).*/\1/p' "$EVMM_REPO_ROOT/include/evmm_desc.h")
    grep -q '^EVMM_END$' "$gdblog" || failures+=("gdb did not run all the evmm commands")
    grep -qE '^(Thread [0-9]+ hit )?(Breakpoint|Temporary breakpoint) [0-9]+, (0x[0-9a-f]+ in )?evmm::vtd_discover' \
        "$gdblog" ||
        failures+=("gdb did not stop at the breakpoint in evmm::vtd_discover (stage 2)")
    expect DESC "^  magic   ${magic,,} \"EVMMDesc\" \(ok\)$" "magic not decoded or not $magic"
    expect DESC "^  version $version \(ok" "version not $version"
    expect DESC '^  size    [0-9]+ \(ok, ' "size check"
    expect DESC "^  cpus: $want_cpus \(BSP APIC ID 0; APIC IDs by cpu id: 0, 1\)$" "not QEMU's -smp $want_cpus"
    expect DESC '^  options: loglevel=info serial=0x3f8 testexit=qemu crashtest=none .* console=both fallback=stop$' "options"
    expect DESC '^  screen: text mode at 0xb8000, 80x25 cells; the VMM continues on row [0-9]+ ' "screen (BIOS text)"
    expect DESC '^  cmdline: "loglevel=info serial=com1 testexit=qemu"$' "evmm's command line"
    if ((${#modules[@]})); then
        expect DESC '^  modules: 1$' "module count"
        expect DESC '^    \[0\] role guest0 +0x[0-9a-f]+\+0x[0-9a-f]+ \(guest0\) args ""$' "guest0 module"
    fi
    expect DESC '^  runtime region: 0x[0-9a-f]+-0x[0-9a-f]+ \([0-9]+ MiB\)$' "runtime region"
    expect CPUS "^$want_cpus CPUs; stage 1 open$" "CPU count or open stage"
    expect CPUS '^cpu0 \(APIC ID 0\): stage 2 \(setup vmx\), BSP part \(not open to the APs yet\); in the hypervisor \(rip 0x[0-9a-f]+ evmm::vtd_discover\(\)\+0x[0-9a-f]+\), gdb thread [0-9]+; current gcpu: none \(no guest yet\)$' \
        "cpu0 not in stage 2 in evmm::vtd_discover"
    expect CPUS '^cpu1 \(APIC ID 1\): stage 1 done, waits for stage 2; in the hypervisor \(rip 0x[0-9a-f]+ evmm::stage_wait_open\(unsigned int\)\+0x[0-9a-f]+\), gdb thread [0-9]+; current gcpu: none \(no guest yet\)$' \
        "cpu1 not in the hypervisor around stage 2"
    n=$(section CPUS | grep -c '^cpu[0-9]') || true
    ((n == want_cpus)) || failures+=("evmm cpus: $n CPU lines, expected $want_cpus")
    # The log ring's lines are the serial log's: the last one is stage 2's first line, and every line is in serial.txt.
    expect LOG "^\[cpu0\] desc: cpus=$want_cpus top_of_memory=0x[0-9a-f]+ " "no 'desc: cpus=$want_cpus' line"
    [[ $(section LOG | tail -n1) == "[cpu0] stage 2: setup vmx" ]] ||
        failures+=("evmm log: the last line is not '[cpu0] stage 2: setup vmx': '$(section LOG | tail -n1)'")
    while IFS= read -r line; do
        grep -qxF -- "$line" "$clean" || failures+=("evmm log: line not in the serial log: '$line'")
    done < <(section LOG)
    n=$(section LOG | wc -l)
    ((n >= 10)) || failures+=("evmm log: only $n lines")
    expect LOADER_LOG '^\[cpu0\] loader: ' "the loader's ring has no 'loader:' line"
    expect VCPU '^evmm: no guest yet: evmm creates guest0 in stage 4' "evmm vcpu 0 without a guest"
    expect EPT '^evmm: no guest yet: evmm creates guest0 in stage 4' "evmm ept without a guest"
}

check_svm() {
    grep -q '^EVMM_END$' "$gdblog" || failures+=("gdb did not run all the steps (stops, then the evmm commands)")
    grep -qE '^Breakpoint [0-9]+, (0x[0-9a-f]+ in )?evmm::Guest::create_guest0' "$gdblog" ||
        failures+=("no stop in stage 4 (evmm::Guest::create_guest0)")
    expect STAGE4 '^cpu0 \(APIC ID 0\): stage 4 ' "cpu0 not in stage 4 at create_guest0"
    grep -qE '^Breakpoint [0-9]+, (0x[0-9a-f]+ in )?evmm_svm_run' "$gdblog" ||
        failures+=("no stop in stage 6 (evmm_svm_run)")
    expect GUEST "^EVMM_GUEST_PC=$guest_main\$" "no stop at guest0's guest_main ($guest_main)"
    grep -qE "^Breakpoint [0-9]+, (0x[0-9a-f]+ in )?evmm::\(anonymous namespace\)::on_cpuid" "$gdblog" ||
        failures+=("no stop in the CPUID exit handler")
    expect CPUS '^cpu0 \(APIC ID 0\): stage 6 .*in the hypervisor \(rip 0x[0-9a-f]+ evmm::\(anon(ymous namespace)?\)::on_cpuid.*current gcpu: guest0 gcpu0 at 0x[0-9a-f]+ \(launched, [1-9][0-9]* exits\)$' \
        "cpu0 not in stage 6 in the CPUID handler with guest0's gcpu0 current"
    expect VCPU '^guest0 gcpu0 at 0x[0-9a-f]+: on cpu0, launched, [1-9][0-9]* exits$' "vcpu header"
    expect VCPU '^  vmcb 0x[0-9a-f]+ ncr3 0x[1-9a-f][0-9a-f]*; ' "VMCB and nCR3"
    expect VCPU '^  rip=0000000001[0-9a-f]{6} rsp=[0-9a-f]{16} rflags=[0-9a-f]{16} cpl 0 ' "guest RIP in cpuid.elf, CPL 0"
    expect VCPU '^  last exit: 0x72 CPUID, ' "last exit not CPUID (0x72)"
    expect NPT '^  -> HPA 0x100000, 4 KiB page, rwx$|^  -> HPA 0x100000, 2 MiB page, rwx$|^  -> HPA 0x100000, 1 GiB page, rwx$' \
        "guest0's RAM at 1 MiB not mapped 1:1 with rwx"
    expect NPTHV '^  not mapped \((PML4E|PDPE|PDE|PTE) not present\): an access is a nested page fault$' \
        "evmm's region mapped in guest0's nested page tables"
    expect LOG '^\[cpu0\] stage 6: launch guest$' "no 'stage 6: launch guest' line in the ring"
    expect DESC '^  cmdline: "loglevel=info serial=com1 testexit=qemu"$' "evmm's command line"
}

if ((ext)); then
    check_ext
elif ((svm)); then
    check_svm
else
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
fi

qemu_status="$qemu_rc ($(evmm_qemu_exit_meaning "$qemu_rc"))"
if ((${#failures[@]} == 0)) && ((svm)); then
    echo "PASS: $name (SVM; stops in stage 4, stage 6, guest0's guest_main and the CPUID exit handler; evmm cpus," \
        "vcpu, npt, log, desc checked; QEMU exit $qemu_status)"
    exit 0
fi
if ((${#failures[@]} == 0)) && ((ext)); then
    echo "PASS: $name (gdbstub port $port; -smp $smp; evmm desc, cpus, log, vcpu, ept checked; QEMU exit $qemu_status)"
    exit 0
fi
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
