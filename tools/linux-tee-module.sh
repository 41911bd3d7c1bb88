#!/usr/bin/env bash
# The Linux side of the secure world (issue 11, docs/tee-linux.md), for the kernel tools/linux-prepare.sh fetched:
#   OUT/headers/         that kernel's build tree: Debian's linux-headers-RELEASE, linux-headers-ABI-common and
#                        linux-kbuild-MAJOR.MINOR of exactly its version (apt-get download, cached in OUT/debs)
#   OUT/tee/evmm_tee.ko  tools/linux/evmm_tee built against it with the host gcc (Debian 12's gcc-12, the kernel's
#                        compiler); its vermagic is checked against the kernel's release
#   OUT/tee/tee-call     the user tool, static (gcc -static -Os)
#   evmm-log             (in the initramfs) evmm's own log through the driver's /dev/evmm_log (tools/linux/evmm-log)
#   OUT/initramfs-tee.cpio.gz        busybox + all three, an /init that loads the module, calls every service of the
#                                    test TEE on every CPU, reads evmm's log with evmm-log, unloads the module and
#                                    powers off (tests/linux/tee_test.sh)
#   OUT/initramfs-tee-shell.cpio.gz  (--shell) loads the module, then the busybox shell (tools/evmm run --tee)
# Idempotent: downloads and extractions happen once, builds only when a source changed, images are replaced whole
# (a reader of the previous image keeps it); concurrent runs on one OUT_DIR wait for each other (flock).
# usage: tools/linux-tee-module.sh OUT_DIR [--shell]      (OUT_DIR: tools/linux-prepare.sh's, e.g. build/linux)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/linux/evmm_tee
out=$(mkdir -p "$1" && cd "$1" && pwd) shell=${2:-}
[[ -z $shell || $shell == --shell ]] || { echo "usage: tools/linux-tee-module.sh OUT_DIR [--shell]" >&2; exit 2; }
die() {
    echo "linux-tee-module.sh: $*" >&2
    exit 2
}

# One run at a time per OUT_DIR (ctest runs the tee tests in parallel, each calling this): the rest is under a lock.
exec 9>"$out/.linux-tee-module.lock"
flock 9

# The kernel and busybox (tools/linux-prepare.sh; only when missing: it rewrites the plain initramfs, which other
# tests may be reading).
[[ -f $out/vmlinuz && -f $out/busybox ]] || bash "$here/linux-prepare.sh" "$out" >/dev/null

# Which kernel: its bzImage's version string (boot protocol: kernel_version at 0x20E, an offset from 0x200), e.g.
# "6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)".
kver_off=$(od -An -tu2 -j 526 -N 2 "$out/vmlinuz" | tr -d ' ')
kstring=$(dd if="$out/vmlinuz" bs=1 skip=$((kver_off + 512)) count=256 2>/dev/null | tr '\0' '\n' | head -n1)
release=${kstring%% *}
version=$(sed -n 's/.* Debian \([^ ]*\) .*/\1/p' <<<"$kstring")
[[ $release =~ ^([0-9]+\.[0-9]+)\.[0-9]+-([0-9]+)-(.+)$ && -n $version ]] ||
    die "cannot read the kernel's release and Debian version from $out/vmlinuz ('$kstring')"
major_minor=${BASH_REMATCH[1]} abi=${BASH_REMATCH[1]}.0-${BASH_REMATCH[2]}
pkgs=("linux-headers-$release" "linux-headers-$abi-common" "linux-kbuild-$major_minor")

# The headers, extracted once per kernel version and location (the flavour's Makefile includes the common tree by
# absolute path: rewritten to the extracted one).
hroot=$out/headers kdir=$out/headers/usr/src/linux-headers-$release
stamp="$release $version $hroot"
if [[ ! -f $hroot/.stamp || $(<"$hroot/.stamp") != "$stamp" ]]; then
    mkdir -p "$out/debs"
    for p in "${pkgs[@]}"; do
        compgen -G "$out/debs/${p}_${version}_*.deb" >/dev/null && continue
        (cd "$out/debs" && { apt-get download "$p=$version" >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 || true; apt-get download "$p=$version" >/dev/null; }; }) ||
            die "apt-get download $p=$version failed: the archive may have moved past the cached kernel $release" \
                "($version); remove $out to fetch a matching kernel and headers"
    done
    rm -rf "$hroot" && mkdir -p "$hroot"
    for p in "${pkgs[@]}"; do
        dpkg-deb -x "$(compgen -G "$out/debs/${p}_${version}_*.deb" | head -n1)" "$hroot"
    done
    sed -i "s|^include /usr/src/|include $hroot/usr/src/|" "$kdir/Makefile"
    [[ -f $kdir/.config && -x $kdir/scripts/mod/modpost ]] || die "$kdir is not a usable kernel build tree"
    echo "$stamp" >"$hroot/.stamp"
fi

# The module: sources copied into OUT/tee/build only when they changed (kbuild writes its objects next to them),
# so make rebuilds only then. Debian's flavour Makefile names gcc-12.
tee=$out/tee
mkdir -p "$tee/build"
for f in evmm_tee.c evmm_tee_uapi.h Kbuild; do
    cmp -s "$src/$f" "$tee/build/$f" || cp "$src/$f" "$tee/build/$f"
