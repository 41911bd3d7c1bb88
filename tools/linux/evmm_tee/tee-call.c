// SPDX-License-Identifier: GPL-2.0
/*
 * tee-call: calls the test TEE's services (include/evmm_tee.h) through /dev/evmm_tee (evmm_tee.ko), from Linux as
 * evmm's guest0. docs/tee-linux.md.
 *
 *   tee-call [-c CPU] echo A B C      RSI, RDX, RCX there and back:      tee-call: echo 1 2 3 = 1 2 3 [cpu 0]
 *   tee-call [-c CPU] add A B         A + B computed by the TEE:         tee-call: add 2 3 = 5 [cpu 0]
 *   tee-call [-c CPU] counter         the TEE's counter, +1 per call:    tee-call: counter = 7 [cpu 0]
 *   tee-call [-c CPU] mac STRING      MAC of STRING's bytes:             tee-call: mac "hello" = 0x... [cpu 0]
 *   tee-call [-c CPU] selftest        the TEE's checks of its own view:  tee-call: selftest = 9 passed, 0 failed [cpu 0]
 *   tee-call [-c CPU] smc RDI [RSI [RDX [RCX]]]   a raw SMC (e.g. 5: the test TEE's crash service)
 *
 * -c CPU pins the call to that CPU (sched_setaffinity) and checks it ran there. Numbers: decimal or 0x hex.
 * Exit status: 0 the TEE answered as expected, 1 it did not (no TEE, a dead TEE, an error status, a wrong echo, a
 * failed self-test), 2 usage or a system error (no /dev/evmm_tee: insmod evmm_tee.ko).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Both headers, evmm's first: the module's copy of the constants must be token for token the same (a different
 * redefinition of a macro is a compiler error under -Werror). */
#include "evmm_tee.h"
#include "evmm_tee_uapi.h"

static const char* what; /* the call as typed, for the messages */
static int pinned_cpu = -1;

static void usage(void) {
    fputs("usage: tee-call [-c CPU] echo A B C | add A B | counter | mac STRING | selftest | smc RDI [RSI [RDX [RCX]]]\n",
          stderr);
    exit(2);
}

static uint64_t number(const char* s) {
    char* end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end) {
        fprintf(stderr, "tee-call: '%s' is not a number\n", s);
        exit(2);
    }
    return v;
}

static int open_device(void) {
    int fd = open(EVMM_TEE_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "tee-call: %s: %s (is evmm_tee.ko loaded?)\n", EVMM_TEE_DEVICE, strerror(errno));
        exit(2);
    }
    return fd;
}

