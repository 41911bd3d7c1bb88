// Writes the seed corpora of the fuzz targets: OUTDIR/NAME/NAME-K, small valid inputs built the way the unit tests
// build theirs (a Multiboot2 information with every tag evmm reads, ELF64 executables and a relocatable PIE like
// the test guests, Multiboot1/Multiboot2 kernels (ELF and a.out kludge), a bzImage of protocol 2.15 and 2.06, an
// ACPI RSDP -> XSDT/RSDT -> MADT, FADT -> DSDT with \_S5, MMIO stores in every form, a VMCS of a guest0 launch,
// page tables of every paging mode). The fuzzer mutates from there. Usage: fuzz_seeds OUTDIR
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "arch/x86_64/cr.h"
#include "arch/x86_64/ept.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/vmx_controls.h"
#include "evmm/unaligned.h"
#include "lib/formats/elf.h"
#include "lib/formats/linux_boot.h"
#include "lib/formats/multiboot_defs.h"
#include "tools/pack/lz4_encode.h"
#include "tools/pack/vmm_pack_build.h"
#include "vmentry_layout.h"

using namespace evmm;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<u8>;

fs::path g_out;

void write_seed(const char* target, const Bytes& b) {
    const fs::path dir = g_out / target;
    fs::create_directories(dir);
    unsigned k = 0;
    fs::path p;
    do p = dir / (std::string(target) + "-" + std::to_string(k++));
    while (fs::exists(p));
    FILE* f = std::fopen(p.c_str(), "wb");
    if (f == nullptr || std::fwrite(b.data(), 1, b.size(), f) != b.size() || std::fclose(f) != 0) {
        std::perror(p.c_str());
        std::exit(1);
    }
}

