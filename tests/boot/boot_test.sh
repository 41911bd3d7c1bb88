#!/usr/bin/env bash
# shellcheck disable=SC2054,SC2317  # commas inside QEMU option values; functions run from traps
# Boots evmm in QEMU or Bochs from a GRUB image and checks its serial log. Used by ctest (tests/boot/CMakeLists.txt);
# runs by hand just as well.
#
# usage: tests/boot/boot_test.sh [options]
#   --emu qemu|bochs         emulator (default qemu; QEMU uses TCG, '-cpu max,-svm', q35: no hardware virtualisation)
#   --kvm                    QEMU with KVM and '-cpu host,+vmx' instead of TCG (a host with nested VT-x)
#   --firmware bios|uefi     BIOS (SeaBIOS / Bochs BIOS) or UEFI (OVMF; QEMU only). Default bios
#   --smp N                  number of CPUs (default 1)
#   --mem MIB                guest RAM in MiB (default 512)
#   --cmdline "OPTIONS"      evmm's options (default "loglevel=info serial=com1"); "testexit=<emu>" is added unless
#                            the options have a testexit= already
#   --module "FILE ROLE ARGS" a GRUB module (repeatable), e.g. --module "build/guests/hello.elf guest0"
#   --expect REGEX           must match a serial line; the --expect patterns must match in the ORDER given (each
#                            at or after the line the previous one matched) (repeatable)
#   --expect-anywhere REGEX  must match some serial line, in any order (repeatable)
#   --reject REGEX           must match no serial line, e.g. PANIC (repeatable)
#   --expect-exit N          QEMU's exit status (33 work done, 35 VT-x not available, 37 panic); QEMU only
#   --timeout S              seconds before the emulator is killed (default 120)
#   --name NAME              work directory BUILD/boot-tests/NAME (default EMU_FIRMWARE_smpN); it keeps the image,
#                            grub.cfg, serial.log, the emulator's output (emu.log) and, for Bochs, bochsrc/bochs.log
#   --build DIR              the build directory (default $EVMM_BUILD_DIR, else build/ in the repo)
#   --evmm FILE              the Multiboot2 image (default BUILD/evmm.elf)
#   --disk IMAGE             boot this raw hard disk image (its own GRUB and grub.cfg, e.g. tests/install's) instead
#                            of an image made here: no --module, --cmdline or --evmm (Bochs: whole cylinders of
#                            16 heads x 63 sectors)
#   --grub-linux             no evmm: GRUB boots --evmm FILE as a Linux kernel (`linux`/`initrd`), --cmdline is
#                            Linux's command line (no testexit= is added), each --module "FILE" an initrd
#   --bochs-ips N            Bochs' emulated instructions per second of virtual time (default 50000000)
#   --qemu-cpu MODEL         QEMU TCG's -cpu MODEL (default max,-svm); 'max' gives AMD SVM with nested paging, evmm's
#                            SVM backend (docs/svm.md)
#   --qemu-device SPEC       a QEMU -device SPEC (repeatable, in order, before the others), e.g. intel-iommu,aw-bits=48
#   --screen                 read evmm's screen console back (QEMU only, docs/debugging.md#screen-console): GRUB loads
#                            its video drivers (UEFI: the GOP framebuffer), QEMU runs without isa-debug-exit and with a
#                            QMP socket, evmm gets testexit=none (unless --cmdline has a testexit=); once the serial log
#                            matches --screen-when, tests/boot/screen_read.py saves the screen's memory, quits QEMU,
#                            decodes the screen into screen.txt and checks that it shows the end of evmm's log up to
#                            "console: screen handed to guest0"
#   --screen-when REGEX      when to read the screen (default: a guest's summary "N passed, M failed" or evmm's final
#                            stop)
#   --screen-mode WxH        the framebuffer mode GRUB sets under UEFI (its gfxpayload; default: GRUB's choice)
#   --expect-screen REGEX    must match a row of screen.txt, in the order given (like --expect) (repeatable)
#   --qemu-icount            QEMU TCG with -icount shift=0: one instruction per nanosecond of virtual time, so the TSC
#                            counts instructions (deterministic, like Bochs; the SVM figures of tests/bench)
# Regexes are POSIX extended (grep -E), matched against lines with the CRs removed.
# Exit status: 0 pass, 1 fail, 2 usage or setup error.
set -euo pipefail

