/* Folding perf script output: samples become outermost-first stacks, in
 * two views at once; in the default one the interpreter's frames between
 * Python frames and inner to the innermost go, C extension frames and the
 * kernel's stay; kernel frames are marked, cut stacks get [truncated];
 * inlined frames follow their object, input may arrive in any pieces. */
#include "fold.h"
#include "testhelp.h"

#include <stdio.h>
#include <string.h>

static const char SCRIPT[] =
    "python 4242 \n"
    "\t    5a1c _PyLong_Add (/usr/lib/libpython3.11.so.1.0)\n"
    "\t    5a00 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
    "\t7f0000001005 py::foo:/app.py (/tmp/perf-4242.map)\n"
    "\t    1234 pt_eval_frame "
    "(/venv/lib/perftramp/_perftramp.cpython-311-x86_64-linux-gnu.so)\n"
    "\t    6000 _PyEval_Vector (inlined)\n"
    "\t    6000 _PyFunction_Vectorcall (/usr/lib/libpython3.11.so.1.0)\n"
    "\t    5a00 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
    "\t7f0000001015 py::bar:/app.py (/tmp/perf-4242.map)\n"
    "\t    9999 [unknown] ([unknown])\n"
    "\t7f0000001025 py::<module>:/app.py (/tmp/perf-4242.map)\n"
    "\t    7000 PyEval_EvalCode (/usr/lib/libpython3.11.so.1.0)\n"
    "\t    8000 main (/usr/bin/python3.11)\n"
    "\t    8100 __libc_start_main@@GLIBC_2.34 (/usr/lib/libc.so.6)\n"
    "\t    8200 _start (/usr/bin/python3.11)\n"
    "\n"
    "python 4242 \n"
    "\t    3000 compress+0x1f (/venv/lib/zlib_ext.so)\n"
    "\t    5a00 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
    "\t7f0000001005 py::foo:/app.py (/tmp/perf-4242.map)\n"
    "\t    5a00 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
    "\t7f0000001025 py::<module>:/app.py (/tmp/perf-4242.map)\n"
    "\n"
    "my app 17 \n"
    "\t    10 work;more (/usr/bin/tool)\n";

struct seen {
    char stacks[8][512];
    unsigned long long counts[8];
    int n;
};

static void
collect(void *ctx, const struct pt_fold_stack *stack_of)
{
    const char *stack = stack_of->stack;
    size_t len = stack_of->len;
    uint64_t count = stack_of->count;
    struct seen *s = ctx;
    if (s->n < 8 && len < 512) {
        memcpy(s->stacks[s->n], stack, len);
        s->stacks[s->n][len] = '\0';
        s->counts[s->n] = count;
        s->n++;
    }
}

static unsigned long long
count_of(const struct seen *s, const char *stack)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->stacks[i], stack) == 0) {
            return s->counts[i];
        }
    }
    return 0;
}

/* Folds SCRIPT fed in pieces of `piece` bytes, its second sample twice;
 * *out gets `view`. */
static void
run(enum pt_fold_view view, size_t piece, struct seen *out)
{
    struct pt_fold *fold = NULL;
    CHECK_EQ_INT(pt_fold_new(&fold, NULL), 0);
    size_t len = strlen(SCRIPT);
    for (size_t at = 0; at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        CHECK_EQ_INT(pt_fold_feed(fold, SCRIPT + at, n), 0);
    }
    /* the second sample again, to be counted twice */
    const char *again = strstr(SCRIPT, "python 4242 \n\t    3000");
    size_t again_len = (size_t)(strstr(again, "my app") - again);
    CHECK_EQ_INT(pt_fold_feed(fold, again, again_len), 0);
    CHECK_EQ_INT(pt_fold_finish(fold), 0);
    CHECK_EQ_INT(pt_fold_samples(fold), 4);
    /* the second (twice) and third samples have no start frame */
    CHECK_EQ_INT(pt_fold_truncated(fold), 3);
    memset(out, 0, sizeof(*out));
    pt_fold_each(fold, view, collect, out);
    pt_fold_free(fold);
}

/* Folds `script` in one piece with `options` (NULL: the defaults); *out
 * and *internal (when not NULL) get the two views; returns the number of
 * truncated samples. */
