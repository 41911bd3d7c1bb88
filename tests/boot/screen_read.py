#!/usr/bin/env python3
"""Reads evmm's screen console back from a running QEMU and checks it (tests/boot/boot_test.sh --screen).

usage: screen_read.py --qmp SOCKET --serial SERIAL_TXT --font lib/font.cpp --out SCREEN_TXT [--dump SCREEN_BIN]

1. The screen's description from evmm's serial log: the loader's `console: screen:` line (text mode: address and
   cells; framebuffer: address, size, bits per pixel, pitch, the red/green/blue fields).
2. Its memory through QEMU's QMP socket (`pmemsave` of pitch x height bytes), then QEMU is told to quit.
3. Decoded into text: text mode takes every other byte (character, attribute); a framebuffer is decoded cell by cell
   (8x16 pixels, every glyph row drawn twice) against the glyphs of lib/font.cpp, the font evmm draws with, and every
   lit pixel must have evmm's foreground color. The rows go to SCREEN_TXT (trailing blanks removed).
4. The screen must show exactly the end of evmm's log, wrapped at the screen's width: its non-blank rows equal the
   last rows of the serial log's evmm lines (`[cpuN] ...`), in order, and blank rows may follow only at the bottom.
   The log's end is its `console: screen handed to guest0` line, the last one the screen gets, or, when evmm stopped
   before guest0 (e.g. `VT-x not available`), its last line.
Exit status: 0 checked, 1 the screen does not show the log, 2 setup error (no screen line, QMP failed, ...).
"""
import argparse
import json
import re
import socket
import sys
import time

CELL_W, CELL_H, ROW_SCALE = 8, 16, 2  # lib/screen_surface.h
MAX_COLS, MAX_ROWS = 256, 128  # lib/screen.h
FG_INTENSITY = 0xAA  # lib/screen_surface.h SCREEN_FG_INTENSITY
FIRST_CHAR, REPLACEMENT = 0x20, "?"
HANDOVER = "console: screen handed to guest0"

TEXT_RE = re.compile(r"loader: console: screen: text mode at (0x[0-9a-f]+), ([0-9]+)x([0-9]+) cells")
FB_RE = re.compile(r"loader: console: screen: framebuffer at (0x[0-9a-f]+), ([0-9]+)x([0-9]+), ([0-9]+) bpp, "
                   r"pitch ([0-9]+), red ([0-9]+):([0-9]+) green ([0-9]+):([0-9]+) blue ([0-9]+):([0-9]+)")
EVMM_LINE_RE = re.compile(r"^\[cpu[0-9]+\] ")


def die(msg, status=2):
    print("screen_read: " + msg, file=sys.stderr)
    sys.exit(status)


