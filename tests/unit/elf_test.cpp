// Unit tests for loader/elf: tiny ELF64 images built in memory, inspected, loaded and relocated.
#include "lib/formats/elf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace evmm {
namespace {

constexpr u32 R_X86_64_64 = 1; // psABI: a symbol relocation evmm refuses

// Builds an ELF file: header at 0, program headers right after it, contents wherever the test puts them.
struct ElfBuilder {
    Elf64_Ehdr eh{};
    std::vector<Elf64_Phdr> ph;
    std::vector<u8> data; // file bytes beyond the headers (written by put())

    explicit ElfBuilder(u16 type) {
        std::memcpy(eh.e_ident, ELFMAG, 4);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = type;
        eh.e_machine = EM_X86_64;
        eh.e_version = EV_CURRENT;
        eh.e_phoff = sizeof(Elf64_Ehdr);
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
    }
    ElfBuilder& seg(u32 type, u32 flags, u64 offset, u64 vaddr, u64 filesz, u64 memsz, u64 align = 0x1000) {
        Elf64_Phdr p{};
        p.p_type = type;
        p.p_flags = flags;
        p.p_offset = offset;
        p.p_vaddr = vaddr;
        p.p_paddr = vaddr;
        p.p_filesz = filesz;
        p.p_memsz = memsz;
        p.p_align = align;
        ph.push_back(p);
        return *this;
    }
    void put(u64 off, const void* p, size_t n) {
        if (data.size() < off + n) data.resize(off + n, 0);
        std::memcpy(data.data() + off, p, n);
    }
    template <typename T>
    void put(u64 off, const T& v) {
        put(off, &v, sizeof v);
    }
    void pad_to(size_t n) {
        if (data.size() < n) data.resize(n, 0);
    }
    std::vector<u8> build() {
        eh.e_phnum = static_cast<u16>(ph.size());
        std::vector<u8> f = data;
        // Program headers go at e_phoff unless a test pointed e_phoff somewhere absurd on purpose.
        const bool place_ph = eh.e_phoff < 0x10000;
        const size_t hdrs = place_ph ? eh.e_phoff + ph.size() * sizeof(Elf64_Phdr) : sizeof eh;
        if (f.size() < hdrs) f.resize(hdrs, 0);
        std::memcpy(f.data(), &eh, sizeof eh);
        if (place_ph && !ph.empty()) std::memcpy(f.data() + eh.e_phoff, ph.data(), ph.size() * sizeof(Elf64_Phdr));
        return f;
    }
};

std::string what(const Status& s) { return s.what ? s.what : ""; }

// A static-PIE-like ET_DYN:
//   text  file 0x1000..0x1100 -> vaddr 0x1000, R X
//   data  file 0x2000..0x2200 -> vaddr 0x3000, memsz 0x1800 (bss after 0x3200), R W   (gap 0x1100..0x3000)
//   .dynamic at vaddr 0x3000, .rela.dyn at vaddr 0x3100, pointer slots at 0x3180.., a pointer in text at 0x1080
constexpr u64 TEXT_OFF = 0x1000, TEXT_VA = 0x1000, TEXT_SZ = 0x100;
constexpr u64 DATA_OFF = 0x2000, DATA_VA = 0x3000, DATA_FILESZ = 0x200, DATA_MEMSZ = 0x1800;
constexpr u64 DYN_VA = 0x3000, RELA_VA = 0x3100, SLOT_VA = 0x3180;
constexpr u64 ENTRY = 0x1010;

struct Reloc {
    u64 offset;
    u32 type;
    i64 addend;
};

ElfBuilder pie(const std::vector<Reloc>& relocs, std::vector<Elf64_Dyn> extra_dyn = {}) {
    ElfBuilder b(ET_DYN);
    b.eh.e_entry = ENTRY;
    b.seg(PT_LOAD, PF_R | PF_X, TEXT_OFF, TEXT_VA, TEXT_SZ, TEXT_SZ);
    b.seg(PT_LOAD, PF_R | PF_W, DATA_OFF, DATA_VA, DATA_FILESZ, DATA_MEMSZ);
    b.seg(PT_DYNAMIC, PF_R | PF_W, DATA_OFF + (DYN_VA - DATA_VA), DYN_VA, 0x100, 0x100, 8);
    for (u64 i = 0; i < TEXT_SZ; ++i) b.put(TEXT_OFF + i, static_cast<u8>(0x90 + (i & 7)));
    for (u64 i = 0; i < DATA_FILESZ; ++i) b.put(DATA_OFF + i, static_cast<u8>(0xD0));

    std::vector<Elf64_Dyn> dyn;
    if (!relocs.empty()) {
        dyn.push_back({DT_RELA, RELA_VA});
        dyn.push_back({DT_RELASZ, relocs.size() * sizeof(Elf64_Rela)});
        dyn.push_back({DT_RELAENT, sizeof(Elf64_Rela)});
    }
    for (const Elf64_Dyn& d : extra_dyn) dyn.push_back(d);
    dyn.push_back({DT_NULL, 0});
    for (size_t i = 0; i < dyn.size(); ++i) b.put(DATA_OFF + (DYN_VA - DATA_VA) + i * sizeof(Elf64_Dyn), dyn[i]);
    for (size_t i = 0; i < relocs.size(); ++i) {
        Elf64_Rela r{relocs[i].offset, relocs[i].type, relocs[i].addend};
        b.put(DATA_OFF + (RELA_VA - DATA_VA) + i * sizeof(Elf64_Rela), r);
    }
    return b;
}

u64 read64(const std::vector<u8>& v, u64 off) {
    u64 x;
    std::memcpy(&x, v.data() + off, 8);
    return x;
}

// ----------------------------------------------------------------------------------------------------------------
// Good images

TEST(ElfInspect, GoodPie) {
    auto f = pie({{SLOT_VA, R_X86_64_RELATIVE, 0x1010}}).build();
    ElfImage img;
    Status s = elf_inspect(f.data(), f.size(), img);
    ASSERT_TRUE(s.ok()) << what(s);
    EXPECT_EQ(img.type, ET_DYN);
    EXPECT_EQ(img.entry, ENTRY);
    EXPECT_EQ(img.min_vaddr, TEXT_VA);
    EXPECT_EQ(img.max_vaddr, DATA_VA + DATA_MEMSZ);
    ASSERT_EQ(img.segment_count, 2u);
    EXPECT_EQ(img.segments[0].flags, PF_R | PF_X);
    EXPECT_EQ(img.segments[1].vaddr, DATA_VA);
    EXPECT_EQ(img.segments[1].filesz, DATA_FILESZ);
    EXPECT_EQ(img.segments[1].memsz, DATA_MEMSZ);
    EXPECT_EQ(img.segments[1].offset, DATA_OFF);
    EXPECT_TRUE(img.has_dynamic);
    EXPECT_EQ(img.dynamic_vaddr, DYN_VA);
}

TEST(ElfLoad, PieRelocatedAtBiasWithBssAndGapZeroed) {
    const u64 bias = 0xFFFF'8000'0000'0000 - TEXT_VA; // image runs at 0xFFFF800000000000
    auto f = pie({{SLOT_VA, R_X86_64_RELATIVE, 0x1010},
                  {SLOT_VA + 8, R_X86_64_NONE, 0},
                  {SLOT_VA + 16, R_X86_64_RELATIVE, 0x3400},   // points into bss
                  {TEXT_VA + 0x80, R_X86_64_RELATIVE, -0x10}}) // text relocation, negative addend
                 .build();
    ElfImage img;
    ASSERT_TRUE(elf_inspect(f.data(), f.size(), img).ok());
    const u64 span = img.max_vaddr - img.min_vaddr;
    std::vector<u8> dest(span + 64, 0xCC);
    Status s = elf_load(f.data(), f.size(), img, dest.data(), dest.size(), bias);
    ASSERT_TRUE(s.ok()) << what(s) << " " << s.value << " " << s.value2;

    auto at = [&](u64 va) { return va - img.min_vaddr; };
    // text copied (except the relocated word)
    EXPECT_EQ(dest[at(TEXT_VA)], 0x90);
    EXPECT_EQ(dest[at(TEXT_VA + 7)], 0x97);
    EXPECT_EQ(dest[at(TEXT_VA + TEXT_SZ - 1)], 0x97);
    // gap between the segments is zero
    for (u64 va = TEXT_VA + TEXT_SZ; va < DATA_VA; ++va) ASSERT_EQ(dest[at(va)], 0) << std::hex << va;
    // bss is zero
    for (u64 va = DATA_VA + DATA_FILESZ; va < DATA_VA + DATA_MEMSZ; ++va) ASSERT_EQ(dest[at(va)], 0) << std::hex << va;
    // nothing written past the image
    EXPECT_EQ(dest[span], 0xCC);
    EXPECT_EQ(dest.back(), 0xCC);
    // relocations: B + A
    EXPECT_EQ(read64(dest, at(SLOT_VA)), bias + 0x1010);
    EXPECT_EQ(read64(dest, at(SLOT_VA + 8)), 0xD0D0D0D0D0D0D0D0u); // R_X86_64_NONE left it alone
    EXPECT_EQ(read64(dest, at(SLOT_VA + 16)), bias + 0x3400);
    EXPECT_EQ(read64(dest, at(TEXT_VA + 0x80)), bias - 0x10);
}

TEST(ElfLoad, PieWithoutRelocationsAndBiasZero) {
    auto f = pie({}).build();
    ElfImage img;
    ASSERT_TRUE(elf_inspect(f.data(), f.size(), img).ok());
    std::vector<u8> dest(img.max_vaddr - img.min_vaddr, 0xCC);
    ASSERT_TRUE(elf_load(f.data(), f.size(), img, dest.data(), dest.size(), 0).ok());
    EXPECT_EQ(read64(dest, SLOT_VA - img.min_vaddr), 0xD0D0D0D0D0D0D0D0u);
}

ElfBuilder exec_image() {
    ElfBuilder b(ET_EXEC);
    b.eh.e_entry = 0x400000;
    b.seg(PT_LOAD, PF_R | PF_X, 0x1000, 0x400000, 0x20, 0x20);
    b.seg(PT_LOAD, PF_R | PF_W, 0x2000, 0x401000, 0x10, 0x1000); // mostly bss
    for (u64 i = 0; i < 0x20; ++i) b.put(0x1000 + i, static_cast<u8>(0xC3));
    for (u64 i = 0; i < 0x10; ++i) b.put(0x2000 + i, static_cast<u8>(0x11));
    return b;
}

TEST(ElfLoad, ExecLoadsAtLinkAddress) {
    auto f = exec_image().build();
    ElfImage img;
    ASSERT_TRUE(elf_inspect(f.data(), f.size(), img).ok());
    EXPECT_EQ(img.type, ET_EXEC);
    EXPECT_FALSE(img.has_dynamic);
    EXPECT_EQ(img.min_vaddr, 0x400000u);
    EXPECT_EQ(img.max_vaddr, 0x402000u);
    std::vector<u8> dest(0x2000, 0xEE);
    ASSERT_TRUE(elf_load(f.data(), f.size(), img, dest.data(), dest.size(), 0).ok());
    EXPECT_EQ(dest[0], 0xC3);
    EXPECT_EQ(dest[0x1F], 0xC3);
    EXPECT_EQ(dest[0x20], 0);
    EXPECT_EQ(dest[0x1000], 0x11);
    EXPECT_EQ(dest[0x100F], 0x11);
    EXPECT_EQ(dest[0x1010], 0);
    EXPECT_EQ(dest[0x1FFF], 0);

    Status s = elf_load(f.data(), f.size(), img, dest.data(), dest.size(), 0x1000);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, 0x1000u);
}

