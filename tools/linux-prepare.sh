#!/usr/bin/env bash
# Prepares a real Linux guest0 for the tests and the demo, from Debian packages (nothing is committed):
#   OUT/vmlinuz          Debian's cloud kernel (linux-image-cloud-amd64's kernel, LZ4, boots fast in Bochs)
#   OUT/initramfs.cpio.gz  busybox-static + an /init that prints facts about the machine and powers off (with
#                          `evmm.suspend=mem` on the kernel command line it suspends to RAM first, ACPI S3)
#   OUT/initramfs-shell.cpio.gz  (--shell) the same facts, then an interactive busybox shell on the console (the demo)
# usage: tools/linux-prepare.sh OUT_DIR [--shell]
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd) shell=${2:-}
mkdir -p "$out/debs"
cd "$out/debs"

download() { # PACKAGE
    apt-get download "$1" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 || true; apt-get download "$1" >/dev/null; }
}
if [[ ! -f $out/vmlinuz ]]; then
    kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
    if [[ -z $kpkg ]]; then
        apt-get update >/dev/null 2>&1 || true
        kpkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
    fi
    [[ -n $kpkg ]] || { echo "linux-prepare.sh: cannot resolve linux-image-cloud-amd64" >&2; exit 2; }
    download "$kpkg"
    rm -rf kx && mkdir kx && dpkg-deb -x "$kpkg"_*.deb kx
    cp kx/boot/vmlinuz-* "$out/vmlinuz"
    rm -rf kx
fi
if [[ ! -f $out/busybox ]]; then
    download busybox-static
    rm -rf bx && mkdir bx && dpkg-deb -x busybox-static_*.deb bx
    cp bx/bin/busybox "$out/busybox"
    rm -rf bx
fi

root=$out/initramfs
[[ $shell != --shell ]] || root=$out/initramfs-shell
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root}
cp "$out/busybox" "$root/bin/busybox"
for a in sh mount cat grep dmesg poweroff sleep echo; do ln -sf busybox "$root/bin/$a"; done
if [[ $shell == --shell ]]; then
    # All applets, a prompt that says where it runs, job control through cttyhack (the console is ttyS0).
    tail_cmd='/bin/busybox --install -s
export PS1="guest0 \\w # " HOME=/root
echo "EVMM-LINUX: shell ready (busybox); try: cat /proc/cpuinfo | grep -m1 flags, dmesg | grep -i e820, free -m; poweroff -f ends the demo"
cd /root
exec setsid cttyhack /bin/sh'
else
    tail_cmd='sleep 1; poweroff -f'
fi
cat >"$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "EVMM-LINUX: /init reached"
echo "EVMM-LINUX: cpus online \$(cat /sys/devices/system/cpu/online)"
if grep -q '^flags.* hypervisor' /proc/cpuinfo; then echo "EVMM-LINUX: hypervisor flag set"; else echo "EVMM-LINUX: hypervisor flag absent"; fi
echo "EVMM-LINUX: \$(grep MemTotal /proc/meminfo)"
dmesg | grep -i 'BIOS-e820' | sed 's/^/EVMM-LINUX: /'
dmesg | grep -E 'ACPI: (DMAR|IVRS|XMAR|XVRS) ' | sed 's/^/EVMM-LINUX: /'
if grep -q 'evmm.suspend=mem' /proc/cmdline; then
    echo "EVMM-LINUX: power states: \$(cat /sys/power/state); mem_sleep: \$(cat /sys/power/mem_sleep)"
    if echo mem >/sys/power/state; then echo "EVMM-LINUX: suspend to mem returned"; else echo "EVMM-LINUX: suspend to mem failed"; fi
    dmesg | grep -E 'PM: suspend|ACPI: PM|resume|Enabling non-boot|CPU[0-9]+ is up' | sed 's/^/EVMM-LINUX: /'
    echo "EVMM-LINUX: cpus online after the suspend \$(cat /sys/devices/system/cpu/online)"
fi
$tail_cmd
INIT
chmod +x "$root/init"
img=$root.cpio.gz
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$img"
echo "linux-prepare.sh: $out/vmlinuz ($(stat -c %s "$out/vmlinuz") bytes), $img ($(stat -c %s "$img") bytes)"
