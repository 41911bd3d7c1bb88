#!/usr/bin/env bash
# shellcheck disable=SC2054  # commas inside QEMU option values
# Boots one test guest DIRECTLY as the GRUB kernel (no hypervisor) in QEMU or Bochs and prints its report: the way
# to develop and check the guest test kit itself (docs/guest-test-kit.md). Under bare metal the checks that need
# evmm fail (hypervisor bit, loader name "evmm", VMCALLs, ...); everything else should pass.
#
# usage: tools/run-bare.sh [--emu qemu|qemu-uefi|bochs] [--build DIR] [--timeout S] [--smp N]
#                                 [--module "FILE ARGS"]... GUEST [ARGS...]
#   GUEST   a name (hello, msr, ...: BUILD/guests/GUEST.elf) or a path to an .elf
#   ARGS    the kernel command line (hello expects "hello-args 42")
#   --smp N CPUs of the machine (QEMU -smp N, Bochs cpu: count=N; default 1)
#   --module "FILE ARGS"  a GRUB module for the guest (repeatable): FILE, then its command line
# A guest without a Multiboot2 header but with a Multiboot1 one (grub-file) boots with `multiboot`/`module`.
# Work files (image, grub.cfg, serial.log, emulator output) go to BUILD/guests-bare/EMU-GUEST/.
# Bochs runs with ignore_bad_msrs=0, so unknown MSRs raise #GP as on hardware (its default silently reads 0).
# Exit status: 0 when the guest printed a summary with 0 failed, 1 otherwise, 2 on usage/setup errors.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
emu=qemu build=${EVMM_BUILD_DIR:-$repo/build} timeout_s=60 smp=1 modules=()
while (($#)); do
    case $1 in
    --emu) emu=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --module) modules+=("$2"); shift 2 ;;
    -h | --help) sed -n '3,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) break ;;
    esac
done
(($# >= 1)) || { echo "usage: $0 [--emu qemu|qemu-uefi|bochs] [--smp N] GUEST [ARGS...]" >&2; exit 2; }
[[ $smp =~ ^[1-9][0-9]*$ ]] || { echo "run-bare.sh: --smp needs a CPU count" >&2; exit 2; }
guest=$1
shift
elf=$guest
[[ -f $elf ]] || elf=$build/guests/$guest.elf
[[ -f $elf ]] || { echo "run-bare.sh: $elf does not exist (build first)" >&2; exit 2; }
name=$(basename "$elf" .elf)
work=$build/guests-bare/$emu-$name
rm -rf "$work"
mkdir -p "$work"

mb1=()
if ! grub-file --is-x86-multiboot2 "$elf" && grub-file --is-x86-multiboot "$elf"; then mb1=(--multiboot1); fi
bash "$repo/tools/mkiso.sh" --evmm "$elf" "${mb1[@]}" "$work/guest.iso" "$*" "${modules[@]}" >"$work/mkiso.log" 2>&1 ||
    { cat "$work/mkiso.log" >&2; exit 2; }

status=0
case $emu in
qemu | qemu-uefi)
    fw=()
    [[ $emu == qemu-uefi ]] && fw=(-bios /usr/share/ovmf/OVMF.fd)
    cmd=(qemu-system-x86_64 -M q35 -cpu max -smp "$smp" -m 512 -nographic -no-reboot -monitor none "${fw[@]}"
        -serial "file:$work/serial.log" -device isa-debug-exit,iobase=0xf4,iosize=1 -cdrom "$work/guest.iso")
    timeout "$timeout_s" "${cmd[@]}" >"$work/emu.log" 2>&1 || status=$?
    ;;
bochs)
    cat >"$work/bochsrc" <<BOCHS
megs: 512
cpu: model=corei7_skylake_x, count=$smp, ips=50000000, ignore_bad_msrs=0
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path=guest.iso, status=inserted
boot: cdrom
display_library: rfb, options="timeout=0"
com1: enabled=1, mode=file, dev=serial.log
log: bochs.log
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
BOCHS
    echo c >"$work/cmds"
    (cd "$work" && timeout "$timeout_s" bochs -q -f bochsrc -rc cmds </dev/null >emu.log 2>&1) || status=$?
    ;;
*) echo "run-bare.sh: --emu must be qemu, qemu-uefi or bochs" >&2; exit 2 ;;
esac
touch "$work/serial.log"
tr -d '\r' <"$work/serial.log" >"$work/serial.txt"
# The guest's part of the log starts with its "NAME: guest0 running" line.
sed -n '/: guest0 running$/,$p' "$work/serial.txt"
[[ ! -s $work/serial.txt || -z $(tail -c 1 "$work/serial.txt") ]] || echo
echo "run-bare.sh: $emu exit status $status; logs in $work"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/serial.txt" | tail -n 1 || true)
[[ $summary =~ ^[0-9]+\ passed,\ 0\ failed$ ]]