EVMM_PROG=boot_test.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/lib.sh
source "$here/../../tools/lib.sh"

usage() {
    awk 'NR > 1 && /^# shellcheck/ { next }
         NR > 1 && /^#/ { sub(/^# ?/, ""); print; next }
         NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-2}"
}

emu=qemu firmware=bios smp=1 mem=512 cmdline="loglevel=info serial=com1" timeout_s=120 name="" kvm=0
build=${EVMM_BUILD_DIR:-$EVMM_REPO_ROOT/build} evmm="" disk="" expect_exit="" bochs_ips=50000000 grub_linux=0
modules=() expects=() anywheres=() rejects=() qemu_devices=() qemu_cpu=max,-svm qemu_icount=0
screen_mode="" screen=0 screen_when='^[0-9]+ passed, [0-9]+ failed|evmm: final stop' screen_expects=()
while (($#)); do
    opt=$1
    case $opt in
    --kvm) kvm=1; shift; continue ;;
    --grub-linux) grub_linux=1; shift; continue ;;
    --qemu-icount) qemu_icount=1; shift; continue ;;
    --screen) screen=1; shift; continue ;;
    -h | --help) usage 0 ;;
    --emu | --firmware | --smp | --mem | --cmdline | --module | --expect | --expect-anywhere | --reject | \
        --expect-exit | --timeout | --name | --build | --evmm | --disk | --bochs-ips | --qemu-device | --qemu-cpu | \
        --screen-when | --expect-screen | --screen-mode)
        (($# >= 2)) || evmm_die "$opt needs a value"
        val=$2
        shift 2
        ;;
    *) evmm_die "unknown argument '$opt' (see --help)" ;;
    esac
    case $opt in
    --emu) emu=$val ;;
    --firmware) firmware=$val ;;
    --smp) smp=$val ;;
    --mem) mem=$val ;;
    --cmdline) cmdline=$val ;;
    --module) modules+=("$val") ;;
    --expect) expects+=("$val") ;;
    --expect-anywhere) anywheres+=("$val") ;;
    --reject) rejects+=("$val") ;;
    --expect-exit) expect_exit=$val ;;
    --timeout) timeout_s=$val ;;
    --name) name=$val ;;
    --build) build=$val ;;
    --evmm) evmm=$val ;;
    --disk) disk=$val ;;
    --bochs-ips) bochs_ips=$val ;;
    --qemu-device) qemu_devices+=(-device "$val") ;;
    --qemu-cpu) qemu_cpu=$val ;;
    --screen-when) screen_when=$val ;;
    --expect-screen) screen_expects+=("$val") ;;
    --screen-mode) screen_mode=$val ;;
    esac
done

