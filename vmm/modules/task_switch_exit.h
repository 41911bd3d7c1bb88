// Hardware task switches (VT-x exit 9; SVM's task-switch intercept): the module behind Intercept::TaskSwitch. It
// hands the exit's facts and the vCPU's state to the pure emulation (vmm/modules/task_switch.h, SDM Vol. 3A §9.3)
// with guest memory reached by linear address through guest0's own page tables (vmm/guest/guest_paging.h), then
// writes the switched state back or raises the fault the emulation found: before the switch in the old task (an
// event being delivered through a task gate is combined with it, SDM Vol. 3A §7.15 Table 7-5), after it in the new
// one. Task switches exist only in protected mode outside IA-32e mode (in IA-32e mode the CPU raises #GP itself).
#pragma once

namespace evmm {

void task_switch_exit_init(); // stage 3

} // namespace evmm