static unsigned long long
fold_views(const char *script, size_t len, const struct pt_fold_options *options,
           struct seen *out, struct seen *internal)
{
    struct pt_fold *fold = NULL;
    CHECK_EQ_INT(pt_fold_new(&fold, options), 0);
    CHECK_EQ_INT(pt_fold_feed(fold, script, len), 0);
    CHECK_EQ_INT(pt_fold_finish(fold), 0);
    memset(out, 0, sizeof(*out));
    pt_fold_each(fold, PT_FOLD_DEFAULT, collect, out);
    if (internal != NULL) {
        memset(internal, 0, sizeof(*internal));
        pt_fold_each(fold, PT_FOLD_INTERNAL, collect, internal);
    }
    unsigned long long truncated = pt_fold_truncated(fold);
    pt_fold_free(fold);
    return truncated;
}

static void
fold_whole(const char *script, size_t len, struct seen *out)
{
    fold_views(script, len, NULL, out, NULL);
}

/* A ';' in the command name (prctl(PR_SET_NAME) or a script called
 * "a;b") or a control byte in any frame must not add or cut frames. */
static void
test_separators_in_names(void)
{
    static const char script[] = "sh;rm -rf 9 \n"
                                 "\t    10 f;g\rh (/bin/x)\n"
                                 "\t    20 main (/bin/x)\n"
                                 "\n"
                                 ";lead\x01 10 \n"
                                 "\t    20 a\x7f (/bin/x)\n";
    struct seen s;
    fold_whole(script, sizeof(script) - 1, &s);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(count_of(&s, "sh:rm -rf;[truncated];main;f:g?h"), 1);
    CHECK_EQ_INT(count_of(&s, ":lead?;[truncated];a?"), 1);
}

/* perf 7.x lists every function at an address as inlined when they all
 * were, the one they were inlined into too (Debian's python3.14): such a
 * group has no frame of its own object after it, only the caller's.  It
 * goes with the interpreter's frames between Python frames; an inlined
 * frame followed by its object at the same address still takes it. */
static void
test_inlined_group_without_its_object(void)
{
    static const char script[] =
        "python 9470 \n"
        "\t    4428 _PyEval_EvalFrameDefault (inlined)\n"
        "\t7f0000000645 py::foo:/a.py (/tmp/jitted-perftramp-x/jitted-9470-2.so)\n"
        "\t7f00000099ae eval_frame_slow "
        "(/venv/_perftramp.cpython-314-x86_64-linux-gnu.so)\n"
        "\t    5cdf _PyEval_Vector (inlined)\n"
        "\t    5cdf _PyFunction_Vectorcall (/usr/bin/python3.14)\n"
        "\t    4472 PyObject_Vectorcall (inlined)\n"
        "\t    4472 _PyEval_EvalFrameDefault (inlined)\n"
        "\t7f00000005e5 py::bar:/a.py (/tmp/jitted-perftramp-x/jitted-9470-1.so)\n"
        "\t    3000 ext_inner (inlined)\n"
        "\t    3000 ext_call (/venv/ext.so)\n"
        "\t7f0000000525 py::<module>:/a.py (/tmp/jitted-perftramp-x/jitted-9470-0.so)\n"
        "\t     100 _start (/usr/bin/python3.14)\n";
    struct seen s, all;
    fold_views(script, sizeof(script) - 1, NULL, &s, &all);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(count_of(&s, "python;_start;py::<module>:/a.py;ext_call;ext_inner;"
                              "py::bar:/a.py;py::foo:/a.py"),
                 1);
    CHECK_EQ_INT(count_of(&all,
                          "python;_start;py::<module>:/a.py;ext_call;ext_inner;"
                          "py::bar:/a.py;_PyEval_EvalFrameDefault;PyObject_Vectorcall;"
                          "_PyFunction_Vectorcall;_PyEval_Vector;eval_frame_slow;"
                          "py::foo:/a.py;_PyEval_EvalFrameDefault"),
                 1);
}

/* Kernel frames get _[k], by their object or (a module) their address,
 * and stay in the default view inner to a Python frame, as the native
 * frames of other libraries do, while the interpreter's own frames there
 * go: that is the native time a report must show. */