TEST(ElfLoad, DestTooSmall) {
    auto f = exec_image().build();
    ElfImage img;
    ASSERT_TRUE(elf_inspect(f.data(), f.size(), img).ok());
    std::vector<u8> dest(0x1FFF, 0xEE);
    Status s = elf_load(f.data(), f.size(), img, dest.data(), dest.size(), 0);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.value, 0x1FFFu);
    EXPECT_EQ(s.value2, 0x2000u);
    EXPECT_EQ(dest[0], 0xEE); // nothing written
}

// fuzz_elf found it: a pure-bss PT_LOAD (p_filesz 0) whose p_offset lies far past the file is valid (it reads
// nothing), and elf_load used to form file + p_offset for its empty copy anyway: a pointer overflow. clang's UBSan
// reports it (g++'s does not instrument that addition): the fuzz seed elf-2 (tests/fuzz/fuzz_seeds.cpp) replays this
// input in the fuzz tests; here the load must succeed and zero the bss.
TEST(ElfLoad, BssSegmentWithOffsetPastTheFile) {
    ElfBuilder b(ET_DYN);
    b.seg(PT_LOAD, PF_R | PF_X, 0, 0, 0x200, 0x200);
    b.seg(PT_LOAD, PF_R | PF_W, 0xFFFFFFFFFFFF0000ull, 0x1000, 0, 0x1000);
    b.eh.e_entry = 0x100;
    b.pad_to(0x200);
    auto f = b.build();
    ElfImage img;
    ASSERT_TRUE(elf_inspect(f.data(), f.size(), img).ok());
    ASSERT_EQ(img.segment_count, 2u);
    std::vector<u8> dest(0x2000, 0xEE);
    ASSERT_TRUE(elf_load(f.data(), f.size(), img, dest.data(), dest.size(), 0x200000).ok());
    EXPECT_EQ(dest[0x1000], 0);
    EXPECT_EQ(dest[0x1FFF], 0);
}

