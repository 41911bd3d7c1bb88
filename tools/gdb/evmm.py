# GDB extension: commands that decode evmm's state (docs/debugging.md, "GDB commands").
#
#   (gdb) source tools/gdb/evmm.py      (tools/gdb/evmm.gdb sources it; needs vmm.elf's symbols at the runtime base)
#   (gdb) help evmm
#
#   evmm desc [ADDR]    the evmm_desc_t, decoded and checked (magic, version, size)
#   evmm cpus           per CPU: stage, in the loader / hypervisor / a guest, its current gcpu
#   evmm log [N] [loader]  the last N lines (default 40) of the VMM's log ring (or of the loader's)
#   evmm vcpu N [GUEST] guest GUEST's (default 0) gcpu N: registers, VMCS, exit counts
#   evmm ept GPA [GUEST] the EPT walk of GPA in guest GUEST (default 0, guest0): entries, HPA, permissions
#   evmm npt GPA [GUEST] the same walk of the nested page tables on the SVM backend
#
# Python 3 as GDB embeds it, standard library only. Memory is read through the selected CPU's page tables: evmm's
# host page tables map physical memory 1:1, so descriptor, EPT tables and gcpus are read at their physical address.

import os
import re

import gdb

ANON = "evmm::(anonymous namespace)::"
STAGE_NAMES = {
    1: "setup host",
    2: "setup vmx",
    3: "init module",
    4: "create guest",
    5: "init gcpu",
    6: "launch guest",
}
LOG_LEVELS = {0: "error", 1: "warn", 2: "info", 3: "debug"}
TESTEXIT = {0: "none", 1: "qemu", 2: "bochs"}
CONSOLE = {1: "serial", 2: "screen", 3: "both"}
CRASHTEST = {0: "none", 1: "ud", 2: "pf", 3: "stack", 4: "panic", 5: "vmentry", 6: "ap"}
TSC_SOURCE = {1: "CPUID.15h", 2: "CPUID.16h", 3: "PIT calibration"}
MEM_TYPES = {1: "usable", 2: "reserved", 3: "ACPI reclaimable", 4: "ACPI NVS", 5: "bad"}
EPT_MEMTYPES = {0: "UC", 1: "WC", 4: "WT", 5: "WP", 6: "WB"}
EXIT_NAMES = {
    0: "EXCEPTION_NMI", 1: "EXTERNAL_INTERRUPT", 2: "TRIPLE_FAULT", 3: "INIT", 4: "SIPI", 7: "INTERRUPT_WINDOW",
    8: "NMI_WINDOW", 9: "TASK_SWITCH", 10: "CPUID", 12: "HLT", 14: "INVLPG", 16: "RDTSC", 18: "VMCALL",
    28: "CR_ACCESS", 29: "DR_ACCESS", 30: "IO", 31: "RDMSR", 32: "WRMSR", 33: "ENTRY_FAIL_GUEST_STATE",
    37: "MONITOR_TRAP_FLAG", 40: "PAUSE", 43: "TPR_BELOW_THRESHOLD", 44: "APIC_ACCESS", 46: "GDTR_IDTR",
    47: "LDTR_TR", 48: "EPT_VIOLATION", 49: "EPT_MISCONFIG", 50: "INVEPT", 51: "RDTSCP", 52: "PREEMPTION_TIMER",
    53: "INVVPID", 54: "WBINVD", 55: "XSETBV", 56: "APIC_WRITE", 57: "RDRAND", 58: "INVPCID", 61: "RDSEED",
}
GPR_NAMES = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
NO_GUEST = ("no guest yet: evmm creates guest0 in stage 4 (needs VT-x or SVM; QEMU TCG has SVM with -cpu max, "
            "not with -cpu max,-svm, where evmm stops in stage 2)")