static void
test_kernel_and_native_frames_inner_to_python(void)
{
    static const char script[] =
        "python 7 \n"
        "\tffffffff817e39b5 ext4_file_getattr ([kernel.kallsyms])\n"
        "\tffffffffc0a01234 nft_do_chain ([nf_tables])\n"
        "\tffffffff81000130 entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])\n"
        "\t    f786a __GI___fstatat64 (/usr/lib/libc.so.6)\n"
        "\t    1234 os_stat_impl (/usr/lib/libpython3.11.so.1.0)\n"
        "\t    5a00 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
        "\t7f0000001005 py::f:/a.py (/tmp/perf-7.map)\n"
        "\t    8200 _start (/usr/bin/python3.11)\n"
        "\n"
        "python 7 \n"
        "\t    4000 PyMem_Malloc (/usr/lib/libpython3.11.so.1.0)\n"
        "\t    3000 DOUBLE_add (/venv/numpy/_multiarray_umath.so)\n"
        "\t    2000 PyObject_Call (/usr/lib/libpython3.11.so.1.0)\n"
        "\t    5a00 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
        "\t7f0000001005 py::f:/a.py (/tmp/perf-7.map)\n"
        "\t    8200 _start (/usr/bin/python3.11)\n"
        "\n"
        "python 7 \n"
        "\t    4fce [unknown] (/usr/lib/libz.so.1.2.13)\n"
        "\t    70bb deflate (/usr/lib/libz.so.1.2.13)\n"
        "\t    7777 [unknown] (/usr/bin/python3.14)\n"
        "\t7f0000001005 py::f:/a.py (/tmp/perf-7.map)\n"
        "\t    8200 _start (/usr/bin/python3.11)\n"
        "\n"
        "python 7 \n"
        "\tffffffffffffffff already_k_[k] ([kernel.kallsyms])\n"
        "\tffffffffffffffff [unknown] ([unknown])\n"
        "\t    8200 _start (/usr/bin/python3.11)\n";
    struct seen s, all;
    CHECK_EQ_INT(fold_views(script, sizeof(script) - 1, NULL, &s, &all), 0);
    CHECK_EQ_INT(count_of(&s, "python;_start;py::f:/a.py;__GI___fstatat64;"
                              "entry_SYSCALL_64_after_hwframe_[k];nft_do_chain_[k];"
                              "ext4_file_getattr_[k]"),
                 1);
    CHECK_EQ_INT(count_of(&s, "python;_start;py::f:/a.py;DOUBLE_add"), 1);
    CHECK_EQ_INT(count_of(&s, "python;_start;[unknown];already_k_[k]"), 1);
    /* an unresolved function is named after its object */
    CHECK_EQ_INT(count_of(&s, "python;_start;py::f:/a.py;deflate;[libz.so.1.2.13]"), 1);
    CHECK_EQ_INT(count_of(&all, "python;_start;py::f:/a.py;[python3.14];deflate;"
                                "[libz.so.1.2.13]"),
                 1);
    CHECK_EQ_INT(count_of(&all, "python;_start;py::f:/a.py;_PyEval_EvalFrameDefault;"
                                "PyObject_Call;DOUBLE_add;PyMem_Malloc"),
                 1);
}

/* A stack is whole when its outermost named frame is a thread's start
 * (unresolved garbage past it does not matter); otherwise, or when it is
 * as deep as perf script's --max-stack, it is cut: [truncated] after the
 * command, in both views, and counted once per sample. */
