#!/usr/bin/env bash
# `tools/evmm install` and `uninstall` on a Debian-like system (issue 13, docs/hardware.md), without loop devices,
# mounts or root privileges: the system is a directory tree (ROOT) with Debian's layout, two kernels in ROOT/boot and
# /etc/default/grub, which `tools/evmm install --root ROOT` equips; ROOT/etc/grub.d's scripts then make grub.cfg.
#
# usage: tests/install/install_test.sh BUILD_DIR files|boot
#   files  (ctest install_files) the files install writes and their modes, the errors (no such root, no evmm.elf,
#          no GRUB, not root), install twice = once, the generated menu entries line by line (one per kernel, newest
#          first, evmm's options from /etc/default/evmm, guest0 with root= and /etc/default/grub's command line,
#          the initrd module where the kernel has one), GRUB_DISABLE_EVMM, uninstall (an unchanged
#          /etc/default/evmm removed, an edited one kept, the tree as before install, no evmm entry left).
#   boot   (ctest install_disk_boot) the same install, then a BIOS disk image made from ROOT: an MBR with GRUB's
#          boot.img, GRUB's i386-pc core image (grub-mkimage) in the gap before the partition, ROOT as an ext2
#          partition (mke2fs -d) with GRUB's modules and the grub.cfg; booted in Bochs (VT-x) to guest0 Linux's
#          power-off and in QEMU (TCG, no VT-x) to evmm's VT-x stop (tests/boot/boot_test.sh --disk).
#
# grub.cfg is made the way grub-mkconfig makes it, minus what needs this machine's disks: a stand-in for 00_header
# (serial console, timeout 0, a fallback entry that prints "evmm-iso: GRUB could not boot evmm"), then every
# executable ROOT/etc/grub.d script in order, with /etc/default/grub's settings and GRUB_DEVICE/GRUB_DEVICE_UUID in
# the environment and EVMM_ROOT=ROOT (grub-mkconfig itself always reads this machine's /etc and probes its disks).
# grub-install is not used: it probes the device holding --boot-directory, which needs the image mounted (a loop
# device); grub-mkimage + dd write the same two boot sectors and core image that grub-install writes on a BIOS disk.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
EVMM_PROG=install_test.sh
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

