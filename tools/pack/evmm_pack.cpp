// evmm_pack IN OUT: packs the stripped VMM ELF IN into OUT, the blob the loader embeds (loader/vmm_blob.S) and
// unpacks at boot (lib/formats/vmm_pack.h, docs/vmm-pack.md). Run by the build on target/vmm/vmm.stripped.elf.
// The packed blob is unpacked again here and compared with IN before OUT is written, so a packer bug fails the
// build instead of the boot.
#include <cstdio>
#include <cstring>
#include <vector>

#include "lib/formats/elf.h"
#include "lib/formats/vmm_pack.h"
#include "tools/pack/vmm_pack_build.h"

using namespace evmm;

namespace {

bool read_file(const char* path, std::vector<u8>& out) {
    FILE* f = std::fopen(path, "rb");
    if (f == nullptr) return false;
    u8 buf[1 << 16];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    const bool ok = std::ferror(f) == 0;
    return std::fclose(f) == 0 && ok;
}

bool write_file(const char* path, const std::vector<u8>& b) {
    FILE* f = std::fopen(path, "wb");
    if (f == nullptr) return false;
    const bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
    return std::fclose(f) == 0 && ok;
}

int fail(const char* doing, const Status& s) {
    std::fprintf(stderr, "evmm_pack: %s: %s%s%s (value 0x%llx, 0x%llx)\n", doing, s.what, s.where ? " in " : "",
                 s.where ? s.where : "", static_cast<unsigned long long>(s.value),
                 static_cast<unsigned long long>(s.value2));
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: evmm_pack VMM.ELF OUT\n");
        return 2;
    }
    std::vector<u8> raw;
    if (!read_file(argv[1], raw)) {
        std::perror(argv[1]);
        return 1;
    }
    ElfImage img{};
    if (const Status s = elf_inspect(raw.data(), raw.size(), img); !s.ok()) return fail("reading the VMM ELF", s);

    const std::vector<u8> blob = pack::vmm_pack_build(raw.data(), raw.size(), img.max_vaddr - img.min_vaddr);

    // The loader's own path, on the host.
    VmmPackHeader back{};
    std::vector<u8> check(raw.size());
    if (const Status s = vmm_pack_inspect(blob.data(), blob.size(), back); !s.ok()) return fail("checking the pack", s);
    if (const Status s = vmm_pack_unpack(blob.data(), back, check.data(), check.size()); !s.ok())
        return fail("checking the pack", s);
    if (check != raw) {
        std::fprintf(stderr, "evmm_pack: the unpacked image differs from %s\n", argv[1]);
        return 1;
    }
    if (!write_file(argv[2], blob)) {
        std::perror(argv[2]);
        return 1;
    }
    std::printf("evmm_pack: %s: %zu bytes -> %zu (%zu%%), image span %llu\n", argv[1], raw.size(), blob.size(),
                blob.size() * 100 / raw.size(), static_cast<unsigned long long>(back.image_span));
    return 0;
}
