// ELF64 x86-64 inspection, loading and RELATIVE relocation. See elf.h for the references.
#include "lib/formats/elf.h"
#include "evmm/unaligned.h"

namespace evmm {
namespace {

// [a, a + alen) inside [b, b + blen)? All four may be arbitrary; no wrap.
constexpr bool range_inside(u64 a, u64 alen, u64 b, u64 blen) { return a >= b && alen <= blen && a - b <= blen - alen; }

Status check_ident(const Elf64_Ehdr& eh) {
    if (__builtin_memcmp(eh.e_ident + EI_MAG0, ELFMAG, sizeof ELFMAG) != 0)
        return Status::error("e_ident is not the ELF magic 7f 'E' 'L' 'F'", "ELF header",
                             load_unaligned<u32>(eh.e_ident));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64)
        return Status::error("e_ident[EI_CLASS] is not ELFCLASS64", "ELF header", eh.e_ident[EI_CLASS]);
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return Status::error("e_ident[EI_DATA] is not ELFDATA2LSB", "ELF header", eh.e_ident[EI_DATA]);
    if (eh.e_ident[EI_VERSION] != EV_CURRENT)
        return Status::error("e_ident[EI_VERSION] is not EV_CURRENT", "ELF header", eh.e_ident[EI_VERSION]);
    if (eh.e_version != EV_CURRENT) return Status::error("e_version is not EV_CURRENT", "ELF header", eh.e_version);
    if (eh.e_machine != EM_X86_64) return Status::error("e_machine is not EM_X86_64", "ELF header", eh.e_machine);
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
        return Status::error("e_type is neither ET_EXEC nor ET_DYN", "ELF header", eh.e_type);
    if (eh.e_ehsize < sizeof(Elf64_Ehdr))
        return Status::error("e_ehsize is smaller than the ELF64 header", "ELF header", eh.e_ehsize);
    return Status::success();
}

Status check_load_segment(const Elf64_Phdr& ph, size_t size, u64 index) {
    const char* where = "PT_LOAD program header";
    if (ph.p_filesz > ph.p_memsz)
        return Status::error("PT_LOAD p_filesz is larger than p_memsz", where, ph.p_filesz, ph.p_memsz);
    // (A segment with no file bytes, pure bss, reads nothing, wherever its p_offset points.)
    if (ph.p_filesz != 0 && (add_overflows(ph.p_offset, ph.p_filesz) || ph.p_offset + ph.p_filesz > size))
        return Status::error("PT_LOAD p_offset + p_filesz is past the end of the file", where, ph.p_offset,
                             ph.p_filesz);
    if (add_overflows(ph.p_vaddr, ph.p_memsz))
        return Status::error("PT_LOAD p_vaddr + p_memsz wraps past the end of the address space", where, ph.p_vaddr,
                             ph.p_memsz);
    // gABI: "Values 0 and 1 mean no alignment is required. Otherwise, p_align should be a positive, integral power
    // of 2, and p_vaddr should equal p_offset, modulo p_align."
    if (ph.p_align > 1) {
        if (!is_pow2(ph.p_align))
            return Status::error("PT_LOAD p_align is not a power of two", where, ph.p_align, index);
        if (((ph.p_vaddr - ph.p_offset) & (ph.p_align - 1)) != 0)
            return Status::error("PT_LOAD p_vaddr is not congruent to p_offset modulo p_align", where, ph.p_vaddr,
                                 ph.p_offset);
    }
    return Status::success();
}

} // namespace

