// Guest actions evmm answers as the hardware would without further ado: HLT and INVD (skipped: evmm requests
// neither exit; a CPU whose controls force them gets them emulated as no-ops), and a triple fault (the guest
// stopped for good: a clean final stop, SDM Vol. 3C §26.2: the shutdown becomes a VM exit).
#pragma once

namespace evmm {

void misc_init(); // stage 3

} // namespace evmm