def load_font(path):
    """The glyph table of lib/font.cpp: one {8 bytes} initializer per character from 0x20, in order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    body = text[text.index("GLYPHS["):]
    glyphs = re.findall(r"\{\s*((?:0x[0-9a-fA-F]{2}\s*,\s*){7}0x[0-9a-fA-F]{2})\s*\}", body)
    table = {}
    for i, g in enumerate(glyphs):
        rows = tuple(int(b, 16) for b in g.split(","))
        table[rows] = chr(FIRST_CHAR + i)
    if len(table) != 0x7F - FIRST_CHAR:
        die("%s: expected %d distinct glyphs, found %d" % (path, 0x7F - FIRST_CHAR, len(table)))
    return table


def screen_of(serial_lines):
    for line in reversed(serial_lines):
        m = TEXT_RE.search(line)
        if m:
            cols, rows = int(m.group(2)), int(m.group(3))
            return {"kind": "text", "addr": int(m.group(1), 16), "width": cols, "height": rows, "pitch": cols * 2}
        m = FB_RE.search(line)
        if m:
            v = [int(x, 0) for x in m.groups()]
            return {"kind": "fb", "addr": v[0], "width": v[1], "height": v[2], "bpp": v[3], "pitch": v[4],
                    "red": (v[5], v[6]), "green": (v[7], v[8]), "blue": (v[9], v[10])}
    die("no 'loader: console: screen:' line in the serial log (no screen, or console=serial?)")
    return None


def qmp_dump(sock_path, addr, size, out_path):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(50):
        try:
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.1)
    else:
        die("cannot connect to QEMU's QMP socket %s" % sock_path)
    f = s.makefile("rw")

    def cmd(name, **args):
        f.write(json.dumps({"execute": name, "arguments": args} if args else {"execute": name}) + "\n")
        f.flush()
        while True:
            line = f.readline()
            if not line:
                return {"error": "QMP connection closed"}
            r = json.loads(line)
            if "return" in r or "error" in r:
                return r

    f.readline()  # the greeting
    for name, args in (("qmp_capabilities", {}), ("stop", {}),
                       ("pmemsave", {"val": addr, "size": size, "filename": out_path})):
        r = cmd(name, **args)
        if "error" in r:
            die("QMP %s failed: %s" % (name, r["error"]))
    cmd("quit")


def channel(intensity, pos, size):
    v = intensity >> (8 - size) if size <= 8 else intensity << (size - 8)
    return v << pos


def decode(scr, data, font):
    """The screen's rows of text (cols x rows of evmm's grid) and the number of cells that are no glyph."""
    if scr["kind"] == "text":
        cols, rows, pitch = min(scr["width"], MAX_COLS), min(scr["height"], MAX_ROWS), scr["pitch"]
        out = []
        for r in range(rows):
            row = data[r * pitch:r * pitch + 2 * cols:2]
            out.append("".join(chr(b) if 0x20 <= b < 0x7F else REPLACEMENT for b in row))
        return out, 0
    bpp = scr["bpp"] // 8
    pitch = scr["pitch"]
    fg = sum(channel(FG_INTENSITY, *scr[c]) for c in ("red", "green", "blue"))
    cols = min(scr["width"] // CELL_W, MAX_COLS)
    rows = min(scr["height"] // CELL_H, MAX_ROWS)
    out, unknown = [], 0
    for r in range(rows):
        line = []
        for c in range(cols):
            glyph, ok = [], True
            for gy in range(CELL_H // ROW_SCALE):
                bits_of_row = []
                for k in range(ROW_SCALE):
                    y = r * CELL_H + gy * ROW_SCALE + k
                    base = y * pitch + c * CELL_W * bpp
                    bits = 0
                    for x in range(CELL_W):
                        px = int.from_bytes(data[base + x * bpp:base + (x + 1) * bpp], "little")
                        if px not in (0, fg):
                            ok = False
                        bits = (bits << 1) | (px != 0)
                    bits_of_row.append(bits)
                if len(set(bits_of_row)) != 1:
                    ok = False
                glyph.append(bits_of_row[0])
            ch = font.get(tuple(glyph)) if ok else None
            if ch is None:
                unknown += 1
                ch = "\x00"
            line.append(ch)
        out.append("".join(line))
    return out, unknown


def wrapped(lines, cols):
    rows = []
    for line in lines:
        line = "".join(ch if 0x20 <= ord(ch) < 0x7F else REPLACEMENT for ch in line)
        if not line:
            rows.append("")
        for i in range(0, len(line), cols):
            rows.append(line[i:i + cols])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qmp", required=True)
    ap.add_argument("--serial", required=True)
    ap.add_argument("--font", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dump")
    a = ap.parse_args()
    with open(a.serial, "rb") as f:
        serial = f.read().replace(b"\r", b"").replace(b"\0", b"").decode("latin-1").splitlines()
    font = load_font(a.font)
    scr = screen_of(serial)
    dump = a.dump or a.out + ".bin"
    qmp_dump(a.qmp, scr["addr"], scr["pitch"] * scr["height"], dump)
    for _ in range(50):  # QEMU writes the file before it answers; allow for a slow file system all the same
        try:
            with open(dump, "rb") as f:
                data = f.read()
            if len(data) == scr["pitch"] * scr["height"]:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        die("pmemsave wrote no complete dump to %s" % dump)
    rows, unknown = decode(scr, data, font)
    with open(a.out, "w", encoding="latin-1") as f:
        for r in rows:
            f.write(r.rstrip() + "\n")
    cols = len(rows[0]) if rows else 0
    print("screen_read: %s screen at 0x%x, %d x %d cells decoded into %s" % (
        "text-mode" if scr["kind"] == "text" else "%d bpp framebuffer" % scr["bpp"], scr["addr"], cols, len(rows),
        a.out))
    if unknown:
        die("%d cells are no glyph of lib/font.cpp in evmm's color (shown as NUL in %s)" % (unknown, a.out), 1)

    # The screen against the end of evmm's log up to the handover.
    evmm = [line for line in serial if EVMM_LINE_RE.match(line)]
    handed = [i for i, line in enumerate(evmm) if HANDOVER in line]
    end = handed[-1] + 1 if handed else len(evmm)
    want = wrapped(evmm[:end], cols)
    shown = [r.rstrip() for r in rows]
    while shown and not shown[-1]:
        shown.pop()
    want = [w.rstrip() for w in want]
    if not shown or len(shown) > len(want) or want[-len(shown):] != shown:
        for i, r in enumerate(shown):
            print("screen_read: row %2d: %s" % (i, r), file=sys.stderr)
        die("the screen does not show the end of evmm's log%s" % (" up to '%s'" % HANDOVER if handed else ""), 1)
    print("screen_read: rows 0-%d show the last %d rows of evmm's log (wrapped at %d columns), up to %s" % (
        len(shown) - 1, len(shown), cols, "the handover" if handed else "its last line (no handover)"))
    print("screen_read: first row shown: %s" % shown[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
