#include "vmm/modules/gpa_access.h"

#include "lib/format.h"
#include "lib/log.h"
#include "vmm/guest/gpa_intercept.h"
#include "vmm/guest/guest.h"
#include "vmm/guest/intercept.h"
#include "vmm/host/platform.h"

namespace evmm {
namespace {

constexpr u64 LOGGED_VIOLATIONS = 16;
u64 g_violations = 0; // a count that races on SMP only misplaces a log line

void log_violation(const Gcpu& g, const GpaExit& e) {
    ++g_violations;
    if (g_violations > LOGGED_VIOLATIONS) {
        if ((g_violations & (g_violations - 1)) == 0)
            LOG_WARN("%s: %lu EPT violations so far (only the first %lu are logged)", g.guest->name(), g_violations,
                     LOGGED_VIOLATIONS);
        return;
    }
    char gla[32];
    if (e.gla_valid)
        format(gla, sizeof gla, "GLA 0x%lx", e.gla);
    else
        format(gla, sizeof gla, "GLA none");
    char access[24];
    format(access, sizeof access, "%s%s%s%s%s", e.read ? "read" : "", e.read && (e.write || e.fetch) ? "/" : "",
           e.write ? "write" : "", e.write && e.fetch ? "/" : "", e.fetch ? "fetch" : "");
    LOG_WARN("%s: EPT violation at GPA 0x%lx%s (%s), %s%s", g.guest->name(), e.gpa,
             g.guest->owns_platform() && platform_in_tee(e.gpa, 1) ? " (the TEE's memory)" : "", gla,
             access[0] != '\0' ? access : "no access bits",
             g_violations == LOGGED_VIOLATIONS ? "; further ones are only counted" : "");
}

void on_gpa_access(Gcpu& g) {
    const GpaExit e = gcpu_gpa_exit(g);
    if (const GpaIntercept* r = gpa_intercept_find(e.gpa); r != nullptr && r->handler(g, e)) return;
    log_violation(g, e);
    static char what[64];
    format(what, sizeof what, "EPT violation at GPA 0x%lx", e.gpa);
    gcpu_inject_exception_for_access(g, Vector::GP, 0, what);
}

} // namespace

void gpa_access_init() { intercept_register(Intercept::GpaAccess, on_gpa_access); }

} // namespace evmm
