#include "vmm/host/hmm.h"

#include "vmm/host/platform.h"

#include <new>

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/cr.h"
#include "arch/x86_64/msr.h"
#include "lib/log.h"
#include "vmm/host/percpu.h"

// Boundaries of the VMM image sections (vmm/vmm.ld). In the position-independent VMM, taking their address
// yields run-time addresses.
extern "C" char __text_start[], __text_end[], __rodata_start[], __rodata_end[], __data_start[], __vmm_end[];

namespace evmm {
namespace {

alignas(PageTables) unsigned char g_tables_storage[sizeof(PageTables)];
PageTables* g_tables = nullptr;
MtrrState g_mtrrs;
u64 g_cr3 = 0;

class HostMsrs final : public MsrReader {
public:
    // The MTRR MSRs exist when CPUID.1:EDX.MTRR (bit 12) says so (SDM Vol. 3A §12.11.1); evmm does not check that
    // bit, so a missing one reads as 0: IA32_MTRRCAP 0 (no ranges) and IA32_MTRR_DEF_TYPE 0 (MTRRs disabled).
    u64 rdmsr(u32 msr) const override {
        u64 v = 0;
        if (!rdmsr_safe(msr, v))
            LOG_WARN("msr 0x%x not readable on this CPU: taken as 0 (MTRRs absent or disabled)", msr);
        return v;
    }
};

u64 addr(const char* p) { return reinterpret_cast<uptr>(p); }

} // namespace

Status hmm_setup(const evmm_desc_t& desc, PageHeap& heap, HmmInfo& info) {
    g_tables = new (g_tables_storage) PageTables(heap);
    PageTables& pt = *g_tables;
    EVMM_TRY(pt.init());

    // W^X needs execute-disable; every VT-x capable CPU has it (SDM Vol. 3A §4.1.4: CPUID.80000001H:EDX.NX).
    if ((cpuid(CpuidLeaf::EXT_FEATURES).edx & CPUID80000001_EDX_NX) == 0)
        return Status::error("CPU has no execute-disable (NX) support: W^X impossible", "CPUID.80000001H:EDX.NX");
    const bool has_1g = (cpuid(CpuidLeaf::EXT_FEATURES).edx & CPUID80000001_EDX_PAGE1GB) != 0;
    const u64 limit = identity_limit_for(desc.top_of_memory);
    const PagePerms data{.write = true, .exec = false};
    EVMM_TRY(pt.map(0, 0, limit, data, true, has_1g));

    // The VMM image: text RX, rodata + relocated read-only data R, data/bss RW.
    EVMM_TRY(pt.map(addr(__text_start), addr(__text_start), addr(__text_end) - addr(__text_start),
                    {.write = false, .exec = true}, false, false));
    EVMM_TRY(pt.map(addr(__rodata_start), addr(__rodata_start), addr(__rodata_end) - addr(__rodata_start),
                    {.write = false, .exec = false}, false, false));
    EVMM_TRY(pt.map(addr(__data_start), addr(__data_start), addr(__vmm_end) - addr(__data_start), data, false, false));
    // The symbol table is read only; guard pages around every CPU's stacks are not present.
    if (desc.symtab_size != 0)
        EVMM_TRY(pt.map(desc.symtab_addr, desc.symtab_addr, align_up(desc.symtab_size, PAGE_SIZE),
                        {.write = false, .exec = false}, false, false));
    for (u32 cpu = 0; cpu < desc.num_cpus; ++cpu) {
        const u64 block = desc.stacks_base + u64{cpu} * EVMM_STACK_BLOCK_SIZE;
        for (unsigned g = 0; g <= EVMM_IST_COUNT; ++g) EVMM_TRY(pt.unmap(stack_guard(block, g), EVMM_GUARD_SIZE));
    }

    HostMsrs msrs;
    const bool mtrr = (cpuid(CpuidLeaf::FEATURES).edx & CPUID1_EDX_MTRR) != 0;
    mtrr_read(msrs, mtrr, cpu_phys_addr_bits(), g_mtrrs);

    g_cr3 = pt.root_pa();
    info = HmmInfo{limit, has_1g, g_cr3};
    return Status::success();
}

void hmm_enable() {
    wrmsr(Msr::IA32_EFER, rdmsr(Msr::IA32_EFER) | EFER_NXE);
    write_cr0(read_cr0() | CR0_WP);
    write_cr3(g_cr3);
}

PageTables& hmm_tables() { return *g_tables; }
const MtrrState& hmm_mtrrs() { return g_mtrrs; }

} // namespace evmm