static void
test_truncated(void)
{
    static const char script[] =
        /* whole: garbage after _start */
        "python 1 \n"
        "\t    10 main (/usr/bin/python3)\n"
        "\t    20 _start (/usr/bin/python3)\n"
        "\t62696c2f766e6579 [unknown] ([unknown])\n"
        "\n"
        /* whole: a thread, glibc's clone3 with a symbol version */
        "python 2 \n"
        "\t    10 worker (/lib/x.so)\n"
        "\t    20 start_thread (/usr/lib/libc.so.6)\n"
        "\t    30 clone3@GLIBC_PRIVATE (/usr/lib/libc.so.6)\n"
        "\n"
        /* cut: DWARF ran out of copied stack */
        "python 3 \n"
        "\t    10 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
        "\t7f0000001005 py::down:/a.py (/tmp/perf-3.map)\n"
        "\t    10 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)\n"
        "\tffffffffffffffff [unknown] ([unknown])\n"
        "\n"
        /* cut: no frame at all */
        "python 4 \n"
        "\n"
        /* cut: only unresolved frames */
        "python 5 \n"
        "\t    10 [unknown] ([unknown])\n"
        "\n"
        /* cut by --max-stack 3, although it ends at _start */
        "python 6 \n"
        "\t    10 a (/bin/x)\n"
        "\t    20 b (/bin/x)\n"
        "\t    30 _start (/bin/x)\n";
    struct pt_fold_options limited = {.max_stack = 3};
    struct seen s, all;
    CHECK_EQ_INT(fold_views(script, sizeof(script) - 1, NULL, &s, &all), 3);
    CHECK_EQ_INT(count_of(&s, "python;[unknown];_start;main"), 1);
    CHECK_EQ_INT(count_of(&s, "python;clone3@GLIBC_PRIVATE;start_thread;worker"), 1);
    /* frames outer to the outermost Python frame stay */
    CHECK_EQ_INT(count_of(&s, "python;[truncated];[unknown];_PyEval_EvalFrameDefault;"
                              "py::down:/a.py"),
                 1);
    CHECK_EQ_INT(count_of(&all, "python;[truncated];[unknown];_PyEval_EvalFrameDefault;"
                                "py::down:/a.py;_PyEval_EvalFrameDefault"),
                 1);
    CHECK_EQ_INT(count_of(&s, "python;[truncated]"), 1);
    CHECK_EQ_INT(count_of(&s, "python;[truncated];[unknown]"), 1);
    CHECK_EQ_INT(count_of(&s, "python;_start;b;a"), 1);
    /* every sample of 3 frames or more, and the 2 cut ones with fewer */
    CHECK_EQ_INT(fold_views(script, sizeof(script) - 1, &limited, &s, NULL), 6);
    CHECK_EQ_INT(count_of(&s, "python;[truncated];_start;b;a"), 1);
}

/* Both views of many distinct stacks: the tables grow, every count adds
 * up to the samples in either view. */
static uint64_t sum_counts;

static void
add_count(void *ctx, const struct pt_fold_stack *stack)
{
    (void)ctx;
    sum_counts += stack->count;
}

static void
test_many_stacks(void)
{
    struct pt_fold *fold = NULL;
    CHECK_EQ_INT(pt_fold_new(&fold, NULL), 0);
    char sample[256];
    for (int i = 0; i < 5000; i++) {
        int n =
            snprintf(sample, sizeof(sample),
                     "python 1 \n\t 10 leaf%d (/bin/x)\n"
                     "\t 20 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so)\n"
                     "\t 30 py::f%d:/a.py (/tmp/perf-1.map)\n\t 40 _start (/bin/x)\n\n",
                     i % 3000, i % 7);
        CHECK_EQ_INT(pt_fold_feed(fold, sample, (size_t)n), 0);
    }
    CHECK_EQ_INT(pt_fold_finish(fold), 0);
    CHECK_EQ_INT(pt_fold_samples(fold), 5000);
    CHECK_EQ_INT(pt_fold_truncated(fold), 0);
    for (int v = PT_FOLD_DEFAULT; v <= PT_FOLD_INTERNAL; v++) {
        sum_counts = 0;
        pt_fold_each(fold, (enum pt_fold_view)v, add_count, NULL);
        CHECK_EQ_INT(sum_counts, 5000);
    }
    pt_fold_free(fold);
}

/* A folder with `options` (NULL: the defaults) fed `len` bytes of
 * `script`, finished. */
static struct pt_fold *
folded_with(const char *script, size_t len, const struct pt_fold_options *options)
{
    struct pt_fold *fold = NULL;
    CHECK_EQ_INT(pt_fold_new(&fold, options), 0);
    CHECK_EQ_INT(pt_fold_feed(fold, script, len), 0);
    CHECK_EQ_INT(pt_fold_finish(fold), 0);
    return fold;
}

static struct pt_fold *
folded(const char *script, size_t len)
{
    return folded_with(script, len, NULL);
}

/* "comm pid/tid" headers (perf script -F comm,pid,tid,...): samples and cut
 * samples counted per process, in the order first seen; a lone tid ("comm
 * tid") has no pid (-1). */
