// multiboot1: booted as a Multiboot (version 1) kernel, checks what the loader handed over: EAX = 0x2BADB002, the
// information's flags, command line ("multiboot1-args 42"), a sane memory map that shows the guest's own memory and
// hides the hypervisor's, mem_lower/mem_upper within it, and one module "initrd multiboot1-module" (an ELF file).
//
// The image carries a Multiboot1 header with address fields and no Multiboot2 header (lib/entry.S built with
// GUEST_MULTIBOOT1); the kit does not parse the information (it is not Multiboot2), this file reads it itself
// (Multiboot Specification 0.6.96 §3.3). Run under evmm as
//   module2 /boot/multiboot1.elf guest0 multiboot1-args 42
//   module2 /boot/hello.elf initrd multiboot1-module
// or bare as GRUB's `multiboot` kernel with `module /boot/hello.elf initrd multiboot1-module`.
#include "guest.h"

using namespace guest;

namespace {

constexpr u32 MB1_BOOTLOADER_MAGIC = 0x2BADB002;
constexpr const char* EXPECTED_CMDLINE = "multiboot1-args 42";
constexpr const char* EXPECTED_MODULE = "initrd multiboot1-module";

// §3.3 information structure flags.
constexpr u32 INFO_MEMORY = 1u << 0;
constexpr u32 INFO_CMDLINE = 1u << 2;
constexpr u32 INFO_MODS = 1u << 3;
constexpr u32 INFO_MMAP = 1u << 6;
constexpr u32 INFO_LOADER_NAME = 1u << 9;

// §3.3 layout (through boot_loader_name; the rest is not read).
struct [[gnu::packed]] Mb1Info {
    u32 flags;
    u32 mem_lower, mem_upper; // KiB
    u32 boot_device;
    u32 cmdline;
    u32 mods_count, mods_addr;
    u32 syms[4];
    u32 mmap_length, mmap_addr;
    u32 drives_length, drives_addr;
    u32 config_table;
    u32 boot_loader_name;
};
static_assert(__builtin_offsetof(Mb1Info, mmap_length) == 44);
static_assert(__builtin_offsetof(Mb1Info, boot_loader_name) == 64);

struct [[gnu::packed]] Mb1Module {
    u32 mod_start, mod_end, string, reserved;
};

// §3.3 memory map entry: u32 size (of the rest, at least 20), u64 base_addr, u64 length, u32 type (1 available).
constexpr u32 MMAP_AVAILABLE = 1;
constexpr u32 MMAP_ENTRY_MIN_SIZE = 20;
constexpr u32 MAX_ENTRIES = 64;
struct Entry {
    u64 base, length;
    u32 type;
};
Entry g_map[MAX_ENTRIES];
u32 g_count;

constexpr u64 KiB = 1024, MiB = 1024 * KiB;
constexpr size_t STRING_MAX = 4096;

u32 rd32(u64 addr) {
    u32 v;
    __builtin_memcpy(&v, reinterpret_cast<const void*>(addr), sizeof v);
    return v;
}
u64 rd64(u64 addr) {
    u64 v;
    __builtin_memcpy(&v, reinterpret_cast<const void*>(addr), sizeof v);
    return v;
}

// NUL-terminated string at a 32-bit physical address, at most STRING_MAX bytes; nullptr when the address is 0 or
// there is no NUL within the bound.
const char* str_at(u32 addr) {
    if (addr == 0) return nullptr;
    const char* s = reinterpret_cast<const char*>(static_cast<u64>(addr));
    for (size_t i = 0; i < STRING_MAX; ++i)
        if (s[i] == '\0') return s;
    return nullptr;
}

bool str_eq(const char* a, const char* b) {
    if (a == nullptr || b == nullptr) return false;
    while (*a != '\0' && *a == *b) ++a, ++b;
    return *a == *b;
}

// The end of the run of available RAM that contains `from` (adjacent available entries merged); `from` when no
// available entry contains it.
u64 available_run_end(u64 from) {
    u64 cur = from;
    for (u32 step = 0; step <= g_count; ++step) {
        bool advanced = false;
        for (u32 i = 0; i < g_count; ++i) {
            const Entry& e = g_map[i];
            if (e.type == MMAP_AVAILABLE && e.base <= cur && cur < e.base + e.length) {
                cur = e.base + e.length;
                advanced = true;
                break;
            }
        }
        if (!advanced) break;
    }
    return cur;
}

// [base, base + len) entirely available RAM (possibly over adjacent entries)?
bool available(u64 base, u64 len) { return len == 0 || available_run_end(base) >= base + len; }

bool overlaps_available(u64 base, u64 len) {
    for (u32 i = 0; i < g_count; ++i)
        if (g_map[i].type == MMAP_AVAILABLE && evmm::ranges_overlap(base, len, g_map[i].base, g_map[i].length))
            return true;
    return false;
}

// Walks the memory map: every entry's size field >= 20, the walk ends exactly at mmap_length. Fills g_map.
bool parse_mmap(const Mb1Info& mi) {
    g_count = 0;
    const u64 start = mi.mmap_addr, end = start + mi.mmap_length;
    u64 p = start;
    while (p < end) {
        if (end - p < 4 + MMAP_ENTRY_MIN_SIZE) {
            note("  entry at 0x%llx runs past mmap_length", static_cast<unsigned long long>(p));
            return false;
        }
        const u32 size = rd32(p);
        if (size < MMAP_ENTRY_MIN_SIZE || size > end - p - 4) {
            note("  entry at 0x%llx: size field %u", static_cast<unsigned long long>(p), size);
            return false;
        }
        if (g_count == MAX_ENTRIES) {
            note("  more than %u entries", MAX_ENTRIES);
            return false;
        }
        g_map[g_count++] = {rd64(p + 4), rd64(p + 12), rd32(p + 20)};
        p += u64{size} + 4;
    }
    return g_count != 0;
}

} // namespace