(($# == 2)) || evmm_die "usage: tests/install/install_test.sh BUILD_DIR files|boot"
build=$(cd "$1" && pwd)
mode=$2
[[ $mode == files || $mode == boot ]] || evmm_die "mode must be files or boot, not '$mode'"
name=install_$mode
work=$build/install-tests/$mode
rm -rf "$work"
mkdir -p "$work"
elf=$build/evmm.elf
[[ -f $elf ]] || evmm_die "$elf does not exist (build first)"

K1=6.1.0-99-cloud-amd64 # newest: with an initrd
K2=6.1.0-9-cloud-amd64  # older: no initrd (root= is then the device, not UUID=)
UUID=6a1f3e54-2c4b-4d7e-9a8f-e5a11c0de013
GRUB_LINUX_ARGS="console=ttyS0,115200"                                   # the tree's GRUB_CMDLINE_LINUX
GRUB_LINUX_DEFAULT_ARGS="loglevel=4 nokaslr mitigations=off cryptomgr.notests=1" # ... GRUB_CMDLINE_LINUX_DEFAULT

fail() {
    echo "FAIL: $name: $*" >&2
    exit 1
}
ok() { echo "ok: $*"; }

# Runs tools/evmm with the build directory; the exit status must be RC; the output is kept in OUT.
evmm_cmd() { # RC OUT ARGS...
    local want=$1 out=$2 rc=0
    shift 2
    EVMM_BUILD_DIR=$build EVMM_SKIP_DEPS=1 bash "$repo/tools/evmm" "$@" >"$out" 2>&1 || rc=$?
    if ((rc != want)); then
        echo "---- tools/evmm $* (exit status $rc, expected $want) ----" >&2
        cat "$out" >&2
        fail "tools/evmm $*: exit status $rc, expected $want"
    fi
}
must_say() { # OUT REGEX WHAT
    grep -qE -e "$2" "$1" || { cat "$1" >&2; fail "$3: no line matches '$2'"; }
}

# A Debian-like root: two kernels (the same bzImage, hard-linked), K1's initrd (the Linux test's initramfs, whose
# /init prints what it sees and powers off), a dpkg leftover that must get no entry, /etc/default/grub, 40_custom.
# Mode files: stand-ins for the kernel and the initrd (nothing boots them).
make_tree() { # DIR
    local t=$1
    mkdir -p "$t/boot" "$t/etc/grub.d" "$t/etc/default"
    if [[ $mode == boot ]]; then
        bash "$repo/tools/linux-prepare.sh" "$build/linux" >/dev/null || evmm_die "tools/linux-prepare.sh failed"
        cp "$build/linux/vmlinuz" "$t/boot/vmlinuz-$K1"
        cp "$build/linux/initramfs.cpio.gz" "$t/boot/initrd.img-$K1"
    else
        echo "a kernel" >"$t/boot/vmlinuz-$K1"
        echo "an initrd" >"$t/boot/initrd.img-$K1"
    fi
    ln "$t/boot/vmlinuz-$K1" "$t/boot/vmlinuz-$K2"
    echo leftover >"$t/boot/vmlinuz-$K1.dpkg-bak"
    cat >"$t/etc/default/grub" <<EOF
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_LINUX_DEFAULT_ARGS"
GRUB_CMDLINE_LINUX="$GRUB_LINUX_ARGS"
EOF
    # shellcheck disable=SC2016  # $0 is for the script
    printf '#!/bin/sh\nexec tail -n +3 $0\n# Custom entries (Debian'"'"'s 40_custom): none.\n' >"$t/etc/grub.d/40_custom"
    chmod 0755 "$t/etc/grub.d/40_custom"
}

# Every file and directory of the tree with type, mode, size and checksum; GRUB's own boot/grub is left out.
snapshot() { # DIR
    (cd "$1" && find . -path ./boot/grub -prune -o -printf '%p %y %m %s\n' | LC_ALL=C sort &&
        find . -path ./boot/grub -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum)
}

# grub.cfg as grub-mkconfig would make it for the system under DIR (see the header of this file).
mkconfig() { # DIR OUT
    local t=$1 out=$2 body n
    body=$(
        set -a
        # shellcheck disable=SC1091
        . "$t/etc/default/grub"
        set +a
        export EVMM_ROOT=$t pkgdatadir=/usr/share/grub GRUB_DEVICE=/dev/sda1 GRUB_DEVICE_UUID=$UUID GRUB_FS=ext2
        for s in "$t"/etc/grub.d/*; do
            [[ -f $s && -x $s ]] || continue
            echo "### BEGIN /etc/grub.d/${s##*/} ###"
            "$s" 2>>"$work/mkconfig.stderr"
            echo "### END /etc/grub.d/${s##*/} ###"
        done
    ) || fail "an /etc/grub.d script failed: $(cat "$work/mkconfig.stderr")"
    n=$(grep -c '^menuentry ' <<<"$body" || true)
    cat >"$out" <<EOF
# made by tests/install/install_test.sh: a stand-in for 00_header, then the system's /etc/grub.d scripts
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
set default=0
set fallback=$n
if [ x\$feature_menuentry_id = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
$body
menuentry 'GRUB could not boot the default entry' {
	echo "evmm-iso: GRUB could not boot evmm (see the errors above)"
	halt
}
EOF
    grub-script-check "$out" || fail "$out: grub-script-check refuses it"
}

# The evmm menu entries the tree must produce, given evmm's options EVMM and the extra guest0 words EXTRA.
expected_entries() { # EVMM EXTRA
    local k initrd root
    for k in "$K1" "$K2"; do
        root=UUID=$UUID initrd=1
        [[ $k == "$K1" ]] || root=/dev/sda1 initrd=0
        echo "menuentry 'Debian GNU/Linux, with evmm and Linux $k' --class evmm --class debian --class gnu-linux --class gnu --class os \$menuentry_id_option 'evmm-gnulinux-$k' {"
        # shellcheck disable=SC2016  # a GRUB variable, expanded by GRUB
        printf '\tif [ "${grub_platform}" = efi ]; then insmod all_video; fi\n'
        printf "\techo\t'Loading evmm ...'\n"
        printf '\tmultiboot2\t/boot/evmm.elf %s\n' "$1"
        printf "\techo\t'Loading Linux %s as guest0 ...'\n" "$k"
        printf '\tmodule2\t/boot/vmlinuz-%s guest0 root=%s ro %s %s%s\n' "$k" "$root" "$GRUB_LINUX_ARGS" \
            "$GRUB_LINUX_DEFAULT_ARGS" "${2:+ $2}"
        if ((initrd)); then
            printf "\techo\t'Loading initial ramdisk ...'\n"
            printf '\tmodule2\t/boot/initrd.img-%s initrd\n' "$k"
        fi
        echo "}"
    done
}
evmm_entries() { # GRUB_CFG
    awk '/^### BEGIN \/etc\/grub.d\/20_linux_evmm ###/ { on = 1; next } /^### END/ { on = 0 } on' "$1"
}
check_entries() { # GRUB_CFG EVMM EXTRA
    if ! diff -u <(expected_entries "$2" "$3") <(evmm_entries "$1") >"$1.diff"; then
        cat "$1.diff" >&2
        fail "$1: the evmm menu entries are not the expected ones (diff above: - expected, + generated)"
    fi
    grep -q 'dpkg-bak' "$1" && fail "$1: a menu entry for the dpkg leftover vmlinuz-$K1.dpkg-bak"
    ok "$1: the two evmm entries, newest kernel first, evmm options '$2'"
}

# Sets EVMM_CMDLINE / EVMM_GUEST0_EXTRA in ROOT/etc/default/evmm, as a user edits it.
set_default() { # DIR VAR VALUE
    grep -q "^$2=" "$1/etc/default/evmm" || fail "$1/etc/default/evmm has no $2= line"
    sed -i "s|^$2=.*|$2=\"$3\"|" "$1/etc/default/evmm"
}

root=$work/root
make_tree "$root"
before=$work/before.txt
snapshot "$root" >"$before"

# ---- install ----------------------------------------------------------------------------------------------------
out=$work/out.txt
if [[ $mode == files ]]; then
    # Errors: each clear, and nothing written.
    evmm_cmd 2 "$out" install --root "$root" --bogus
    must_say "$out" "error: install: unknown argument '--bogus'" "install with an unknown option"
    evmm_cmd 2 "$out" install --root "$work/no-such-dir"
    must_say "$out" 'error: --root .*/no-such-dir: no such directory' "install --root with a missing directory"
    evmm_cmd 2 "$out" install --root "$root" --elf "$work/missing.elf"
    must_say "$out" 'error: no evmm.elf at .*/missing.elf \(build it: tools/evmm build\)' "install --elf missing"
    mkdir -p "$work/nogrub/boot" "$work/nogrub/etc"
    evmm_cmd 2 "$out" install --root "$work/nogrub"
    must_say "$out" 'error: .*/nogrub/etc/grub.d does not exist: GRUB 2 is not installed there' "install without GRUB"
    [[ -z $(find "$work/nogrub" -type f) ]] || fail "install without GRUB wrote $(find "$work/nogrub" -type f)"
    # Not root, on the running system: refused before anything is looked at (as root here: run as nobody).
    if ((EUID != 0)); then
        evmm_cmd 2 "$out" install --no-update-grub
    elif command -v setpriv >/dev/null 2>&1 && setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$elf"; then
        rc=0
        setpriv --reuid=65534 --regid=65534 --clear-groups env EVMM_BUILD_DIR="$build" EVMM_SKIP_DEPS=1 \
            bash "$repo/tools/evmm" install --no-update-grub >"$out" 2>&1 || rc=$?
        ((rc == 2)) || { cat "$out" >&2; fail "install as nobody: exit status $rc, expected 2"; }
    else
        echo "note: running as root without setpriv or a build directory nobody can read: 'not root' unchecked"
        echo "error: writing /boot and /etc/grub.d needs root" >"$out"
    fi
    must_say "$out" 'error: writing /boot and /etc/grub.d needs root: sudo tools/evmm install' "install as non-root"
    cmp -s "$before" <(snapshot "$root") || fail "a refused install changed $root"
    ok "refused: an unknown option, a missing --root, a missing evmm.elf, a system without GRUB, a non-root user"
fi

# No --elf: tools/evmm takes BUILD/evmm.elf (there already: no build).
evmm_cmd 0 "$out" install --root "$root"
must_say "$out" "wrote $root/boot/evmm.elf" "install"
must_say "$out" "wrote $root/etc/grub.d/20_linux_evmm" "install"
must_say "$out" "wrote $root/etc/default/evmm" "install"
must_say "$out" "update-grub was not run for the system under $root" "install --root"
cmp -s "$elf" "$root/boot/evmm.elf" || fail "$root/boot/evmm.elf is not $elf"
cmp -s "$repo/tools/install/20_linux_evmm" "$root/etc/grub.d/20_linux_evmm" || fail "20_linux_evmm differs"
cmp -s "$repo/tools/install/default-evmm" "$root/etc/default/evmm" || fail "/etc/default/evmm differs"
for f in boot/evmm.elf:644 etc/grub.d/20_linux_evmm:755 etc/default/evmm:644; do
    m=$(stat -c %a "$root/${f%:*}")
    [[ $m == "${f#*:}" ]] || fail "$root/${f%:*} has mode $m, expected ${f#*:}"
done
# Nothing else: the snapshot without the three files is the one from before.
diff "$before" <(snapshot "$root" | grep -vE '(boot/evmm\.elf|etc/grub\.d/20_linux_evmm|etc/default/evmm)( |$)') >&2 ||
    fail "install changed more than its three files (above)"
[[ $(snapshot "$root" | grep -cE '(boot/evmm\.elf|etc/grub\.d/20_linux_evmm|etc/default/evmm)( |$)') == 6 ]] ||
    fail "the three installed files are not all in the tree"
ok "install --root: boot/evmm.elf (0644), etc/grub.d/20_linux_evmm (0755), etc/default/evmm (0644), nothing else"

# The defaults: evmm's options "loglevel=info serial=com1", no extra guest0 words.
mkconfig "$root" "$work/grub.cfg.default"
check_entries "$work/grub.cfg.default" "loglevel=info serial=com1" ""

if [[ $mode == files ]]; then
    after1=$work/after-install.txt
    snapshot "$root" >"$after1"
    evmm_cmd 0 "$out" install --root "$root"
    must_say "$out" "$root/boot/evmm.elf is up to date" "install twice"
    must_say "$out" "kept $root/etc/default/evmm \(exists already" "install twice"
    cmp -s "$after1" <(snapshot "$root") || fail "a second install changed the tree"
    ok "install twice = install once"

    # GRUB_DISABLE_EVMM=true: no evmm entries.
    cp "$root/etc/default/evmm" "$work/default.saved"
    echo GRUB_DISABLE_EVMM=true >>"$root/etc/default/evmm"
    mkconfig "$root" "$work/grub.cfg.disabled"
    [[ -z $(evmm_entries "$work/grub.cfg.disabled") ]] || fail "GRUB_DISABLE_EVMM=true still gives evmm entries"
    cp "$work/default.saved" "$root/etc/default/evmm"
    ok "GRUB_DISABLE_EVMM=true: no evmm entries"

    # Uninstall of an unchanged install: the tree as before, and no evmm entry in the regenerated grub.cfg.
    evmm_cmd 0 "$out" uninstall --root "$root"
    must_say "$out" "removed $root/boot/evmm.elf" "uninstall"
    must_say "$out" "removed $root/etc/grub.d/20_linux_evmm" "uninstall"
    must_say "$out" "removed $root/etc/default/evmm \(unchanged since install\)" "uninstall"
    diff "$before" <(snapshot "$root") >&2 || fail "after uninstall the tree differs from before install (above)"
    mkconfig "$root" "$work/grub.cfg.uninstalled"
    ! grep -qE 'evmm\.elf|with evmm|20_linux_evmm' "$work/grub.cfg.uninstalled" ||
        fail "$work/grub.cfg.uninstalled still has evmm in it"
    grep -q '^### BEGIN /etc/grub.d/40_custom ###' "$work/grub.cfg.uninstalled" || fail "40_custom did not run"
    evmm_cmd 0 "$out" uninstall --root "$root"
    must_say "$out" "nothing of evmm's was installed in $root" "uninstall twice"
    ok "uninstall: the tree as before install, no evmm in grub.cfg; a second uninstall has nothing to do"

    # An edited /etc/default/evmm is the user's: install keeps it, uninstall leaves it.
    evmm_cmd 0 "$out" install --root "$root" --elf "$elf"
    set_default "$root" EVMM_CMDLINE "loglevel=debug serial=com2"
    set_default "$root" EVMM_GUEST0_EXTRA "console=tty0 evmm_install_test=1"
    mkconfig "$root" "$work/grub.cfg.edited"
    check_entries "$work/grub.cfg.edited" "loglevel=debug serial=com2" "console=tty0 evmm_install_test=1"
    cp "$root/etc/default/evmm" "$work/default.edited"
    evmm_cmd 0 "$out" install --root "$root"
    cmp -s "$work/default.edited" "$root/etc/default/evmm" || fail "install overwrote an edited /etc/default/evmm"
    evmm_cmd 0 "$out" uninstall --root "$root"
    must_say "$out" "kept $root/etc/default/evmm: it was changed after install" "uninstall with an edited default"
    cmp -s "$work/default.edited" "$root/etc/default/evmm" || fail "uninstall changed an edited /etc/default/evmm"
    rm "$root/etc/default/evmm"
    diff "$before" <(snapshot "$root") >&2 || fail "uninstall left more than the edited /etc/default/evmm (above)"
    ok "an edited /etc/default/evmm: used by the entries, kept by install and by uninstall"
    echo "PASS: $name"
    exit 0
fi

# ---- boot: a BIOS disk image of the tree ------------------------------------------------------------------------
PATH=$PATH:/usr/sbin:/sbin # mke2fs, for a user whose PATH has no sbin (Debian's default)
evmm_need mke2fs e2fsprogs
evmm_need grub-mkimage grub-common
grub_lib=/usr/lib/grub/i386-pc
[[ -f $grub_lib/boot.img && -f $grub_lib/kernel.img ]] || evmm_die "GRUB's BIOS files are missing (grub-pc-bin)"
# What grub-install puts into /boot/grub: the modules (normal, multiboot2, ...) that the core image loads.
mkdir -p "$root/boot/grub/i386-pc"
cp "$grub_lib"/*.mod "$grub_lib"/*.lst "$root/boot/grub/i386-pc/"
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2 ||
    fail "grub-mkimage failed"
core_sectors=$((($(stat -c %s "$work/core.img") + 511) / 512))
((core_sectors < 2047)) || fail "GRUB's core image ($core_sectors sectors) does not fit before the partition"

# DISK EMU: the disk image for the emulator EMU (bochs, qemu): evmm's testexit for it in /etc/default/evmm (as a user
# would set options there), grub.cfg, the ext2 file system, MBR + core image + partition.
make_disk() { # DISK EMU
    local disk=$1 emu=$2 part=$work/part.img mib part_sectors total cyl=$((16 * 63))
    set_default "$root" EVMM_CMDLINE "loglevel=info serial=com1 testexit=$emu"
    set_default "$root" EVMM_GUEST0_EXTRA "evmm_install_test=1"
    mkconfig "$root" "$root/boot/grub/grub.cfg"
    check_entries "$root/boot/grub/grub.cfg" "loglevel=info serial=com1 testexit=$emu" "evmm_install_test=1"
    cp "$root/boot/grub/grub.cfg" "$work/grub.cfg.$emu"
    mib=$(($(du -s -m "$root" | cut -f1) * 5 / 4 + 4))
    rm -f "$part"
    mke2fs -q -F -t ext2 -L evmmroot -U "$UUID" -d "$root" "$part" "${mib}M" >/dev/null || fail "mke2fs -d failed"
    part_sectors=$((mib * 2048))
    total=$(((2048 + part_sectors + cyl - 1) / cyl * cyl)) # whole cylinders of 16 heads x 63 sectors (Bochs)
    rm -f "$disk"
    truncate -s $((total * 512)) "$disk"
    # The MBR: GRUB's boot.img (its first 440 bytes: code and the core image's sector, 1), one partition entry
    # (active, type 0x83 Linux, LBA 2048, CHS fields "beyond 1024 cylinders"), the 0x55AA signature.
    dd if="$grub_lib/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
    le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24)); }
    printf '%b' "\\x80\\xfe\\xff\\xff\\x83\\xfe\\xff\\xff$(le32 2048)$(le32 "$part_sectors")" |
        dd of="$disk" bs=1 seek=446 conv=notrunc status=none
    printf '\x55\xaa' | dd of="$disk" bs=1 seek=510 conv=notrunc status=none
    dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
    dd if="$part" of="$disk" bs=512 seek=2048 conv=notrunc status=none
    rm -f "$part"
    [[ $(od -An -tx1 -j 510 -N 2 "$disk" | tr -d ' ') == 55aa ]] || fail "$disk: no MBR signature"
    echo "disk image $disk: $((total / 2048)) MiB, core image $core_sectors sectors, ext2 partition ${mib} MiB"
}

boot_test=$repo/tests/boot/boot_test.sh
# guest0's command line as the loader logs it: whole, or (a long one) cut, with its length.
args="root=UUID=$UUID ro $GRUB_LINUX_ARGS $GRUB_LINUX_DEFAULT_ARGS evmm_install_test=1"
args_re="\"(${args//./\\.}\"|root=UUID=$UUID ro [^\"]*\\.\\.\\.\" \\(${#args} characters\\))"
loader_expect=(
    --expect 'loader: evmm loader, booted by "GRUB '
    --expect "loader: command line \"loglevel=info serial=com1 testexit=(bochs|qemu)\""
    --expect "loader: module 0: 0x[0-9a-f]+-0x[0-9a-f]+ role guest0 args $args_re"
    --expect 'loader: module 1: 0x[0-9a-f]+-0x[0-9a-f]+ role initrd args ""')

make_disk "$work/disk-bochs.img" bochs
bash "$boot_test" --emu bochs --smp 1 --mem 512 --name install_disk_bochs --build "$build" --timeout 400 \
    --disk "$work/disk-bochs.img" "${loader_expect[@]}" \
    --expect 'guest0: Linux bzImage' \
    --expect 'stage 6: launch guest' \
    --expect 'EVMM-LINUX: /init reached' \
    --expect 'EVMM-LINUX: hypervisor flag set' \
    --expect 'guest0 cpu0 powers the machine off \(ACPI S5: PM1a_CNT' \
    --expect 'vm exits: [0-9]+ on 1 CPU \(guest0 power-off\), by reason:' \
    --reject 'PANIC' --reject 'evmm: final stop' || fail "the disk image did not boot Linux under evmm in Bochs"
grep -aq 'soft power off' "$build/boot-tests/install_disk_bochs/emu.log" ||
    fail "Bochs did not end through Linux's ACPI power-off"
rm -f "$work/disk-bochs.img"

make_disk "$work/disk-qemu.img" qemu
bash "$boot_test" --emu qemu --smp 1 --mem 512 --name install_disk_qemu --build "$build" --timeout 120 \
    --disk "$work/disk-qemu.img" "${loader_expect[@]}" \
    --expect 'stage 2: setup vmx' \
    --expect 'VT-x not available: CPUID\.1:ECX\.VMX = 0' \
    --expect 'evmm: final stop: VT-x or SVM is required \(VT-x not available\)' \
    --reject 'PANIC' --expect-exit 35 || fail "the disk image did not boot evmm to its VT-x check in QEMU"
rm -f "$work/disk-qemu.img"
echo "PASS: $name: tools/evmm install --root, GRUB from a BIOS disk image: Linux under evmm (Bochs), the VT-x stop (QEMU)"
