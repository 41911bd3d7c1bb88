// evmm as guest0's Linux boot loader (bzImage, 64-bit or 32-bit boot protocol): see linux_bzimage.h. References
// are to Documentation/arch/x86/boot.rst and zero-page.rst.
#include "vmm/guest/boot/linux_bzimage.h"

#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/vmcs.h"
#include "evmm/unaligned.h"
#include "lib/formats/acpi.h"
#include "vmm/guest/boot/entry_state.h"

namespace evmm {

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Layouts

constexpr u64 OFF_SETUP_SECTS = EVMM_LINUX_HDR_OFF(setup_sects);
constexpr u64 OFF_SYSSIZE = EVMM_LINUX_HDR_OFF(syssize);
constexpr u64 OFF_BOOT_FLAG = EVMM_LINUX_HDR_OFF(boot_flag);
constexpr u64 OFF_JUMP = EVMM_LINUX_HDR_OFF(jump);
constexpr u64 OFF_HEADER = EVMM_LINUX_HDR_OFF(header);
constexpr u64 OFF_VERSION = EVMM_LINUX_HDR_OFF(version);
constexpr u64 OFF_TYPE_OF_LOADER = EVMM_LINUX_HDR_OFF(type_of_loader);
constexpr u64 OFF_LOADFLAGS = EVMM_LINUX_HDR_OFF(loadflags);
constexpr u64 OFF_CODE32_START = EVMM_LINUX_HDR_OFF(code32_start);
constexpr u64 OFF_RAMDISK_IMAGE = EVMM_LINUX_HDR_OFF(ramdisk_image);
constexpr u64 OFF_RAMDISK_SIZE = EVMM_LINUX_HDR_OFF(ramdisk_size);
constexpr u64 OFF_HEAP_END_PTR = EVMM_LINUX_HDR_OFF(heap_end_ptr);
constexpr u64 OFF_CMD_LINE_PTR = EVMM_LINUX_HDR_OFF(cmd_line_ptr);
constexpr u64 OFF_INITRD_ADDR_MAX = EVMM_LINUX_HDR_OFF(initrd_addr_max);
constexpr u64 OFF_KERNEL_ALIGNMENT = EVMM_LINUX_HDR_OFF(kernel_alignment);
constexpr u64 OFF_RELOCATABLE_KERNEL = EVMM_LINUX_HDR_OFF(relocatable_kernel);
constexpr u64 OFF_XLOADFLAGS = EVMM_LINUX_HDR_OFF(xloadflags);
constexpr u64 OFF_CMDLINE_SIZE = EVMM_LINUX_HDR_OFF(cmdline_size);
constexpr u64 OFF_PREF_ADDRESS = EVMM_LINUX_HDR_OFF(pref_address);
constexpr u64 OFF_INIT_SIZE = EVMM_LINUX_HDR_OFF(init_size);

constexpr u64 BP_ACPI_RSDP_ADDR = offsetof(LinuxBootParams, acpi_rsdp_addr);
constexpr u64 BP_EXT_RAMDISK_IMAGE = offsetof(LinuxBootParams, ext_ramdisk_image);
constexpr u64 BP_EXT_RAMDISK_SIZE = offsetof(LinuxBootParams, ext_ramdisk_size);
constexpr u64 BP_EXT_CMD_LINE_PTR = offsetof(LinuxBootParams, ext_cmd_line_ptr);
constexpr u64 BP_E820_ENTRIES = offsetof(LinuxBootParams, e820_entries);
constexpr u64 BP_E820_TABLE = offsetof(LinuxBootParams, e820_table);

// The jump at 0x200 is a short jump (EB xx) over the header: the header ends at 0x202 + xx.
constexpr u64 OFF_JUMP_DISPLACEMENT = OFF_JUMP + 1;
constexpr u64 HDR_END_BASE = OFF_HEADER;
// The least an image must hold to be looked at: everything up to the end of `version`.
constexpr u64 MIN_IMAGE_SIZE = OFF_VERSION + sizeof(u16);

// Before protocol 2.10 there is no init_size: reserve this many times the (compressed) kernel, a generous estimate
// of what decompression in place needs.
constexpr u64 INIT_SIZE_ESTIMATE_FACTOR = 4;

constexpr const char* WHERE_HDR = "Linux setup header";
constexpr const char* WHERE_PLAN = "Linux load plan";
constexpr const char* WHERE_LOAD = "Linux load";
constexpr const char* WHERE_MAP = "guest0 memory map";

void wr8(u8* p, u8 v) { *p = v; }

u32 lo32(u64 v) { return static_cast<u32>(v); }
u32 hi32(u64 v) { return static_cast<u32>(v >> 32); }

u64 entry_end(const evmm_mmap_entry_t& e) { return add_overflows(e.base, e.length) ? UINT64_MAX : e.base + e.length; }
u64 range_end(const MemoryMap::Range& r) { return add_overflows(r.base, r.length) ? UINT64_MAX : r.base + r.length; }

// ---------------------------------------------------------------------------------------------------------------
// Placement

// The areas a placement must stay clear of: the caller's plus those already planned.
struct AvoidSet {
    MemoryMap::Range r[LINUX_PLAN_MAX_AVOID + 4];
    u32 n = 0;
    void add(u64 base, u64 length) {
        if (length != 0 && n < array_size(r)) r[n++] = MemoryMap::Range{base, length};
    }
};

// [base, base + size) inside one usable entry, overlapping no other entry type and no avoided range. On a clash,
// `bump` is the end of the range in the way (0: not inside usable RAM at all).
bool fits(const MemoryMap& map, const AvoidSet& av, u64 base, u64 size, u64& bump) {
    bump = 0;
    if (size == 0 || add_overflows(base, size)) return false;
    bool inside = false;
    for (u32 e = 0; e < map.count(); ++e) {
        const evmm_mmap_entry_t& ent = map[e];
        if (ent.type == EVMM_MEM_USABLE && ent.base <= base && base + size <= entry_end(ent)) inside = true;
    }
    if (!inside) return false;
    for (u32 a = 0; a < av.n; ++a)
        if (ranges_overlap(base, size, av.r[a].base, range_end(av.r[a]) - av.r[a].base)) {
            bump = range_end(av.r[a]);
            return false;
        }
    for (u32 x = 0; x < map.count(); ++x) {
        const evmm_mmap_entry_t& o = map[x];
        if (o.type != EVMM_MEM_USABLE && ranges_overlap(base, size, o.base, entry_end(o) - o.base)) {
            bump = entry_end(o);
            return false;
        }
    }
    return true;
}

// The lowest `align`-aligned base >= min with [base, base + size) fitting (see fits) and ending <= limit.
bool find_lowest(const MemoryMap& map, const AvoidSet& av, u64 size, u64 align, u64 min, u64 limit, u64& out) {
    bool found = false;
    u64 best = 0;
    const u32 count = map.count();
    for (u32 e = 0; e < count; ++e) {
        const evmm_mmap_entry_t& ent = map[e];
        if (ent.type != EVMM_MEM_USABLE || ent.length == 0) continue;
        const u64 lo = ent.base > min ? ent.base : min;
        const u64 e_end = entry_end(ent);
        const u64 hi = e_end < limit ? e_end : limit;
        if (lo >= hi || add_overflows(lo, align)) continue;
        u64 c = align_up(lo, align);
        // Every bump moves c past the end of one range in the way, which it never meets again.
        for (u64 step = 0; step <= u64{av.n} + count + 1; ++step) {
            if (c >= hi || size > hi - c) break;
            u64 bump = 0;
            if (fits(map, av, c, size, bump)) {
                if (!found || c < best) best = c;
                found = true;
                break;
            }
            if (bump == 0 || bump >= hi || add_overflows(bump, align)) break;
            c = align_up(bump, align);
        }
    }
    out = best;
    return found;
}

// ---------------------------------------------------------------------------------------------------------------
// 64-bit entry: boot page tables and GDT

constexpr u64 BOOT_TABLE_ENTRY = pte::P | pte::RW | pte::A;                // PML4E, PDPTE: a table
constexpr u64 BOOT_LEAF_2M = pte::P | pte::RW | pte::A | pte::D | pte::PS; // PDE: a 2 MiB page

// The segment descriptor (SDM Vol. 3A §3.4.5) of a flat segment whose VMCS access rights are `ar` (Table 25-2:
// descriptor bits 47:40 and 55:52 are access-rights bits 7:0 and 15:12): base 0, limit 0xFFFFF in 4 KiB units.
u64 flat_descriptor(u32 ar) {
    constexpr u64 LIMIT_15_0 = 0xFFFF, LIMIT_19_16 = u64{0xF} << 48;
    constexpr u32 AR_LOW = 0xFF, AR_HIGH_SHIFT = 12, AR_HIGH = 0xF;
    return LIMIT_15_0 | LIMIT_19_16 | (u64{ar & AR_LOW} << 40) | (u64{(ar >> AR_HIGH_SHIFT) & AR_HIGH} << 52);
}

// Fills the area at `t` (LINUX_BOOT_TABLES_SIZE bytes, guest-physical `gpa`): the identity map of [0, 4 GiB) and
// the GDT whose code and data descriptors match the segments linux_entry_state_64 gives the vCPU.
void write_boot_tables(u8* t, u64 gpa, u64 entry64, u64 boot_params) {
    __builtin_memset(t, 0, LINUX_BOOT_TABLES_SIZE);
    wr64(t + LINUX_BOOT_PML4_OFFSET, (gpa + LINUX_BOOT_PDPT_OFFSET) | BOOT_TABLE_ENTRY);
    for (u64 i = 0; i < LINUX_BOOT_PD_COUNT; ++i) {
        const u64 pd = LINUX_BOOT_PD_OFFSET + i * PAGE_SIZE;
        wr64(t + LINUX_BOOT_PDPT_OFFSET + i * sizeof(u64), (gpa + pd) | BOOT_TABLE_ENTRY);
        for (u64 j = 0; j < ENTRIES_PER_TABLE; ++j)
            wr64(t + pd + j * sizeof(u64), (i * GiB + j * PAGE_2M) | BOOT_LEAF_2M);
    }
    evmm_gcpu_state_t st;
    linux_entry_state_64(st, entry64, boot_params, gpa);
    u8* gdt = t + LINUX_BOOT_GDT_OFFSET;
    wr64(gdt + LINUX_BOOT_CS, flat_descriptor(st.seg[EVMM_SEG_CS].attributes));
    wr64(gdt + LINUX_BOOT_DS, flat_descriptor(st.seg[EVMM_SEG_DS].attributes));
}

// ---------------------------------------------------------------------------------------------------------------
// Load checks

// What linux_load copies from: no destination may cover any of it.
struct Source {
    const void* image;
    u64 image_len;
    const void* initrd;
    u64 initrd_len;
    const void* cmdline;
    u64 cmdline_len;
};

bool host_overlap(const u8* p, u64 len, const void* q, u64 q_len) {
    return q != nullptr && ranges_overlap(reinterpret_cast<uptr>(p), len, reinterpret_cast<uptr>(q), q_len);
}

// [gpa, gpa + len) mapped through mem and clear of every source.
Status map_checked(GuestMem& mem, u64 gpa, u64 len, const Source& src, const char* what, u8*& out) {
    out = mem.map(gpa, len);
    if (out == nullptr) return Status::error("area is not accessible in guest memory", what, gpa, len);
    if (host_overlap(out, len, src.image, src.image_len) || host_overlap(out, len, src.initrd, src.initrd_len) ||
        host_overlap(out, len, src.cmdline, src.cmdline_len))
        return Status::error("area overlaps bytes it is copied from", what, gpa, len);
    return Status::success();
}

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// Image

bool linux_is_bzimage(const u8* image, size_t size) {
    if (image == nullptr || size < OFF_HEADER + sizeof(u32)) return false;
    return rd16(image + OFF_BOOT_FLAG) == LINUX_BOOT_FLAG_MAGIC && rd32(image + OFF_HEADER) == LINUX_HDRS_MAGIC;
}

Status linux_inspect(const u8* image, size_t size, LinuxImage& out) {
    out = LinuxImage{};
    if (image == nullptr || size < MIN_IMAGE_SIZE)
        return Status::error("image is too short for a setup header", WHERE_HDR, size, MIN_IMAGE_SIZE);
    if (rd32(image + OFF_HEADER) != LINUX_HDRS_MAGIC)
        return Status::error("no \"HdrS\" magic: not a Linux bzImage", "setup header header", rd32(image + OFF_HEADER));
    if (rd16(image + OFF_BOOT_FLAG) != LINUX_BOOT_FLAG_MAGIC)
        return Status::error("boot_flag is not 0xAA55", "setup header boot_flag", rd16(image + OFF_BOOT_FLAG));

    LinuxImage li;
    li.version = rd16(image + OFF_VERSION);
    if (li.version < LINUX_MIN_PROTOCOL) {
        // value/value2 carry both for the one-line message "setup header version 0x0204 < 0x0206".
        return Status::error("boot protocol too old: setup header version < 0x0206", "setup header version", li.version,
                             LINUX_MIN_PROTOCOL);
    }
    u32 sects = image[OFF_SETUP_SECTS];
    if (sects == 0) sects = LINUX_SETUP_SECTS_DEFAULT;
    li.setup_sects = sects;
    li.setup_size = (u64{sects} + 1) * LINUX_SECTOR_SIZE;
    // Everything read below lies below 0x26C; make sure the whole header area the protocol may use is present.
    if (size < li.setup_size || size < LINUX_HDR_END_LIMIT)
        return Status::error("image is shorter than its setup sectors", "setup header setup_sects", size,
                             li.setup_size);
    li.kernel_offset = li.setup_size;

    u64 hdr_end = HDR_END_BASE + image[OFF_JUMP_DISPLACEMENT];
    if (hdr_end > LINUX_HDR_END_LIMIT) hdr_end = LINUX_HDR_END_LIMIT; // boot_params has no room past 0x290
    if (hdr_end < OFF_VERSION + sizeof(u16))
        return Status::error("setup header ends before version (jump at 0x200 too short)", "setup header jump",
                             hdr_end);
    li.header_end = hdr_end;

    li.loadflags = image[OFF_LOADFLAGS];
    if ((li.loadflags & LINUX_LOADED_HIGH) == 0)
        return Status::error("loadflags LOADED_HIGH clear: a zImage, not a bzImage", "setup header loadflags",
                             li.loadflags);

    const u64 syssize = rd32(image + OFF_SYSSIZE);
    const u64 pm_in_file = size - li.setup_size;
    if (syssize == 0) return Status::error("syssize is 0: no protected-mode kernel", "setup header syssize", 0);
    li.kernel_size = syssize * LINUX_SYSSIZE_UNIT;
    if (li.kernel_size > pm_in_file)
        return Status::error("image is truncated: syssize announces more protected-mode kernel than the file holds",
                             "setup header syssize", li.kernel_size, pm_in_file);

    li.relocatable = image[OFF_RELOCATABLE_KERNEL] != 0;
    li.kernel_alignment = rd32(image + OFF_KERNEL_ALIGNMENT);
    if (li.relocatable && !is_pow2(li.kernel_alignment))
        return Status::error("kernel_alignment is not a power of two", "setup header kernel_alignment",
                             li.kernel_alignment);
    li.initrd_addr_max = rd32(image + OFF_INITRD_ADDR_MAX);
    if (li.initrd_addr_max == 0) li.initrd_addr_max = LINUX_DEFAULT_INITRD_ADDR_MAX;
    li.cmdline_size = rd32(image + OFF_CMDLINE_SIZE);

    if (li.version >= LINUX_PROTOCOL_2_10) {
        li.pref_address = rd64(image + OFF_PREF_ADDRESS);
        li.init_size = rd32(image + OFF_INIT_SIZE);
        if (li.init_size == 0) return Status::error("init_size is 0", "setup header init_size", 0);
        if (li.relocatable && !is_aligned(li.pref_address, li.kernel_alignment))
            return Status::error("pref_address is not kernel_alignment-aligned", "setup header pref_address",
                                 li.pref_address, li.kernel_alignment);
    } else {
        li.pref_address = LINUX_DEFAULT_LOAD_ADDR;
        li.init_size = li.kernel_size * INIT_SIZE_ESTIMATE_FACTOR;
    }
    if (li.init_size < li.kernel_size)
        return Status::error("init_size is smaller than the protected-mode kernel", "setup header init_size",
                             li.init_size, li.kernel_size);
    if (li.version >= LINUX_PROTOCOL_2_12) li.xloadflags = rd16(image + OFF_XLOADFLAGS);
    li.has_64bit_entry = (li.xloadflags & LINUX_XLF_KERNEL_64) != 0;
    out = li;
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Plan

Status linux_plan(const LinuxImage& li, const MemoryMap& guest_map, const MemoryMap::Range* avoid, u32 n,
                  u64 initrd_size, size_t cmdline_len, LinuxPlan& out) {
    out = LinuxPlan{};
    if (li.version < LINUX_MIN_PROTOCOL || li.kernel_size == 0)
        return Status::error("image was not inspected", WHERE_PLAN, li.version);
    if (n != 0 && avoid == nullptr) return Status::error("ranges to avoid missing", WHERE_PLAN, n);
    if (n > LINUX_PLAN_MAX_AVOID) return Status::error("too many ranges to avoid", WHERE_PLAN, n, LINUX_PLAN_MAX_AVOID);
    if (cmdline_len > li.cmdline_size)
        return Status::error("command line too long for the kernel (its length, the kernel's limit)",
                             "setup header cmdline_size", cmdline_len, li.cmdline_size);

    AvoidSet av;
    for (u32 a = 0; a < n; ++a) {
        if (add_overflows(avoid[a].base, avoid[a].length))
            return Status::error("range to avoid wraps past 2^64", WHERE_PLAN, a, avoid[a].base);
        av.add(avoid[a].base, avoid[a].length);
    }

    LinuxPlan p;
    // Kernel.
    const u64 reserve = align_up(li.init_size > li.kernel_size ? li.init_size : li.kernel_size, PAGE_SIZE);
    p.kernel_reserve = reserve;
    u64 bump = 0;
    const bool pref_ok = li.pref_address >= LINUX_PLACE_MIN && reserve <= LINUX_ADDRESS_LIMIT &&
                         li.pref_address <= LINUX_ADDRESS_LIMIT - reserve &&
                         fits(guest_map, av, li.pref_address, reserve, bump);
    if (pref_ok) {
        p.kernel_addr = li.pref_address;
    } else if (!li.relocatable) {
        return Status::error("kernel is not relocatable and [pref_address, + init_size) is not free usable RAM",
                             "setup header pref_address", li.pref_address, reserve);
    } else {
        const u64 align = li.kernel_alignment > PAGE_SIZE ? li.kernel_alignment : PAGE_SIZE;
        const u64 floor = li.pref_address > LINUX_PLACE_MIN ? li.pref_address : LINUX_PLACE_MIN;
        const u64 high_floor = floor > LINUX_RELOC_PREFERRED_MIN ? floor : LINUX_RELOC_PREFERRED_MIN;
        u64 at = 0;
        if (!find_lowest(guest_map, av, reserve, align, high_floor, LINUX_ADDRESS_LIMIT, at) &&
            !find_lowest(guest_map, av, reserve, align, floor, LINUX_ADDRESS_LIMIT, at))
            return Status::error("no room for the kernel (init_size) in usable RAM above pref_address below 4 GiB",
                                 WHERE_MAP, reserve, floor);
        p.kernel_addr = at;
        p.relocated = true;
    }
    av.add(p.kernel_addr, reserve);
    p.code32_start = static_cast<u32>(p.kernel_addr);
    p.entry64 = li.has_64bit_entry ? p.kernel_addr + LINUX_KERNEL_64_ENTRY_OFFSET : 0;

    // initrd: as high as it may go.
    if (initrd_size != 0) {
        const u64 max_end = u64{li.initrd_addr_max} + 1;
        const u64 limit = max_end < LINUX_ADDRESS_LIMIT ? max_end : LINUX_ADDRESS_LIMIT;
        if (initrd_size > limit - LINUX_PLACE_MIN)
            return Status::error("initrd too large for the space below initrd_addr_max", "setup header initrd_addr_max",
                                 initrd_size, li.initrd_addr_max);
        u64 at = 0;
        const Status s =
            guest_map.find_free_top_down(align_up(initrd_size, PAGE_SIZE), PAGE_SIZE, limit, av.r, av.n, at);
        if (!s.ok() || at < LINUX_PLACE_MIN)
            return Status::error("initrd too large: no room in usable RAM between 1 MiB and initrd_addr_max", WHERE_MAP,
                                 initrd_size, limit);
        p.initrd_addr = at;
        p.initrd_size = initrd_size;
        av.add(at, align_up(initrd_size, PAGE_SIZE));
    }

    // Zero page, then the command line.
    if (!find_lowest(guest_map, av, LINUX_ZERO_PAGE_SIZE, PAGE_SIZE, LINUX_PLACE_MIN, LINUX_ADDRESS_LIMIT, p.zero_page))
        return Status::error("no room for the zero page (boot_params) in usable RAM between 1 MiB and 4 GiB", WHERE_MAP,
                             LINUX_ZERO_PAGE_SIZE);
    av.add(p.zero_page, LINUX_ZERO_PAGE_SIZE);
    p.cmdline_len = cmdline_len;
    p.cmdline_reserve = align_up(u64{cmdline_len} + 1, PAGE_SIZE);
    if (!find_lowest(guest_map, av, p.cmdline_reserve, PAGE_SIZE, LINUX_PLACE_MIN, LINUX_ADDRESS_LIMIT, p.cmdline_addr))
        return Status::error("no room for the command line in usable RAM between 1 MiB and 4 GiB", WHERE_MAP,
                             p.cmdline_reserve);
    av.add(p.cmdline_addr, p.cmdline_reserve);

    // The 64-bit entry's boot page tables and GDT.
    if (p.entry64 != 0 && !find_lowest(guest_map, av, LINUX_BOOT_TABLES_SIZE, PAGE_SIZE, LINUX_PLACE_MIN,
                                       LINUX_ADDRESS_LIMIT, p.boot_tables))
        return Status::error("no room for the boot page tables (64-bit entry) in usable RAM between 1 MiB and 4 GiB",
                             WHERE_MAP, LINUX_BOOT_TABLES_SIZE);
    out = p;
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Load

Status linux_load(const u8* image, size_t size, const LinuxImage& li, const LinuxPlan& plan, GuestMem& mem,
                  const u8* initrd, u64 initrd_size, const char* cmdline, size_t cmdline_len,
                  const evmm_mmap_entry_t* e820, u32 e820_count, const u8* rsdp, u64 rsdp_pa) {
    // Inputs against the image and the plan.
    if (image == nullptr || li.kernel_size == 0 || li.header_end > li.setup_size || li.header_end > size ||
        li.kernel_offset > size || li.kernel_size > size - li.kernel_offset)
        return Status::error("image does not match its inspection", WHERE_LOAD, size, li.kernel_size);
    if (plan.kernel_reserve < li.kernel_size || add_overflows(plan.kernel_addr, plan.kernel_reserve) ||
        plan.kernel_addr + plan.kernel_reserve > LINUX_ADDRESS_LIMIT || plan.code32_start != plan.kernel_addr)
        return Status::error("kernel placement does not hold the kernel below 4 GiB", WHERE_PLAN, plan.kernel_addr,
                             plan.kernel_reserve);
    if (plan.zero_page == 0 || !is_aligned(plan.zero_page, PAGE_SIZE) ||
        plan.zero_page > LINUX_ADDRESS_LIMIT - LINUX_ZERO_PAGE_SIZE)
        return Status::error("zero page placement is not a 4 KiB page below 4 GiB", WHERE_PLAN, plan.zero_page);
    if (cmdline_len != plan.cmdline_len || u64{cmdline_len} + 1 > plan.cmdline_reserve ||
        (cmdline == nullptr && cmdline_len != 0) || cmdline_len > li.cmdline_size)
        return Status::error("command line does not match the plan", WHERE_PLAN, cmdline_len, plan.cmdline_len);
    if (add_overflows(plan.cmdline_addr, plan.cmdline_reserve) ||
        plan.cmdline_addr + plan.cmdline_reserve > LINUX_ADDRESS_LIMIT)
        return Status::error("command line placement is not below 4 GiB", WHERE_PLAN, plan.cmdline_addr,
                             plan.cmdline_reserve);
    const bool entry64 = plan.entry64 != 0;
    if (entry64 != (plan.boot_tables != 0) ||
        (entry64 &&
         (!li.has_64bit_entry || plan.entry64 != plan.kernel_addr + LINUX_KERNEL_64_ENTRY_OFFSET ||
          !is_aligned(plan.boot_tables, PAGE_SIZE) || plan.boot_tables > LINUX_ADDRESS_LIMIT - LINUX_BOOT_TABLES_SIZE)))
        return Status::error("64-bit entry placement (entry, boot page tables below 4 GiB) does not match the kernel",
                             WHERE_PLAN, plan.entry64, plan.boot_tables);
    if (initrd_size != plan.initrd_size || (initrd_size != 0 && initrd == nullptr))
        return Status::error("initrd does not match the plan", WHERE_PLAN, initrd_size, plan.initrd_size);
    if (initrd_size != 0 && add_overflows(plan.initrd_addr, initrd_size))
        return Status::error("initrd placement wraps", WHERE_PLAN, plan.initrd_addr, initrd_size);
    if (e820_count != 0 && e820 == nullptr) return Status::error("memory map missing", WHERE_LOAD, e820_count);
    if (e820_count > LINUX_E820_MAX_ENTRIES_ZEROPAGE)
        return Status::error("memory map has more entries than the zero page holds", "boot_params e820_table",
                             e820_count, LINUX_E820_MAX_ENTRIES_ZEROPAGE);
    if (rsdp != nullptr) {
        for (size_t i = 0; i < sizeof ACPI_RSDP_SIGNATURE; ++i)
            if (rsdp[i] != static_cast<u8>(ACPI_RSDP_SIGNATURE[i]))
                return Status::error("RSDP has no \"RSD PTR \" signature", "boot_params acpi_rsdp_addr", rsdp_pa);
    }

    // The areas must not overlap each other.
    const MemoryMap::Range areas[] = {
        {plan.kernel_addr, li.kernel_size},
        {plan.zero_page, LINUX_ZERO_PAGE_SIZE},
        {plan.cmdline_addr, u64{cmdline_len} + 1},
        {plan.initrd_addr, initrd_size},
        {plan.boot_tables, entry64 ? LINUX_BOOT_TABLES_SIZE : 0},
    };
    for (u32 i = 0; i < array_size(areas); ++i)
        for (u32 j = i + 1; j < array_size(areas); ++j)
            if (ranges_overlap(areas[i].base, areas[i].length, areas[j].base, areas[j].length))
                return Status::error("planned areas overlap", WHERE_PLAN, areas[i].base, areas[j].base);

    // Map everything before writing a byte; no area may cover what is copied from.
    u8* k = nullptr;
    u8* zp = nullptr;
    u8* cl = nullptr;
    u8* rd = nullptr;
    u8* bt = nullptr;
    const Source src{image, size, initrd, initrd_size, cmdline, cmdline_len};
    EVMM_TRY(map_checked(mem, plan.kernel_addr, li.kernel_size, src, "guest0 kernel", k));
    EVMM_TRY(map_checked(mem, plan.zero_page, LINUX_ZERO_PAGE_SIZE, src, "boot_params", zp));
    EVMM_TRY(map_checked(mem, plan.cmdline_addr, u64{cmdline_len} + 1, src, "command line", cl));
    if (initrd_size != 0) EVMM_TRY(map_checked(mem, plan.initrd_addr, initrd_size, src, "initrd", rd));
    if (entry64) EVMM_TRY(map_checked(mem, plan.boot_tables, LINUX_BOOT_TABLES_SIZE, src, "boot page tables", bt));

    // Copies.
    __builtin_memcpy(k, image + li.kernel_offset, li.kernel_size);
    if (initrd_size != 0) __builtin_memcpy(rd, initrd, initrd_size);
    if (cmdline_len != 0) __builtin_memcpy(cl, cmdline, cmdline_len);
    cl[cmdline_len] = 0;
    if (entry64) write_boot_tables(bt, plan.boot_tables, plan.entry64, plan.zero_page);

    // Zero page: zeroed (sentinel 0x1EF included), the setup header from the image, then the loader's fields.
    __builtin_memset(zp, 0, LINUX_ZERO_PAGE_SIZE);
    __builtin_memcpy(zp + LINUX_HDR_OFFSET, image + LINUX_HDR_OFFSET, li.header_end - LINUX_HDR_OFFSET);
    wr8(zp + OFF_TYPE_OF_LOADER, LINUX_TYPE_OF_LOADER_UNDEFINED);
    // No real-mode setup code runs: no heap, and the kernel must load its own segments.
    zp[OFF_LOADFLAGS] = static_cast<u8>(zp[OFF_LOADFLAGS] & ~(LINUX_CAN_USE_HEAP | LINUX_KEEP_SEGMENTS));
    __builtin_memset(zp + OFF_HEAP_END_PTR, 0, sizeof(u16));
    wr32(zp + OFF_CODE32_START, plan.code32_start);
    wr32(zp + OFF_RAMDISK_IMAGE, lo32(plan.initrd_addr));
    wr32(zp + OFF_RAMDISK_SIZE, lo32(initrd_size));
    wr32(zp + BP_EXT_RAMDISK_IMAGE, hi32(plan.initrd_addr));
    wr32(zp + BP_EXT_RAMDISK_SIZE, hi32(initrd_size));
    wr32(zp + OFF_CMD_LINE_PTR, lo32(plan.cmdline_addr));
    wr32(zp + BP_EXT_CMD_LINE_PTR, hi32(plan.cmdline_addr));
    wr8(zp + BP_E820_ENTRIES, static_cast<u8>(e820_count));
    for (u32 i = 0; i < e820_count; ++i) {
        const LinuxE820Entry e{e820[i].base, e820[i].length, e820[i].type};
        __builtin_memcpy(zp + BP_E820_TABLE + i * sizeof(LinuxE820Entry), &e, sizeof e);
    }
    if (rsdp != nullptr && li.version >= LINUX_PROTOCOL_2_14) wr64(zp + BP_ACPI_RSDP_ADDR, rsdp_pa);
    return Status::success();
}

// ---------------------------------------------------------------------------------------------------------------
// Entry state

void linux_entry_state_32(evmm_gcpu_state_t& s, u32 code32_start, u32 boot_params) {
    gcpu_multiboot2_entry_state(s); // protected mode, paging off, flat 4 GiB base-0 segments, IF clear, TR/LDTR
    s.gp[EVMM_GP_RAX] = 0;          // the Multiboot2 magic does not belong here
    s.seg[EVMM_SEG_CS].selector = LINUX_BOOT_CS;
    const u32 data_segs[] = {EVMM_SEG_DS, EVMM_SEG_ES, EVMM_SEG_SS, EVMM_SEG_FS, EVMM_SEG_GS};
    for (u32 i : data_segs) s.seg[i].selector = LINUX_BOOT_DS;
    s.gp[EVMM_GP_RSI] = boot_params;
    s.gp[EVMM_GP_RBP] = 0;
    s.gp[EVMM_GP_RDI] = 0;
    s.gp[EVMM_GP_RBX] = 0;
    s.rip = code32_start;
}

void linux_entry_state_64(evmm_gcpu_state_t& s, u64 entry64, u64 boot_params, u64 boot_tables) {
    linux_entry_state_32(s, 0, 0); // selectors, flat segments, TR (type 11) and LDTR, RFLAGS, zeroed registers
    evmm_segment_t& cs = s.seg[EVMM_SEG_CS];
    cs.attributes = (cs.attributes & ~VMX_AR_DB) | VMX_AR_L; // 64-bit code segment
    s.cr0 |= CR0_PG;
    s.cr3 = boot_tables + LINUX_BOOT_PML4_OFFSET;
    s.cr4 = CR4_PAE;
    s.efer = EFER_LME | EFER_LMA;
    s.gdtr = evmm_table_reg_t{boot_tables + LINUX_BOOT_GDT_OFFSET, LINUX_BOOT_GDT_ENTRIES * sizeof(u64) - 1, 0};
    s.gp[EVMM_GP_RSI] = boot_params;
    s.rip = entry64;
}

} // namespace evmm