[[ $emu == qemu || $emu == bochs ]] || evmm_die "--emu must be qemu or bochs, not '$emu'"
[[ $firmware == bios || $firmware == uefi ]] || evmm_die "--firmware must be bios or uefi, not '$firmware'"
[[ $emu == qemu || $firmware == bios ]] || evmm_die "Bochs has no UEFI firmware here: use --firmware bios"
[[ $emu == qemu || $kvm == 0 ]] || evmm_die "--kvm is for QEMU"
for n in smp mem timeout_s bochs_ips; do
    opt=${n%_s}
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || evmm_die "--${opt//_/-} must be a positive number, not '${!n}'"
done
[[ -z $expect_exit || $expect_exit =~ ^[0-9]+$ ]] || evmm_die "--expect-exit must be a number"
[[ -z $expect_exit || $emu == qemu ]] || evmm_die "--expect-exit is for QEMU (Bochs' exit status says nothing)"
[[ $screen == 0 || $emu == qemu ]] || evmm_die "--screen is for QEMU (its QMP socket reads the screen)"
[[ $screen == 1 || (${#screen_expects[@]} == 0 && -z $screen_mode) ]] ||
    evmm_die "--expect-screen and --screen-mode need --screen"
[[ $screen == 0 || -z $disk ]] || evmm_die "--screen makes its own image: no --disk"
for re in "${expects[@]}" "${anywheres[@]}" "${rejects[@]}" "${screen_expects[@]}" "$screen_when"; do
    # grep exits 2 on a bad pattern, 1 on no match.
    rc=0
    grep -E -e "$re" /dev/null 2>/dev/null || rc=$?
    ((rc != 2)) || evmm_die "bad regex: $re"
done
if [[ -n $disk ]]; then
    [[ -f $disk ]] || evmm_die "--disk $disk: no such file"
    if ((${#modules[@]} || grub_linux)) || [[ -n $evmm ]]; then
        evmm_die "--disk boots the image's own GRUB configuration: no --module, --evmm or --grub-linux"
    fi
    disk=$(cd "$(dirname "$disk")" && pwd)/$(basename "$disk")
fi
[[ -n $name ]] || name=${emu}_${firmware}_smp${smp}
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || evmm_die "--name may only use letters, digits, '_', '.', '-'"
[[ -n $evmm ]] || evmm=$build/evmm.elf
# --screen: evmm halts at its final stop (testexit=none) so that the screen can be read before QEMU quits.
testexit_default=$emu
((!screen)) || testexit_default=none
((grub_linux)) || [[ $cmdline =~ (^|[[:space:]])testexit= ]] || cmdline="${cmdline:+$cmdline }testexit=$testexit_default"

evmm_need timeout coreutils
if [[ $emu == qemu ]]; then
    evmm_need qemu-system-x86_64 qemu-system-x86
else
    evmm_need bochs bochs
    [[ -f /usr/share/bochs/BIOS-bochs-latest ]] || evmm_die "Bochs BIOS missing (Debian package bochsbios)"
    [[ -f /usr/share/vgabios/vgabios.bin ]] || evmm_die "VGA BIOS missing (Debian package vgabios)"
fi
if [[ $kvm == 1 ]]; then
    [[ -r /dev/kvm && -w /dev/kvm ]] || evmm_die "--kvm: /dev/kvm is missing or not accessible"
fi

work=$build/boot-tests/$name
rm -rf "$work"
mkdir -p "$work"
iso=$work/evmm.iso
serial=$work/serial.log
emulog=$work/emu.log

# Module files given relative to the build directory are found there too.
mod_specs=()
for spec in "${modules[@]}"; do
    read -r -a words <<<"$spec"
    if [[ ${#words[@]} -ge 1 && ! -e ${words[0]} && -e $build/${words[0]} ]]; then
        words[0]=$build/${words[0]}
    fi
    mod_specs+=("${words[*]}")
done
iso_kind=()
((!grub_linux)) || iso_kind=(--linux)
((!screen)) || iso_kind+=(--video)
[[ -z $screen_mode ]] || iso_kind+=(--gfxpayload "$screen_mode")
medium=cdrom boot_drive=(-cdrom "$iso")
if [[ -n $disk ]]; then
    iso=$disk medium=disk boot_drive=(-drive "file=$disk,format=raw,if=ide")
else
    bash "$EVMM_REPO_ROOT/tools/mkiso.sh" "${iso_kind[@]}" --evmm "$evmm" "$iso" "$cmdline" "${mod_specs[@]}" || exit 2
fi

if [[ $emu == qemu ]]; then
    cmd=(qemu-system-x86_64 -machine q35 -m "$mem" -smp "$smp" -nographic -no-reboot
        -serial "file:$serial" -monitor none -display none "${qemu_devices[@]}")
    if ((screen)); then
        # No isa-debug-exit: a test guest's own exit must not end QEMU before the screen is read. A short socket path
        # (AF_UNIX allows about 100 bytes), removed on exit.
        qmp_sock=$(mktemp -u /tmp/evmm-qmp.XXXXXX)
        cmd+=(-qmp "unix:$qmp_sock,server,nowait")
    else
        cmd+=(-device isa-debug-exit,iobase=0xf4,iosize=1)
    fi
    cmd+=("${boot_drive[@]}" -nic none)
    if [[ $kvm == 1 ]]; then
        cmd+=(-enable-kvm -cpu host,+vmx)
    else
        cmd+=(-accel tcg -cpu "$qemu_cpu")
        ((!qemu_icount)) || cmd+=(-icount shift=0)
    fi
    if [[ $firmware == uefi ]]; then
        evmm_find_ovmf "$work"
        cmd+=("${EVMM_OVMF_ARGS[@]}")
    fi
else
    evmm_write_bochsrc "$work/bochsrc" "$iso" "$serial" "$work/bochs.log" "$mem" "$smp" "$bochs_ips" "$medium"
    evmm_write_bochs_cmds "$work/bochs.cmds"
    cmd=(bochs -q -f "$work/bochsrc" -rc "$work/bochs.cmds")
fi
printf '%q ' "${cmd[@]}" >"$work/command"
echo >>"$work/command"

grub_failed_marker='evmm-iso: GRUB could not boot evmm'
emu_pid="" qmp_sock=${qmp_sock:-}
cleanup() {
    if [[ -n $emu_pid ]] && kill -0 "$emu_pid" 2>/dev/null; then
        kill -TERM "$emu_pid" 2>/dev/null || true
    fi
    [[ -z $qmp_sock ]] || rm -f "$qmp_sock"
}
trap cleanup EXIT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 130' INT

screen_txt=$work/screen.txt screen_rc=""
# --screen: once the serial log matches --screen-when, screen_read.py saves the screen's memory, quits QEMU and checks
# what the screen shows (its output in screen_read.log); sets screen_rc.
read_screen() {
    sleep 0.5 # the last serial bytes
    screen_rc=0
    python3 "$here/screen_read.py" --qmp "$qmp_sock" --serial "$serial" --font "$EVMM_REPO_ROOT/lib/font.cpp" \
        --out "$screen_txt" --dump "$work/screen.bin" >"$work/screen_read.log" 2>&1 || screen_rc=$?
}

# Runs the emulator under `timeout`; sets emu_rc. Stops early when GRUB reports it could not boot evmm.
run_emulator() {
    : >"$serial"
    timeout -k 5 "$timeout_s" "${cmd[@]}" </dev/null >"$emulog" 2>&1 &
    emu_pid=$!
    while kill -0 "$emu_pid" 2>/dev/null; do
        if grep -aqF "$grub_failed_marker" "$serial" 2>/dev/null; then
            sleep 1 # let GRUB's own error messages reach the log
            kill -TERM "$emu_pid" 2>/dev/null || true
            break
        fi
        if ((screen)) && [[ -z $screen_rc ]] && tr -d '\r\000' <"$serial" | grep -aqE -e "$screen_when"; then
            read_screen
            kill -0 "$emu_pid" 2>/dev/null && sleep 1
            kill -TERM "$emu_pid" 2>/dev/null || true # screen_read.py quit QEMU; if it could not, it ends here
            break
        fi
        sleep 0.2
    done
    emu_rc=0
    wait "$emu_pid" || emu_rc=$?
    emu_pid=""
}

start=$(date +%s.%N)
run_emulator
if [[ $emu == bochs ]]; then
    for _ in 1 2; do
        evmm_bochs_rfb_failed "$emulog" || break
        echo "boot_test: Bochs could not bind its rfb display port; retrying"
        sleep $((RANDOM % 3 + 1))
        run_emulator
    done
fi
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

# ---- checks -------------------------------------------------------------------------------------------------------
clean=$work/serial.txt # the log without CRs and NULs: what the regexes see
tr -d '\r\000' <"$serial" >"$clean"
failures=()
final_stop_re='evmm: final stop'

if grep -aqF "$grub_failed_marker" "$clean"; then
    failures+=("GRUB could not boot evmm (GRUB's errors are in the serial log below)")
elif ((emu_rc == 124 || emu_rc == 137)); then
    if grep -aqE "$final_stop_re" "$clean"; then
        msg="timed out after $timeout_s s (evmm printed its final stop but the emulator did not exit:"
        failures+=("$msg is testexit= right?)")
    else
        failures+=("timed out after $timeout_s s (no final stop seen)")
    fi
fi

for re in "${rejects[@]}"; do
    if hit=$(grep -anE -m1 -e "$re" "$clean"); then
        failures+=("--reject '$re' matched line ${hit%%:*}: ${hit#*:}")
    fi
done

from=1 prev=""
for i in "${!expects[@]}"; do
    re=${expects[$i]}
    # No early-exiting reader in a pipe (grep -m1 after tail): under pipefail the writer's SIGPIPE made a match
    # look like a miss now and then. awk reads everything and keeps the first match at or after line $from.
    hit=$(grep -anE -e "$re" "$clean" | awk -F: -v f="$from" '!d && $1 >= f { print; d = 1 }' || true)
    if [[ -n $hit ]]; then
        from=${hit%%:*}
        prev="'$re' (line $from)"
    else
        if [[ -z $prev ]]; then
            failures+=("--expect #$((i + 1)) '$re' matched no line")
        elif grep -aqE -e "$re" "$clean"; then
            msg="--expect #$((i + 1)) '$re' matched only before line $from, where the previous expectation"
            failures+=("$msg $prev matched: wrong order")
        else
            failures+=("--expect #$((i + 1)) '$re' matched no line (the previous expectation $prev did match)")
        fi
        for ((j = i + 1; j < ${#expects[@]}; j++)); do
            failures+=("--expect #$((j + 1)) '${expects[$j]}' not checked (an earlier --expect failed)")
        done
        break
    fi
done

for re in "${anywheres[@]}"; do
    grep -aqE -e "$re" "$clean" || failures+=("--expect-anywhere '$re' matched no line")
done

if ((screen)); then
    if [[ -z $screen_rc ]]; then
        failures+=("--screen: the screen was not read (the serial log never matched '$screen_when')")
    elif ((screen_rc != 0)); then
        failures+=("--screen: $(grep -a 'screen_read: [a-z]' "$work/screen_read.log" | tail -n1 || true)")
    else
        from=1
        for i in "${!screen_expects[@]}"; do
            re=${screen_expects[$i]}
            hit=$(grep -anE -e "$re" "$screen_txt" | awk -F: -v f="$from" '!d && $1 >= f { print; d = 1 }' || true)
            if [[ -z $hit ]]; then
                failures+=("--expect-screen #$((i + 1)) '$re' matched no row of screen.txt at or after row $from")
                break
            fi
            from=${hit%%:*}
        done
    fi
fi

emu_status=$emu_rc
if [[ $emu == qemu ]]; then
    emu_status="$emu_rc ($(evmm_qemu_exit_meaning "$emu_rc"))"
    if [[ -n $expect_exit && $emu_rc != "$expect_exit" ]] && ((emu_rc != 124 && emu_rc != 137)); then
        failures+=("QEMU exit status $emu_status, expected $expect_exit ($(evmm_qemu_exit_meaning "$expect_exit"))")
    fi
else
    why=$(evmm_bochs_exit_message "$emulog") || true
    insns=$(evmm_bochs_cpu0_insns "$emulog") || true
    emu_status="$emu_rc${why:+ ($why)}${insns:+, cpu0 at $insns instructions}"
fi

if ((${#failures[@]} == 0)); then
    stop_line=$(grep -aE "$final_stop_re" "$clean" | tail -n1 | sed 's/^.*\(\[cpu\)/\1/') || true
    ((!screen)) || stop_line="${stop_line:+$stop_line; }$(grep -a 'decoded' "$work/screen_read.log" | sed 's/^screen_read: //')"
    echo "PASS: $name ($emu, $firmware, smp $smp, ${elapsed} s; exit $emu_status)${stop_line:+: $stop_line}"
    exit 0
fi

{
    echo "FAIL: $name ($emu, $firmware, smp $smp, ${elapsed} s; exit $emu_status)"
    for f in "${failures[@]}"; do
        echo "  - $f"
    done
    echo "command: $(cat "$work/command")"
    echo "work directory: $work"
    echo "---- last 60 lines of $serial ----"
    tail -n 60 "$clean"
    echo "---- end of serial log ----"
    if ((screen)) && [[ -f $work/screen_read.log ]]; then
        echo "---- $work/screen_read.log ----"
        cat "$work/screen_read.log"
        [[ ! -f $screen_txt ]] || { echo "---- $screen_txt ----"; cat "$screen_txt"; }
        echo "---- end of the screen ----"
    fi
    if [[ -s $emulog ]]; then
        echo "---- last 20 lines of $emulog ----"
        tail -n 20 "$emulog"
        echo "---- end of emulator output ----"
    fi
} >&2
exit 1
