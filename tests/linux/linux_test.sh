#!/usr/bin/env bash
# A real Linux as guest0 under evmm in Bochs: Debian's cloud kernel + a busybox initramfs (tools/linux-prepare.sh)
# loaded by evmm through the Linux boot protocol. Passes when /init runs, sees the hypervisor, Linux's e820 table
# does not contain evmm's runtime region, and Bochs ended through Linux's ACPI power-off, which evmm saw (it logs
# the power-off and the run's VM exits by reason).
# usage: tests/linux/linux_test.sh BUILD_DIR [--smp N] [--svm] [--forceexits] [--amd-iommu] [--suspend]
# --forceexits: evmm's `forceexits=1`; under SVM that forces the dma-faults tick, which must come while Linux runs
# (guest0's vCPU tick at its exits, vmm/svm/svm_tick.h).
# --amd-iommu: QEMU's AMD IOMMU (q35): evmm takes it (DMA isolation) and renames the IVRS, so Linux sees no IOMMU.
# --suspend: Linux suspends to RAM (ACPI S3, `evmm.suspend=mem` for /init) before powering off: evmm answers the
# sleep request as an immediate wake-up, Linux resumes (its APs offlined and brought back by INIT-SIPI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd) smp=1 svm=0 force=0 amdvi=0 suspend=0
shift
while (($#)); do
    case $1 in
    --smp) smp=$2; shift 2 ;;
    --svm) svm=1; shift ;;
    --forceexits) force=1; shift ;;
    --amd-iommu) amdvi=1; shift ;;
    --suspend) suspend=1; shift ;;
    *) echo "linux_test.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
cache=$build/linux
bash "$here/../../tools/linux-prepare.sh" "$cache" >/dev/null
name=linux_guest0_smp$smp
# --svm: under evmm's AMD SVM backend in QEMU TCG '-cpu max' (docs/svm.md) instead of Bochs' VT-x.
emu=(--emu bochs) testexit=bochs exits_expect=(--expect '  CPUID \(10\): [0-9]+')
if ((svm)); then
    name=linux_svm_guest0_smp$smp emu=(--emu qemu --qemu-cpu max --expect-exit 0) testexit=qemu
    exits_expect=(--expect '  CPUID \(72h\): [0-9]+')
fi
opts="" force_expect=()
if ((force)); then
    opts=" forceexits=1"
    force_expect=(--expect-anywhere 'dma-faults: fault records polled every 100 ms of cpu0.s guest time.* \(forceexits=1'
        --expect-anywhere 'dma-faults: first poll on cpu0')
fi
if ((amdvi)); then
    force_expect+=(--qemu-device amd-iommu
        --expect-anywhere 'amd-vi: DMA remapping on for 1 IOMMU'
        --expect-anywhere 'amd-vi: the ACPI IVRS table at 0x[0-9a-f]+ is renamed XVRS for guest0'
        --expect-anywhere 'EVMM-LINUX: .*ACPI: XVRS 0x' --reject 'EVMM-LINUX: .*ACPI: IVRS ')
fi
cpus_online=0
((smp == 1)) || cpus_online=0-$((smp - 1))
args="console=ttyS0,115200 loglevel=4 nokaslr mitigations=off cryptomgr.notests=1"
if ((suspend)); then
    name=${name/guest0/suspend} args+=" evmm.suspend=mem"
    force_expect+=(--expect-anywhere 'EVMM-LINUX: power states: .*mem'
        --expect-anywhere 'acpi-power: guest0 cpu0 requested an ACPI sleep state \(PM1a_CNT 0x[0-9a-f]+ <- 0x[0-9a-f]+: SLP_TYP [0-9], S5 is [0-9]\): not entered'
        --expect-anywhere 'EVMM-LINUX: suspend to mem returned'
        --expect-anywhere 'EVMM-LINUX: .*PM: suspend entry \(deep\)'
        --expect-anywhere 'EVMM-LINUX: .*ACPI: PM: Low-level resume complete'
        --expect-anywhere 'EVMM-LINUX: .*PM: suspend exit'
        --expect-anywhere "EVMM-LINUX: cpus online after the suspend $cpus_online\$")
fi
# Bochs emulates every CPU in one thread; a 2-CPU Linux boot is ~5 G instructions of cpu0 (~2 min here), but one
# run in several took three times that (timing-dependent waits in Linux's boot): the bound leaves room for it.
timeout_s=$((smp == 1 ? 400 : 1000))
bash "$here/../boot/boot_test.sh" "${emu[@]}" --smp "$smp" --mem 512 --name "$name" --build "$build" --timeout "$timeout_s" \
    --cmdline "loglevel=info serial=com1 testexit=$testexit$opts" \
    --module "$cache/vmlinuz guest0 $args" --module "$cache/initramfs.cpio.gz initrd" \
    --expect 'guest0: Linux bzImage' \
    --expect 'stage 6: launch guest' \
    --expect 'EVMM-LINUX: /init reached' \
    --expect "EVMM-LINUX: cpus online $cpus_online\$" \
    --expect 'EVMM-LINUX: hypervisor flag set' \
    --expect 'EVMM-LINUX: .*BIOS-e820' \
    --expect-anywhere 'loader: acpi: FADT at 0x[0-9a-f]+: PM1a_CNT port 0x[0-9a-f]+' \
    --expect 'guest0 cpu0 powers the machine off \(ACPI S5: PM1a_CNT' \
    --expect 'vm exits: [0-9]+ on [0-9]+ CPUs? \(guest0 power-off\), by reason:' \
    "${exits_expect[@]}" "${force_expect[@]}" \
    --reject 'PANIC' --reject 'evmm: final stop'
work=$build/boot-tests/$name
# evmm's runtime region, from its own log, must not be RAM in Linux's e820.
read -r base size < <(grep -a -o -E 'runtime=0x[0-9a-f]+\+0x[0-9a-f]+' "$work/serial.txt" | head -n1 |
    sed -E 's/runtime=(0x[0-9a-f]+)\+(0x[0-9a-f]+)/\1 \2/')
fail=0
while read -r lo hi; do
    if (( lo < base + size && base <= hi )); then
        echo "FAIL: Linux's e820 has usable RAM $lo-$hi over evmm's runtime region $base+$size" >&2; fail=1
    fi
done < <(grep -a 'EVMM-LINUX: .*BIOS-e820.* usable' "$work/serial.txt" |
    sed -E 's/.*mem (0x[0-9a-f]+)-(0x[0-9a-f]+).*/\1 \2/')
# QEMU's end through the power-off is its exit status 0 (--expect-exit 0 above).
((svm)) || grep -aq 'soft power off' "$work/emu.log" ||
    { echo "FAIL: Bochs did not end through Linux's ACPI power-off" >&2; fail=1; }
((fail == 0)) && echo "PASS: Linux guest0: /init ran under evmm, the runtime region $base+$size is not in its e820, powered off"
exit $fail