// ----------------------------------------------------------------------------------------------------------------
// Header errors

Status inspect(const std::vector<u8>& f) {
    ElfImage img;
    return elf_inspect(f.data(), f.size(), img);
}

TEST(ElfInspect, BadIdentification) {
    struct Case {
        size_t index;
        u8 value;
        const char* field;
    } cases[] = {
        {0, 0x7E, "magic"},
        {3, 'G', "magic"},
        {EI_CLASS, 1 /* ELFCLASS32 */, "EI_CLASS"},
        {EI_DATA, 2 /* ELFDATA2MSB */, "EI_DATA"},
        {EI_VERSION, 0, "EI_VERSION"},
    };
    for (const Case& c : cases) {
        auto f = exec_image().build();
        f[c.index] = c.value;
        Status s = inspect(f);
        ASSERT_FALSE(s.ok()) << c.field;
        EXPECT_NE(what(s).find(c.field), std::string::npos) << what(s);
    }
}

TEST(ElfInspect, BadMachineTypeVersionPhentsize) {
    auto b = exec_image();
    b.eh.e_machine = 3; // EM_386
    Status s = inspect(b.build());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(what(s), "e_machine is not EM_X86_64");
    EXPECT_EQ(s.value, 3u);

    b = exec_image();
    b.eh.e_type = 1; // ET_REL
    s = inspect(b.build());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("e_type"), std::string::npos);
    EXPECT_EQ(s.value, 1u);

    b = exec_image();
    b.eh.e_version = 2;
    EXPECT_NE(what(inspect(b.build())).find("e_version"), std::string::npos);

    b = exec_image();
    b.eh.e_phentsize = 32;
    s = inspect(b.build());
    EXPECT_NE(what(s).find("e_phentsize"), std::string::npos);
    EXPECT_EQ(s.value, 32u);
}

