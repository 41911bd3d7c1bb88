#!/usr/bin/env bash
# Puts evmm into a Debian system's boot menu, or takes it out again (`tools/evmm install` / `uninstall` run this;
# docs/hardware.md).
#
# usage: tools/install.sh install --elf FILE [--root DIR] [--no-update-grub]
#        tools/install.sh uninstall [--root DIR] [--no-update-grub]
#
#   install     writes ROOT/boot/evmm.elf (FILE), ROOT/etc/grub.d/20_linux_evmm (tools/install/20_linux_evmm: one
#               GRUB entry per ROOT/boot/vmlinuz-*, each booting that kernel and its initrd as evmm's guest0) and,
#               only when it does not exist, ROOT/etc/default/evmm (tools/install/default-evmm); then update-grub.
#               Running it again changes nothing (an existing /etc/default/evmm is never overwritten).
#   uninstall   removes evmm.elf and 20_linux_evmm, and /etc/default/evmm while it is the file install wrote
#               (an edited one is kept, with a message); then update-grub.
#   --root DIR  a system mounted at DIR (a disk image, a chroot) instead of the running one: no root privileges are
#               needed beyond writing there, and update-grub is NOT run (it would read this machine's /etc/grub.d
#               and probe this machine's disks); the message says what to run inside that system.
#   --no-update-grub
#               write or remove the files only.
# Exit status: 0 done, 2 an error (nothing written when the checks fail).
set -euo pipefail

EVMM_PROG=${EVMM_PROG:-evmm}
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
# shellcheck source=tools/lib.sh
source "$here/lib.sh"

usage() {
    awk 'NR > 1 && /^# shellcheck/ { next }
         NR > 1 && /^#/ { sub(/^# ?/, ""); print; next }
         NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-2}"
}

(($# >= 1)) || usage
action=$1
shift
case $action in
install | uninstall) ;;
-h | --help) usage 0 ;;
*) evmm_die "unknown action '$action' (install or uninstall)" ;;
esac
EVMM_PROG="evmm $action"

