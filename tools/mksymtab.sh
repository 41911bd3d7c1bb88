#!/bin/sh
# Usage: mksymtab.sh NM VMM_ELF OUT.S
# Turns the function symbols of the VMM into an assembly file holding evmm's symbol table (format in
# lib/symtab.h): header, entries sorted by address, then the names. Names are demangled without their parameter
# lists, without the namespace evmm:: every C++ function is in, and with "(anon)" for "(anonymous namespace)"
# ("gcpu_vmcs_init", "(anon)::on_io [clone .isra.0]"):
# a backtrace needs the function, and the lists would double the table's size in build/evmm.elf (P3).
set -eu
nm_tool=$1 elf=$2 out=$3
"$nm_tool" -n -S -C --defined-only "$elf" | awk '
  # The last balanced "(...)" group before an optional " const" / " [clone ...]" tail: the parameter list.
  function strip_params(name,    tail, body, i, depth, c) {
    tail = ""
    if (match(name, / \[clone [^]]*\]$/)) { tail = substr(name, RSTART); name = substr(name, 1, RSTART - 1) }
    if (name ~ / const$/) name = substr(name, 1, length(name) - 6)
    if (substr(name, length(name), 1) != ")") return name tail
    depth = 0
    for (i = length(name); i > 0; i--) {
      c = substr(name, i, 1)
      if (c == ")") depth++
      else if (c == "(") { depth--; if (depth == 0) return substr(name, 1, i - 1) tail }
    }
    return name tail
  }
  function hexval(h,    v, i) {   # mawk has no strtonum
    v = 0
    for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
    return v
  }
  BEGIN { count = 0; strsz = 0 }
  # lines: ADDR [SIZE] TYPE NAME...
  {
    if ($2 ~ /^[0-9a-f]+$/ && length($2) == length($1) && $3 ~ /^[tTwW]$/) { addr = $1; size = $2; n = 4 }
    else if ($2 ~ /^[tTwW]$/) { addr = $1; size = "0"; n = 3 }
    else next
    name = $n; for (i = n + 1; i <= NF; i++) name = name " " $i
    if (size == "0" && name ~ /^__/) next   # linker-script markers (__text_end ...) are not functions
    name = strip_params(name)
    gsub(/\(anonymous namespace\)/, "(anon)", name)   # 15 bytes less per local function (P3)
    sub(/^evmm::/, "", name)                            # every C++ function is in evmm:: (6 bytes each)
    gsub(/\\/, "\\\\", name); gsub(/"/, "\\\"", name)
    addrs[count] = addr; sizes[count] = size; names[count] = name; offs[count] = strsz
    strsz += length(name) + 1; count++
  }
  END {
    print "    .section .rodata.evmm_symtab, \"a\""
    print "    .balign 8"
    print "    .globl evmm_symtab_start, evmm_symtab_end"
    print "evmm_symtab_start:"
    print "    .ascii \"EVMMSYMS\""
    printf "    .long %d, %d\n", count, strsz + (strsz == 0)
    if (strsz >= 65536) { print "mksymtab: names take " strsz " bytes: more than the 16-bit offsets of lib/symtab.h" > "/dev/stderr"; exit 1 }
    for (i = 0; i < count; i++) {
      sz = hexval(sizes[i]); if (sz > 65535) sz = 0   # too big for 16 bits: "unknown"
      printf "    .long 0x%s\n    .short %d, %d\n", addrs[i], offs[i], sz
    }
    for (i = 0; i < count; i++) printf "    .asciz \"%s\"\n", names[i]
    if (strsz == 0) print "    .byte 0"
    print "evmm_symtab_end:"
  }' > "$out"
