#!/usr/bin/env bash
# Linux as guest0 calls the secure world (issue 11, docs/tee-linux.md): evmm boots the test TEE (BUILD/guests/tee.elf,
# GRUB module role `tee`) and Debian's cloud kernel with the tee initramfs (tools/linux-tee-module.sh): /init loads
# evmm_tee.ko, calls every service of the test TEE through /dev/evmm_tee on every CPU (tee-call -c N), unloads the
# module and powers off. Passes when every call answered as expected on every CPU, the counter only went up across
# CPUs, the MAC of a text is the same on every CPU and differs between texts, evmm-log (evmm's own log through the
# driver's /dev/evmm_log, VMCALL LOG_READ: issue 13) printed evmm's stage 6 line and the line about guest0's bzImage,
# the module unloaded, and Bochs ended through Linux's ACPI power-off.
# --no-tee: the same Linux without a `tee` module: the driver loads, and every call gets "no TEE" (-19) back.
# usage: tests/linux/tee_test.sh BUILD_DIR [--smp N] [--no-tee]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd) smp=2 tee=1
shift
while (($#)); do
    case $1 in
    --smp) smp=$2; shift 2 ;;
    --no-tee) tee=0; shift ;;
    *) echo "usage: tests/linux/tee_test.sh BUILD_DIR [--smp N] [--no-tee]" >&2; exit 2 ;;
    esac
done
cache=$build/linux
tee_elf=$build/guests/tee.elf
if ((tee)) && [[ ! -f $tee_elf ]]; then
    echo "tee_test.sh: $tee_elf does not exist (the test TEE of issue 11, tests/guests)" >&2
    exit 2
fi
bash "$here/../../tools/linux-tee-module.sh" "$cache" >/dev/null
cpus_online=0
((smp == 1)) || cpus_online=0-$((smp - 1))
args="console=ttyS0,115200 loglevel=4 nokaslr mitigations=off cryptomgr.notests=1"
timeout_s=$((smp == 1 ? 400 : 1000)) # as tests/linux/linux_test.sh: a 2-CPU Linux boot in Bochs takes minutes
name=linux_tee_smp$smp modules=()
if ((tee)); then
    modules+=(--module "$tee_elf tee")
else
    name=linux_tee_none_smp$smp
fi
expects=()
if ((tee)); then
    expects+=(--expect 'EVMM-TEE: driver: evmm detected, the TEE answers')
    for ((n = 0; n < smp; n++)); do
        expects+=(
            --expect "^tee-call: echo 1 22 333 = 1 22 333 \\[cpu $n\\]"
            --expect "^tee-call: add 40 2 = 42 \\[cpu $n\\]"
            --expect "^tee-call: counter = [0-9]+ \\[cpu $n\\]"
            --expect "^tee-call: counter = [0-9]+ \\[cpu $n\\]"
            --expect "^tee-call: mac \"hello\" = 0x[0-9a-f]{16} \\[cpu $n\\]"
            --expect "^tee-call: mac \"hello, world\" = 0x[0-9a-f]{16} \\[cpu $n\\]"
            --expect "^tee-call: selftest = [1-9][0-9]* passed, 0 failed \\[cpu $n\\]")
    done
    expects+=(--expect 'EVMM-TEE: calls done, 0 failed' --reject '^tee-call: [^=]*$')
else
    expects+=(--expect 'EVMM-TEE: driver: evmm detected, no TEE'
        --expect '^tee-call: echo 1 22 333: no TEE'
        --expect "EVMM-TEE: calls done, $((7 * smp)) failed" --reject '^tee-call: [^:]*= ')
fi
bash "$here/../boot/boot_test.sh" --emu bochs --smp "$smp" --mem 512 --name "$name" --build "$build" \
    --timeout "$timeout_s" --cmdline "loglevel=info serial=com1 testexit=bochs" \
    "${modules[@]}" --module "$cache/vmlinuz guest0 $args" --module "$cache/initramfs-tee.cpio.gz initrd" \
    --expect 'guest0: Linux bzImage' \
    --expect 'stage 6: launch guest' \
    --expect 'EVMM-LINUX: /init reached' \
    --expect "EVMM-LINUX: cpus online $cpus_online\$" \
    --expect 'EVMM-TEE: evmm_tee.ko loaded' \
    --expect 'EVMM-TEE: driver: hypercall: VMCALL; /dev/evmm_log ready' \
    "${expects[@]}" \
    --expect '^EVMM-LOG: [1-9][0-9]* lines$' \
    --expect '^EVMM-LOG: \[cpu0\] stage 4: guest0: Linux bzImage at 0x' \
    --expect '^EVMM-LOG: \[cpu0\] stage 6: launch guest$' \
    --expect 'EVMM-TEE: evmm_tee unloaded' \
    --expect 'guest0 cpu0 powers the machine off \(ACPI S5: PM1a_CNT' \
    --reject 'PANIC' --reject 'evmm: final stop' --reject 'EVMM-TEE: insmod evmm_tee.ko failed'
work=$build/boot-tests/$name
fail=0
grep -aq 'soft power off' "$work/emu.log" || { echo "FAIL: Bochs did not end through Linux's ACPI power-off" >&2; fail=1; }
if ((tee)); then
    serial=$(tr -d '\r' <"$work/serial.txt")
    # The counter, in the order of the calls (cpu 0's two, then cpu 1's, ...): strictly increasing.
    prev=-1
    while read -r v; do
        ((v > prev)) || { echo "FAIL: the TEE's counter went from $prev to $v" >&2; fail=1; }
        prev=$v
    done < <(sed -n 's/^tee-call: counter = \([0-9]*\) .*/\1/p' <<<"$serial")
    # One MAC per text on every CPU (one key), two texts, two MACs, neither 0.
    mapfile -t mac1 < <(sed -n 's/^tee-call: mac "hello" = \(0x[0-9a-f]*\) .*/\1/p' <<<"$serial" | sort -u)
    mapfile -t mac2 < <(sed -n 's/^tee-call: mac "hello, world" = \(0x[0-9a-f]*\) .*/\1/p' <<<"$serial" | sort -u)
    if ((${#mac1[@]} != 1 || ${#mac2[@]} != 1)); then
        echo "FAIL: the MAC of a text differs between CPUs: ${mac1[*]} / ${mac2[*]}" >&2; fail=1
    elif [[ ${mac1[0]} == "${mac2[0]}" || ${mac1[0]} =~ ^0x0+$ ||
    ${mac2[0]} =~ ^0x0+$ ]]; then
        echo "FAIL: MAC(\"hello\") ${mac1[0]}, MAC(\"hello, world\") ${mac2[0]}: equal or zero" >&2; fail=1
    fi
fi
if ((fail == 0)); then
    if ((tee)); then
        echo "PASS: Linux called the TEE through evmm_tee.ko on $smp CPU(s): echo, add, counter, MAC, self-test"
    else
        echo "PASS: without a TEE, evmm_tee.ko loaded and every call got 'no TEE' back on $smp CPU(s)"
    fi
fi
exit $fail