static void pin(void) {
    if (pinned_cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(pinned_cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        fprintf(stderr, "tee-call: cannot run on cpu %d: %s\n", pinned_cpu, strerror(errno));
        exit(2);
    }
}

static void do_ioctl(int fd, unsigned long cmd, void* arg) {
    pin();
    if (ioctl(fd, cmd, arg) != 0) {
        fprintf(stderr, "tee-call: %s: ioctl: %s\n", what, strerror(errno));
        exit(2);
    }
}

/* Where the call ran: the pinned CPU, checked; otherwise wherever the task was (the driver keeps it there for the
 * whole call). */
static int cpu_now(void) {
    int cpu = sched_getcpu();
    if (pinned_cpu >= 0 && cpu != pinned_cpu) {
        fprintf(stderr, "tee-call: %s: ran on cpu %d, not %d\n", what, cpu, pinned_cpu);
        exit(1);
    }
    return cpu;
}

/* Did the TEE answer with status 0 (RDI)? Prints why not and exits 1 otherwise. */
static void check_answer(const struct evmm_tee_smc* r, int cpu) {
    const char* why = NULL;
    if (r->rax == EVMM_TEE_VMCALL_SMC) {
        if (r->rdi == 0) return;
        fprintf(stderr, "tee-call: %s: the TEE answered status %" PRId64 " [cpu %d]\n", what, (int64_t)r->rdi, cpu);
        exit(1);
    }
    if (r->rax == EVMM_TEE_SMC_ERR_NO_TEE)
        why = "no TEE (evmm runs without a tee module, -19 ENODEV)";
    else if (r->rax == EVMM_TEE_SMC_ERR_DEAD)
        why = "the TEE is dead (-5 EIO; evmm's log says why)";
    else if (r->rax == EVMM_TEE_SMC_ERR_NOSYS)
        why = "evmm has no secure world (the SMC is an unknown VMCALL, -38 ENOSYS)";
    if (why)
        fprintf(stderr, "tee-call: %s: %s [cpu %d]\n", what, why, cpu);
    else
        fprintf(stderr, "tee-call: %s: unexpected RAX 0x%" PRIx64 " after the SMC [cpu %d]\n", what, (uint64_t)r->rax,
                cpu);
    exit(1);
}

static struct evmm_tee_smc smc(int fd, uint64_t rdi, uint64_t rsi, uint64_t rdx, uint64_t rcx) {
    struct evmm_tee_smc r = {.rdi = rdi, .rsi = rsi, .rdx = rdx, .rcx = rcx, .rax = 0};
    do_ioctl(fd, EVMM_TEE_IOC_SMC, &r);
    return r;
}

int main(int argc, char** argv) {
    int opt;
    while ((opt = getopt(argc, argv, "+c:h")) != -1) {
        switch (opt) {
        case 'c': pinned_cpu = (int)number(optarg); break;
        default: usage();
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) usage();
    const char* cmd = argv[0];
    char whatbuf[160];
    snprintf(whatbuf, sizeof(whatbuf), "%s", cmd);
    what = whatbuf;

    if (!strcmp(cmd, "echo") && argc == 4) {
        uint64_t a = number(argv[1]), b = number(argv[2]), c = number(argv[3]);
        snprintf(whatbuf, sizeof(whatbuf), "echo %" PRIu64 " %" PRIu64 " %" PRIu64, a, b, c);
        struct evmm_tee_smc r = smc(open_device(), EVMM_TEE_SVC_ECHO, a, b, c);
        int cpu = cpu_now();
        check_answer(&r, cpu);
        printf("tee-call: %s = %" PRIu64 " %" PRIu64 " %" PRIu64 " [cpu %d]\n", what, (uint64_t)r.rsi,
               (uint64_t)r.rdx, (uint64_t)r.rcx, cpu);
        if (r.rsi != a || r.rdx != b || r.rcx != c) {
            fprintf(stderr, "tee-call: %s: the echo differs\n", what);
            return 1;
        }
    } else if (!strcmp(cmd, "add") && argc == 3) {
        uint64_t a = number(argv[1]), b = number(argv[2]);
        snprintf(whatbuf, sizeof(whatbuf), "add %" PRIu64 " %" PRIu64, a, b);
        struct evmm_tee_smc r = smc(open_device(), EVMM_TEE_SVC_ADD, a, b, 0);
        int cpu = cpu_now();
        check_answer(&r, cpu);
        printf("tee-call: %s = %" PRIu64 " [cpu %d]\n", what, (uint64_t)r.rsi, cpu);
        if (r.rsi != a + b) {
            fprintf(stderr, "tee-call: %s: expected %" PRIu64 "\n", what, a + b);
            return 1;
        }
    } else if (!strcmp(cmd, "counter") && argc == 1) {
        struct evmm_tee_smc r = smc(open_device(), EVMM_TEE_SVC_COUNTER, 0, 0, 0);
        int cpu = cpu_now();
        check_answer(&r, cpu);
        printf("tee-call: counter = %" PRIu64 " [cpu %d]\n", (uint64_t)r.rsi, cpu);
    } else if (!strcmp(cmd, "mac") && argc == 2) {
        size_t len = strlen(argv[1]);
        if (len > EVMM_TEE_MAC_MAX) {
            fprintf(stderr, "tee-call: mac: at most %u bytes\n", EVMM_TEE_MAC_MAX);
            return 2;
        }
        snprintf(whatbuf, sizeof(whatbuf), "mac \"%.64s%s\"", argv[1], len > 64 ? "..." : "");
        struct evmm_tee_mac m = {.addr = (uint64_t)(uintptr_t)argv[1], .len = len};
        do_ioctl(open_device(), EVMM_TEE_IOC_MAC, &m);
        int cpu = cpu_now();
        check_answer(&m.regs, cpu);
        printf("tee-call: %s = 0x%016" PRIx64 " [cpu %d]\n", what, (uint64_t)m.regs.rsi, cpu);
    } else if (!strcmp(cmd, "selftest") && argc == 1) {
        struct evmm_tee_smc r = smc(open_device(), EVMM_TEE_SVC_SELFTEST, 0, 0, 0);
        int cpu = cpu_now();
        check_answer(&r, cpu);
        printf("tee-call: selftest = %" PRIu64 " passed, %" PRIu64 " failed [cpu %d]\n", (uint64_t)r.rsi,
               (uint64_t)r.rdx, cpu);
        if (r.rdx != 0 || r.rsi == 0) return 1;
    } else if (!strcmp(cmd, "smc") && argc >= 2 && argc <= 5) {
        uint64_t a[4] = {0, 0, 0, 0};
        for (int i = 1; i < argc; i++) a[i - 1] = number(argv[i]);
        snprintf(whatbuf, sizeof(whatbuf), "smc 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64, a[0], a[1],
                 a[2], a[3]);
        struct evmm_tee_smc r = smc(open_device(), a[0], a[1], a[2], a[3]);
        int cpu = cpu_now();
        printf("tee-call: %s = rax 0x%" PRIx64 " rdi 0x%" PRIx64 " rsi 0x%" PRIx64 " rdx 0x%" PRIx64
               " rcx 0x%" PRIx64 " [cpu %d]\n",
               what, (uint64_t)r.rax, (uint64_t)r.rdi, (uint64_t)r.rsi, (uint64_t)r.rdx, (uint64_t)r.rcx, cpu);
        return r.rax == EVMM_TEE_VMCALL_SMC ? 0 : 1;
    } else {
        usage();
    }
    return 0;
}
