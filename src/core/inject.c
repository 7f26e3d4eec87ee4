/*
 * inject.h: the ptrace side.  While the thread is ours its signal mask
 * blocks everything but SIGSEGV (PTRACE_SETSIGMASK): signals sent to it
 * meanwhile stay pending in the kernel, as they were sent, and are
 * delivered once its own mask is back; and the fault that marks a call's
 * return to address 0 is never one of a blocked SIGSEGV, which the kernel
 * would answer by resetting the program's handler.  Any other stop during a
 * call is a fault of the called code: the call is abandoned.  Whatever
 * happens after the registers are saved ends in the same restore (registers,
 * then the mask) and detach, and a call that does not return in time is
 * waited out of (PTRACE_INTERRUPT, then as long as the kernel takes), so
 * the thread is never let go mid-call.
 */
#include "inject.h"
#include "inject_arch.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

struct tracee {
    pid_t tid;
    int timeout_ms;
    struct pt_inject_result *result;
};

static int
fail(struct tracee *t, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->result->error, sizeof t->result->error, fmt, ap);
    va_end(ap);
    errno = err;
    return -1;
}

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The thread's next stop (or end) before `deadline` (now_ms()): 0,
 * -ETIMEDOUT or -errno.  Polled, as waitpid has no timeout and a signal
 * would disturb the caller's process. */
static int
wait_stop(struct tracee *t, long deadline, int *status)
{
    for (;;) {
        pid_t got = waitpid(t->tid, status, __WALL | WNOHANG);
        if (got == t->tid) {
            return 0;
        }
        if (got < 0 && errno != EINTR) {
            return -errno;
        }
        if (now_ms() > deadline) {
            return -ETIMEDOUT;
        }
        struct timespec pause = {0, 200 * 1000};
        nanosleep(&pause, NULL);
    }
}

static int
is_event_stop(int status)
{
    return WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP;
}

/* Stops the thread with PTRACE_INTERRUPT; signals that arrive first are
 * delivered as usual (nothing is changed yet). */
static int
stop_thread(struct tracee *t)
{
    if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0) {
        return fail(t, errno, "cannot stop it: %s", strerror(errno));
    }
    long deadline = now_ms() + t->timeout_ms;
    for (;;) {
        int status, rc = wait_stop(t, deadline, &status);
        if (rc < 0) {
            return fail(t, -rc, "it did not stop: %s", strerror(-rc));
        }
        if (!WIFSTOPPED(status)) {
            return fail(t, ESRCH, "it exited");
        }
        if (is_event_stop(status)) {
            return 0;
        }
        if (ptrace(PTRACE_CONT, t->tid, 0, (void *)(long)WSTOPSIG(status)) < 0) {
            return fail(t, errno, "cannot resume it: %s", strerror(errno));
        }
    }
}

/* After a call timed out: the thread stopped again wherever it is, however
 * long the kernel takes (it may be in an uninterruptible wait), since it
 * must not be let go with the call's registers. */
static void
interrupt_call(struct tracee *t)
{
    int status;
    if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0) {
        return;
    }
    while (waitpid(t->tid, &status, __WALL) < 0 && errno == EINTR) {
    }
}

/* Runs fn(args) in the stopped thread and leaves it stopped. */
static int
call(struct tracee *t, const struct pt_arch_state *saved, uint64_t fn,
     const uint64_t *args, int nargs, uint64_t *value)
{
    if (pt_arch_prepare_call(t->tid, saved, fn, args, nargs) < 0 ||
        ptrace(PTRACE_CONT, t->tid, 0, 0) < 0) {
        return fail(t, errno, "cannot set up a call: %s", strerror(errno));
    }
    long deadline = now_ms() + t->timeout_ms;
    for (;;) {
        int status, rc = wait_stop(t, deadline, &status);
        if (rc == -ETIMEDOUT) {
            interrupt_call(t);
            return fail(t, ETIMEDOUT,
                        "a call did not return in %d ms (abandoned, "
                        "registers restored)",
                        t->timeout_ms);
        }
        if (rc < 0 || !WIFSTOPPED(status)) {
            return fail(t, ESRCH, "it exited during the call");
        }
        if (is_event_stop(status)) {
            /* a group stop (SIGSTOP, unblockable): the call goes on */
            if (ptrace(PTRACE_CONT, t->tid, 0, 0) < 0) {
                return fail(t, errno, "cannot resume the call: %s", strerror(errno));
            }
            continue;
        }
        /* every other signal is blocked: this is our return, or a fault */
        if (WSTOPSIG(status) == SIGSEGV && pt_arch_returned(t->tid, saved, value) == 1) {
            return 0;
        }
        return fail(t, EFAULT,
                    "the call faulted with signal %d (abandoned, registers "
                    "restored)",
                    WSTOPSIG(status));
    }
}

