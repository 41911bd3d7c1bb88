// Guest-physical ranges that a module handles itself (the registry behind "guest-physical range" intercepts).
//
// A module registers a range in stage 3 with the accesses the guest may make without an exit; every guest created
// afterwards (stage 4) maps the range with only those rights in its second-level tables, and an access beyond
// them reaches the module's handler through the guest-physical-access module (vmm/modules/gpa_access). Nothing
// else in the VMM needs to know which module owns which page.
#pragma once

#include "evmm/base.h"
#include "vmm/guest/gcpu.h"

namespace evmm {

struct MemPerms {
    bool read, write, exec;
};

// Handles a refused access inside the range; returns false to let the default handling (log, #GP) happen.
using GpaHandler = bool (*)(Gcpu& g, const GpaExit& e);

struct GpaIntercept {
    u64 base, size; // 4 KiB aligned
    MemPerms allowed;
    GpaHandler handler;
    const char* owner; // the module that registered it
};

inline constexpr u32 GPA_INTERCEPT_MAX = 8;

// Stage 3 only (before any guest exists); panics on a bad or overlapping range (a build-time mistake).
void gpa_intercept(u64 base, u64 size, MemPerms allowed, GpaHandler handler, const char* owner);
// While guests run (any CPU): one more range with the same meaning, for guests that exist already too — the caller
// narrows the rights in their tables (Guest::set_page_rights). False when it is registered already or the table is
// full. Lookups need no lock: an entry is complete before the count that makes it visible.
bool gpa_intercept_add(u64 base, u64 size, MemPerms allowed, GpaHandler handler, const char* owner);
u32 gpa_intercept_count();
const GpaIntercept& gpa_intercept_at(u32 i);
const GpaIntercept* gpa_intercept_find(u64 gpa);

} // namespace evmm
