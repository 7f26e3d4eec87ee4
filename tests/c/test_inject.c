/*
 * core/inject.h on a real process: a forked child of this test (so the
 * functions have the same addresses there) that sleeps, computes with
 * vector registers and takes a timer signal, all the time.  The injection
 * must queue the text with the child's "add pending call", which writes it
 * to a pipe, and leave everything the child was doing exactly as it was:
 * its sleeps, its sums, its signal count.
 */
#include "inject.h"
#include "testhelp.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
static int report_fd = -1;
static volatile sig_atomic_t ticks, rt_low, rt_high;

/* The child's stand-in for Py_AddPendingCall: hands the text on at once. */
static int
fake_add_pending(int (*fn)(void *), void *arg)
{
    return fn(arg);
}

/* ... and for PyRun_SimpleString. */
static int
fake_run_string(void *text)
{
    size_t len = strlen(text);
    return write(report_fd, text, len) == (ssize_t)len ? 0 : -1;
}

static void
on_tick(int sig)
{
    if (sig == SIGALRM) {
        ticks++;
    }
    else if (sig == SIGRTMIN) {
        rt_low++;
    }
    else {
        rt_high++;
    }
}

/* A call that faults (SIGILL): it must be abandoned, the child unharmed. */
static int
fake_faulting_add(int (*fn)(void *), void *arg)
{
    (void)fn;
    (void)arg;
    __builtin_trap();
}

static void
on_segv(int sig)
{
    (void)sig;
    _exit(77);
}

/* Sleeps and sums doubles until told, then reports whether every sum was
 * right (registers intact) and that it was never stopped for good. */
static void
child_loop(int done_fd)
{
    struct sigaction sa = {.sa_handler = on_tick};
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGRTMIN, &sa, NULL);
    sigaction(SIGRTMAX, &sa, NULL);
    struct sigaction segv = {.sa_handler = on_segv};
    sigaction(SIGSEGV, &segv, NULL);
    /* blocked, as a program that takes signals with sigwait has it: a fault
     * then would make the kernel reset the handler and unblock it */
    sigset_t segv_only;
    sigemptyset(&segv_only);
    sigaddset(&segv_only, SIGSEGV);
    sigprocmask(SIG_BLOCK, &segv_only, NULL);
    struct itimerval every = {{0, 3000}, {0, 3000}};
    setitimer(ITIMER_REAL, &every, NULL);
    (void)!write(report_fd, "r", 1); /* ready: report_fd set, timer on */
    int wrong = 0;
    for (long round = 0; round < 4000; round++) {
        volatile double a = 1.5, b = 2.25;
        double sum = 0;
        for (int i = 0; i < 1000; i++) {
            sum += a * b;
        }
        struct timespec nap = {0, 500 * 1000};
        while (nanosleep(&nap, &nap) < 0 && errno == EINTR) {
        }
        wrong += sum != 3375.0;
    }
    /* the program's own SIGSEGV handler and mask, as it set them */
    struct sigaction now;
    sigset_t mask;
    sigaction(SIGSEGV, NULL, &now);
    sigprocmask(SIG_BLOCK, NULL, &mask);
    int same = now.sa_handler == on_segv && sigismember(&mask, SIGSEGV);
    char line[96];
    int n = snprintf(line, sizeof line, "wrong=%d ticks=%d rt=%d,%d same=%d", wrong,
                     ticks > 100, (int)rt_low, (int)rt_high, same);
    (void)!write(done_fd, line, (size_t)n);
    _exit(0);
}

static void
test_injects_and_leaves_the_child_as_it_was(void)
{
    int texts[2], done[2];
    CHECK(pipe(texts) == 0 && pipe(done) == 0);
    pid_t child = fork();
    if (child == 0) {
        report_fd = texts[1];
        child_loop(done[1]);
    }
    close(texts[1]);
    close(done[1]);
    char ready;
    CHECK(read(texts[0], &ready, 1) == 1);
    struct pt_inject_plan plan = {
        .mmap_fn = (uint64_t)(uintptr_t)mmap,
        .add_pending_fn = (uint64_t)(uintptr_t)fake_add_pending,
        .run_string_fn = (uint64_t)(uintptr_t)fake_run_string,
        .text = "hello",
        .text_len = 5,
        .timeout_ms = 2000,
    };
    int ok = 0;
    for (int i = 0; i < 40; i++) {
        struct pt_inject_result result;
        /* queued signals sent around the stop: each delivered, once */
        union sigval value = {.sival_int = i};
        sigqueue(child, SIGRTMIN, value);
        sigqueue(child, SIGRTMAX, value);
        if (pt_inject_pending_call(child, &plan, &result) == 0 &&
            result.pending_rc == 0 &&
            pt_inject_unmap(child, (uint64_t)(uintptr_t)munmap, result.page, 2000,
                            &result) == 0) {
            ok++;
        }
        else {
            fprintf(stderr, "injection %d: rc %lld page %llx: %s\n", i,
                    (long long)result.pending_rc, (unsigned long long)result.page,
                    result.error);
        }
        char got[8] = {0};
        CHECK(read(texts[0], got, 5) == 5 && strcmp(got, "hello") == 0);
        struct timespec gap = {0, 20 * 1000 * 1000};
        nanosleep(&gap, NULL);
    }
    CHECK_EQ_INT(ok, 40);
    struct pt_inject_plan faulting = plan;
    faulting.add_pending_fn = (uint64_t)(uintptr_t)fake_faulting_add;
    struct pt_inject_result result;
    CHECK(pt_inject_pending_call(child, &faulting, &result) < 0 && errno == EFAULT);
    CHECK(strstr(result.error, "faulted") != NULL);
    char line[96] = {0};
    CHECK(read(done[0], line, sizeof line - 1) > 0);
    CHECK(strcmp(line, "wrong=0 ticks=1 rt=40,40 same=1") == 0);
    if (strcmp(line, "wrong=0 ticks=1 rt=40,40 same=1") != 0) {
        fprintf(stderr, "child: %s\n", line);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    close(texts[0]);
    close(done[0]);
}

static void
test_a_gone_process_is_esrch(void)
{
    pid_t child = fork();
    if (child == 0) {
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    struct pt_inject_plan plan = {.text = "x", .text_len = 1, .timeout_ms = 500};
    struct pt_inject_result result;
    CHECK(pt_inject_pending_call(child, &plan, &result) < 0 && errno == ESRCH);
    CHECK(result.error[0] != '\0');
}

#else
/* Not written for this architecture yet: refused, and the child unharmed. */
static void
test_refuses_elsewhere(void)
{
    pid_t child = fork();
    if (child == 0) {
        struct timespec nap = {0, 300 * 1000 * 1000};
        nanosleep(&nap, NULL);
        _exit(0);
    }
    struct pt_inject_plan plan = {.text = "x", .text_len = 1, .timeout_ms = 500};
    struct pt_inject_result result;
    CHECK(pt_inject_pending_call(child, &plan, &result) < 0);
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
}
#endif

int
main(void)
{
#if defined(__x86_64__)
    /* a child may be traced by its parent whatever Yama's ptrace_scope */
    test_injects_and_leaves_the_child_as_it_was();
    test_a_gone_process_is_esrch();
#else
    test_refuses_elsewhere();
#endif
    return TEST_REPORT("test_inject");
}