static void
test_processes(void)
{
    static const char script[] =
        "python 10/10 \n\t 1 f (/bin/x)\n\t 2 _start (/bin/x)\n\n"
        "python 20/21 \n\t 1 f (/bin/x)\n\n"
        "python 10/11 \n\t 1 f (/bin/x)\n\t 2 clone3 (/lib/libc.so.6)\n\n"
        "python 20/20 \n\t 1 f (/bin/x)\n\t 2 _start (/bin/x)\n\n"
        "py thon 7 \n\t 1 f (/bin/x)\n\n"
        "python x/1 \n\t 1 f (/bin/x)\n\n";
    struct pt_fold *fold = folded(script, sizeof(script) - 1);
    size_t n = 0;
    const struct pt_fold_process *p = pt_fold_processes(fold, &n);
    CHECK_EQ_INT(n, 3);
    CHECK(p[0].pid == 10 && p[0].samples == 2 && p[0].truncated == 0);
    CHECK(p[1].pid == 20 && p[1].samples == 2 && p[1].truncated == 1);
    CHECK(p[2].pid == -1 && p[2].samples == 2 && p[2].truncated == 2);
    pt_fold_free(fold);
}

/* -F ...,time,period,event headers: stacks told apart by event and
 * thread, periods summed, modifiers dropped from the event's name (not a
 * tracepoint's system), a window in time since the first sample, and each
 * frame's object and function address (ip less perf's offset). */
struct labelled {
    uint64_t count[4], period[4];
};

static void
by_event(void *ctx, const struct pt_fold_stack *s)
{
    struct labelled *out = ctx;
    static const char *const events[] = {"cpu-clock", "page-faults", "sched:sched_switch",
                                         ""};
    for (int i = 0; i < 4; i++) {
        if (strlen(events[i]) == s->event_len &&
            memcmp(s->event, events[i], s->event_len) == 0) {
            out->count[i] += s->count;
            out->period[i] += s->period;
            CHECK(s->pid == 10 && (s->tid == 10 || s->tid == 11));
            CHECK(s->len >= 8 && memcmp(s->stack, "my app;", 7) == 0);
        }
    }
}

static int frame_seen;

static void
frame_of(void *ctx, const char *name, size_t len, const char *dso, size_t dso_len,
         uint64_t address)
{
    (void)ctx;
    if (len == 1 && name[0] == 'f') {
        CHECK(dso_len == 6 && memcmp(dso, "/bin/x", 6) == 0);
        CHECK_EQ_INT(address, 0x1000);
        frame_seen++;
    }
}

static void
test_events_periods_and_window(void)
{
    static const char script[] =
        "my app 10/10   100.000000000:    1000000 cpu-clock:pppH: \n"
        "\t 101f f+0x1f (/bin/x)\n\t 2 _start (/bin/x)\n\n"
        "my app 10/11   100.500000:    1000000 cpu-clock:pppH: \n"
        "\t 1010 f+0x10 (/bin/x)\n\t 2 _start (/bin/x)\n\n"
        "my app 10/10   101.000000:         7 page-faults:u: \n"
        "\t 1001 f+0x1 (/bin/x)\n\t 2 _start (/bin/x)\n\n"
        "my app 10/10   102.000000:         1 sched:sched_switch: \n"
        "\t 1000 f (/bin/x)\n\t 2 _start (/bin/x)\n\n";
    struct pt_fold_options options = {.frames = 1};
    struct pt_fold *fold = folded_with(script, sizeof(script) - 1, &options);
    struct labelled got = {{0}, {0}};
    pt_fold_each(fold, PT_FOLD_DEFAULT, by_event, &got);
    CHECK_EQ_INT(got.count[0], 2);
    CHECK_EQ_INT(got.period[0], 2000000);
    CHECK_EQ_INT(got.count[1], 1);
    CHECK_EQ_INT(got.period[1], 7);
    CHECK_EQ_INT(got.count[2], 1);
    CHECK_EQ_INT(got.count[3], 0);
    uint64_t first = 0, last = 0;
    pt_fold_times(fold, &first, &last);
    CHECK_EQ_INT(first, 100000000000ull);
    CHECK_EQ_INT(last, 102000000000ull);
    pt_fold_each_frame(fold, frame_of, NULL);
    CHECK_EQ_INT(frame_seen, 1);
    pt_fold_free(fold);

    /* [0.5 s, 2 s): the second and third samples; a time before the first
     * counts as the first's */
    struct pt_fold_options window = {.start_ns = 500000000, .end_ns = 2000000000};
    fold = folded_with(script, sizeof(script) - 1, &window);
    CHECK_EQ_INT(pt_fold_samples(fold), 2);
    memset(&got, 0, sizeof(got));
    pt_fold_each(fold, PT_FOLD_INTERNAL, by_event, &got);
    CHECK_EQ_INT(got.count[0], 1);
    CHECK_EQ_INT(got.count[1], 1);
    pt_fold_free(fold);
}

