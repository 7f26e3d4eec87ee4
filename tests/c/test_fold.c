/* Folding perf script output: samples become outermost-first stacks, the
 * interpreter's frames between Python frames go (unless kept), C extension
 * frames stay, inlined frames follow their object, input may arrive in any
 * pieces. */
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
collect(void *ctx, const char *stack, size_t len, uint64_t count)
{
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

static void
run(int keep_internal, size_t piece, struct seen *out)
{
    struct pt_fold *fold = NULL;
    struct pt_fold_options opt = {.keep_internal = keep_internal};
    CHECK_EQ_INT(pt_fold_new(&fold, &opt), 0);
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
    memset(out, 0, sizeof(*out));
    pt_fold_each(fold, collect, out);
    pt_fold_free(fold);
}

/* Folds `script` in one piece with the default options into *out. */
static void
fold_whole(const char *script, size_t len, struct seen *out)
{
    struct pt_fold *fold = NULL;
    CHECK_EQ_INT(pt_fold_new(&fold, NULL), 0);
    CHECK_EQ_INT(pt_fold_feed(fold, script, len), 0);
    CHECK_EQ_INT(pt_fold_finish(fold), 0);
    memset(out, 0, sizeof(*out));
    pt_fold_each(fold, collect, out);
    pt_fold_free(fold);
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
    CHECK_EQ_INT(count_of(&s, "sh:rm -rf;main;f:g?h"), 1);
    CHECK_EQ_INT(count_of(&s, ":lead?;a?"), 1);
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
        "\t7f0000000525 py::<module>:/a.py (/tmp/jitted-perftramp-x/jitted-9470-0.so)\n";
    struct seen s;
    fold_whole(script, sizeof(script) - 1, &s);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(count_of(&s,
                          "python;py::<module>:/a.py;ext_call;ext_inner;py::bar:/a.py;"
                          "py::foo:/a.py;_PyEval_EvalFrameDefault"),
                 1);
}

int
main(void)
{
    test_separators_in_names();
    test_inlined_group_without_its_object();
    struct seen s;
    for (size_t piece = 1; piece <= 4096; piece *= 4) {
        run(0, piece, &s);
        CHECK_EQ_INT(s.n, 3);
        CHECK_EQ_INT(count_of(&s, "python;main;PyEval_EvalCode;py::<module>:/app.py;"
                                  "py::bar:/app.py;py::foo:/app.py;"
                                  "_PyEval_EvalFrameDefault;_PyLong_Add"),
                     1);
        CHECK_EQ_INT(count_of(&s, "python;py::<module>:/app.py;py::foo:/app.py;"
                                  "_PyEval_EvalFrameDefault;compress"),
                     2);
        CHECK_EQ_INT(count_of(&s, "my app;work:more"), 1);
    }
    run(1, 4096, &s);
    CHECK_EQ_INT(count_of(&s,
                          "python;main;PyEval_EvalCode;py::<module>:/app.py;[unknown];"
                          "py::bar:/app.py;_PyEval_EvalFrameDefault;"
                          "_PyFunction_Vectorcall;_PyEval_Vector;pt_eval_frame;"
                          "py::foo:/app.py;_PyEval_EvalFrameDefault;_PyLong_Add"),
                 1);
    /* A C extension between Python frames stays. */
    CHECK_EQ_INT(count_of(&s, "python;py::<module>:/app.py;_PyEval_EvalFrameDefault;"
                              "py::foo:/app.py;_PyEval_EvalFrameDefault;compress"),
                 2);
    return TEST_REPORT("test_fold");
}