def _desc_constants():
    """EVMM_DESC_MAGIC and EVMM_DESC_VERSION from include/evmm_desc.h next to this script (None if not found)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "include", "evmm_desc.h")
    consts = {"magic": None, "version": None}
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return consts
    m = re.search(r"#define EVMM_DESC_MAGIC (0x[0-9a-fA-F]+)", text)
    if m:
        consts["magic"] = int(m.group(1), 16)
    m = re.search(r"#define EVMM_DESC_VERSION ([0-9]+)", text)
    if m:
        consts["version"] = int(m.group(1))
    return consts


DESC_CONSTANTS = _desc_constants()


def _objfile(name):
    for o in gdb.objfiles():
        if o.filename and os.path.basename(o.filename) == name:
            return o
    return None


def vmm_objfile():
    o = _objfile("vmm.elf")
    if o is None:
        raise gdb.GdbError("evmm: vmm.elf's symbols are not loaded: use tools/gdb/evmm.gdb (it loads them at "
                           "evmm_vmm_runtime_base once the loader has relocated the VMM)")
    return o


def vmm_var(name, objfile=None):
    """A variable of the VMM: evmm::(anonymous namespace)::NAME, evmm::NAME or NAME, looked up in vmm.elf only."""
    o = objfile or vmm_objfile()
    for full in (ANON + name, "evmm::" + name, name):
        s = o.lookup_static_symbol(full) or o.lookup_global_symbol(full)
        if s is not None and s.is_variable:
            return s.value()
    for full in ("evmm::" + name, name):  # globals the objfile lookup misses once loaded at an offset
        s = gdb.lookup_global_symbol(full)
        if s is not None and s.is_variable and s.symtab is not None and s.symtab.objfile == o:
            return s.value()
    raise gdb.GdbError("evmm: no variable '%s' in %s (a different evmm version?)" % (name, o.filename))


def u64(v):
    return int(v) & 0xFFFFFFFFFFFFFFFF


def read_u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return int.from_bytes(bytes(mem), "little")


def c_string(chars):
    n = chars.type.range()[1] + 1
    raw = bytes(int(chars[i]) & 0xFF for i in range(n))
    return raw.split(b"\0", 1)[0].decode("latin-1")


# #VMEXIT codes (AMD APM Vol. 2 Appendix C; arch/x86_64/svm.h SvmExit); 0x00-0x3F are CR/DR accesses, 0x40-0x5F
# exceptions.
SVM_EXIT_NAMES = {0x60: "INTR", 0x61: "NMI", 0x62: "SMI", 0x63: "INIT", 0x65: "CR0_SEL_WRITE", 0x6E: "RDTSC",
                  0x6F: "RDPMC", 0x72: "CPUID", 0x76: "INVD", 0x78: "HLT", 0x7A: "INVLPGA", 0x7B: "IOIO",
                  0x7C: "MSR", 0x7D: "TASK_SWITCH", 0x7F: "SHUTDOWN", 0x80: "VMRUN", 0x81: "VMMCALL", 0x82: "VMLOAD",
                  0x83: "VMSAVE", 0x84: "STGI", 0x85: "CLGI", 0x86: "SKINIT", 0x87: "RDTSCP", 0x8D: "XSETBV",
                  0x400: "NPF", 0xFFFFFFFFFFFFFFFF: "VMEXIT_INVALID"}


def svm_exit_name(code):
    if code in SVM_EXIT_NAMES:
        return SVM_EXIT_NAMES[code]
    if code < 0x10:
        return "CR%d_READ" % code
    if code < 0x20:
        return "CR%d_WRITE" % (code - 0x10)
    if code < 0x30:
        return "DR%d_READ" % (code - 0x20)
    if code < 0x40:
        return "DR%d_WRITE" % (code - 0x30)
    if code < 0x60:
        return "EXCP%d" % (code - 0x40)
    return "?"


def svm_backend():
    try:
        return bool(vmm_var("g_svm_backend"))
    except (gdb.error, gdb.GdbError):
        pass
    try:
        return bool(gdb.parse_and_eval("'evmm::g_svm_backend'"))
    except gdb.error:
        return False


def size_str(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return "%d %s" % (n // div, unit)
    return "%d bytes" % n


def check(ok):
    return "ok" if ok else "MISMATCH"


def find_desc(arg):
    """The descriptor: ADDR if given, else the VMM's g_desc, else `desc` in the selected frame (vmm_main's entry)."""
    desc_ptr_t = gdb.lookup_type("evmm_desc_t").pointer()
    if arg:
        return gdb.parse_and_eval(arg).cast(desc_ptr_t)
    p = vmm_var("g_desc")
    if u64(p) != 0:
        return p
    try:
        frame_desc = gdb.parse_and_eval("desc")
        if frame_desc.type.strip_typedefs().code == gdb.TYPE_CODE_PTR and u64(frame_desc) != 0:
            return frame_desc.cast(desc_ptr_t)
    except gdb.error:
        pass
    raise gdb.GdbError("evmm: g_desc is not set yet (the BSP stores it at the start of vmm_main) and the selected "
                       "frame has no 'desc': stop later (e.g. 'break evmm::hmm_setup') or give the address")


def cpu_count():
    try:
        return int(vmm_var("g_num_cpus"))
    except gdb.GdbError:
        return 1


class EvmmPrefix(gdb.Command):
    """evmm's state, decoded: evmm desc | cpus | log | vcpu | ept (see docs/debugging.md)."""

    def __init__(self):
        super().__init__("evmm", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND, True)