/* A header from someone else's recording: an event name with control
 * bytes and spaces keeps none of them; a period beyond 64 bits is capped at
 * INT64_MAX, and sums stay there. */
static void
check_hostile(void *ctx, const struct pt_fold_stack *s)
{
    (void)ctx;
    for (size_t i = 0; i < s->event_len; i++) {
        CHECK(s->event[i] > 0x20 && s->event[i] < 0x7f);
    }
    CHECK_EQ_INT(s->period, INT64_MAX);
    CHECK(s->pid == 1 && s->tid == 2);
}

static void
test_hostile_header(void)
{
    static const char script[] =
        "x 1/2 5.0: 99999999999999999999999 e\x1b[2J\x7f\xc2\x9b:u: \n"
        "\t 1 f (/bin/x)\n\n"
        "x 1/2 6.0: 9223372036854775807 e\x1b[2J\x7f\xc2\x9b:u: \n"
        "\t 1 f (/bin/x)\n\n";
    struct pt_fold *fold = folded(script, sizeof(script) - 1);
    CHECK_EQ_INT(pt_fold_samples(fold), 2);
    pt_fold_each(fold, PT_FOLD_DEFAULT, check_hostile, NULL);
    pt_fold_free(fold);
}

/* Off-CPU waits: a sched:sched_switch sample opens its thread's wait, the
 * thread's PERF_RECORD_SWITCH IN closes it, counted as one "offcpu" sample
 * whose period is the time between, its stack ending in [off-cpu]; a wait
 * never closed is not counted, nor one of another thread's switch-in; the
 * window takes a wait by its start. */
struct waited {
    uint64_t count, period, cpu;
    int ends_off_cpu;
};

static void
off_cpu_of(void *ctx, const struct pt_fold_stack *s)
{
    struct waited *out = ctx;
    if (s->event_len == 6 && memcmp(s->event, "offcpu", 6) == 0) {
        out->count += s->count;
        out->period += s->period;
        static const char preempted[] = ";[off-cpu: preempted]";
        size_t p = sizeof(preempted) - 1;
        out->ends_off_cpu =
            s->len > p && memcmp(s->stack + s->len - p, preempted, p) == 0;
        CHECK(s->pid == 10 && s->tid == 11);
    }
    else {
        out->cpu += s->count;
    }
}

static void
test_off_cpu_waits(void)
{
    static const char script[] =
        "app 10/11 100.000000: 1 sched:sched_switch: \n"
        "\t 1 schedule ([kernel.kallsyms])\n\t 2 py::wait_io:/a.py (/tmp/perf-10.map)\n"
        "\t 3 _start (/bin/x)\n\n"
        "app 10/11 100.000100: PERF_RECORD_SWITCH OUT preempt \n"
        "app 10/12 100.200000: PERF_RECORD_SWITCH IN \n"
        "app 10/11 100.250000: 1001001 cpu-clock: \n\t 2 py::crunch:/a.py "
        "(/tmp/perf-10.map)\n"
        "\t 3 _start (/bin/x)\n\n"
        "app 10/11 100.500000: PERF_RECORD_SWITCH_CPU_WIDE IN  prev pid/tid: 0/0 \n"
        "app 10/11 101.000000: 1 sched:sched_switch: \n"
        "\t 1 schedule ([kernel.kallsyms])\n\t 3 _start (/bin/x)\n\n";
    struct pt_fold_options options = {.offcpu = 1};
    struct pt_fold *fold = folded_with(script, sizeof(script) - 1, &options);
    struct waited got = {0, 0, 0, 0};
    pt_fold_each(fold, PT_FOLD_DEFAULT, off_cpu_of, &got);
    CHECK_EQ_INT(got.count, 1);
    CHECK_EQ_INT(got.period, 500000000);
    CHECK(got.ends_off_cpu);
    CHECK_EQ_INT(got.cpu, 1);
    CHECK_EQ_INT(pt_fold_samples(fold), 2);
    pt_fold_free(fold);

    /* without the option, a switch-out is a sample like any other */
    fold = folded(script, sizeof(script) - 1);
    CHECK_EQ_INT(pt_fold_samples(fold), 3);
    pt_fold_free(fold);

    /* a window from 0.1 s on: the wait began before it, its part inside
     * counts */
    struct pt_fold_options late = {.offcpu = 1, .start_ns = 100000000};
    fold = folded_with(script, sizeof(script) - 1, &late);
    CHECK_EQ_INT(pt_fold_samples(fold), 2);
    memset(&got, 0, sizeof(got));
    pt_fold_each(fold, PT_FOLD_DEFAULT, off_cpu_of, &got);
    CHECK_EQ_INT(got.period, 400000000);
    pt_fold_free(fold);
}

