// Shared by guest0's Multiboot and Multiboot2 boot loaders: see kernel_image.h.
#include "vmm/guest/boot/kernel_image.h"

#include "lib/format.h"
#include "lib/formats/elf.h"
#include "lib/formats/multiboot1.h"
#include "lib/formats/multiboot2.h"
#include "lib/string.h"

namespace evmm {

namespace boot_info {

u64 entry_end(const evmm_mmap_entry_t& e) { return add_overflows(e.base, e.length) ? UINT64_MAX : e.base + e.length; }

// Walks usable entries covering [from, ...) contiguously; returns the end of that coverage (== from: none).
u64 usable_run_end(const evmm_mmap_entry_t* m, u32 n, u64 from) {
    u64 cur = from;
    for (u32 step = 0; step <= n; ++step) {
        bool advanced = false;
        for (u32 i = 0; i < n; ++i) {
            if (m[i].type != EVMM_MEM_USABLE || m[i].length == 0) continue;
            const u64 end = entry_end(m[i]);
            if (m[i].base <= cur && cur < end) {
                cur = end;
                advanced = true;
                break;
            }
        }
        if (!advanced) break;
    }
    return cur;
}

size_t role_len(const evmm_boot_module_t& m) { return str_len(m.role, sizeof m.role); }
size_t args_len(const evmm_boot_module_t& m) { return str_len(m.cmdline, sizeof m.cmdline); }

Status map_info_area(GuestMem& mem, u64 gpa, u64 size, u64 cap, const char* where, u8*& out) {
    out = nullptr;
    if (size > cap) return Status::error("boot information does not fit in its area", where, size, cap);
    if (add_overflows(gpa, size) || gpa + size > KERNEL_ADDRESS_LIMIT)
        return Status::error("boot information does not lie below 4 GiB", where, gpa, size);
    out = mem.map(gpa, size);
    if (out == nullptr)
        return Status::error("boot information area is not accessible in guest memory", where, gpa, size);
    return Status::success();
}

u32 multiboot_memory_type(u32 evmm_type) {
    static_assert(static_cast<u32>(Mb1MemoryType::Available) == static_cast<u32>(Mb2MemoryType::Available) &&
                  static_cast<u32>(Mb1MemoryType::Reserved) == static_cast<u32>(Mb2MemoryType::Reserved) &&
                  static_cast<u32>(Mb1MemoryType::AcpiReclaimable) ==
                      static_cast<u32>(Mb2MemoryType::AcpiReclaimable) &&
                  static_cast<u32>(Mb1MemoryType::Nvs) == static_cast<u32>(Mb2MemoryType::Nvs) &&
                  static_cast<u32>(Mb1MemoryType::BadRam) == static_cast<u32>(Mb2MemoryType::BadRam));
    switch (evmm_type) {
    case EVMM_MEM_USABLE: return static_cast<u32>(Mb2MemoryType::Available);
    case EVMM_MEM_ACPI_RECLAIMABLE: return static_cast<u32>(Mb2MemoryType::AcpiReclaimable);
    case EVMM_MEM_ACPI_NVS: return static_cast<u32>(Mb2MemoryType::Nvs);
    case EVMM_MEM_BAD: return static_cast<u32>(Mb2MemoryType::BadRam);
    default: return static_cast<u32>(Mb2MemoryType::Reserved);
    }
}

} // namespace boot_info
using namespace boot_info;

namespace {

// Where the information may go (choose_info_gpa): at or above 1 MiB, on page boundaries.
constexpr u64 INFO_PLACEMENT_MIN = 1 * MiB;
constexpr u64 INFO_PLACEMENT_ALIGN = PAGE_SIZE;

constexpr u64 U32_LIMIT = u64{UINT32_MAX}; // the largest 32-bit value

constexpr const char* WHERE_ELF = "ELF header";
constexpr const char* WHERE_PHDR = "ELF program header";
constexpr const char* WHERE_INFO = "guest boot information";
constexpr const char* WHERE_LOAD = "guest0 kernel segment";

// [off, off + len) inside [0, size), without wrapping.
bool in_file(u64 off, u64 len, u64 size) { return off <= size && len <= size - off; }

Status check_segment_addr(u64 gpa, u64 memsz, const char* where, u64 index) {
    if (add_overflows(gpa, memsz) || gpa + memsz > KERNEL_ADDRESS_LIMIT)
        return Status::error("segment does not end below 4 GiB (unreachable in 32-bit protected mode)", where, index,
                             gpa);
    return Status::success();
}

// A program header in a class-independent form.
struct Phdr {
    u32 type;
    u64 offset, vaddr, paddr, filesz, memsz;
};

void read_phdr(const u8* image, u64 at, bool is64, Phdr& p) {
    if (is64) {
        Elf64_Phdr ph;
        __builtin_memcpy(&ph, image + at, sizeof ph);
        p = Phdr{ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz};
    } else {
        Elf32_Phdr ph;
        __builtin_memcpy(&ph, image + at, sizeof ph);
        p = Phdr{ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz};
    }
}

bool in_usable_ram(const MemoryMap& map, u64 base, u64 len, u64& bad) {
    const u64 end = base + len;
    const u64 run = usable_run_end(map.entries(), map.count(), base);
    if (run < end) {
        bad = run;
        return false;
    }
    for (u32 i = 0; i < map.count(); ++i) {
        const evmm_mmap_entry_t& e = map[i];
        if (e.type == EVMM_MEM_USABLE) continue;
        if (ranges_overlap(base, len, e.base, entry_end(e) - e.base)) {
            bad = e.base > base ? e.base : base;
            return false;
        }
    }
    return true;
}

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// Planning

Status kernel_plan_elf(const u8* image, size_t size, bool entry_given, KernelPlan& out) {
    if (image == nullptr || size < EI_NIDENT || __builtin_memcmp(image + EI_MAG0, ELFMAG, sizeof ELFMAG) != 0)
        return Status::error("image is not ELF", "ELF e_ident", size);
    const u8 cls = image[EI_CLASS];
    if (cls != ELFCLASS32 && cls != ELFCLASS64)
        return Status::error("ELF class is neither ELFCLASS32 nor ELFCLASS64", "ELF e_ident[EI_CLASS]", cls);
    if (image[EI_DATA] != ELFDATA2LSB)
        return Status::error("ELF image is not little-endian", "ELF e_ident[EI_DATA]", image[EI_DATA]);
    if (image[EI_VERSION] != EV_CURRENT)
        return Status::error("ELF version is not EV_CURRENT", "ELF e_ident[EI_VERSION]", image[EI_VERSION]);
    const bool is64 = cls == ELFCLASS64;

    u16 type = 0, machine = 0, phentsize = 0, phnum = 0;
    u64 entry = 0, phoff = 0;
    if (is64) {
        if (size < sizeof(Elf64_Ehdr)) return Status::error("image is shorter than an ELF64 header", WHERE_ELF, size);
        Elf64_Ehdr eh;
        __builtin_memcpy(&eh, image, sizeof eh);
        type = eh.e_type, machine = eh.e_machine, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        entry = eh.e_entry, phoff = eh.e_phoff;
        if (machine != EM_X86_64)
            return Status::error("ELF64 image is not EM_X86_64", "ELF e_machine", machine, EM_X86_64);
        if (phentsize != sizeof(Elf64_Phdr))
            return Status::error("e_phentsize is not the ELF64 program header size", "ELF e_phentsize", phentsize);
    } else {
        if (size < sizeof(Elf32_Ehdr)) return Status::error("image is shorter than an ELF32 header", WHERE_ELF, size);
        Elf32_Ehdr eh;
        __builtin_memcpy(&eh, image, sizeof eh);
        type = eh.e_type, machine = eh.e_machine, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        entry = eh.e_entry, phoff = eh.e_phoff;
        if (machine != EM_386) return Status::error("ELF32 image is not EM_386", "ELF e_machine", machine, EM_386);
        if (phentsize != sizeof(Elf32_Phdr))
            return Status::error("e_phentsize is not the ELF32 program header size", "ELF e_phentsize", phentsize);
    }
    if (type != ET_EXEC && type != ET_DYN)
        return Status::error("ELF type is neither ET_EXEC nor ET_DYN", "ELF e_type", type);
    if (phnum == 0) return Status::error("ELF image has no program headers", "ELF e_phnum", 0);
    if (phnum == PN_XNUM)
        return Status::error("extended program header numbering (PN_XNUM) is not supported", "ELF e_phnum", phnum);
    if (!in_file(phoff, u64{phnum} * phentsize, size))
        return Status::error("program header table runs past the end of the image", "ELF e_phoff", phoff, phnum);

    u64 vaddrs[KERNEL_MAX_SEGMENTS] = {};
    u32 count = 0;
    for (u32 i = 0; i < phnum; ++i) {
        Phdr p{};
        read_phdr(image, phoff + u64{i} * phentsize, is64, p);
        if (p.type != PT_LOAD || p.memsz == 0) continue;
        if (p.filesz > p.memsz)
            return Status::error("PT_LOAD p_filesz is larger than p_memsz", "ELF p_filesz", i, p.filesz);
        if (p.filesz != 0 && !in_file(p.offset, p.filesz, size))
            return Status::error("PT_LOAD file bytes run past the end of the image", "ELF p_offset", i, p.offset);
        EVMM_TRY(check_segment_addr(p.paddr, p.memsz, "ELF p_paddr", i));
        if (add_overflows(p.vaddr, p.memsz))
            return Status::error("PT_LOAD virtual range wraps", "ELF p_vaddr", i, p.vaddr);
        if (count >= KERNEL_MAX_SEGMENTS)
            return Status::error("too many PT_LOAD segments", WHERE_PHDR, i, KERNEL_MAX_SEGMENTS);
        for (u32 j = 0; j < count; ++j) {
            const KernelSegment& o = out.segments[j];
            if (ranges_overlap(p.paddr, p.memsz, o.gpa, o.memsz))
                return Status::error("PT_LOAD segments overlap in physical memory", "ELF p_paddr", i, p.paddr);
        }
        out.segments[count] = KernelSegment{p.paddr, p.filesz != 0 ? p.offset : 0, p.filesz, p.memsz};
        vaddrs[count] = p.vaddr;
        ++count;
    }
    if (count == 0) return Status::error("ELF image has no loadable segment (PT_LOAD)", WHERE_PHDR, phnum);
    out.format = is64 ? KernelImageFormat::Elf64 : KernelImageFormat::Elf32;
    out.segment_count = count;

    if (!entry_given) {
        // e_entry is a virtual address; like GRUB, run it at the physical address of the same byte.
        u32 i = 0;
        while (i < count && !(vaddrs[i] <= entry && entry - vaddrs[i] < out.segments[i].memsz)) ++i;
        if (i == count) return Status::error("e_entry is not inside any PT_LOAD segment", "ELF e_entry", entry);
        const u64 phys = entry - vaddrs[i] + out.segments[i].gpa;
        if (phys > U32_LIMIT) return Status::error("entry point is not below 4 GiB", "ELF e_entry", entry, phys);
        out.entry = static_cast<u32>(phys);
    }
    return Status::success();
}

Status kernel_plan_aout(size_t size, const AoutFields& f, const AoutFieldNames& names, KernelPlan& out) {
    // header_addr is where the header's first byte lands; loading starts at file offset
    // header_offset - (header_addr - load_addr), or at 0 when loading from the file start.
    const u64 hoff = f.header_offset;
    if (hoff >= size) return Status::error("header does not belong to this image", names.fields, hoff, size);
    u64 load = 0, file_start = 0;
    if (f.load_from_file_start) {
        if (f.header_addr < hoff)
            return Status::error("header_addr is below the header's file offset (load_addr -1: load from file start)",
                                 names.header_addr, f.header_addr, hoff);
        load = f.header_addr - hoff;
        file_start = 0;
    } else {
        if (f.load_addr > f.header_addr)
            return Status::error("load_addr is above header_addr", names.load_addr, f.load_addr, f.header_addr);
        const u64 delta = f.header_addr - f.load_addr;
        if (delta > hoff)
            return Status::error("header_addr - load_addr is larger than the header's file offset", names.load_addr,
                                 delta, hoff);
        load = f.load_addr;
        file_start = hoff - delta;
    }
    // file_start <= hoff < size.
    u64 filesz = 0;
    if (f.load_end_addr == 0) {
        filesz = size - file_start; // "text and data occupy the whole OS image file"
    } else {
        if (f.load_end_addr < load)
            return Status::error("load_end_addr is below load_addr", names.load_end_addr, f.load_end_addr, load);
        filesz = f.load_end_addr - load;
        if (filesz > size - file_start)
            return Status::error("load_end_addr runs past the end of the image", names.load_end_addr, f.load_end_addr,
                                 load + (size - file_start));
    }
    u64 memsz = filesz;
    if (f.bss_end_addr != 0) {
        if (f.bss_end_addr < load + filesz)
            return Status::error("bss_end_addr is below load_end_addr", names.bss_end_addr, f.bss_end_addr,
                                 load + filesz);
        memsz = f.bss_end_addr - load;
    }
    if (memsz == 0) return Status::error(names.nothing_to_load, names.fields, load);
    EVMM_TRY(check_segment_addr(load, memsz, names.load_addr, 0));

    out.format = KernelImageFormat::AoutKludge;
    out.segment_count = 1;
    out.segments[0] = KernelSegment{load, file_start, filesz, memsz};
    return Status::success();
}

Status kernel_plan_finish(KernelPlan& plan, const char* entry_where) {
    bool inside = false;
    plan.span_base = UINT64_MAX;
    plan.span_end = 0;
    for (u32 i = 0; i < plan.segment_count; ++i) {
        const KernelSegment& g = plan.segments[i];
        if (g.gpa <= plan.entry && plan.entry - g.gpa < g.memsz) inside = true;
        if (g.gpa < plan.span_base) plan.span_base = g.gpa;
        if (g.gpa + g.memsz > plan.span_end) plan.span_end = g.gpa + g.memsz;
    }
    if (!inside) return Status::error("entry point is not inside a loaded segment", entry_where, plan.entry);
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

Status kernel_load(const u8* image, size_t size, const KernelPlan& plan, GuestMem& mem, const MemoryMap& guest_map,
                   const NamedRange* forbidden, u32 forbidden_count, KernelLoadDiag* diag) {
    if (diag != nullptr) *diag = KernelLoadDiag{};
    if (image == nullptr || size == 0) return Status::error("kernel image is empty", WHERE_LOAD, size);
    if (plan.segment_count == 0 || plan.segment_count > KERNEL_MAX_SEGMENTS)
        return Status::error("load plan has no or too many segments", WHERE_LOAD, plan.segment_count);
    if (forbidden_count != 0 && forbidden == nullptr)
        return Status::error("forbidden ranges missing", WHERE_LOAD, forbidden_count);

    auto fail = [&](u32 i, u32 r, const Status& s, const char* fmt_what, u64 extra_a, u64 extra_b) {
        if (diag != nullptr) {
            const KernelSegment& g = plan.segments[i];
            diag->segment = i;
            diag->range = r;
            diag->seg_base = g.gpa;
            diag->seg_end = g.gpa + g.memsz;
            if (r != UINT32_MAX) {
                const char* name = forbidden[r].name != nullptr ? forbidden[r].name : "a forbidden range";
                format(diag->message, sizeof diag->message, "segment %u at 0x%lx-0x%lx overlaps %s at 0x%lx-0x%lx", i,
                       g.gpa, g.gpa + g.memsz, name, extra_a, extra_b);
            } else {
                format(diag->message, sizeof diag->message, "segment %u at 0x%lx-0x%lx: %s (0x%lx)", i, g.gpa,
                       g.gpa + g.memsz, fmt_what, extra_a);
            }
        }
        return s;
    };

    // Check every segment before writing a byte.
    const uptr img_lo = reinterpret_cast<uptr>(image);
    for (u32 i = 0; i < plan.segment_count; ++i) {
        const KernelSegment& g = plan.segments[i];
        if (g.memsz == 0 || g.filesz > g.memsz)
            return fail(i, UINT32_MAX, Status::error("segment sizes are inconsistent", WHERE_LOAD, i, g.memsz),
                        "segment sizes are inconsistent", g.filesz, 0);
        if (g.filesz != 0 && !in_file(g.file_offset, g.filesz, size))
            return fail(i, UINT32_MAX,
                        Status::error("segment file bytes run past the end of the image", WHERE_LOAD, i, g.file_offset),
                        "file bytes run past the end of the image", g.file_offset, 0);
        if (add_overflows(g.gpa, g.memsz) || g.gpa + g.memsz > KERNEL_ADDRESS_LIMIT)
            return fail(i, UINT32_MAX, Status::error("segment does not end below 4 GiB", WHERE_LOAD, g.gpa, g.memsz),
                        "does not end below 4 GiB", g.gpa, 0);
        const u64 end = g.gpa + g.memsz;
        u64 bad = 0;
        if (!in_usable_ram(guest_map, g.gpa, g.memsz, bad))
            return fail(i, UINT32_MAX,
                        Status::error("segment is not inside usable RAM of guest0's memory map", "guest0 memory map",
                                      g.gpa, end),
                        "not inside usable RAM of guest0's memory map; first bad byte", bad, 0);
        for (u32 r = 0; r < forbidden_count; ++r) {
            const NamedRange& f = forbidden[r];
            const u64 f_end = add_overflows(f.base, f.length) ? UINT64_MAX : f.base + f.length;
            if (ranges_overlap(g.gpa, g.memsz, f.base, f_end - f.base))
                return fail(i, r,
                            Status::error("segment overlaps a range the kernel must not be loaded over",
                                          f.name != nullptr ? f.name : "forbidden range", g.gpa, end),
                            nullptr, f.base, f_end);
        }
        const u8* p = mem.map(g.gpa, g.memsz);
        if (p == nullptr)
            return fail(i, UINT32_MAX,
                        Status::error("segment is not accessible in guest memory", WHERE_LOAD, g.gpa, end),
                        "not accessible in guest memory", g.gpa, 0);
        // The copy source must survive the copy (the caller should also list the image as forbidden).
        const uptr p_lo = reinterpret_cast<uptr>(p);
        if (ranges_overlap(p_lo, g.memsz, img_lo, size))
            return fail(
                i, UINT32_MAX,
                Status::error("segment overlaps the kernel image it is copied from", "guest0 kernel image", g.gpa, end),
                "overlaps the kernel image it is copied from", g.gpa, 0);
    }

    for (u32 i = 0; i < plan.segment_count; ++i) {
        const KernelSegment& g = plan.segments[i];
        u8* p = mem.map(g.gpa, g.memsz);
        if (p == nullptr) return Status::error("segment is not accessible in guest memory", WHERE_LOAD, g.gpa, i);
        if (g.filesz != 0) __builtin_memcpy(p, image + g.file_offset, g.filesz);
        __builtin_memset(p + g.filesz, 0, g.memsz - g.filesz);
    }
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Boot information

void boot_info_inputs_from_desc(const evmm_desc_t& d, BootInfoInputs& in) {
    const u32 module_count = d.boot_module_count < EVMM_MAX_BOOT_MODULES ? d.boot_module_count : EVMM_MAX_BOOT_MODULES;
    in.cmdline = nullptr;
    in.cmdline_len = 0;
    if (d.guest0_boot_module < module_count) {
        const evmm_boot_module_t& g0 = d.boot_modules[d.guest0_boot_module];
        in.cmdline = g0.cmdline;
        in.cmdline_len = str_len(g0.cmdline, sizeof g0.cmdline);
    }
    in.mmap = d.guest0_mmap;
    in.mmap_count = d.guest0_mmap_count < EVMM_MAX_MMAP ? d.guest0_mmap_count : EVMM_MAX_MMAP;
    in.modules = d.boot_modules;
    in.module_count = module_count;
    in.skip_module = d.guest0_boot_module;
}

Status choose_info_gpa(const MemoryMap& guest_map, u64 size, const MemoryMap::Range* avoid, u32 n, u64& out) {
    out = 0;
    if (size == 0 || size > KERNEL_ADDRESS_LIMIT) return Status::error("bad boot information size", WHERE_INFO, size);
    if (n != 0 && avoid == nullptr) return Status::error("ranges to avoid missing", WHERE_INFO, n);
    for (u32 a = 0; a < n; ++a)
        if (add_overflows(avoid[a].base, avoid[a].length))
            return Status::error("range to avoid wraps past 2^64", WHERE_INFO, a, avoid[a].base);

    const u32 count = guest_map.count();
    bool found = false;
    u64 best = 0;
    for (u32 e = 0; e < count; ++e) {
        const evmm_mmap_entry_t& ent = guest_map[e];
        if (ent.type != EVMM_MEM_USABLE || ent.length == 0) continue;
        const u64 e_end = entry_end(ent);
        const u64 lo = ent.base > INFO_PLACEMENT_MIN ? ent.base : INFO_PLACEMENT_MIN;
        const u64 hi = e_end < KERNEL_ADDRESS_LIMIT ? e_end : KERNEL_ADDRESS_LIMIT;
        if (lo >= hi) continue;
        u64 c = align_up(lo, INFO_PLACEMENT_ALIGN); // lo < 4 GiB: no wrap
        // Each bump moves c past the end of one range it overlapped, never to be overlapped again, so at most
        // n + count bumps.
        for (u64 step = 0; step <= u64{n} + count; ++step) {
            if (c >= hi || size > hi - c) break;
            u64 bump_to = 0;
            for (u32 a = 0; a < n && bump_to == 0; ++a)
                if (ranges_overlap(c, size, avoid[a].base, avoid[a].length)) bump_to = avoid[a].base + avoid[a].length;
            for (u32 x = 0; x < count && bump_to == 0; ++x) {
                const evmm_mmap_entry_t& o = guest_map[x];
                if (o.type != EVMM_MEM_USABLE && ranges_overlap(c, size, o.base, entry_end(o) - o.base))
                    bump_to = entry_end(o);
            }
            if (bump_to == 0) {
                if (!found || c < best) best = c;
                found = true;
                break;
            }
            if (bump_to >= hi) break;
            c = align_up(bump_to, INFO_PLACEMENT_ALIGN);
        }
    }
    if (!found)
        return Status::error("no room for the boot information in usable RAM between 1 MiB and 4 GiB",
                             "guest0 memory map", size);
    out = best;
    return Status::success();
}

} // namespace evmm