TEST(ElfInspect, FileTooSmallAndNull) {
    auto f = exec_image().build();
    ElfImage img;
    EXPECT_FALSE(elf_inspect(f.data(), sizeof(Elf64_Ehdr) - 1, img).ok());
    EXPECT_FALSE(elf_inspect(nullptr, 100, img).ok());
}

TEST(ElfInspect, PhdrTablePastEnd) {
    auto b = exec_image();
    auto f = b.build();
    // Cut the file so the second program header is incomplete.
    f.resize(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 10);
    Status s = inspect(f);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("program header table"), std::string::npos) << what(s);

    // e_phoff near 2^64: must not wrap.
    b = exec_image();
    b.eh.e_phoff = ~u64{0} - 8;
    EXPECT_FALSE(inspect(b.build()).ok());
}

TEST(ElfInspect, SegmentPastFileEnd) {
    auto b = exec_image();
    b.ph[1].p_filesz = 0x100; // file ends at 0x2010
    b.ph[1].p_memsz = 0x1000;
    Status s = inspect(b.build());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("past the end of the file"), std::string::npos) << what(s);

    b = exec_image();
    b.ph[1].p_offset = ~u64{0} - 4; // offset + filesz wraps
    EXPECT_FALSE(inspect(b.build()).ok());
}

TEST(ElfInspect, FileszLargerThanMemsz) {
    auto b = exec_image();
    b.ph[0].p_memsz = 0x10;
    Status s = inspect(b.build());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("p_filesz is larger than p_memsz"), std::string::npos) << what(s);
    EXPECT_EQ(s.value, 0x20u);
    EXPECT_EQ(s.value2, 0x10u);
}

TEST(ElfInspect, VaddrWraps) {
    auto b = exec_image();
    b.ph[1].p_vaddr = 0xFFFF'FFFF'FFFF'F000;
    b.ph[1].p_offset = 0x2000;
    b.ph[1].p_memsz = 0x2000;
    EXPECT_NE(what(inspect(b.build())).find("wraps"), std::string::npos);
}