/* Off-CPU edges: a plain wait ends in [off-cpu]; a second switch-out
 * replaces a wait never closed; a switch-in of another process's thread
 * with a tid given again drops the old wait; the idle task (tid 0) opens
 * none; a command that holds the record's name is a sample's header; many
 * threads' waits at once are each found. */
struct wait_seen {
    uint64_t waits, period, plain;
};

static void
wait_of(void *ctx, const struct pt_fold_stack *s)
{
    struct wait_seen *out = ctx;
    if (s->event_len == 6 && memcmp(s->event, "offcpu", 6) == 0) {
        out->waits += s->count;
        out->period += s->period;
        out->plain +=
            s->len > 10 && memcmp(s->stack + s->len - 10, ";[off-cpu]", 10) == 0;
    }
}

static void
test_off_cpu_edges(void)
{
    static const char script[] =
        "a 1/2 10.0: 1 sched:sched_switch: \n\t 1 f (/bin/x)\n\n"
        "a 1/2 11.0: 1 sched:sched_switch: \n\t 1 g (/bin/x)\n\n"
        "a 1/2 11.5: PERF_RECORD_SWITCH IN \n"
        "b 1/3 12.0: 1 sched:sched_switch: \n\t 1 h (/bin/x)\n\n"
        "c 9/3 13.0: PERF_RECORD_SWITCH IN \n"
        "swapper 0/0 14.0: 1 sched:sched_switch: \n\t 1 idle ([kernel.kallsyms])\n\n"
        "swapper 0/0 15.0: PERF_RECORD_SWITCH IN \n"
        "x PERF_RECORD_SWITCH IN 1/4 16.0: 1 cpu-clock: \n\t 1 k (/bin/x)\n\n";
    struct pt_fold_options options = {.offcpu = 1};
    struct pt_fold *fold = folded_with(script, sizeof(script) - 1, &options);
    struct wait_seen got = {0, 0, 0};
    pt_fold_each(fold, PT_FOLD_DEFAULT, wait_of, &got);
    CHECK_EQ_INT(got.waits, 1);
    CHECK_EQ_INT(got.period, 500000000);
    CHECK_EQ_INT(got.plain, 1);
    /* the wait and the command's sample */
    CHECK_EQ_INT(pt_fold_samples(fold), 2);
    pt_fold_free(fold);

    char many[64 * 1024];
    size_t len = 0;
    for (int tid = 1; tid <= 300; tid++) {
        len += (size_t)snprintf(
            many + len, sizeof(many) - len,
            "p 1/%d 1.%03d: 1 sched:sched_switch: \n\t 1 f (/bin/x)\n\n", tid, tid);
    }
    for (int tid = 300; tid >= 1; tid -= 2) {
        len += (size_t)snprintf(many + len, sizeof(many) - len,
                                "p 1/%d 2.000: PERF_RECORD_SWITCH IN \n", tid);
    }
    fold = folded_with(many, len, &options);
    memset(&got, 0, sizeof(got));
    pt_fold_each(fold, PT_FOLD_DEFAULT, wait_of, &got);
    CHECK_EQ_INT(got.waits, 150);
    pt_fold_free(fold);
}

/* The default view drops the interpreter's frames inner to the innermost
 * Python frame, but keeps take_gil (a clone's name too): a wait for the GIL
 * is seen as such. */
