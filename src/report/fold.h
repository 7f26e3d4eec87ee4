/*
 * Folding `perf script` output into stacks, for reports.
 *
 * perf script prints each sample as a header line, then one line per frame,
 * innermost first:
 *
 *     python 4242
 *     	    5a1c _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)
 *     	7f01a0c0 py::foo:/app.py (/tmp/perf-4242.map)
 *     ...
 *     <blank line>
 *
 * (fields -F comm,tid,ip,sym,dso; with -F comm,pid,tid,... the header says
 * "python 4242/4243", and samples are counted per process too; with -F
 * ...,time,period,event it ends "35206.367792:  1001001 cpu-clock:pppH:",
 * and stacks are told apart by event and counted with their periods).  The folder turns
 * every sample into one stack, outermost first, "comm;frame;frame;...", and counts equal
 * stacks.
 *
 * It counts two views of every sample in the same pass, so that one run of
 * perf script serves every report:
 *
 *   PT_FOLD_DEFAULT   what a Python programmer asks about.  Frames of the
 *                     interpreter itself (the python binary, libpython,
 *                     perftramp's own extension, unresolved addresses) are
 *                     dropped between Python frames and inner to the
 *                     innermost one, where they are the interpreter's own
 *                     work for that Python function.  Native frames of
 *                     other libraries (C extensions, libc) and the kernel's
 *                     stay wherever they are: that is the native time a
 *                     profile must show.
 *   PT_FOLD_INTERNAL  every frame (report --keep-internal).
 *
 * An "(inlined)" frame belongs to the object of the next real frame below
 * it.  A kernel frame's name gets PT_FOLD_KERNEL_SUFFIX, and an unresolved
 * function of a known object is named "[object]" (its file's base name):
 * flamegraph.pl's conventions.  A stack perf could not unwind to its start (its outermost
 * frame is none of PT_FOLD_START_FRAMES, or it has as many frames as perf
 * script was allowed to print) gets PT_FOLD_TRUNCATED as its outermost frame,
 * right after the command, in both views, and is counted as truncated.
 *
 * Plain C11; streaming, so that gigabytes of perf script output need only
 * as much memory as the distinct stacks.
 */
#ifndef PERFTRAMP_REPORT_FOLD_H
#define PERFTRAMP_REPORT_FOLD_H

#include <stddef.h>
#include <stdint.h>

/* The frame standing for the missing outer part of a cut stack, and the
 * suffix of a kernel function's name (perftramp/formats/__init__.py reads
 * the same two). */
#define PT_FOLD_TRUNCATED "[truncated]"
#define PT_FOLD_KERNEL_SUFFIX "_[k]"
/* Off-CPU waits (options.offcpu): the event perf samples a switch-out
 * with, the event and innermost frame the folder gives the waits. */
#define PT_FOLD_SWITCH_EVENT "sched:sched_switch"
#define PT_FOLD_OFFCPU_EVENT "offcpu"
#define PT_FOLD_OFFCPU_FRAME "[off-cpu]"
/* ... and of a wait the thread was preempted into (runnable, not running:
 * PERF_RECORD_SWITCH OUT preempt) */
#define PT_FOLD_PREEMPTED_FRAME "[off-cpu: preempted]"

/* The functions a whole stack starts at, its outermost frame.  Every thread
 * of a process starts in one of them: the program's entry point and the C
 * library's start-up (glibc: _start -> __libc_start_main[_impl] ->
 * __libc_start_call_main -> main; musl: _start_c, libc_start_main_stage2),
 * the dynamic loader before it (_dl_start, _dl_start_user), a new thread's
 * entry (glibc's start_thread, called from clone/clone3 whose frame may be
 * listed outer to it; musl's start, thread_start of other libcs), and in
 * the kernel a new task's first return (ret_from_fork) or a kernel thread
 * (kthread) or the idle task (the *startup* and *_start_kernel* entries).
 * A sample whose outermost frame is anything else was cut: perf ran out of
 * copied stack (DWARF), met a function without a frame pointer, or hit a
 * max-stack limit.  Names are compared up to a symbol version ('@').
 * Unresolved frames ("[unknown]") outer to the last named one are left out
 * of that test: a frame-pointer walk often reads one or two garbage return
 * addresses past _start.  An unresolved function of the C library counts as
 * a start frame when it calls into another object (main, a thread's
 * function): a C library stripped of local symbols (Debian sid's) has no
 * name for __libc_start_call_main or start_thread. */