TEST(ElfInspect, OverlappingSegments) {
    auto b = exec_image();
    b.ph[1].p_vaddr = 0x400010; // inside the text segment [0x400000, 0x400020)
    b.ph[1].p_offset = 0x2010;
    b.put(0x2010, u64{0});
    b.ph[1].p_filesz = 0;
    Status s = inspect(b.build());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("overlap"), std::string::npos) << what(s);
    // Adjacent is fine.
    b.ph[1].p_vaddr = 0x400020;
    b.ph[1].p_offset = 0x2020;
    b.ph[1].p_align = 0x10;
    EXPECT_TRUE(inspect(b.build()).ok()) << what(inspect(b.build()));
    // A pure-bss segment (p_filesz 0) may have its p_offset past the end of the file.
    b.ph[1].p_offset = 0x10020;
    EXPECT_TRUE(inspect(b.build()).ok()) << what(inspect(b.build()));
}

TEST(ElfInspect, Alignment) {
    auto b = exec_image();
    b.ph[0].p_align = 0x1800;
    Status s = inspect(b.build());
    EXPECT_NE(what(s).find("power of two"), std::string::npos) << what(s);

    b = exec_image();
    b.ph[1].p_vaddr = 0x401100; // offset 0x2000: not congruent mod 0x1000
    s = inspect(b.build());
    EXPECT_NE(what(s).find("congruent"), std::string::npos) << what(s);

    b.ph[1].p_align = 0; // "no alignment required"
    EXPECT_TRUE(inspect(b.build()).ok());
}

TEST(ElfInspect, NoLoadSegment) {
    ElfBuilder b(ET_EXEC);
    b.eh.e_entry = 0x400000;
    Status s = inspect(b.build());
    EXPECT_NE(what(s).find("no PT_LOAD"), std::string::npos) << what(s);

    b.seg(PT_LOAD, PF_R | PF_X, 0, 0x400000, 0, 0); // empty: ignored
    b.pad_to(0x100);
    EXPECT_NE(what(inspect(b.build())).find("no PT_LOAD"), std::string::npos);
}

TEST(ElfInspect, EntryMustBeInExecutableSegment) {
    auto b = exec_image();
    b.eh.e_entry = 0x401000; // in the RW data segment
    Status s = inspect(b.build());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("e_entry"), std::string::npos);
    EXPECT_EQ(s.value, 0x401000u);

    b.eh.e_entry = 0x400020; // one past the text segment
    EXPECT_FALSE(inspect(b.build()).ok());
    b.eh.e_entry = 0x40001F; // last byte
    EXPECT_TRUE(inspect(b.build()).ok());
}

TEST(ElfInspect, InterpRefused) {
    auto b = exec_image();
    b.seg(PT_INTERP, PF_R, 0x1000, 0x400000, 0x10, 0x10, 1);
    EXPECT_NE(what(inspect(b.build())).find("PT_INTERP"), std::string::npos);
}

TEST(ElfInspect, TooManySegments) {
    ElfBuilder b(ET_EXEC);
    b.eh.e_entry = 0x400000;
    for (u64 i = 0; i < ELF_MAX_SEGMENTS + 1; ++i)
        b.seg(PT_LOAD, PF_R | PF_X, 0x1000, 0x400000 + i * 0x1000, 0x10, 0x10);
    b.pad_to(0x1010);
    Status s = inspect(b.build());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.value2, ELF_MAX_SEGMENTS);
}

TEST(ElfInspect, DynamicOutsideLoadedBytes) {
    auto b = pie({});
    b.ph[2].p_vaddr = DATA_VA + DATA_FILESZ; // in bss, not file-backed
    EXPECT_NE(what(inspect(b.build())).find("PT_DYNAMIC"), std::string::npos);
}

// ----------------------------------------------------------------------------------------------------------------
// Relocation errors

Status load_pie(ElfBuilder b, u64 bias = 0x100000) {
    auto f = b.build();
    ElfImage img;
    Status s = elf_inspect(f.data(), f.size(), img);
    if (!s.ok()) return s;
    std::vector<u8> dest(img.max_vaddr - img.min_vaddr);
    return elf_load(f.data(), f.size(), img, dest.data(), dest.size(), bias);
}