static void
test_take_gil_is_kept(void)
{
    static const char script[] = "python 1/1 \n"
                                 "\t 1 futex_wait ([kernel.kallsyms])\n"
                                 "\t 2 take_gil.lto_priv.0 (/usr/lib/libpython3.12.so)\n"
                                 "\t 3 PyEval_RestoreThread (/usr/lib/libpython3.12.so)\n"
                                 "\t 4 py::spin:/a.py (/tmp/perf-1.map)\n"
                                 "\t 5 _start (/bin/python3.12)\n\n";
    struct seen out;
    fold_whole(script, sizeof(script) - 1, &out);
    CHECK_EQ_INT(out.n, 1);
    CHECK(strcmp(out.stacks[0],
                 "python;_start;py::spin:/a.py;take_gil.lto_priv.0;futex_wait_[k]") == 0);
}

/* A C library stripped of local symbols: its unnamed function outermost,
 * calling into another object, is a thread's start (whole: main's caller,
 * start_thread under clone3); one with only the kernel inner to it, or
 * another library's, is not (cut). */
static void
test_stripped_c_library_start(void)
{
    static const char script[] =
        "python 1/1 \n\t 1 py::f:/a.py (/tmp/perf-1.map)\n\t 2 Py_BytesMain "
        "(/lib/libpy.so)\n"
        "\t 3 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\t 4 [unknown] "
        "([unknown])\n\n"
        "python 1/1 \n\t 1 py::f:/a.py (/tmp/perf-1.map)\n"
        "\t 3 [unknown] (/usr/lib/libz.so.1)\n\n"
        "python 1/1 \n\t ffffffff81000130 entry_SYSCALL_64 ([kernel.kallsyms])\n"
        "\t 3 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\n"
        "python 1/2 \n\t 1 py::f:/a.py (/tmp/perf-1.map)\n\t 2 [unknown] "
        "(/lib/libpy.so)\n"
        "\t 3 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
        "\t 4 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\n";
    struct pt_fold *fold = folded(script, sizeof(script) - 1);
    CHECK_EQ_INT(pt_fold_samples(fold), 4);
    CHECK_EQ_INT(pt_fold_truncated(fold), 2);
    pt_fold_free(fold);
}

int
main(void)
{
    test_processes();
    test_events_periods_and_window();
    test_hostile_header();
    test_off_cpu_waits();
    test_off_cpu_edges();
    test_take_gil_is_kept();
    test_stripped_c_library_start();
    test_separators_in_names();
    test_inlined_group_without_its_object();
    test_kernel_and_native_frames_inner_to_python();
    test_truncated();
    test_many_stacks();
    struct seen s;
    for (size_t piece = 1; piece <= 4096; piece *= 4) {
        run(PT_FOLD_DEFAULT, piece, &s);
        CHECK_EQ_INT(s.n, 3);
        /* the interpreter's frames inner to foo go with those between */
        CHECK_EQ_INT(count_of(&s, "python;_start;__libc_start_main@@GLIBC_2.34;main;"
                                  "PyEval_EvalCode;py::<module>:/app.py;"
                                  "py::bar:/app.py;py::foo:/app.py"),
                     1);
        /* a C extension's frame inner to foo stays */
        CHECK_EQ_INT(count_of(&s, "python;[truncated];py::<module>:/app.py;"
                                  "py::foo:/app.py;compress"),
                     2);
        CHECK_EQ_INT(count_of(&s, "my app;[truncated];work:more"), 1);
    }
    run(PT_FOLD_INTERNAL, 4096, &s);
    CHECK_EQ_INT(count_of(&s, "python;_start;__libc_start_main@@GLIBC_2.34;main;"
                              "PyEval_EvalCode;py::<module>:/app.py;[unknown];"
                              "py::bar:/app.py;_PyEval_EvalFrameDefault;"
                              "_PyFunction_Vectorcall;_PyEval_Vector;pt_eval_frame;"
                              "py::foo:/app.py;_PyEval_EvalFrameDefault;_PyLong_Add"),
                 1);
    CHECK_EQ_INT(count_of(&s, "python;[truncated];py::<module>:/app.py;"
                              "_PyEval_EvalFrameDefault;py::foo:/app.py;"
                              "_PyEval_EvalFrameDefault;compress"),
                 2);
    return TEST_REPORT("test_fold");
}
