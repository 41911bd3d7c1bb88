// Guest actions evmm answers as the hardware would without further ado: HLT (evmm does not request its exit; where a
// CPU's controls force it, or with forceexits=1, the vCPU waits in the halted state: gcpu_halt), INVD (it exits
// unconditionally, SDM Vol. 3C §26.1.2; skipped: memory keeps its contents, as after an INVD that found nothing to
// discard), and a triple fault (the guest stopped for good: a clean final stop, SDM Vol. 3C §26.2: the shutdown
// becomes a VM exit).
#pragma once

namespace evmm {

void misc_init(); // stage 3

} // namespace evmm