void put(Bytes& b, size_t at, u64 v, unsigned n) {
    if (b.size() < at + n) b.resize(at + n, 0);
    for (unsigned i = 0; i < n; ++i) b[at + i] = static_cast<u8>(v >> (8 * i));
}
void put_str(Bytes& b, size_t at, const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) put(b, at + i, static_cast<u8>(s[i]), 1);
}
u8 sum(const Bytes& b, size_t from, size_t len) {
    u8 s = 0;
    for (size_t i = 0; i < len; ++i) s = static_cast<u8>(s + b[from + i]);
    return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Multiboot2 boot information (as tests/unit/multiboot2_test.cpp's Builder lays it out)

class Mb2Info {
public:
    Mb2Info() { put(b_, 0, 0, 8); }
    void begin(u32 type) {
        pad();
        start_ = b_.size();
        put(b_, start_, type, 4), put(b_, start_ + 4, 0, 4);
    }
    void end() { put(b_, start_ + 4, b_.size() - start_, 4); }
    void u8_(u8 v) { put(b_, b_.size(), v, 1); }
    void u32_(u32 v) { put(b_, b_.size(), v, 4); }
    void u64_(u64 v) { put(b_, b_.size(), v, 8); }
    void str(const char* s) { put_str(b_, b_.size(), s, std::strlen(s) + 1); }
    Bytes finish() {
        begin(0), end(), pad();
        put(b_, 0, b_.size(), 4);
        return b_;
    }

private:
    void pad() {
        while (b_.size() % 8) b_.push_back(0);
    }
    Bytes b_;
    size_t start_ = 0;
};

void seeds_multiboot2() {
    Mb2Info m;
    m.begin(1), m.str("loglevel=info serial=com1"), m.end();
    m.begin(2), m.str("GRUB 2.06"), m.end();
    m.begin(4), m.u32_(639), m.u32_(523136), m.end();
    m.begin(6), m.u32_(24), m.u32_(0);
    const u64 mmap[][3] = {{0, 0x9FC00, 1},
                           {0x9FC00, 0x400, 2},
                           {0xF0000, 0x10000, 2},
                           {0x100000, 0x1FF00000, 1},
                           {0xFEC00000, 0x1000, 2}};
    for (const auto& e : mmap) m.u64_(e[0]), m.u64_(e[1]), m.u32_(static_cast<u32>(e[2])), m.u32_(0);
    m.end();
    m.begin(3), m.u32_(0x2000000), m.u32_(0x2019000), m.str("guest0 hello-args 42"), m.end();
    m.begin(3), m.u32_(0x2100000), m.u32_(0x2101000), m.str("initrd"), m.end();
    m.begin(14), m.str("RSD PTR ");
    for (int i = 0; i < 11; ++i) m.u8_(0);
    m.end();
    m.begin(15), m.str("RSD PTR "), m.u64_(0), m.u64_(0), m.u64_(0), m.u32_(0), m.end();
    m.begin(12), m.u64_(0x7FF00000), m.end();
    m.begin(21), m.u32_(0x200000), m.end();
    m.begin(18), m.end();
    write_seed("multiboot2", m.finish());
    Mb2Info empty;
    write_seed("multiboot2", empty.finish());
}

// ---------------------------------------------------------------------------------------------------------------
// ELF images

struct Seg {
    u32 type, flags;
    u64 offset, vaddr, paddr, filesz, memsz, align;
};

// An ELF64 (or ELF32) image of `size` bytes with the given program headers at offset 64 (52), payload bytes
// i*7+3 (kernels' contents do not matter).
Bytes make_elf(bool elf64, u16 type, u16 machine, u64 entry, const std::vector<Seg>& segs, size_t size) {
    Bytes b(size, 0);
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<u8>(i * 7 + 3);
    std::memset(b.data(), 0, elf64 ? 64 + 56 * segs.size() : 52 + 32 * segs.size());
    std::memcpy(b.data(), ELFMAG, 4);
    b[EI_CLASS] = elf64 ? ELFCLASS64 : ELFCLASS32;
    b[EI_DATA] = ELFDATA2LSB;
    b[EI_VERSION] = EV_CURRENT;
    put(b, 16, type, 2), put(b, 18, machine, 2), put(b, 20, EV_CURRENT, 4);
    if (elf64) {
        put(b, 24, entry, 8), put(b, 32, 64, 8), put(b, 52, 64, 2), put(b, 54, 56, 2), put(b, 56, segs.size(), 2);
        for (size_t i = 0; i < segs.size(); ++i) {
            const Seg& s = segs[i];
            const size_t p = 64 + 56 * i;
            put(b, p, s.type, 4), put(b, p + 4, s.flags, 4), put(b, p + 8, s.offset, 8), put(b, p + 16, s.vaddr, 8);
            put(b, p + 24, s.paddr, 8), put(b, p + 32, s.filesz, 8), put(b, p + 40, s.memsz, 8);
            put(b, p + 48, s.align, 8);
        }
    } else {
        put(b, 24, entry, 4), put(b, 28, 52, 4), put(b, 40, 52, 2), put(b, 42, 32, 2), put(b, 44, segs.size(), 2);
        for (size_t i = 0; i < segs.size(); ++i) {
            const Seg& s = segs[i];
            const size_t p = 52 + 32 * i;
            put(b, p, s.type, 4), put(b, p + 4, s.offset, 4), put(b, p + 8, s.vaddr, 4), put(b, p + 12, s.paddr, 4);
            put(b, p + 16, s.filesz, 4), put(b, p + 20, s.memsz, 4), put(b, p + 24, s.flags, 4);
            put(b, p + 28, s.align, 4);
        }
    }
    return b;
}

constexpr u64 KBASE = 16 * MiB; // where the test guests are linked

// Like a test guest: text at 16 MiB (a Multiboot header at its start), data + bss after it.
Bytes guest_like(bool elf64, u16 machine) {
    return make_elf(elf64, ET_EXEC, machine, KBASE + 0x40,
                    {{PT_LOAD, PF_R | PF_X, 0x1000, KBASE, KBASE, 0x400, 0x400, 0x1000},
                     {PT_LOAD, PF_R | PF_W, 0x2000, KBASE + 0x1000, KBASE + 0x1000, 0x80, 0x3000, 0x1000}},
                    0x2080);
}

void seeds_elf() {
    write_seed("elf", guest_like(true, EM_X86_64));
    // A static PIE like vmm.elf: one PT_LOAD, PT_DYNAMIC with DT_RELA -> two R_X86_64_RELATIVE.
    Bytes pie = make_elf(true, ET_DYN, EM_X86_64, 0x100,
                         {{PT_LOAD, PF_R | PF_W | PF_X, 0, 0, 0, 0x400, 0x1000, 0x1000},
                          {PT_DYNAMIC, PF_R | PF_W, 0x200, 0x200, 0x200, 0x40, 0x40, 8}},
                         0x400);
    const u64 dyn[][2] = {{u64(DT_RELA), 0x300}, {u64(DT_RELASZ), 48}, {u64(DT_RELAENT), 24}, {u64(DT_NULL), 0}};
    for (size_t i = 0; i < 4; ++i) put(pie, 0x200 + 16 * i, dyn[i][0], 8), put(pie, 0x208 + 16 * i, dyn[i][1], 8);
    const u64 rela[][3] = {{0x380, R_X86_64_RELATIVE, 0x100}, {0x388, R_X86_64_RELATIVE, 0x800}};
    for (size_t i = 0; i < 2; ++i)
        for (size_t j = 0; j < 3; ++j) put(pie, 0x300 + 24 * i + 8 * j, rela[i][j], 8);
    write_seed("elf", pie);
    // What fuzz_elf found (docs/fuzzing.md): a pure-bss PT_LOAD whose p_offset lies far past the file. elf_load used
    // to form file + p_offset for its empty copy (pointer overflow, clang UBSan); a seed, so the fuzz tests replay it.
    write_seed("elf", make_elf(true, ET_DYN, EM_X86_64, 0x100,
                               {{PT_LOAD, PF_R | PF_X, 0, 0, 0, 0x200, 0x200, 0x1000},
                                {PT_LOAD, PF_R | PF_W, 0xFFFFFFFFFFFF0000ull, 0x1000, 0x1000, 0, 0x1000, 0x1000}},
                               0x200));
}

// ---------------------------------------------------------------------------------------------------------------
// Multiboot1 and Multiboot2 kernels

void mb1_header(Bytes& b, size_t at, u32 flags, const u32* addr) {
    put(b, at, 0x1BADB002, 4), put(b, at + 4, flags, 4), put(b, at + 8, u32(0) - 0x1BADB002 - flags, 4);
    if (addr)
        for (size_t i = 0; i < 5; ++i) put(b, at + 12 + 4 * i, addr[i], 4);
}

void seeds_multiboot1() {
    Bytes e32 = guest_like(false, EM_386);
    mb1_header(e32, 0x1000, 3, nullptr);
    write_seed("multiboot1_guest", e32);
    Bytes e64 = guest_like(true, EM_X86_64);
    mb1_header(e64, 0x1000, 7, nullptr);
    write_seed("multiboot1_guest", e64);
    // a.out kludge: header at file offset 0x100 lands at KBASE + 0x100; load the file from 0, bss to + 0x4000.
    Bytes aout(0x1000, 0x90);
    const u32 a[5] = {u32(KBASE + 0x100), u32(KBASE), 0, u32(KBASE + 0x4000), u32(KBASE + 0x200)};
    mb1_header(aout, 0x100, 0x10003, a);
    write_seed("multiboot1_guest", aout);
}

// A Multiboot2 header at `at`: information request (cmdline, memory map; required), console flags, module align,
// the given extra tags, end.
void mb2_header(Bytes& b, size_t at, const Bytes& extra_tags) {
    Bytes t;
    put(t, 0, MB2_HEADER_TAG_INFORMATION_REQUEST, 2), put(t, 2, 0, 2), put(t, 4, 16, 4), put(t, 8, 1, 4);
    put(t, 12, 6, 4);
    put(t, 16, 4, 2), put(t, 18, 1, 2), put(t, 20, 12, 4), put(t, 24, 2, 4), put(t, 28, 0, 4); // console, optional
    put(t, 32, MB2_HEADER_TAG_MODULE_ALIGN, 2), put(t, 34, 0, 2), put(t, 36, 8, 4);
    t.insert(t.end(), extra_tags.begin(), extra_tags.end());
    const size_t end = t.size();
    put(t, end, 0, 2), put(t, end + 2, 0, 2), put(t, end + 4, 8, 4);
    const u32 len = static_cast<u32>(16 + t.size());
    put(b, at, MB2_HEADER_MAGIC, 4), put(b, at + 4, MB2_ARCH_I386, 4), put(b, at + 8, len, 4);
    put(b, at + 12, u32(0) - MB2_HEADER_MAGIC - MB2_ARCH_I386 - len, 4);
    for (size_t i = 0; i < t.size(); ++i) put(b, at + 16 + i, t[i], 1);
}

void seeds_multiboot2_guest() {
    Bytes e64 = guest_like(true, EM_X86_64);
    mb2_header(e64, 0x1000, {});
    write_seed("multiboot2_guest", e64);
    Bytes e32 = guest_like(false, EM_386);
    Bytes entry_tag; // entry address tag (type 3)
    put(entry_tag, 0, 3, 2), put(entry_tag, 2, 0, 2), put(entry_tag, 4, 12, 4), put(entry_tag, 8, KBASE + 0x80, 4);
    put(entry_tag, 12, 0, 4);
    mb2_header(e32, 0x1000, entry_tag);
    write_seed("multiboot2_guest", e32);
    // Address tag (a.out kludge) + entry address tag; relocatable tag.
    Bytes aout(0x1000, 0x90), tags;
    put(tags, 0, 2, 2), put(tags, 2, 0, 2), put(tags, 4, 24, 4), put(tags, 8, KBASE + 0x100, 4);
    put(tags, 12, KBASE, 4), put(tags, 16, 0, 4), put(tags, 20, KBASE + 0x4000, 4);
    tags.insert(tags.end(), entry_tag.begin(), entry_tag.end());
    const size_t r = tags.size();
    put(tags, r, 10, 2), put(tags, r + 2, 1, 2), put(tags, r + 4, 24, 4), put(tags, r + 8, 0x100000, 4);
    put(tags, r + 12, 0x10000000, 4), put(tags, r + 16, 0x1000, 4), put(tags, r + 20, 1, 4), put(tags, r + 24, 0, 8);
    mb2_header(aout, 0x100, tags);
    write_seed("multiboot2_guest", aout);
}

// ---------------------------------------------------------------------------------------------------------------
// Linux bzImage (as tests/unit/linux_bzimage_test.cpp's Bz builds it)

Bytes bzimage(u16 version, u16 xloadflags, u8 relocatable) {
    constexpr size_t setup = 5 * 512, payload = 0x1000;
    Bytes b(setup + payload, 0);
    b[0x1F1] = 4;
    put(b, 0x1F4, payload / 16, 4), put(b, 0x1FA, 0xFFFF, 2), put(b, 0x1FE, LINUX_BOOT_FLAG_MAGIC, 2);
    b[0x200] = 0xEB, b[0x201] = 0x6A;
    put(b, 0x202, LINUX_HDRS_MAGIC, 4), put(b, 0x206, version, 2);
    b[0x211] = LINUX_LOADED_HIGH | LINUX_CAN_USE_HEAP;
    put(b, 0x214, 0x100000, 4), put(b, 0x224, 0xDE00, 2), put(b, 0x22C, 0x7FFFFFFF, 4), put(b, 0x230, 2 * MiB, 4);
    b[0x234] = relocatable, b[0x235] = 21;
    put(b, 0x236, xloadflags, 2), put(b, 0x238, 2047, 4), put(b, 0x258, 16 * MiB, 8), put(b, 0x260, 4 * MiB, 4);
    put(b, 0x1E8, 0x1000, 2), b[0x1EA] = 40; // fuzz_linux_bzimage: initrd and command-line sizes
    for (size_t i = 0; i < payload; ++i) b[setup + i] = static_cast<u8>(i * 7 + 3);
    return b;
}

void seeds_linux() {
    write_seed("linux_bzimage", bzimage(0x020F, LINUX_XLF_KERNEL_64 | LINUX_XLF_CAN_BE_LOADED_ABOVE_4G, 1));
    write_seed("linux_bzimage", bzimage(0x020F, 0, 0));
    write_seed("linux_bzimage", bzimage(0x0206, 0, 1));
}

// ---------------------------------------------------------------------------------------------------------------
// ACPI: physical memory from 0 (fuzz_acpi maps the input at 0 and at 0xE0000)

void sdt(Bytes& b, size_t at, const char* sig, u32 len, u8 rev) {
    put_str(b, at, sig, 4), put(b, at + 4, len, 4), b[at + 8] = rev;
    put_str(b, at + 10, "EVMMFZ", 6), put_str(b, at + 16, "FUZZSEED", 8);
}
void sdt_sum(Bytes& b, size_t at) { b[at + 9] = static_cast<u8>(b[at + 9] - sum(b, at, rd32(b.data() + at + 4))); }

Bytes acpi(bool xsdt) {
    Bytes b(0x300, 0);
    put_str(b, 0, "RSD PTR ", 8), put_str(b, 9, "EVMMFZ", 6);
    b[15] = xsdt ? 2 : 0;
    put(b, 16, 0x40, 4);
    // Root table at 0x40: MADT 0x80, FADT 0x100.
    const size_t esz = xsdt ? 8 : 4;
    sdt(b, 0x40, xsdt ? "XSDT" : "RSDT", static_cast<u32>(36 + 2 * esz), 1);
    put(b, 0x40 + 36, 0x80, static_cast<unsigned>(esz)), put(b, 0x40 + 36 + esz, 0x100, static_cast<unsigned>(esz));
    // MADT: two local APICs, an x2APIC, a disabled CPU, an address override.
    sdt(b, 0x80, "APIC", 44 + 8 * 3 + 16 + 12, 5);
    put(b, 0x80 + 36, 0xFEE00000, 4), put(b, 0x80 + 40, 1, 4);
    size_t e = 0x80 + 44;
    const u8 lapics[][3] = {{0, 0, 1}, {1, 1, 1}, {2, 2, 0}};
    for (const auto& l : lapics)
        b[e] = 0, b[e + 1] = 8, b[e + 2] = l[0], b[e + 3] = l[1], put(b, e + 4, l[2], 4), e += 8;
    b[e] = 9, b[e + 1] = 16, put(b, e + 4, 300, 4), put(b, e + 8, 1, 4), put(b, e + 12, 3, 4), e += 16;
    b[e] = 5, b[e + 1] = 12, put(b, e + 4, 0xFEE00000, 8);
    // FADT (ACPI 6, 276 bytes): DSDT at 0x240, PM1a_CNT 0x404, PM1_CNT_LEN 2; X_ fields too when xsdt.
    sdt(b, 0x100, "FACP", xsdt ? 276 : 116, xsdt ? 6 : 1);
    put(b, 0x100 + 40, 0x240, 4), put(b, 0x100 + 64, 0x404, 4), b[0x100 + 89] = 2;
    if (xsdt) {
        put(b, 0x100 + 140, 0x240, 8);
        b[0x100 + 172] = 1, b[0x100 + 173] = 16, put(b, 0x100 + 176, 0x404, 8);
    }
    // DSDT: Name(_S5_, Package(4) {5, 5, 0, 0}) after some other AML.
    const u8 aml[] = {0x10, 0x05, '\\', '_',  'S',  'B',  '_',  0x08, '_',  'S', '5',
                      '_',  0x12, 0x0A, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00};
    sdt(b, 0x240, "DSDT", static_cast<u32>(36 + sizeof aml), 2);
    for (size_t i = 0; i < sizeof aml; ++i) b[0x240 + 36 + i] = aml[i];
    sdt_sum(b, 0x40), sdt_sum(b, 0x80), sdt_sum(b, 0x100), sdt_sum(b, 0x240);
    if (xsdt) put(b, 20, 36, 4), put(b, 24, 0x40, 8), put(b, 16, 0, 4);
    b[8] = static_cast<u8>(-sum(b, 0, 20) + b[8]);
    if (xsdt) b[32] = static_cast<u8>(-sum(b, 0, 36) + b[32]);
    return b;
}

// acpi(true) plus the IOMMU tables, as QEMU's q35 has them: a DMAR (one unit at 0xfed90000, INCLUDE_PCI_ALL, an
// endpoint scope) and an IVRS (one IVHD type 10h at 0xfed80000, bus 0 by a range, a select), all four through a new
// XSDT at 0x400.
Bytes acpi_iommu() {
    Bytes b = acpi(true);
    b.resize(0x600, 0);
    sdt(b, 0x400, "XSDT", 36 + 4 * 8, 1);
    const u64 tables[] = {0x80, 0x100, 0x480, 0x500};
    for (size_t i = 0; i < 4; ++i) put(b, 0x400 + 36 + 8 * i, tables[i], 8);
    // DMAR: host address width 47 (48 bits), INTR_REMAP; DRHD with INCLUDE_PCI_ALL and a PCI endpoint 00:03.0.
    sdt(b, 0x480, "DMAR", 48 + 16 + 8, 1);
    b[0x480 + 36] = 47, b[0x480 + 37] = 1;
    const size_t drhd = 0x480 + 48;
    put(b, drhd, 0, 2), put(b, drhd + 2, 16 + 8, 2), b[drhd + 4] = 1, put(b, drhd + 8, 0xFED90000, 8);
    b[drhd + 16] = 1, b[drhd + 17] = 8, b[drhd + 21] = 0, b[drhd + 22] = 3, b[drhd + 23] = 0;
    // IVRS: IVinfo (48-bit VA/PA); IVHD 10h: device 00:02.0, capability 0x40, base 0xfed80000, 3 device entries.
    sdt(b, 0x500, "IVRS", 48 + 24 + 12, 2);
    put(b, 0x500 + 36, 0x2800, 4);
    const size_t ivhd = 0x500 + 48;
    b[ivhd] = 0x10, b[ivhd + 1] = 0xD1, put(b, ivhd + 2, 24 + 12, 2), put(b, ivhd + 4, 0x10, 2);
    put(b, ivhd + 6, 0x40, 2), put(b, ivhd + 8, 0xFED80000, 8);
    const u8 dev[] = {3, 0x00, 0x00, 0, 4, 0xFF, 0x00, 0, 2, 0x18, 0x00, 0};
    for (size_t i = 0; i < sizeof dev; ++i) b[ivhd + 24 + i] = dev[i];
    sdt_sum(b, 0x400), sdt_sum(b, 0x480), sdt_sum(b, 0x500);
    put(b, 24, 0x400, 8);
    b[8] = 0, b[8] = static_cast<u8>(-sum(b, 0, 20));
    b[32] = 0, b[32] = static_cast<u8>(-sum(b, 0, 36));
    return b;
}

void seeds_acpi() {
    write_seed("acpi", acpi(true));
    write_seed("acpi", acpi(false));
    write_seed("acpi", acpi_iommu());
}

// ---------------------------------------------------------------------------------------------------------------
// Instructions, VMCS, guest registers, command lines, page tables

void seeds_insn() {
    const std::vector<Bytes> stores = {
        {0x89, 0x08},                                                    // mov [rax], ecx
        {0x48, 0x89, 0x0C, 0x25, 0x00, 0x03, 0xE0, 0xFE},                // mov [0xfee00300], rcx (SIB, no base)
        {0xC7, 0x05, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00},    // mov dword [rip + 0xf0], 0x500
        {0x66, 0x89, 0x47, 0x10},                                        // mov [rdi + 0x10], ax
        {0x88, 0x20},                                                    // mov [rax], ah
        {0x48, 0xA3, 0x00, 0x03, 0xE0, 0xFE, 0, 0, 0, 0},                // mov [moffs64], rax
        {0xF0, 0x87, 0x08},                                              // lock xchg [rax], ecx
        {0xC6, 0x00, 0x12},                                              // mov byte [rax], 0x12
        {0x67, 0x44, 0x89, 0x84, 0x88, 0x00, 0x01, 0x00, 0x00},          // mov [eax + ecx*4 + 0x100], r8d
        {0x65, 0x48, 0xC7, 0x80, 0x10, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}, // mov qword gs:[rax + 0x10], -1
    };
    for (const Bytes& s : stores) write_seed("insn", s);
}

constexpr u64 cap(u32 allowed0, u32 allowed1_bits) { return (u64{allowed1_bits} << 32) | allowed0; }

u32 adjust(u32 desired, u64 msr) {
    u32 out = 0;
    (void)vmx_adjust_controls(desired, msr, "seed", out);
    return out;
}

// The VMCS of a guest0 launch and a Skylake-class processor's capabilities (tests/unit/vmentry_check_test.cpp).
void seeds_vmentry() {
    using F = VmcsField;
    VmxCapMsrs c{};
    c.pinbased = cap(0x16, 0xFF);
    c.procbased = cap(0x04006172, 0xFFF9FFFE);
    c.procbased2 = cap(0, 0x00F7FFFF);
    c.exit = cap(0x00036DFB, 0x01FFFFFF);
    c.entry = cap(0x000011FB, 0x0003FFFF);
    c.misc = 0x300481E5;
    c.cr0_fixed0 = CR0_PE | CR0_NE | CR0_PG;
    c.cr0_fixed1 = 0xFFFFFFFF;
    c.cr4_fixed0 = CR4_VMXE;
    c.cr4_fixed1 = 0x003727FF | bit(23);
    c.ept_vpid_cap = 0x00000F0106734141ull;
    c.vmfunc = VMFUNC_EPTP_SWITCHING;
    c.phys_addr_bits = 39;
    static VmcsSnapshot s{};
    write_seed("vmentry_check", fuzz::vmentry_encode(s, c)); // nothing read back
    for (F f : VMCS_FIELDS) s.set(f, 0);
    const std::pair<F, u64> fields[] = {
        {F::PIN_BASED_VM_EXEC_CONTROLS, adjust(PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING, c.pinbased)},
        {F::PRIMARY_PROC_BASED_VM_EXEC_CONTROLS,
         adjust(PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_ACTIVATE_SECONDARY, c.procbased)},
        {F::SECONDARY_PROC_BASED_VM_EXEC_CONTROLS,
         adjust(PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST, c.procbased2)},
        {F::VM_EXIT_CONTROLS, adjust(VM_EXIT_HOST_ADDRESS_SPACE_SIZE | VM_EXIT_ACKNOWLEDGE_INTERRUPT |
                                         VM_EXIT_SAVE_IA32_EFER | VM_EXIT_LOAD_IA32_EFER,
                                     c.exit)},
        {F::VM_ENTRY_CONTROLS, adjust(VM_ENTRY_LOAD_DEBUG_CONTROLS | VM_ENTRY_LOAD_IA32_EFER, c.entry)},
        {F::VIRTUAL_PROCESSOR_ID, 1},
        {F::EPT_POINTER, ept_make_eptp(0x5000, false)},
        {F::IO_BITMAP_A_ADDR, 0x1000},
        {F::IO_BITMAP_B_ADDR, 0x2000},
        {F::MSR_BITMAPS_ADDR, 0x3000},
        {F::HOST_CR0, CR0_PG | CR0_AM | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE},
        {F::HOST_CR3, 0x100000},
        {F::HOST_CR4, CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_VMXE},
        {F::HOST_CS_SELECTOR, 0x08},
        {F::HOST_SS_SELECTOR, 0x10},
        {F::HOST_TR_SELECTOR, 0x18},
        {F::HOST_RIP, 0xFFFF800000200000ull},
        {F::HOST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE},
        {F::GUEST_CR0, CR0_PE | CR0_ET | CR0_NE},
        {F::GUEST_CR4, CR4_VMXE},
        {F::GUEST_DR7, 0x400},
        {F::GUEST_RIP, 0x100000},
        {F::GUEST_RFLAGS, 2},
        {F::GUEST_CS_SELECTOR, 0x08},
        {F::GUEST_CS_LIMIT, 0xFFFFFFFF},
        {F::GUEST_CS_ACCESS_RIGHTS, 0xC09B},
        {F::GUEST_SS_SELECTOR, 0x10},
        {F::GUEST_SS_LIMIT, 0xFFFFFFFF},
        {F::GUEST_SS_ACCESS_RIGHTS, 0xC093},
        {F::GUEST_DS_SELECTOR, 0x10},
        {F::GUEST_DS_LIMIT, 0xFFFFFFFF},
        {F::GUEST_DS_ACCESS_RIGHTS, 0xC093},
        {F::GUEST_ES_ACCESS_RIGHTS, VMX_AR_UNUSABLE},
        {F::GUEST_FS_ACCESS_RIGHTS, VMX_AR_UNUSABLE},
        {F::GUEST_GS_ACCESS_RIGHTS, VMX_AR_UNUSABLE},
        {F::GUEST_LDTR_ACCESS_RIGHTS, VMX_AR_UNUSABLE},
        {F::GUEST_TR_LIMIT, 0x67},
        {F::GUEST_TR_ACCESS_RIGHTS, 0x8B},
        {F::GUEST_GDTR_LIMIT, 0x17},
        {F::VMCS_LINK_POINTER, VMCS_LINK_POINTER_NONE},
    };
    for (const auto& [f, v] : fields) s.set(f, v);
    write_seed("vmentry_check", fuzz::vmentry_encode(s, c));
}

void seeds_virt_policy() {
    Bytes b;
    const u64 regs[8] = {CR0_PE | CR0_ET | CR0_NE, 0x9000, CR4_PAE,   EFER_LME, 1,
                         CR0_PE | CR0_PG | CR0_ET, 0x7,    0x00000001};
    for (size_t i = 0; i < 8; ++i) put(b, 8 * i, regs[i], 8);
    const char text[] = "hello from guest0 via VMCALL LOG\r\n";
    put_str(b, 64, text, sizeof text - 1);
    write_seed("virt_policy", b);
    b.resize(64);
    put(b, 56, 0x40000000, 8);
    write_seed("virt_policy", b);
}

void seeds_cmdline() {
    for (const char* s : {"loglevel=info serial=com1", "loglevel=debug serial=0x2f8 testexit=bochs crashtest=vmentry",
                          "bogus=1 loglevel=nope serial= x", ""})
        write_seed("cmdline", Bytes(s, s + std::strlen(s)));
}

// Guest page tables: the registers (CR0, CR3, CR4, EFER, linear address) at 0, the tables from 0x1000.
void seeds_guest_paging() {
    constexpr u64 PG_PE = CR0_PG | CR0_PE;
    {
        Bytes b(0x5000, 0); // 4-level: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 (identity)
        put(b, 0, PG_PE, 8), put(b, 8, 0x1000, 8), put(b, 16, CR4_PAE, 8), put(b, 24, EFER_LME | EFER_LMA, 8);
        put(b, 32, 0x4FF0, 8);
        put(b, 0x1000, 0x2003, 8), put(b, 0x2000, 0x3003, 8), put(b, 0x3000, 0x4003, 8), put(b, 0x3008, 0x200083, 8);
        for (u64 i = 0; i < 5; ++i) put(b, 0x4000 + 8 * i, i * 0x1000 | 3, 8);
        write_seed("guest_paging", b);
    }
    {
        Bytes b(0x4000, 0); // PAE: PDPT 0x1000 -> PD 0x2000 -> PT 0x3000
        put(b, 0, PG_PE, 8), put(b, 8, 0x1000, 8), put(b, 16, CR4_PAE, 8), put(b, 32, 0x2FF0, 8);
        put(b, 0x1000, 0x2001, 8), put(b, 0x2000, 0x3003, 8);
        for (u64 i = 0; i < 4; ++i) put(b, 0x3000 + 8 * i, i * 0x1000 | 3, 8);
        write_seed("guest_paging", b);
    }
    {
        Bytes b(0x3000, 0); // 32-bit paging: PD 0x1000 -> PT 0x2000, and a 4 MiB page (CR4.PSE)
        put(b, 0, PG_PE, 8), put(b, 8, 0x1000, 8), put(b, 16, bit(4), 8), put(b, 32, 0x1FF0, 8);
        put(b, 0x1000, 0x2003, 4), put(b, 0x1004, 0x400083, 4);
        for (u32 i = 0; i < 3; ++i) put(b, 0x2000 + 4 * i, i * 0x1000 | 3, 4);
        write_seed("guest_paging", b);
    }
    {
        Bytes b(64, 0); // paging off
        put(b, 0, CR0_PE, 8), put(b, 32, 0x10, 8);
        write_seed("guest_paging", b);
    }
}

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// The packed VMM (fuzz_lz4): an LZ4 block of code-like bytes behind its 2-byte output size, a packed blob of an ELF
// like the VMM, and a short run of text (the round trip).

void seeds_lz4() {
    Bytes code;
    for (size_t i = 0; i < 600; ++i) code.push_back(static_cast<u8>(i % 7 == 0 ? 0x48 : (i * 37) >> 3));
    code.insert(code.end(), 300, 0); // a run: overlapping matches at offset 1
    Bytes blk{static_cast<u8>(code.size()), static_cast<u8>(code.size() >> 8)};
    const Bytes enc = pack::lz4_encode(code.data(), code.size());
    blk.insert(blk.end(), enc.begin(), enc.end());
    write_seed("lz4", blk);
    const Bytes elf = guest_like(true, EM_X86_64);
    write_seed("lz4", pack::vmm_pack_build(elf.data(), elf.size(), 0x3000));
    const char text[] = "loader: vmm loaded at 0x1fa00000; loader: vmm loaded at 0x1f400000";
    write_seed("lz4", Bytes(text, text + sizeof text - 1));
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    seeds_multiboot2();
    seeds_elf();
    seeds_multiboot1();
    seeds_multiboot2_guest();
    seeds_linux();
    seeds_acpi();
    seeds_insn();
    seeds_vmentry();
    seeds_virt_policy();
    seeds_cmdline();
    seeds_guest_paging();
    seeds_lz4();
    return 0;
}