/* Copies text (and a NUL) to page, a word at a time. */
static int
poke_text(struct tracee *t, uint64_t page, const char *text, size_t len)
{
    for (size_t off = 0; off <= len; off += sizeof(long)) {
        long word = 0; /* the NUL, and the page's zeros after it */
        size_t left = len - off;
        memcpy(&word, text + off, left < sizeof word ? left : sizeof word);
        if (ptrace(PTRACE_POKEDATA, t->tid, (void *)(uintptr_t)(page + off),
                   (void *)word) < 0) {
            return fail(t, errno, "cannot write its memory: %s", strerror(errno));
        }
    }
    return 0;
}

/* The calls, with the registers saved: mmap, copy, Py_AddPendingCall
 * (with_stopped's body; ctx is the plan). */
static int
queue_text(struct tracee *t, const struct pt_arch_state *saved, const void *ctx)
{
    const struct pt_inject_plan *plan = ctx;
    uint64_t page, rc;
    const uint64_t mmap_args[6] = {
        0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0};
    if (call(t, saved, plan->mmap_fn, mmap_args, 6, &page) < 0) {
        return -1;
    }
    if (page == (uint64_t)MAP_FAILED || page == 0) {
        return fail(t, ENOMEM, "mmap failed in it");
    }
    t->result->page = page;
    if (poke_text(t, page, plan->text, plan->text_len) < 0) {
        return -1;
    }
    const uint64_t pending_args[2] = {plan->run_string_fn, page};
    if (call(t, saved, plan->add_pending_fn, pending_args, 2, &rc) < 0) {
        return -1;
    }
    t->result->pending_rc = (int32_t)rc;
    return 0;
}

/* Blocks every signal but SIGSEGV in the stopped thread; its own mask in
 * `mask`. */
static int
block_signals(struct tracee *t, uint64_t *mask)
{
    uint64_t only_segv = ~(1ULL << (SIGSEGV - 1));
    if (ptrace(PTRACE_GETSIGMASK, t->tid, (void *)sizeof *mask, mask) < 0 ||
        ptrace(PTRACE_SETSIGMASK, t->tid, (void *)sizeof only_segv, &only_segv) < 0) {
        return fail(t, errno, "cannot set its signal mask: %s", strerror(errno));
    }
    return 0;
}

/* Seizes and stops the main thread, saves its registers and signal mask,
 * runs `body` and always restores both and lets go, whatever body did. */
static int
with_stopped(pid_t pid, int timeout_ms, struct pt_inject_result *result,
             int (*body)(struct tracee *, const struct pt_arch_state *, const void *),
             const void *ctx)
{
    struct tracee t = {pid, timeout_ms, result};
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) {
        return fail(&t, errno, "cannot trace it: %s", strerror(errno));
    }
    int rc = stop_thread(&t);
    uint64_t mask = 0;
    struct pt_arch_state *saved = rc < 0 ? NULL : pt_arch_save(pid);
    if (rc == 0 && saved == NULL) {
        rc = fail(&t, errno, "cannot read its registers: %s", strerror(errno));
    }
    if (saved != NULL) {
        rc = block_signals(&t, &mask);
        int masked = rc == 0;
        if (rc == 0) {
            rc = body(&t, saved, ctx);
        }
        int err = errno;
        if (pt_arch_restore(pid, saved) < 0 && rc == 0) {
            rc = fail(&t, errno, "cannot restore its registers: %s", strerror(errno));
            err = errno;
        }
        if (masked && ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof mask, &mask) < 0 &&
            rc == 0) {
            rc = fail(&t, errno, "cannot restore its signal mask: %s", strerror(errno));
            err = errno;
        }
        errno = err;
        pt_arch_free(saved);
    }
    int err = errno;
    /* fails only when it is gone, or never stopped (it is let go when this
     * thread exits); either way nothing of it was changed */
    (void)ptrace(PTRACE_DETACH, pid, 0, 0);
    errno = err;
    return rc;
}

int
pt_inject_pending_call(pid_t pid, const struct pt_inject_plan *plan,
                       struct pt_inject_result *result)
{
    memset(result, 0, sizeof *result);
    if (plan->text_len >= PAGE) {
        struct tracee t = {pid, 0, result};
        return fail(&t, EINVAL, "the text is over a page");
    }
    return with_stopped(pid, plan->timeout_ms, result, queue_text, plan);
}

struct unmap_ctx {
    uint64_t munmap_fn, page;
};

static int
unmap_body(struct tracee *t, const struct pt_arch_state *saved, const void *ctx)
{
    const struct unmap_ctx *u = ctx;
    const uint64_t args[2] = {u->page, PAGE};
    uint64_t rc;
    if (call(t, saved, u->munmap_fn, args, 2, &rc) < 0) {
        return -1;
    }
    return rc == 0 ? 0 : fail(t, EINVAL, "munmap failed in it");
}

int
pt_inject_unmap(pid_t pid, uint64_t munmap_fn, uint64_t page, int timeout_ms,
                struct pt_inject_result *result)
{
    struct unmap_ctx ctx = {munmap_fn, page};
    memset(result, 0, sizeof *result);
    return with_stopped(pid, timeout_ms, result, unmap_body, &ctx);
}