class EvmmDesc(gdb.Command):
    """evmm desc [ADDR]: the boot descriptor (evmm_desc_t) decoded; magic, version and size checked.
Without ADDR: the VMM's g_desc, or vmm_main's 'desc' argument when stopped at its start."""

    def __init__(self):
        super().__init__("evmm desc", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        p = find_desc(arg.strip())
        d = p.dereference()
        out = []
        magic, version, size = u64(d["magic"]), int(d["version"]), int(d["size"])
        want_magic, want_version = DESC_CONSTANTS["magic"], DESC_CONSTANTS["version"]
        text = magic.to_bytes(8, "little").decode("latin-1")
        text = "".join(c if 32 <= ord(c) < 127 else "." for c in text)
        out.append("evmm_desc_t at 0x%x" % u64(p))
        out.append("  magic   0x%016x \"%s\" (%s)" % (magic, text, check(want_magic is None or magic == want_magic)))
        out.append("  version %d (%s%s)" % (version, check(want_version is None or version == want_version),
                                            "" if want_version is None else ", this tree: %d" % want_version))
        out.append("  size    %d (%s, sizeof(evmm_desc_t) = %d)" % (size, check(size == d.type.sizeof), d.type.sizeof))
        n = int(d["num_cpus"])
        ids = ", ".join(str(int(d["apic_ids"][i])) for i in range(min(n, 64)))
        out.append("  cpus: %d (BSP APIC ID %d; APIC IDs by cpu id: %s)" % (n, int(d["bsp_apic_id"]), ids))
        src = int(d["tsc_source"])
        out.append("  tsc: %d kHz (%s); top of memory 0x%x" % (u64(d["tsc_khz"]), TSC_SOURCE.get(src, "source %d" % src),
                                                               u64(d["top_of_memory"])))
        rb, rs = u64(d["runtime_base"]), u64(d["runtime_size"])
        out.append("  runtime region: 0x%x-0x%x (%s)" % (rb, rb + rs, size_str(rs)))
        gdb.set_convenience_variable("evmm_runtime_base", rb)  # e.g. `evmm npt $evmm_runtime_base`
        for name in ("vmm_file", "loader_file"):
            f = d[name]
            out.append("    %-11s loaded 0x%x+0x%x, runs at 0x%x+0x%x, entry 0x%x" % (
                name, u64(f["load_addr"]), u64(f["load_size"]), u64(f["runtime_addr"]), u64(f["runtime_size"]),
                u64(f["entry"])))
        out.append("  stacks: 0x%x+0x%x; heap: 0x%x+0x%x (%s); symtab: 0x%x+0x%x" % (
            u64(d["stacks_base"]), u64(d["stacks_size"]), u64(d["heap_base"]), u64(d["heap_size"]),
            size_str(u64(d["heap_size"])), u64(d["symtab_addr"]), u64(d["symtab_size"])))
        efi = u64(d["efi_system_table"])
        out.append("  firmware: %s; acpi_rsdp 0x%x; mb2_info 0x%x; trampoline 0x%x" % (
            "UEFI (system table 0x%x)" % efi if efi else "BIOS", u64(d["acpi_rsdp"]), u64(d["mb2_info"]),
            u64(d["trampoline_base"])))
        o = d["options"]
        lvl, te, ct = int(o["log_level"]), int(o["testexit"]), int(o["crashtest"])
        con = int(o["console"]) if version >= 9 else 3
        out.append("  options: loglevel=%s serial=0x%x testexit=%s crashtest=%s vtdtest=%d forceexits=%d console=%s fallback=%s" % (
            LOG_LEVELS.get(lvl, str(lvl)), int(o["serial_port"]), TESTEXIT.get(te, str(te)),
            CRASHTEST.get(ct, str(ct)), int(o["vtdtest"]), int(o["forceexits"]), CONSOLE.get(con, str(con)),
            "boot-guest0" if version >= 10 and int(o["fallback"]) == 1 else "stop"))
        out.append("  cmdline: \"%s\"" % c_string(d["cmdline"]))
        count = min(int(d["boot_module_count"]), 16)
        g0, tee = int(d["guest0_boot_module"]), int(d["tee_boot_module"])
        out.append("  modules: %d" % count)
        for i in range(count):
            m = d["boot_modules"][i]
            tag = " (guest0)" if i == g0 else " (tee)" if i == tee else ""
            out.append("    [%d] role %-8s 0x%x+0x%x%s args \"%s\"" % (
                i, c_string(m["role"]), u64(m["start"]), u64(m["size"]), tag, c_string(m["cmdline"])))
        mc = min(int(d["guest0_mmap_count"]), 128)
        out.append("  guest0 memory map: %d entries" % mc)
        for i in range(mc):
            e = d["guest0_mmap"][i]
            base, length, t = u64(e["base"]), u64(e["length"]), int(e["type"])
            out.append("    0x%016x-0x%016x %s" % (base, base + length, MEM_TYPES.get(t, "type %d" % t)))
        if u64(d["tee_size"]):
            out.append("  tee: 0x%x+0x%x entry 0x%x barrier 0x%x" % (u64(d["tee_base"]), u64(d["tee_size"]),
                                                                      u64(d["tee_entry"]), u64(d["tee_barrier"])))
        else:
            out.append("  tee: none")
        if version >= 9:
            sc = d["screen"]
            kind = int(sc["type"])
            if kind == 1:
                out.append("  screen: text mode at 0x%x, %dx%d cells; the VMM continues on row %d (loader's text at 0x%x)" % (
                    u64(sc["addr"]), int(sc["width"]), int(sc["height"]), int(sc["cursor_row"]), u64(sc["text_addr"])))
            elif kind == 2:
                out.append("  screen: framebuffer at 0x%x, %dx%d, %d bpp, pitch %d, red %d:%d green %d:%d blue %d:%d; "
                           "%dx%d cells, the VMM continues on row %d (loader's text at 0x%x)" % (
                               u64(sc["addr"]), int(sc["width"]), int(sc["height"]), int(sc["bpp"]), int(sc["pitch"]),
                               int(sc["red_pos"]), int(sc["red_size"]), int(sc["green_pos"]), int(sc["green_size"]),
                               int(sc["blue_pos"]), int(sc["blue_size"]), int(sc["text_cols"]), int(sc["text_rows"]),
                               int(sc["cursor_row"]), u64(sc["text_addr"])))
            else:
                out.append("  screen: none")
        gdb.write("\n".join(out) + "\n")


def stage_of(cpu, open_stage, masks):
    """Where CPU is in the stage protocol (vmm/vmm_main.cpp stage()): the BSP runs its part of stage k before it
    opens k to the APs, then every CPU runs its part and arrives; the BSP never waits for a stage to open."""
    last = len(masks) - 1
    done = 0
    for k in range(1, len(masks)):
        if (masks[k] >> cpu) & 1:
            done = k
    if done < open_stage:
        k = open_stage
        return "stage %d (%s)" % (k, STAGE_NAMES.get(k, "?"))
    if cpu == 0:
        k = done + 1
        return "stage %d (%s), BSP part (not open to the APs yet)" % (k, STAGE_NAMES.get(k, "?"))
    if done == 0:
        return "before stage 1"
    if done >= last:
        return "stage %d done" % done
    return "stage %d done, waits for stage %d" % (done, done + 1)


def symbol_at(pc):
    """The machine-code function at pc (an inlined function's block, e.g. cpu_pause() in a wait loop, names the
    function it was inlined into): the outermost function block below the file's static block."""
    b = gdb.block_for_pc(pc)
    found = None
    while b is not None and not b.is_static and not b.is_global:
        if b.function is not None:
            found = b
        b = b.superblock
    if found is not None:
        return "%s+0x%x" % (found.function.print_name, pc - found.start)
    return ""


def cpu_locations(percpu, n):
    """{evmm cpu id: (rip, gdb thread number)}: each thread's GS base points at its PerCpu (QEMU sends gs_base)."""
    locs = {}
    base = u64(percpu.address)
    stride = percpu.type.target().sizeof
    original = gdb.selected_thread()
    frame = None
    try:
        frame = gdb.selected_frame()
    except gdb.error:
        pass
    try:
        for t in gdb.selected_inferior().threads():
            t.switch()
            f = gdb.newest_frame()
            rip = u64(f.read_register("rip"))
            try:
                gs = u64(f.read_register("gs_base"))
            except (gdb.error, ValueError):
                gs = 0
            if base <= gs < base + stride * 64 and (gs - base) % stride == 0:
                locs[(gs - base) // stride] = (rip, t.num)
            else:
                locs.setdefault(("thread", t.num), (rip, t.num))
    finally:
        if original is not None:
            original.switch()
            if frame is not None:
                try:
                    frame.select()
                except gdb.error:
                    pass
    return locs


def guest_list():
    count = int(vmm_var("g_guest_count"))
    guests = vmm_var("g_guests")
    return [guests[i] for i in range(count)]


def guest_name(g):
    try:
        return g["name_"].string()
    except gdb.error:
        return "guest%d" % int(g["id_"])


class EvmmCpus(gdb.Command):
    """evmm cpus: per CPU its stage, where it is (loader, hypervisor, guest) and its current gcpu."""

    def __init__(self):
        super().__init__("evmm cpus", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        n = cpu_count()
        open_stage = int(vmm_var("g_open"))
        arrived = vmm_var("g_arrived_mask")
        masks = [u64(arrived[k]) for k in range(arrived.type.range()[1] + 1)]
        stopping = vmm_var("g_stopping")
        stopper = int(vmm_var("g_stopper"))
        percpu = vmm_var("g_percpu")
        guests = guest_list()
        desc = vmm_var("g_desc")
        rb = rs = 0
        if u64(desc):
            rb, rs = u64(desc["runtime_base"]), u64(desc["runtime_size"])
        loader = _objfile("loader.elf")
        locs = cpu_locations(percpu, n)
        gdb.write("%d CPUs; stage %d open%s\n" % (n, open_stage, "; stop requested by cpu%d" % stopper
                                                  if stopper < 64 else ""))
        for cpu in range(n):
            stage = stage_of(cpu, open_stage, masks)
            if bool(stopping[cpu]):
                stage += ", stopping"
            where = "not seen by gdb"
            if cpu in locs:
                rip, tnum = locs[cpu]
                sym = symbol_at(rip)
                if rb <= rip < rb + rs:
                    where = "in the hypervisor (rip 0x%x %s)" % (rip, sym)
                elif loader is not None and sym:
                    where = "in the loader (rip 0x%x %s)" % (rip, sym)
                elif guests:
                    where = "in a guest (rip 0x%x)" % rip
                else:
                    where = "outside evmm (rip 0x%x)" % rip
                where += ", gdb thread %d" % tnum
            cur = "none (no guest yet)"
            gcpu_t = gdb.lookup_type("evmm::Gcpu").pointer()
            # With two worlds, the CPU's exit slot (HOST_RSP, recorded in both vCPUs at its first world switch)
            # holds the current gcpu; else the CPU runs guest0's.
            slot = 0
            for gu in guests:
                if cpu < int(gu["vcpu_count_"]):
                    v = gdb.Value(u64(gu["vcpus_"]) + cpu * gcpu_t.target().sizeof).cast(gcpu_t).dereference()
                    slot = slot or u64(v["arch"]["exit_slot"])
            gptr = read_u64(slot) if slot else 0
            if not gptr and guests and cpu < int(guests[0]["vcpu_count_"]):
                gptr = u64(guests[0]["vcpus_"]) + cpu * gcpu_t.target().sizeof
            if gptr:
                g = gdb.Value(gptr).cast(gcpu_t).dereference()
                gname = guest_name(g["guest"].dereference())
                cur = "%s gcpu%d at 0x%x (%s, %d exits)" % (gname, int(g["index"]), gptr,
                                                         "launched" if bool(g["arch"]["launched"]) else "not launched",
                                                         u64(g["exits_total"]))
            gdb.write("cpu%d (APIC ID %d): %s; %s; current gcpu: %s\n" % (
                cpu, int(percpu[cpu]["apic_id"]), stage, where, cur))
        for key, (rip, tnum) in sorted((k, v) for k, v in locs.items() if isinstance(k, tuple)):
            gdb.write("gdb thread %d: not an evmm CPU yet (rip 0x%x %s)\n" % (tnum, rip, symbol_at(rip)))


class EvmmLog(gdb.Command):
    """evmm log [N] [loader]: the last N lines (default 40) of the log ring (lib/log.cpp, the last 16 KiB).
The VMM's ring by default; 'loader' for the loader's (the lines before vmm_main)."""

    def __init__(self):
        super().__init__("evmm log", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        words = arg.split()
        which = "vmm.elf"
        count = 40
        for w in words:
            if w == "loader":
                which = "loader.elf"
            elif w.isdigit():
                count = int(w)
            else:
                raise gdb.GdbError("usage: evmm log [N] [loader]")
        o = _objfile(which) if which == "loader.elf" else vmm_objfile()
        if o is None:
            raise gdb.GdbError("evmm: %s's symbols are not loaded" % which)
        ring = vmm_var("evmm_log_ring", o)
        pos = u64(vmm_var("evmm_log_ring_pos", o))
        size = ring.type.sizeof
        if pos == 0:
            gdb.write("(%s has logged nothing yet%s)\n" % (which, "; 'evmm log loader' shows the loader's lines"
                                                          if which == "vmm.elf" else ""))
            return
        start = max(0, pos - size)
        raw = bytes(gdb.selected_inferior().read_memory(u64(ring.address), size))
        data = bytes(raw[(start + i) % size] for i in range(pos - start))
        text = data.decode("latin-1")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if start > 0 and lines:
            lines.pop(0)  # cut by the wrap-around
        for line in lines[-count:] if count else []:
            gdb.write(line.rstrip("\r") + "\n")


def find_guest(arg):
    guests = guest_list()
    if not guests:
        raise gdb.GdbError("evmm: " + NO_GUEST)
    i = 0 if not arg else int(gdb.parse_and_eval(arg))
    if i >= len(guests):
        raise gdb.GdbError("evmm: no guest %d (%d guest(s))" % (i, len(guests)))
    return guests[i].dereference()


class EvmmVcpu(gdb.Command):
    """evmm vcpu N [GUEST]: gcpu N of guest GUEST (default 0): saved registers, VMCS address, exit counts.
RIP, RSP, RFLAGS and the segment state live in the VMCS, which only VMREAD reads."""

    def __init__(self):
        super().__init__("evmm vcpu", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        words = arg.split()
        if not words or len(words) > 2:
            raise gdb.GdbError("usage: evmm vcpu N [GUEST]")
        g = find_guest(words[1] if len(words) > 1 else "")
        n = int(gdb.parse_and_eval(words[0]))
        count = int(g["vcpu_count_"])
        if n >= count:
            raise gdb.GdbError("evmm: %s has %d gcpus" % (guest_name(g), count))
        v = g["vcpus_"][n]
        a = v["arch"]
        svm = svm_backend()
        out = ["%s gcpu%d at 0x%x: on cpu%d, %s, %d exits" % (
            guest_name(g), int(v["index"]), u64(v.address), int(v["cpu_id"]),
            "launched" if bool(a["launched"]) else "not launched", u64(v["exits_total"]))]
        if svm:
            out.append("  vmcb 0x%x ncr3 0x%x; cr0 shadow 0x%x cr4 shadow 0x%x" % (
                u64(a["vmcs_pa"]), u64(a["eptp"]), u64(v["cr0_shadow"]), u64(v["cr4_shadow"])))
        else:
            out.append("  vmcs 0x%x eptp 0x%x vpid %d; cr0 shadow 0x%x cr4 shadow 0x%x" % (
                u64(a["vmcs_pa"]), u64(a["eptp"]), int(a["vpid"]), u64(v["cr0_shadow"]), u64(v["cr4_shadow"])))
        regs = v["regs"]["gpr"]
        for row in range(0, 16, 4):
            out.append("  " + " ".join("%-3s=%016x" % (GPR_NAMES[i], u64(regs[i])) for i in range(row, row + 4)))
        if svm and u64(a["vmcs_pa"]):
            # The VMCB is memory (identity-mapped in the host): its state-save area has RIP, RSP, RFLAGS, the CRs.
            vmcb = gdb.Value(u64(a["vmcs_pa"])).cast(gdb.lookup_type("evmm::Vmcb").pointer()).dereference()
            c, st = vmcb["control"], vmcb["save"]
            out.append("  rip=%016x rsp=%016x rflags=%016x cpl %d (the VMCB's; rsp above is not used)" % (
                u64(st["rip"]), u64(st["rsp"]), u64(st["rflags"]), int(st["cpl"])))
            out.append("  cr0=%016x cr3=%016x cr4=%016x efer=%016x" % (
                u64(st["cr0"]), u64(st["cr3"]), u64(st["cr4"]), u64(st["efer"])))
            code = u64(c["exitcode"])
            out.append("  last exit: 0x%x %s, exitinfo1 0x%x, exitinfo2 0x%x" % (
                code, svm_exit_name(code), u64(c["exitinfo1"]), u64(c["exitinfo2"])))
        else:
            out.append("  (rsp above is not used: RSP, RIP and RFLAGS are in the VMCS)")
            last = int(v["last_exit"])
            if u64(v["exits_total"]):
                out.append("  last exit: %d %s" % (last & 0xFFFF, EXIT_NAMES.get(last & 0xFFFF, "")))
            exits = v["exits"]
            counted = [(i, u64(exits[i])) for i in range(exits.type.range()[1] + 1) if u64(exits[i])]
            for i, cnt in counted:
                out.append("  exit %2d %-24s %d" % (i, EXIT_NAMES.get(i, ""), cnt))
        gdb.write("\n".join(out) + "\n")


EPT_LEVELS = {4: "PML4E", 3: "PDPTE", 2: "PDE", 1: "PTE"}
ADDR_MASK = 0x000FFFFFFFFFF000


def perms(e):
    return ("r" if e & 1 else "-") + ("w" if e & 2 else "-") + ("x" if e & 4 else "-")


class EvmmEpt(gdb.Command):
    """evmm ept GPA [GUEST]: walk guest GUEST's (default 0, guest0) EPT for GPA: each level's entry, then the HPA,
the permissions (r/w/x), the memory type and the page size (arch/x86_64/ept.h)."""

    def __init__(self):
        super().__init__("evmm ept", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        words = arg.split()
        if not words or len(words) > 2:
            raise gdb.GdbError("usage: evmm ept GPA [GUEST]")
        gpa = u64(gdb.parse_and_eval(words[0]))
        g = find_guest(words[1] if len(words) > 1 else "")
        eptp = u64(g["eptp_"])
        if eptp == 0:
            raise gdb.GdbError("evmm: %s has no EPT yet" % guest_name(g))
        gdb.write("%s GPA 0x%x, EPTP 0x%x\n" % (guest_name(g), gpa, eptp))
        if gpa >> 48:
            raise gdb.GdbError("evmm: GPA 0x%x is above the 48-bit EPT range" % gpa)
        table = eptp & ADDR_MASK
        for level in (4, 3, 2, 1):
            idx = (gpa >> (12 + 9 * (level - 1))) & 511
            e = read_u64(table + idx * 8)
            gdb.write("  %-5s [%3d] at 0x%x = 0x%016x %s\n" % (EPT_LEVELS[level], idx, table + idx * 8, e, perms(e)))
            if e & 7 == 0:
                gdb.write("  not mapped (%s not present): an access is an EPT violation\n" % EPT_LEVELS[level])
                return
            if level == 1 or (level in (2, 3) and e & 0x80):
                span = 1 << (12 + 9 * (level - 1))
                hpa = (e & ADDR_MASK & ~(span - 1)) | (gpa & (span - 1))
                mt = (e >> 3) & 7
                gdb.write("  -> HPA 0x%x, %s page, %s, memory type %s%s\n" % (
                    hpa, size_str(span), perms(e), EPT_MEMTYPES.get(mt, "reserved %d" % mt),
                    ", ignore PAT" if e & 0x40 else ""))
                return
            table = e & ADDR_MASK


NPT_LEVELS = {4: "PML4E", 3: "PDPE", 2: "PDE", 1: "PTE"}
NX = 1 << 63


def npt_perms(e):
    if not e & 1:
        return "---"  # not present: the other bits mean nothing
    return ("r" if e & 1 else "-") + ("w" if e & 2 else "-") + ("x" if not e & NX else "-")


class EvmmNpt(gdb.Command):
    """evmm npt GPA [GUEST]: walk guest GUEST's (default 0, guest0) nested page tables (AMD SVM, nCR3) for GPA: each
level's entry, then the HPA, the permissions (r/w/x from P, R/W and NX) and the page size (vmm/svm/npt.h)."""

    def __init__(self):
        super().__init__("evmm npt", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        words = arg.split()
        if not words or len(words) > 2:
            raise gdb.GdbError("usage: evmm npt GPA [GUEST]")
        gpa = u64(gdb.parse_and_eval(words[0]))
        if not svm_backend():
            raise gdb.GdbError("evmm: not on the SVM backend (VT-x: evmm ept GPA)")
        g = find_guest(words[1] if len(words) > 1 else "")
        if int(g["vcpu_count_"]) == 0 or not u64(g["vcpus_"][0]["arch"]["eptp"]):
            raise gdb.GdbError("evmm: %s has no nested page tables yet (stage 5 builds its VMCBs)" % guest_name(g))
        ncr3 = u64(g["vcpus_"][0]["arch"]["eptp"])
        gdb.write("%s GPA 0x%x, nCR3 0x%x\n" % (guest_name(g), gpa, ncr3))
        if gpa >> 48:
            raise gdb.GdbError("evmm: GPA 0x%x is above the 48-bit range" % gpa)
        table = ncr3 & ADDR_MASK
        for level in (4, 3, 2, 1):
            idx = (gpa >> (12 + 9 * (level - 1))) & 511
            e = read_u64(table + idx * 8)
            gdb.write("  %-5s [%3d] at 0x%x = 0x%016x %s\n" % (NPT_LEVELS[level], idx, table + idx * 8, e,
                                                             npt_perms(e)))
            if e & 1 == 0:
                gdb.write("  not mapped (%s not present): an access is a nested page fault\n" % NPT_LEVELS[level])
                return
            if level == 1 or (level in (2, 3) and e & 0x80):
                span = 1 << (12 + 9 * (level - 1))
                hpa = (e & ADDR_MASK & ~(span - 1)) | (gpa & (span - 1))
                gdb.write("  -> HPA 0x%x, %s page, %s\n" % (hpa, size_str(span), npt_perms(e)))
                return
            table = e & ADDR_MASK


EvmmPrefix()
EvmmDesc()
EvmmCpus()
EvmmLog()
EvmmVcpu()
EvmmEpt()
EvmmNpt()
