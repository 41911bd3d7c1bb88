# GDB script: attach to evmm running in QEMU (started with -s -S, e.g. by `tools/evmm run --gdb`) and load the
# symbols of both images: the loader (linked at its physical address) and the VMM (a static PIE linked at 0 and
# relocated at boot to evmm_vmm_runtime_base).
#
#   gdb -x tools/gdb/evmm.gdb                       (from the repository root)
#   (gdb) break vmm_main
#   (gdb) continue
#
# Settings, given before the script with -ex (GDB runs -ex and -x in command-line order):
#   -ex 'set $evmm_gdb_port = 1234'                 QEMU's gdbstub port (default 1234, QEMU's -s)
#   -ex 'set $evmm_build_dir = "build"'             where loader.elf and vmm.elf are (default build)
# e.g. gdb -ex 'set $evmm_gdb_port = 5555' -x tools/gdb/evmm.gdb
#
# QEMU's x86-64 gdbstub always sends 64-bit registers: the architecture is set before connecting, or GDB fails with
# "Remote 'g' packet reply is too long" while the CPU is still in real mode.

set architecture i386:x86-64
set pagination off

if $_isvoid($evmm_gdb_port)
    set $evmm_gdb_port = 1234
end
if $_isvoid($evmm_build_dir)
    set $evmm_build_dir = "build"
end

eval "file %s/loader.elf", $evmm_build_dir
eval "target remote localhost:%d", $evmm_gdb_port

# The loader calls evmm_loader_vmm_ready() right after it loaded and relocated the VMM, right before vmm_main().
# A hardware breakpoint: it needs no write into memory that GRUB has not loaded yet.
thbreak evmm_loader_vmm_ready
continue

set $evmm_confirm = $_gdb_setting("confirm")
set confirm off
eval "add-symbol-file %s/vmm.elf -o 0x%lx", $evmm_build_dir, evmm_vmm_runtime_base
if $evmm_confirm
    set confirm on
end
printf "evmm: loader.elf and vmm.elf symbols loaded (VMM relocated to 0x%lx).\n", evmm_vmm_runtime_base
printf "evmm: stopped in the loader before vmm_main; e.g. 'break vmm_main' then 'continue'.\n"

# The evmm commands (evmm desc, cpus, log, vcpu, ept): tools/gdb/evmm.py, next to this script.
source tools/gdb/evmm.py
printf "evmm: GDB commands loaded: evmm desc | cpus | log | vcpu N | ept GPA (help evmm).\n"