Status elf_inspect(const u8* file, size_t size, ElfImage& out) {
    __builtin_memset(&out, 0, sizeof out);
    if (file == nullptr) return Status::error("ELF file pointer is null", "ELF header");
    if (size < sizeof(Elf64_Ehdr))
        return Status::error("file is smaller than the ELF64 header", "ELF header", size, sizeof(Elf64_Ehdr));
    const Elf64_Ehdr eh = load_unaligned<Elf64_Ehdr>(file);
    EVMM_TRY(check_ident(eh));
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        return Status::error("e_phentsize is not sizeof(Elf64_Phdr) (56)", "ELF header", eh.e_phentsize);
    if (eh.e_phnum == PN_XNUM)
        return Status::error("e_phnum is PN_XNUM (extended numbering is not supported)", "ELF header", eh.e_phnum);
    const u64 ph_bytes = u64{eh.e_phnum} * sizeof(Elf64_Phdr); // at most 0xFFFE * 56: no wrap
    if (add_overflows(eh.e_phoff, ph_bytes) || eh.e_phoff + ph_bytes > size)
        return Status::error("program header table (e_phoff, e_phnum) extends past the end of the file", "ELF header",
                             eh.e_phoff, eh.e_phnum);

    out.type = eh.e_type;
    out.entry = eh.e_entry;
    for (u64 i = 0; i < eh.e_phnum; ++i) {
        const Elf64_Phdr ph = load_unaligned<Elf64_Phdr>(file + eh.e_phoff + i * sizeof(Elf64_Phdr));
        if (ph.p_type == PT_INTERP)
            return Status::error("PT_INTERP present: the image needs a dynamic linker", "program header", i);
        if (ph.p_type == PT_DYNAMIC) {
            if (out.has_dynamic) return Status::error("more than one PT_DYNAMIC", "program header", i);
            out.has_dynamic = true;
            out.dynamic_vaddr = ph.p_vaddr;
            out.dynamic_size = ph.p_filesz;
            continue;
        }
        if (ph.p_type != PT_LOAD) continue;
        EVMM_TRY(check_load_segment(ph, size, i));
        if (ph.p_memsz == 0) continue; // occupies nothing
        for (u32 j = 0; j < out.segment_count; ++j) {
            const ElfSegment& o = out.segments[j];
            if (ranges_overlap(ph.p_vaddr, ph.p_memsz, o.vaddr, o.memsz))
                return Status::error("PT_LOAD segments overlap (p_vaddr of both)", "PT_LOAD program header", ph.p_vaddr,
                                     o.vaddr);
        }
        if (out.segment_count == ELF_MAX_SEGMENTS)
            return Status::error("more PT_LOAD segments than evmm supports", "program header", i, ELF_MAX_SEGMENTS);
        ElfSegment& s = out.segments[out.segment_count++];
        s.vaddr = ph.p_vaddr;
        s.memsz = ph.p_memsz;
        s.filesz = ph.p_filesz;
        s.offset = ph.p_offset;
        s.flags = ph.p_flags;
    }
    if (out.segment_count == 0) return Status::error("no PT_LOAD segment", "program header", eh.e_phnum);

    out.min_vaddr = out.segments[0].vaddr;
    out.max_vaddr = out.segments[0].vaddr + out.segments[0].memsz;
    for (u32 j = 1; j < out.segment_count; ++j) {
        const ElfSegment& s = out.segments[j];
        if (s.vaddr < out.min_vaddr) out.min_vaddr = s.vaddr;
        if (s.vaddr + s.memsz > out.max_vaddr) out.max_vaddr = s.vaddr + s.memsz;
    }

    bool entry_ok = false;
    for (u32 j = 0; j < out.segment_count; ++j) {
        const ElfSegment& s = out.segments[j];
        if ((s.flags & PF_X) != 0 && range_inside(out.entry, 1, s.vaddr, s.memsz)) entry_ok = true;
    }
    if (!entry_ok)
        return Status::error("e_entry is not inside an executable (PF_X) PT_LOAD segment", "ELF header", out.entry);

    if (out.has_dynamic) {
        bool inside = false;
        for (u32 j = 0; j < out.segment_count; ++j) {
            const ElfSegment& s = out.segments[j];
            if (range_inside(out.dynamic_vaddr, out.dynamic_size, s.vaddr, s.filesz)) inside = true;
        }
        if (!inside)
            return Status::error("PT_DYNAMIC is not inside the file bytes of a PT_LOAD segment", "PT_DYNAMIC",
                                 out.dynamic_vaddr, out.dynamic_size);
    }
    return Status::success();
}

