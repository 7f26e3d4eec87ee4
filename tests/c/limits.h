/*
 * Writers against a filesystem that runs out of room: a 64 KiB tmpfs (in a
 * private mount namespace, so nothing outside the test sees it) or a small
 * RLIMIT_FSIZE.  Each case runs in a child process, so that a SIGBUS is a
 * failed check with its signal, not a dead test run.
 *
 * The writer must never fault: adds succeed until the room is gone, then
 * fail with -ENOSPC (-EFBIG for the limit), and the file holds exactly the
 * entries whose add succeeded, readable to the end.
 */
#ifndef PERFTRAMP_TEST_LIMITS_H
#define PERFTRAMP_TEST_LIMITS_H

#include "testhelp.h"
#include "writer.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Counts the complete entries of the file at path (the test's reader). */
typedef int (*limits_count_fn)(const char *path);

enum limits_kind { LIMITS_FULL_FS, LIMITS_FSIZE };

/* Stands for the stubs: a jitdump writer copies the code it describes. */
static unsigned char limits_code[64 * 1024];

static int
limits_keep_none(void *ctx, uintptr_t addr)
{
    (void)ctx;
    (void)addr;
    return 0;
}

/* In the child: 0 when everything held, else the number of the broken
 * expectation; 77 when the case cannot be set up here (not root). */
static int
limits_child(const struct pt_writer_ops *w, const char *pattern, const char *dir,
             enum limits_kind kind, limits_count_fn count)
{
    if (kind == LIMITS_FULL_FS) {
        if (unshare(CLONE_NEWNS) != 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
            return 77;
        }
    }
    else {
        /* CPython ignores SIGXFSZ; so do we, to see the error returned. */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {.rlim_cur = 40000, .rlim_max = 40000};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
            return 77;
        }
    }
    void *state = NULL;
    int rc = w->open(&state, dir, pattern, 4242, limits_keep_none, NULL);
    if (rc != 0) {
        return 1;
    }
    char name[128];
    int ok = 0, failed = 0, first_error = 0;
    for (int i = 0; i < 1000; i++) {
        int len = snprintf(name, sizeof(name),
                           "py::function_number_%04d:/a/path/long/enough/that/a/thousand/"
                           "entries/overflow/sixty/four/kib.py",
                           i);
        struct pt_name n = pt_name_of(name, (size_t)len);
        rc = w->add(state, (uintptr_t)limits_code + (uintptr_t)(i % 512) * 64, 64, &n);
        if (rc == 0) {
            ok += failed == 0;
        }
        else {
            first_error = first_error ? first_error : rc;
            failed++;
        }
    }
    int want = kind == LIMITS_FULL_FS ? -ENOSPC : -EFBIG;
    if (failed == 0 || first_error != want) {
        fprintf(stderr, "limits: %d written, %d failed, first error %d\n", ok, failed,
                first_error);
        return 2;
    }
    if (ok == 0) {
        return 3; /* what fits must be written */
    }
    if (count(w->path(state)) != ok) {
        fprintf(stderr, "limits: %d written, %d read back\n", ok, count(w->path(state)));
        return 4;
    }
    char path[512];
    snprintf(path, sizeof(path), "%s", w->path(state));
    w->close(state);
    if (count(path) != ok) {
        return 5;
    }
    unlink(path);
    return 0;
}

static void
limits_case(const struct pt_writer_ops *w, const char *pattern, const char *parent_dir,
            enum limits_kind kind, limits_count_fn count)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/limits-%d", parent_dir, (int)kind);
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        _exit(limits_child(w, pattern, dir, kind, count));
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(!WIFSIGNALED(status)); /* SIGBUS was the bug */
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "limits case %d: killed by signal %d\n", (int)kind,
                WTERMSIG(status));
    }
    else if (WEXITSTATUS(status) == 77) {
        printf("SKIPPED limits case %d: needs root (mount namespace, tmpfs)\n",
               (int)kind);
    }
    else {
        CHECK_EQ_INT(WEXITSTATUS(status), 0);
    }
    rmdir(dir);
}

#endif