extern "C" void guest_main(const void*) {
    banner("multiboot1", "booted as a Multiboot1 kernel: magic, information, cmdline, memory map, module");

    const u32 magic = mb2_magic(); // EAX at entry, whatever the protocol
    const u64 info_pa = reinterpret_cast<u64>(mb2_info_address());
    const bool magic_ok = check_eq(magic, MB1_BOOTLOADER_MAGIC, "Multiboot1 magic 0x2BADB002 in EAX at entry");
    const bool info_ok =
        check(info_pa != 0 && evmm::is_aligned(info_pa, 4),
              "EBX (information address 0x%llx) is nonzero, 4-byte aligned", static_cast<unsigned long long>(info_pa));
    if (!magic_ok || !info_ok) return; // no Multiboot1 information to read: the summary says why

    Mb1Info mi;
    __builtin_memcpy(&mi, reinterpret_cast<const void*>(info_pa), sizeof mi);
    note("  info at 0x%llx: flags 0x%x mem_lower %u KiB mem_upper %u KiB cmdline 0x%x mods %u at 0x%x mmap %u at 0x%x",
         static_cast<unsigned long long>(info_pa), mi.flags, mi.mem_lower, mi.mem_upper, mi.cmdline, mi.mods_count,
         mi.mods_addr, mi.mmap_length, mi.mmap_addr);
    check((mi.flags & INFO_MEMORY) != 0, "info flags bit 0: mem_lower/mem_upper present");
    check((mi.flags & INFO_CMDLINE) != 0, "info flags bit 2: cmdline present");
    check((mi.flags & INFO_MODS) != 0, "info flags bit 3: mods_count/mods_addr present");
    check((mi.flags & INFO_MMAP) != 0, "info flags bit 6: memory map present");

    // Command line: exactly the arguments the test gave guest0.
    const char* cmdline = (mi.flags & INFO_CMDLINE) != 0 ? str_at(mi.cmdline) : nullptr;
    if (!check(str_eq(cmdline, EXPECTED_CMDLINE), "command line is \"%s\"", EXPECTED_CMDLINE))
        note("  got \"%s\"", cmdline != nullptr ? cmdline : "(none)");

    // Boot loader name (flags bit 9): evmm names itself.
    const char* name = (mi.flags & INFO_LOADER_NAME) != 0 ? str_at(mi.boot_loader_name) : nullptr;
    if (!check(str_eq(name, "evmm"), "boot loader name is \"evmm\""))
        note("  got \"%s\"", name != nullptr ? name : "(none)");

    // Memory map: parses, sane, shows this guest's memory, hides the hypervisor's.
    const bool have_mmap = (mi.flags & INFO_MMAP) != 0 && parse_mmap(mi);
    check(have_mmap, "memory map parses (size fields >= 20, ends at mmap_length, at least one entry)");
    if (!have_mmap) return;
    for (u32 i = 0; i < g_count; ++i)
        note("  mmap %u: 0x%llx-0x%llx type %u", i, static_cast<unsigned long long>(g_map[i].base),
             static_cast<unsigned long long>(g_map[i].base + g_map[i].length), g_map[i].type);
    bool nonzero = true, overlap = false;
    for (u32 i = 0; i < g_count; ++i) {
        nonzero &= g_map[i].length != 0;
        for (u32 j = i + 1; j < g_count; ++j)
            overlap |= evmm::ranges_overlap(g_map[i].base, g_map[i].length, g_map[j].base, g_map[j].length);
    }
    check(nonzero, "memory map entries have nonzero lengths");
    check(!overlap, "memory map entries do not overlap each other");
    check(available(image_start(), image_end() - image_start()),
          "this guest's image [0x%llx, 0x%llx) lies in available RAM", static_cast<unsigned long long>(image_start()),
          static_cast<unsigned long long>(image_end()));
    check(available(info_pa, sizeof mi) && available(mi.mmap_addr, mi.mmap_length),
          "the information structure and the memory map lie in available RAM");
    check(!evmm::ranges_overlap(info_pa, sizeof mi, image_start(), image_end() - image_start()),
          "the information structure does not overlap the image");

    // mem_lower/mem_upper (§3.3): KiB of lower memory from 0 and of upper memory from 1 MiB; what they claim must
    // be available RAM in the map.
    const u64 low_run = available_run_end(0), up_run = available_run_end(MiB);
    note("  available from 0 up to 0x%llx, from 1 MiB up to 0x%llx", static_cast<unsigned long long>(low_run),
         static_cast<unsigned long long>(up_run));
    check(mi.mem_lower <= 640 && u64{mi.mem_lower} * KiB <= low_run,
          "mem_lower (%u KiB) is at most 640 KiB and available RAM in the map", mi.mem_lower);
    check(mi.mem_upper != 0 && MiB + u64{mi.mem_upper} * KiB <= up_run,
          "mem_upper (%u KiB) is nonzero and available RAM from 1 MiB in the map", mi.mem_upper);

    // The hypervisor's runtime region (debug VMCALL; #UD bare) is no available RAM, neither in the map nor in
    // mem_lower/mem_upper.
    VmcallResult r;
    u8 vec = 0;
    const bool done = probe_vmcall(EVMM_VMCALL_DEBUG_HV_REGION, 0, 0, 0, r, vec);
    if (!done || r.rax != 0 || r.rcx == 0) {
        const char* why = !done ? "no hypervisor (vmcall raised an exception)" : "VMCALL DEBUG_HV_REGION failed";
        skip(why, "hypervisor region is no available RAM in the memory map");
        skip(why, "hypervisor region lies outside mem_lower/mem_upper");
    } else {
        const u64 base = r.rbx, size = r.rcx;
        note("  hypervisor region [0x%llx, 0x%llx)", static_cast<unsigned long long>(base),
             static_cast<unsigned long long>(base + size));
        check(!overlaps_available(base, size), "hypervisor region is no available RAM in the memory map");
        check(!evmm::ranges_overlap(base, size, 0, u64{mi.mem_lower} * KiB) &&
                  !evmm::ranges_overlap(base, size, MiB, u64{mi.mem_upper} * KiB),
              "hypervisor region lies outside mem_lower/mem_upper");
    }

    // Modules: exactly the one the test passed, as GRUB hands them over (string = the module line after the file
    // name), page aligned (header flags bit 0), in available RAM, clear of the image and the information.
    if (!check_eq((mi.flags & INFO_MODS) != 0 ? mi.mods_count : 0, 1, "one module")) return;
    Mb1Module m;
    __builtin_memcpy(&m, reinterpret_cast<const void*>(static_cast<u64>(mi.mods_addr)), sizeof m);
    const char* mstr = str_at(m.string);
    note("  module 0: 0x%x-0x%x \"%s\"", m.mod_start, m.mod_end, mstr != nullptr ? mstr : "(none)");
    check(str_eq(mstr, EXPECTED_MODULE), "module string is \"%s\"", EXPECTED_MODULE);
    const u64 msize = m.mod_end > m.mod_start ? m.mod_end - m.mod_start : 0;
    check(msize != 0 && evmm::is_aligned(m.mod_start, 4096), "module is nonempty and page aligned");
    check(available(m.mod_start, msize), "module lies in available RAM");
    check(!evmm::ranges_overlap(m.mod_start, msize, image_start(), image_end() - image_start()) &&
              !evmm::ranges_overlap(m.mod_start, msize, info_pa, sizeof mi),
          "module overlaps neither the image nor the information");
    check(msize >= 4 && rd32(m.mod_start) == 0x464c457f, "module holds its file (ELF magic at mod_start)");
}
