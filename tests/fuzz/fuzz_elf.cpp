// The ELF64 loader (lib/formats/elf): elf_inspect on any bytes, then, for an image it accepts that is not too
// large to load here (16 MiB), elf_load into a buffer of exactly the size it asks for (ET_DYN with a load bias
// taken from the input, so the R_X86_64_RELATIVE relocations run too).
#include "fuzz_common.h"
#include "lib/formats/elf.h"

using namespace evmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ElfImage img{};
    if (!elf_inspect(data, size, img).ok()) return 0;
    FUZZ_CHECK(img.segment_count >= 1 && img.segment_count <= ELF_MAX_SEGMENTS);
    FUZZ_CHECK(img.min_vaddr < img.max_vaddr);
    for (u32 i = 0; i < img.segment_count; ++i) {
        const ElfSegment& s = img.segments[i];
        FUZZ_CHECK(s.filesz <= s.memsz && (s.filesz == 0 || (s.offset <= size && s.filesz <= size - s.offset)));
        FUZZ_CHECK(s.vaddr >= img.min_vaddr && s.vaddr + s.memsz <= img.max_vaddr);
    }
    const u64 span = img.max_vaddr - img.min_vaddr;
    if (span > 16 * MiB) return 0;
    std::vector<u8> dest(span);
    const u64 bias = img.type == ET_DYN ? (fuzz::le(data, size, 8, 4) & ~u64{0xFFF}) : 0;
    (void)elf_load(data, size, img, dest.data(), dest.size(), bias);
    return 0;
}