TEST(ElfLoad, UnsupportedRelocationType) {
    Status s = load_pie(pie({{SLOT_VA, R_X86_64_RELATIVE, 0}, {SLOT_VA + 8, R_X86_64_64, 0}}));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("unsupported relocation type"), std::string::npos) << what(s);
    EXPECT_EQ(s.value, R_X86_64_64);
    EXPECT_EQ(s.value2, SLOT_VA + 8);
}

TEST(ElfLoad, RelocationOffsetOutsideImage) {
    const u64 end = DATA_VA + DATA_MEMSZ;
    for (u64 off : {end - 4, end, TEXT_VA - 8, u64{0}, ~u64{0} - 3}) {
        Status s = load_pie(pie({{off, R_X86_64_RELATIVE, 0}}));
        ASSERT_FALSE(s.ok()) << std::hex << off;
        EXPECT_NE(what(s).find("r_offset"), std::string::npos) << what(s);
        EXPECT_EQ(s.value, off);
    }
    // The last 8 bytes of the image are fine.
    EXPECT_TRUE(load_pie(pie({{end - 8, R_X86_64_RELATIVE, 0}})).ok());
}

TEST(ElfLoad, RelaTableChecks) {
    // DT_REL is refused.
    Status s = load_pie(pie({}, {{DT_REL, RELA_VA}, {DT_RELSZ, 16}}));
    EXPECT_NE(what(s).find("DT_REL "), std::string::npos) << what(s);
    // DT_RELR is refused.
    s = load_pie(pie({}, {{DT_RELR, RELA_VA}, {DT_RELRSZ, 8}}));
    EXPECT_NE(what(s).find("DT_RELR"), std::string::npos) << what(s);
    // PLT relocations are refused.
    s = load_pie(pie({}, {{DT_JMPREL, RELA_VA}, {DT_PLTRELSZ, 24}}));
    EXPECT_NE(what(s).find("DT_JMPREL"), std::string::npos) << what(s);

    // Wrong DT_RELAENT.
    auto b = pie({{SLOT_VA, R_X86_64_RELATIVE, 0}});
    b.put(DATA_OFF + (DYN_VA - DATA_VA) + 2 * sizeof(Elf64_Dyn), Elf64_Dyn{DT_RELAENT, 16});
    EXPECT_NE(what(load_pie(b)).find("DT_RELAENT"), std::string::npos);

    // DT_RELASZ not a multiple of the entry size.
    b = pie({{SLOT_VA, R_X86_64_RELATIVE, 0}});
    b.put(DATA_OFF + (DYN_VA - DATA_VA) + 1 * sizeof(Elf64_Dyn), Elf64_Dyn{DT_RELASZ, 20});
    EXPECT_NE(what(load_pie(b)).find("multiple"), std::string::npos);

    // Table running past the image.
    b = pie({{SLOT_VA, R_X86_64_RELATIVE, 0}});
    b.put(DATA_OFF + (DYN_VA - DATA_VA) + 1 * sizeof(Elf64_Dyn), Elf64_Dyn{DT_RELASZ, 0x100000 * 24});
    s = load_pie(b);
    EXPECT_NE(what(s).find("outside the image"), std::string::npos) << what(s);

    // DT_RELA without DT_RELASZ.
    b = pie({{SLOT_VA, R_X86_64_RELATIVE, 0}});
    b.put(DATA_OFF + (DYN_VA - DATA_VA) + 1 * sizeof(Elf64_Dyn), Elf64_Dyn{DT_RELAENT, 24});
    EXPECT_FALSE(load_pie(b).ok());
}

TEST(ElfLoad, RejectsInconsistentImage) {
    auto f = exec_image().build();
    ElfImage img;
    ASSERT_TRUE(elf_inspect(f.data(), f.size(), img).ok());
    std::vector<u8> dest(0x2000);
    ElfImage bad = img;
    bad.segments[1].offset = f.size(); // file bytes past the end
    EXPECT_FALSE(elf_load(f.data(), f.size(), bad, dest.data(), dest.size(), 0).ok());
    bad = img;
    bad.segments[1].memsz = 0x2000; // past max_vaddr
    EXPECT_FALSE(elf_load(f.data(), f.size(), bad, dest.data(), dest.size(), 0).ok());
    bad = img;
    bad.segment_count = 0;
    EXPECT_FALSE(elf_load(f.data(), f.size(), bad, dest.data(), dest.size(), 0).ok());
}

} // namespace
} // namespace evmm