done
command -v gcc-12 >/dev/null 2>&1 || die "gcc-12 not found (Debian 12's gcc, the kernel's compiler: build-essential)"
make -s -C "$kdir" M="$tee/build" modules >"$tee/build.log" 2>&1 ||
    { cat "$tee/build.log" >&2; die "building evmm_tee.ko failed (log above, $tee/build.log)"; }
vermagic=$(objcopy -O binary -j .modinfo "$tee/build/evmm_tee.ko" /dev/stdout | tr '\0' '\n' |
    sed -n 's/^vermagic=//p')
[[ ${vermagic%% *} == "$release" ]] || die "evmm_tee.ko's vermagic '$vermagic' does not match the kernel $release"
# Without its debug information (as Debian installs modules): the initramfs carries 20 KiB, not 300.
objcopy --strip-debug "$tee/build/evmm_tee.ko" "$tee/evmm_tee.ko.tmp"
if cmp -s "$tee/evmm_tee.ko.tmp" "$tee/evmm_tee.ko"; then
    rm -f "$tee/evmm_tee.ko.tmp"
else
    mv "$tee/evmm_tee.ko.tmp" "$tee/evmm_tee.ko"
fi

# The tool: static, so the busybox initramfs needs no C library.
if [[ ! -x $tee/tee-call || $src/tee-call.c -nt $tee/tee-call || $src/evmm_tee_uapi.h -nt $tee/tee-call ||
    $here/../include/evmm_tee.h -nt $tee/tee-call ]]; then
    gcc -static -Os -s -Wall -Wextra -Werror -I"$here/../include" -I"$src" -o "$tee/tee-call.tmp" "$src/tee-call.c"
    mv "$tee/tee-call.tmp" "$tee/tee-call"
fi

# The initramfs.
name=initramfs-tee
[[ $shell != --shell ]] || name=initramfs-tee-shell
root=$out/$name
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,lib/modules}
cp "$out/busybox" "$root/bin/busybox"
for a in sh mount cat grep sed dmesg poweroff sleep echo insmod rmmod seq tail wc; do ln -sf busybox "$root/bin/$a"; done
cp "$tee/evmm_tee.ko" "$root/lib/modules/evmm_tee.ko"
cp "$tee/tee-call" "$root/bin/tee-call"
install -m 0755 "$here/linux/evmm-log" "$root/bin/evmm-log"
if [[ $shell == --shell ]]; then
    tail_cmd='/bin/busybox --install -s
export PS1="guest0 \\w # " HOME=/root
echo "EVMM-LINUX: shell ready (busybox); try: tee-call mac hello, tee-call -c 1 counter, tee-call selftest, evmm-log | tail (evmm'"'"'s own log), dmesg | grep evmm_tee; poweroff -f ends the demo"
cd /root
exec setsid cttyhack /bin/sh'
else
    # Every service on every online CPU (pinned with tee-call -c), in order: the test reads the counter's values
    # in the order printed. Then a clean unload.
    # shellcheck disable=SC2016  # expanded by /init, not here
    tail_cmd='fail=0
[ -c /dev/evmm_tee ] || { echo "EVMM-TEE: no /dev/evmm_tee: calls skipped"; sleep 1; poweroff -f; }
for c in /sys/devices/system/cpu/cpu[0-9]*; do
    n=${c##*/cpu}
    if [ -f "$c/online" ] && [ "$(cat "$c/online")" = 0 ]; then continue; fi
    tee-call -c "$n" echo 1 22 333 || fail=$((fail + 1))
    tee-call -c "$n" add 40 2 || fail=$((fail + 1))
    tee-call -c "$n" counter || fail=$((fail + 1))
    tee-call -c "$n" counter || fail=$((fail + 1))
    tee-call -c "$n" mac hello || fail=$((fail + 1))
    tee-call -c "$n" mac "hello, world" || fail=$((fail + 1))
    tee-call -c "$n" selftest || fail=$((fail + 1))
done
echo "EVMM-TEE: calls done, $fail failed"
# evmm'"'"'s own log, read from guest0 (VMCALL LOG_READ through /dev/evmm_log): its size and the lines the test wants.
echo "EVMM-LOG: $(evmm-log | wc -l) lines"
evmm-log | grep -e "stage 6: launch guest" -e "guest0: Linux bzImage" | sed "s/^/EVMM-LOG: /"
if rmmod evmm_tee; then echo "EVMM-TEE: evmm_tee unloaded"; else echo "EVMM-TEE: rmmod evmm_tee failed"; fi
sleep 1; poweroff -f'
fi
cat >"$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "EVMM-LINUX: /init reached"
echo "EVMM-LINUX: cpus online \$(cat /sys/devices/system/cpu/online)"
if insmod /lib/modules/evmm_tee.ko; then echo "EVMM-TEE: evmm_tee.ko loaded"; else echo "EVMM-TEE: insmod evmm_tee.ko failed"; fi
dmesg | grep 'evmm_tee: ' | sed 's/^.*evmm_tee: /EVMM-TEE: driver: /'
$tail_cmd
INIT
chmod +x "$root/init"
img=$root.cpio.gz
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$img.tmp"
mv "$img.tmp" "$img"
echo "linux-tee-module.sh: $tee/evmm_tee.ko (vermagic $vermagic), $tee/tee-call, $img ($(stat -c %s "$img") bytes)"