namespace {

// Applies the DT_RELA relocations of a loaded ET_DYN image. `image` holds [min_vaddr, max_vaddr).
Status apply_relocations(const ElfImage& img, u8* image, u64 span, u64 load_bias) {
    if (!range_inside(img.dynamic_vaddr, img.dynamic_size, img.min_vaddr, span))
        return Status::error("PT_DYNAMIC lies outside the image", "PT_DYNAMIC", img.dynamic_vaddr, img.dynamic_size);
    const u8* dyn = image + (img.dynamic_vaddr - img.min_vaddr);
    const u64 ndyn = img.dynamic_size / sizeof(Elf64_Dyn);

    bool have_rela = false, have_relasz = false;
    u64 rela = 0, relasz = 0, relaent = sizeof(Elf64_Rela), pltrelsz = 0;
    bool have_jmprel = false;
    for (u64 i = 0; i < ndyn; ++i) {
        const Elf64_Dyn d = load_unaligned<Elf64_Dyn>(dyn + i * sizeof(Elf64_Dyn));
        if (d.d_tag == DT_NULL) break;
        switch (d.d_tag) {
        case DT_RELA:
            have_rela = true;
            rela = d.d_val;
            break;
        case DT_RELASZ:
            have_relasz = true;
            relasz = d.d_val;
            break;
        case DT_RELAENT: relaent = d.d_val; break;
        case DT_REL:
        case DT_RELSZ:
            return Status::error("DT_REL relocations are not supported (only DT_RELA)", "PT_DYNAMIC",
                                 static_cast<u64>(d.d_tag), d.d_val);
        case DT_RELR:
        case DT_RELRSZ:
            return Status::error("DT_RELR relocations are not supported (only DT_RELA)", "PT_DYNAMIC",
                                 static_cast<u64>(d.d_tag), d.d_val);
        case DT_JMPREL: have_jmprel = true; break;
        case DT_PLTRELSZ: pltrelsz = d.d_val; break;
        default: break;
        }
    }
    if (have_jmprel && pltrelsz != 0)
        return Status::error("PLT relocations (DT_JMPREL) are not supported", "PT_DYNAMIC", pltrelsz);
    if (have_rela != have_relasz)
        return Status::error("DT_RELA and DT_RELASZ must come together", "PT_DYNAMIC", rela, relasz);
    if (!have_rela || relasz == 0) return Status::success();
    if (relaent != sizeof(Elf64_Rela))
        return Status::error("DT_RELAENT is not sizeof(Elf64_Rela) (24)", "PT_DYNAMIC", relaent);
    if (relasz % sizeof(Elf64_Rela) != 0)
        return Status::error("DT_RELASZ is not a multiple of DT_RELAENT", "PT_DYNAMIC", relasz);
    if (!range_inside(rela, relasz, img.min_vaddr, span))
        return Status::error("DT_RELA table lies outside the image", "PT_DYNAMIC", rela, relasz);

    const u8* table = image + (rela - img.min_vaddr);
    for (u64 off = 0; off < relasz; off += sizeof(Elf64_Rela)) {
        const Elf64_Rela r = load_unaligned<Elf64_Rela>(table + off);
        const u32 type = elf64_r_type(r.r_info);
        if (type == R_X86_64_NONE) continue;
        if (type != R_X86_64_RELATIVE)
            return Status::error("unsupported relocation type (value: type, value2: r_offset)", "DT_RELA", type,
                                 r.r_offset);
        if (!range_inside(r.r_offset, sizeof(u64), img.min_vaddr, span))
            return Status::error("relocation r_offset lies outside the image (value: r_offset, value2: type)",
                                 "DT_RELA", r.r_offset, type);
        // psABI: R_X86_64_RELATIVE, field word64, calculation B + A.
        const u64 value = load_bias + static_cast<u64>(r.r_addend);
        __builtin_memcpy(image + (r.r_offset - img.min_vaddr), &value, sizeof value);
    }
    return Status::success();
}

} // namespace

Status elf_load(const u8* file, size_t size, const ElfImage& img, u8* dest, size_t dest_size, u64 load_bias) {
    if (file == nullptr || dest == nullptr) return Status::error("ELF file or destination pointer is null", "elf_load");
    if (img.type != ET_EXEC && img.type != ET_DYN)
        return Status::error("ElfImage type is neither ET_EXEC nor ET_DYN", "elf_load", img.type);
    if (img.segment_count == 0 || img.segment_count > ELF_MAX_SEGMENTS || img.max_vaddr < img.min_vaddr)
        return Status::error("ElfImage is not from elf_inspect (segment_count / vaddr range)", "elf_load",
                             img.segment_count);
    const u64 span = img.max_vaddr - img.min_vaddr;
    if (dest_size < span)
        return Status::error("destination is smaller than the image (max_vaddr - min_vaddr)", "elf_load", dest_size,
                             span);
    if (img.type == ET_EXEC && load_bias != 0)
        return Status::error("ET_EXEC runs at its link address: load_bias must be 0", "elf_load", load_bias);
    // Recheck what the copy relies on, so a stale or hand-made ElfImage cannot make it read or write out of bounds.
    for (u32 j = 0; j < img.segment_count; ++j) {
        const ElfSegment& s = img.segments[j];
        if (s.filesz > s.memsz || (s.filesz != 0 && !range_inside(s.offset, s.filesz, 0, size)) ||
            !range_inside(s.vaddr, s.memsz, img.min_vaddr, span))
            return Status::error("ElfImage segment does not match the file (value: segment, value2: p_vaddr)",
                                 "elf_load", j, s.vaddr);
    }

    __builtin_memset(dest, 0, span);
    for (u32 j = 0; j < img.segment_count; ++j) {
        const ElfSegment& s = img.segments[j];
        // A pure-bss segment may have any p_offset (elf_inspect allows it): forming file + p_offset would be
        // undefined behaviour there, so it copies nothing without touching the pointer (found by fuzz_elf).
        if (s.filesz == 0) continue;
        __builtin_memcpy(dest + (s.vaddr - img.min_vaddr), file + s.offset, s.filesz);
    }
    if (img.type == ET_DYN && img.has_dynamic) EVMM_TRY(apply_relocations(img, dest, span, load_bias));
    return Status::success();
}

} // namespace evmm
