// ELF64 loading for x86-64: validate an image, copy its PT_LOAD segments into a buffer, and apply the only
// relocations a self-relocating static PIE needs (R_X86_64_RELATIVE).
//
// References: System V ABI, generic part ("gABI", ELF object file format, chapters 4 "Object Files" and
// 5 "Program Loading and Dynamic Linking"), and the System V ABI AMD64 Architecture Processor Supplement
// ("x86-64 psABI", §4.4 Relocation).
#pragma once

#include "evmm/base.h"
#include "evmm/status.h"

namespace evmm {

// ---------------------------------------------------------------------------------------------------------------
// Spec structures and constants (gABI ch. 4/5). All fields little-endian (ELFDATA2LSB is required).

inline constexpr size_t EI_NIDENT = 16;
// e_ident[] indexes and values.
inline constexpr size_t EI_MAG0 = 0;
inline constexpr size_t EI_CLASS = 4;
inline constexpr size_t EI_DATA = 5;
inline constexpr size_t EI_VERSION = 6;
inline constexpr u8 ELFMAG[4] = {0x7F, 'E', 'L', 'F'};
inline constexpr u8 ELFCLASS64 = 2;
inline constexpr u8 ELFDATA2LSB = 1;
inline constexpr u8 EV_CURRENT = 1;
// e_type
inline constexpr u16 ET_EXEC = 2;
inline constexpr u16 ET_DYN = 3;
// e_machine
inline constexpr u16 EM_X86_64 = 62;
// e_phnum escape: the real count is in section header 0 (gABI "Extended numbering").
inline constexpr u16 PN_XNUM = 0xFFFF;

struct Elf64_Ehdr {
    u8 e_ident[EI_NIDENT];
    u16 e_type;
    u16 e_machine;
    u32 e_version;
    u64 e_entry;
    u64 e_phoff;
    u64 e_shoff;
    u32 e_flags;
    u16 e_ehsize;
    u16 e_phentsize;
    u16 e_phnum;
    u16 e_shentsize;
    u16 e_shnum;
    u16 e_shstrndx;
};
static_assert(sizeof(Elf64_Ehdr) == 64);
static_assert(offsetof(Elf64_Ehdr, e_type) == 16);
static_assert(offsetof(Elf64_Ehdr, e_machine) == 18);
static_assert(offsetof(Elf64_Ehdr, e_version) == 20);
static_assert(offsetof(Elf64_Ehdr, e_entry) == 24);
static_assert(offsetof(Elf64_Ehdr, e_phoff) == 32);
static_assert(offsetof(Elf64_Ehdr, e_shoff) == 40);
static_assert(offsetof(Elf64_Ehdr, e_flags) == 48);
static_assert(offsetof(Elf64_Ehdr, e_ehsize) == 52);
static_assert(offsetof(Elf64_Ehdr, e_phentsize) == 54);
static_assert(offsetof(Elf64_Ehdr, e_phnum) == 56);
static_assert(offsetof(Elf64_Ehdr, e_shstrndx) == 62);

// Program header types and flags (gABI ch. 5, "Program Header").
inline constexpr u32 PT_NULL = 0;
inline constexpr u32 PT_LOAD = 1;
inline constexpr u32 PT_DYNAMIC = 2;
inline constexpr u32 PT_INTERP = 3;
inline constexpr u32 PF_X = 0x1;
inline constexpr u32 PF_W = 0x2;
inline constexpr u32 PF_R = 0x4;

struct Elf64_Phdr {
    u32 p_type;
    u32 p_flags;
    u64 p_offset;
    u64 p_vaddr;
    u64 p_paddr;
    u64 p_filesz;
    u64 p_memsz;
    u64 p_align;
};
static_assert(sizeof(Elf64_Phdr) == 56);
static_assert(offsetof(Elf64_Phdr, p_flags) == 4);
static_assert(offsetof(Elf64_Phdr, p_offset) == 8);
static_assert(offsetof(Elf64_Phdr, p_vaddr) == 16);
static_assert(offsetof(Elf64_Phdr, p_filesz) == 32);
static_assert(offsetof(Elf64_Phdr, p_memsz) == 40);
static_assert(offsetof(Elf64_Phdr, p_align) == 48);

// Dynamic section tags (gABI ch. 5, "Dynamic Section").
inline constexpr i64 DT_NULL = 0;
inline constexpr i64 DT_PLTRELSZ = 2;
inline constexpr i64 DT_RELA = 7;
inline constexpr i64 DT_RELASZ = 8;
inline constexpr i64 DT_RELAENT = 9;
inline constexpr i64 DT_REL = 17;
inline constexpr i64 DT_RELSZ = 18;
inline constexpr i64 DT_JMPREL = 23;
inline constexpr i64 DT_RELRSZ = 35;
inline constexpr i64 DT_RELR = 36;

struct Elf64_Dyn {
    i64 d_tag;
    u64 d_val; // d_un: d_val or d_ptr
};
static_assert(sizeof(Elf64_Dyn) == 16);
static_assert(offsetof(Elf64_Dyn, d_val) == 8);

// gABI ch. 4, "Relocation": Elf64_Rela, ELF64_R_TYPE(i) = (i) & 0xffffffff.
struct Elf64_Rela {
    u64 r_offset;
    u64 r_info;
    i64 r_addend;
};
static_assert(sizeof(Elf64_Rela) == 24);
static_assert(offsetof(Elf64_Rela, r_info) == 8);
static_assert(offsetof(Elf64_Rela, r_addend) == 16);
inline constexpr u64 ELF64_R_TYPE_MASK = 0xFFFFFFFF;
constexpr u32 elf64_r_type(u64 info) { return static_cast<u32>(info & ELF64_R_TYPE_MASK); }

// x86-64 psABI §4.4.1 "Relocation Types" (B: base address at run time, A: addend).
inline constexpr u32 R_X86_64_NONE = 0;
inline constexpr u32 R_X86_64_RELATIVE = 8; // word64, B + A

// ---------------------------------------------------------------------------------------------------------------
// API

inline constexpr u32 ELF_MAX_SEGMENTS = 16;

// ELF32 (gABI ch. 4/5): i386 Multiboot2 kernels as guest0 (vmm/guest/boot/multiboot2_guest.cpp).
inline constexpr u8 ELFCLASS32 = 1;
inline constexpr u16 EM_386 = 3;

struct Elf32_Ehdr {
    u8 e_ident[EI_NIDENT];
    u16 e_type;
    u16 e_machine;
    u32 e_version;
    u32 e_entry;
    u32 e_phoff;
    u32 e_shoff;
    u32 e_flags;
    u16 e_ehsize;
    u16 e_phentsize;
    u16 e_phnum;
    u16 e_shentsize;
    u16 e_shnum;
    u16 e_shstrndx;
};
static_assert(sizeof(Elf32_Ehdr) == 52);
static_assert(offsetof(Elf32_Ehdr, e_entry) == 24);
static_assert(offsetof(Elf32_Ehdr, e_phoff) == 28);
static_assert(offsetof(Elf32_Ehdr, e_phentsize) == 42);
static_assert(offsetof(Elf32_Ehdr, e_phnum) == 44);

struct Elf32_Phdr {
    u32 p_type;
    u32 p_offset;
    u32 p_vaddr;
    u32 p_paddr;
    u32 p_filesz;
    u32 p_memsz;
    u32 p_flags;
    u32 p_align;
};
static_assert(sizeof(Elf32_Phdr) == 32);
static_assert(offsetof(Elf32_Phdr, p_paddr) == 12);
static_assert(offsetof(Elf32_Phdr, p_memsz) == 20);
static_assert(offsetof(Elf32_Phdr, p_flags) == 24);

struct ElfSegment {
    u64 vaddr, memsz, filesz, offset;
    u32 flags; // PF_R / PF_W / PF_X
};

struct ElfImage {
    u16 type;          // ET_EXEC or ET_DYN
    u64 entry;         // e_entry (link-time address; runtime: load_bias + entry)
    u64 min_vaddr;     // lowest PT_LOAD p_vaddr
    u64 max_vaddr;     // highest PT_LOAD p_vaddr + p_memsz (exclusive)
    u32 segment_count; // PT_LOAD segments with p_memsz != 0, in program header order
    ElfSegment segments[ELF_MAX_SEGMENTS];
    bool has_dynamic;
    u64 dynamic_vaddr; // PT_DYNAMIC p_vaddr (inside a PT_LOAD segment's file-backed bytes)
    u64 dynamic_size;  // PT_DYNAMIC p_filesz
};

// Validates an ELF64 x86-64 executable (ET_EXEC) or position-independent executable (ET_DYN) of `size` bytes and
// describes it in `out`: identification, e_phentsize, the program header table inside the file, PT_LOAD
// segments (filesz <= memsz, file bytes inside the file, no address wrap, no two overlapping, p_align 0/1 or a
// power of two with p_vaddr == p_offset modulo p_align), at least one PT_LOAD, the entry point inside an
// executable PT_LOAD, at most one PT_DYNAMIC, inside a PT_LOAD. An image with PT_INTERP (needs a dynamic linker)
// is refused. Empty PT_LOAD segments (p_memsz 0) are ignored.
Status elf_inspect(const u8* file, size_t size, ElfImage& out);

// Loads the image described by `img` (from elf_inspect on the same file) into dest: the byte of link-time
// address V goes to dest + (V - img.min_vaddr); [dest, dest + max_vaddr - min_vaddr) is zeroed first, so bss and
// gaps between segments read as zero. dest_size must cover max_vaddr - min_vaddr.
//
// The image will run at load_bias + V. For ET_DYN, the relocations named by PT_DYNAMIC (DT_RELA, DT_RELASZ,
// DT_RELAENT) are applied in dest: R_X86_64_RELATIVE stores load_bias + r_addend (64 bits) at r_offset,
// R_X86_64_NONE does nothing; any other type, DT_REL, DT_RELR or PLT relocations (DT_JMPREL) are refused, and
// every r_offset must lie inside the image. An ET_EXEC runs where it was linked: load_bias must be 0.
Status elf_load(const u8* file, size_t size, const ElfImage& img, u8* dest, size_t dest_size, u64 load_bias);

} // namespace evmm
