// The AMD SVM backend's stages 3 and 5: the MSR and I/O permission maps the modules' intercepts ask for (APM Vol. 2
// §15.10, §15.11), guest0's nested page tables, and a VMCB per vCPU (Appendix B) from the vendor-neutral start
// state (evmm_gcpu_state_t, vmm/guest/boot/entry_state.h).
#pragma once

#include "arch/x86_64/svm.h"
#include "evmm/gcpu_state.h"
#include "evmm/status.h"
#include "vmm/guest/gcpu.h"
#include "vmm/host/heap.h"

namespace evmm {

// Stage 3, BSP, after modules_init: the permission maps from the VT-x bitmaps the intercept registry filled
// (vmm/vmx/bitmaps.cpp keeps the one record of which MSRs and ports exit).
Status svm_permission_maps_init(PageHeap& heap);
// Stage 5: g's VMCB (g.arch.vmcs_pa), ASID (g.arch.vpid), nested CR3 (g.arch.eptp = ncr3) and start state.
Status gcpu_vmcb_init(Gcpu& g, PageHeap& heap, const evmm_gcpu_state_t& st, u64 ncr3);
// The VMCB of g (identity mapped).
inline Vmcb& vmcb_of(Gcpu& g) { return *reinterpret_cast<Vmcb*>(g.arch.vmcs_pa); }
// Segment register r (evmm_gcpu_state_t's order: ES, CS, SS, DS, FS, GS, LDTR, TR) in the VMCB's save area, whose
// order is ES, CS, SS, DS, FS, GS, GDTR, LDTR, IDTR, TR (Table B-2).
inline VmcbSegment& vmcb_segment(Vmcb& v, u32 r) {
    static_assert(offsetof(VmcbSave, ldtr) == 7 * sizeof(VmcbSegment) &&
                  offsetof(VmcbSave, tr) == 9 * sizeof(VmcbSegment));
    return (&v.save.es)[r < EVMM_SEG_LDTR ? r : r == EVMM_SEG_LDTR ? 7 : 9];
}
// The whole architectural state into g's VMCB (and its GPRs).
Status svm_load_guest_state(Gcpu& g, const evmm_gcpu_state_t& s);
// evmm_segment_t attributes (VMX access-rights layout) <-> VMCB attributes (Table B-2).
constexpr u16 svm_attrib_from_vmx(u32 ar) {
    if (ar & bit(16)) return 0; // unusable: not present
    return static_cast<u16>((ar & 0xFF) | ((ar >> 4) & 0xF00));
}
constexpr u32 vmx_ar_from_svm(u16 a) {
    const u32 ar = (a & 0xFFu) | ((a & 0xF00u) << 4);
    return (a & 0x80) ? ar : (ar | u32{1} << 16);
}
static_assert(svm_attrib_from_vmx(0xA09B) == 0xA9B && vmx_ar_from_svm(0xA9B) == 0xA09B);

} // namespace evmm