root="" root_set=0 elf="" update=1
while (($#)); do
    case $1 in
    --root)
        (($# >= 2)) || evmm_die "--root needs a directory"
        root=$2 root_set=1
        shift 2
        ;;
    --elf)
        [[ $action == install ]] || evmm_die "--elf is for install"
        (($# >= 2)) || evmm_die "--elf needs a file"
        elf=$2
        shift 2
        ;;
    --no-update-grub) update=0; shift ;;
    -h | --help) usage 0 ;;
    *) evmm_die "unknown argument '$1' (tools/evmm help)" ;;
    esac
done

say() { printf '%s: %s\n' "$EVMM_PROG" "$*"; }

script_src=$here/install/20_linux_evmm
default_src=$here/install/default-evmm
[[ -f $script_src && -f $default_src ]] || evmm_die "$here/install/ is incomplete (20_linux_evmm, default-evmm)"

if ((root_set)); then
    [[ -d $root ]] || evmm_die "--root $root: no such directory"
    root=$(cd "$root" && pwd)
    [[ $root != / ]] || root=""
fi
show=$root # paths are shown as $show/boot/evmm.elf: "/boot/evmm.elf" or "/mnt/boot/evmm.elf"
boot=$root/boot grubd=$root/etc/grub.d
elf_dst=$boot/evmm.elf script_dst=$grubd/20_linux_evmm default_dst=$root/etc/default/evmm

# ---- checks: all before anything is written -------------------------------------------------------------------------
if [[ $action == install ]]; then
    [[ -n $elf ]] || evmm_die "no evmm.elf given (--elf FILE; tools/evmm install builds build/evmm.elf)"
    [[ -f $elf ]] || evmm_die "no evmm.elf at $elf (build it: tools/evmm build)"
    if command -v grub-file >/dev/null 2>&1; then
        grub-file --is-x86-multiboot2 "$elf" || evmm_die "$elf is not a Multiboot2 image (not evmm.elf?)"
    fi
fi
if [[ -z $root ]] && ((EUID != 0)); then
    evmm_die "writing /boot and /etc/grub.d needs root: sudo tools/evmm $action (or --root DIR for a system mounted at DIR)"
fi
[[ -d $boot ]] || evmm_die "$show/boot does not exist${root:+ (is DIR the root of a system?)}"
if [[ ! -d $grubd ]]; then
    evmm_die "$show/etc/grub.d does not exist: GRUB 2 is not installed there (evmm boots through GRUB 2:" \
        "Debian package grub-pc for BIOS, grub-efi-amd64 for UEFI)"
fi
for d in "$boot" "$grubd" "$(dirname "$default_dst")"; do
    [[ ! -d $d || -w $d ]] || evmm_die "cannot write to $d (run as root?)"
done
grub_cmd=()
if [[ -z $root ]] && ((update)); then
    if command -v update-grub >/dev/null 2>&1; then
        grub_cmd=(update-grub)
    elif command -v grub-mkconfig >/dev/null 2>&1; then
        grub_cmd=(grub-mkconfig -o /boot/grub/grub.cfg)
    else
        evmm_die "neither update-grub nor grub-mkconfig found: GRUB 2 is not installed (Debian package grub-pc" \
            "for BIOS, grub-efi-amd64 for UEFI; --no-update-grub writes the files only)"
    fi
fi

# ---- the files ------------------------------------------------------------------------------------------------------
# Copies SRC to DST with MODE through a temporary file in DST's directory (never a half-written file).
put() { # SRC DST MODE
    local tmp
    if [[ -f $2 ]] && cmp -s "$1" "$2"; then
        chmod "$3" "$2"
        say "$show${2#"$root"} is up to date"
        return 0
    fi
    tmp=$(mktemp "$2.XXXXXX")
    cp "$1" "$tmp"
    chmod "$3" "$tmp"
    mv -f "$tmp" "$2"
    say "wrote $show${2#"$root"}"
}

if [[ $action == install ]]; then
    put "$elf" "$elf_dst" 0644
    put "$script_src" "$script_dst" 0755
    mkdir -p "$(dirname "$default_dst")"
    if [[ -e $default_dst ]]; then
        say "kept $show/etc/default/evmm (exists already; the settings are yours)"
    else
        put "$default_src" "$default_dst" 0644
    fi
    kernels=$(find "$boot" -maxdepth 1 -name 'vmlinuz-*' ! -name '*.dpkg-*' -printf '%f\n' 2>/dev/null | LC_ALL=C sort -V -r |
        paste -sd' ' || true)
    say "kernels that get an evmm menu entry: ${kernels:-none yet (no $show/boot/vmlinuz-*)}"
else
    removed=0
    for f in "$elf_dst" "$script_dst"; do
        if [[ -e $f ]]; then
            rm -f "$f"
            say "removed $show${f#"$root"}"
            removed=1
        fi
    done
    if [[ -e $default_dst ]]; then
        if cmp -s "$default_src" "$default_dst"; then
            rm -f "$default_dst"
            say "removed $show/etc/default/evmm (unchanged since install)"
            removed=1
        else
            say "kept $show/etc/default/evmm: it was changed after install (remove it yourself when you no longer want it)"
        fi
    fi
    ((removed)) || say "nothing of evmm's was installed in ${show:-/}"
fi

# ---- GRUB's configuration -------------------------------------------------------------------------------------------
if [[ -n $root ]]; then
    say "update-grub was not run for the system under $root: run 'update-grub' inside it (booted, or in a chroot" \
        "with /dev, /proc and /sys mounted) to update its /boot/grub/grub.cfg"
elif ((!update)); then
    say "--no-update-grub: run 'sudo update-grub' to update /boot/grub/grub.cfg"
else
    say "running ${grub_cmd[*]}"
    "${grub_cmd[@]}" || evmm_die "${grub_cmd[*]} failed (output above); the files are in place"
    cfg=/boot/grub/grub.cfg
    if [[ $action == install ]]; then
        n=$(grep -c "^menuentry '.*with evmm and Linux" "$cfg" 2>/dev/null || true)
        say "$cfg: ${n:-0} menu entries with evmm, after Debian's own (still the default): reboot and" \
            "pick '... with evmm and Linux ...' in the GRUB menu (docs/hardware.md)"
    fi
fi
