/*
 * Calling a function inside another, running process, through ptrace: how
 * `perftramp attach` reaches CPython 3.8-3.13, which have no
 * sys.remote_exec.  The caller gives addresses in the target (resolved from
 * its ELF files); this does nothing but the calls.
 *
 * Only the target's main thread is stopped, and only for the calls: its
 * registers, vector state included, and its signal mask are read first and
 * written back last, so the interrupted code (in a system call too, which
 * the kernel then restarts) goes on as if nothing had happened.  A call
 * returns to address 0; the fault there is ours and is never delivered.
 * Signals sent to the thread meanwhile wait, blocked, until its own mask is
 * back.  A call that faults or does not return within the timeout is
 * abandoned the same way (registers restored).
 */
#ifndef PERFTRAMP_CORE_INJECT_H
#define PERFTRAMP_CORE_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pt_inject_plan {
    uint64_t mmap_fn;        /* the target's mmap(2) wrapper */
    uint64_t add_pending_fn; /* Py_AddPendingCall */
    uint64_t run_string_fn;  /* PyRun_SimpleString: the pending call */
    const char *text;        /* its argument: copied into a fresh page */
    size_t text_len;         /* without the NUL; under one page */
    int timeout_ms;          /* for the stop and for each call */
};

struct pt_inject_result {
    uint64_t page;      /* where the text went (the target owns it) */
    int64_t pending_rc; /* Py_AddPendingCall's: 0 queued, -1 full */
    char error[200];    /* set when the call returns -1 */
};

/* Stops `pid`'s main thread, maps a page there, copies the text, queues
 * PyRun_SimpleString(text) with Py_AddPendingCall, restores the thread and
 * lets it go.  0, or -1 with result->error saying why and errno set
 * (EPERM: no ptrace permission; ESRCH: gone; ETIMEDOUT; ENOSYS: this
 * architecture). */
int pt_inject_pending_call(pid_t pid, const struct pt_inject_plan *plan,
                           struct pt_inject_result *result);

/* Unmaps the page pt_inject_pending_call() made, once the text has run
 * (the caller saw its effect); the same stop, call and restore. */
int pt_inject_unmap(pid_t pid, uint64_t munmap_fn, uint64_t page, int timeout_ms,
                    struct pt_inject_result *result);

#endif