#define PT_FOLD_START_FRAMES                                                             \
    "_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main",   \
        "_start_c", "libc_start_main_stage2", "_dl_start", "_dl_start_user",             \
        "start_thread", "clone", "clone3", "__clone", "__clone3", "__GI___clone",        \
        "__GI___clone3", "thread_start", "ret_from_fork", "ret_from_fork_asm",           \
        "kthread", "secondary_startup_64", "secondary_startup_64_no_verify",             \
        "common_startup_64", "x86_64_start_kernel", "start_kernel",                      \
        "secondary_start_kernel", "__primary_switched"

/* The interpreter's functions the default view keeps all the same: what a
 * Python programmer asks about, not the interpreter's own work.  take_gil:
 * a thread waiting for the GIL (off the CPU: --mode offcpu, wall). */
#define PT_FOLD_KEPT_FRAMES "take_gil"

enum pt_fold_view {
    PT_FOLD_DEFAULT = 0,
    PT_FOLD_INTERNAL = 1,
};

struct pt_fold;

struct pt_fold_options {
    /* Object (dso) base-name prefixes that are the interpreter's, NULL-ended;
     * NULL means the defaults: "python", "libpython", "_perftramp". */
    const char *const *internal_prefixes;
    /* perf script's --max-stack: a sample with this many frames may have had
     * more, so it counts as truncated.  0: no limit to know of. */
    size_t max_stack;
    /* Only samples this long after the first one: [start_ns, end_ns), end_ns
     * 0 for no end (samples need -F time for it). */
    uint64_t start_ns, end_ns;
    /* Keep, for pt_fold_each_frame, every frame name's object and address. */
    int frames;
    /* Off-CPU time: a PT_FOLD_SWITCH_EVENT sample (a thread leaving the
     * CPU) is not counted as it comes, but when perf script's side-band
     * line "PERF_RECORD_SWITCH IN" (--show-switch-events) says its thread
     * runs again: as one sample of event PT_FOLD_OFFCPU_EVENT whose period
     * is the time between the two (ns), its stack ending in
     * PT_FOLD_OFFCPU_FRAME, or PT_FOLD_PREEMPTED_FRAME when its switch-out
     * record says "preempt" (waits.h).  A wait still open at the end of the
     * input is not counted. */
    int offcpu;
};

/* A new folder (options may be NULL: the defaults); 0 or -ENOMEM. */
int pt_fold_new(struct pt_fold **out, const struct pt_fold_options *options);

/* Feeds the next len bytes of perf script output (any split). 0 or -errno. */
int pt_fold_feed(struct pt_fold *fold, const char *data, size_t len);

/* Ends the input (a last sample without a blank line after it counts). */
int pt_fold_finish(struct pt_fold *fold);

/* A distinct stack of a view, of one event and thread: how many samples
 * had it and their periods' sum (perf's estimate of the event's count: for
 * cpu-clock, nanoseconds; 1 a sample when perf script gave no period).  The
 * event's name ("" when the header gave none) is without perf's modifiers
 * ("cpu-clock", not "cpu-clock:pppH"); pid and tid are -1 when unknown. */
struct pt_fold_stack {
    const char *event, *stack;
    size_t event_len, len;
    long pid, tid;
    uint64_t count, period;
};

/* Calls fn for every distinct stack of `view`, in no set order.  The
 * counts of either view add up to pt_fold_samples(). */
void pt_fold_each(const struct pt_fold *fold, enum pt_fold_view view,
                  void (*fn)(void *ctx, const struct pt_fold_stack *stack), void *ctx);

/* With options.frames: every frame name of the stacks (as it is in them,
 * the kernel's suffix included) with the object perf gave the first frame
 * of that name ("" for none) and that frame's function start address (its
 * address less perf's offset; 0 when unknown). */
void pt_fold_each_frame(const struct pt_fold *fold,
                        void (*fn)(void *ctx, const char *name, size_t len,
                                   const char *dso, size_t dso_len, uint64_t address),
                        void *ctx);

/* The times of the first and the last sample (perf's clock, ns; 0 when the
 * input had no times), whatever the window. */
void pt_fold_times(const struct pt_fold *fold, uint64_t *first_ns, uint64_t *last_ns);

/* Samples read (in the window), and how many of them were truncated. */
uint64_t pt_fold_samples(const struct pt_fold *fold);
uint64_t pt_fold_truncated(const struct pt_fold *fold);

/* Samples and truncated samples of each process, in the order they were
 * first seen (pid -1: samples whose header gave no pid); valid until the
 * next feed or free. */
struct pt_fold_process {
    long pid;
    uint64_t samples, truncated;
};
const struct pt_fold_process *pt_fold_processes(const struct pt_fold *fold,
                                                size_t *count);

void pt_fold_free(struct pt_fold *fold);

#endif
