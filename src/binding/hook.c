/*
 * The PEP 523 evaluator: for each Python function call, find (or make) the
 * function's trampoline and run the real evaluator through it, so that the
 * native stack holds one perf-visible address per Python frame.
 *
 * The hook must never fail a call that would have succeeded without it.
 * Anything that goes wrong while making a trampoline (no memory, the map
 * cannot be written) leaves that call running through the next evaluator
 * directly, with any exception we raised cleared.
 */
#include "hook.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct pt_state pt_state;

/* The line make_trampoline() prints, after letting the first-call lock go:
 * writing to sys.stderr may run Python, which may call a fresh function and
 * so take the lock again. */
struct pt_failure_line {
    char text[1024];
};

/* The first failed write (a full filesystem, RLIMIT_FSIZE, a child that
 * cannot create its own file) stops the backend's writing for good, with one
 * line on stderr (into *line, for the caller to print): trying again for
 * every new function would cost system calls and say nothing new.  Stubs are
 * still made and used; what was written stays valid. */
static void
writer_failed(struct pt_backend *backend, int rc, struct pt_failure_line *line)
{
    PT_ADD_RELAXED(backend->write_errors, 1);
    /* Exchanged, so that one line is printed even if two threads fail at
     * once (the first-call lock makes that impossible today). */
    if (PT_EXCHANGE_RELAXED(backend->writer_broken, 1)) {
        return;
    }
    /* Made now: the path belongs to the writer, which close_writers() may
     * free once the lock is let go. */
    snprintf(line->text, sizeof(line->text),
             "perftramp: cannot write %s (%s); functions made from now on "
             "will not be named in perf's output\n",
             backend->info->writer->path(backend->writer_state), strerror(-rc));
}

void
pt_backend_pause(struct pt_backend *backend)
{
    if (backend != NULL && backend->writer_state != NULL &&
        backend->info->writer->pause != NULL) {
        backend->info->writer->pause(backend->writer_state);
    }
}

/* Points *out at the UTF-8 text of a str, without copying where CPython
 * caches it (always for ASCII).  A str holding lone surrogates (a file name
 * decoded with surrogateescape) has no UTF-8 form: *keep then receives a
 * bytes object with them backslash-escaped, for the caller to release. */
static int
utf8_text(PyObject *text, const char **out, size_t *len, PyObject **keep)
{
    *keep = NULL;
    if (text == NULL || !PyUnicode_Check(text)) {
        *out = "?";
        *len = 1;
        return 0;
    }
    if (PyUnicode_IS_COMPACT_ASCII(text)) {
        /* Nearly every name: ASCII is its own UTF-8, read in place. */
        *out = (const char *)PyUnicode_DATA(text);
        *len = (size_t)PyUnicode_GET_LENGTH(text);
        return 0;
    }
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &n);
    if (utf8 == NULL) {
        PyErr_Clear();
        *keep = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
        if (*keep == NULL) {
            return -1;
        }
        utf8 = PyBytes_AS_STRING(*keep);
        n = PyBytes_GET_SIZE(*keep);
    }
    *out = utf8;
    *len = (size_t)n;
    return 0;
}

/* Describes the stub as "py::QUALNAME:FILENAME", the names CPython's own perf
 * support writes. */
static void
describe(struct pt_backend *backend, PyCodeObject *co, void *stub, size_t size,
         struct pt_failure_line *line)
{
    struct pt_name name = {.part = {"py::", NULL, ":", NULL},
                           .len = {PT_LITERAL_LEN("py::"), 0, PT_LITERAL_LEN(":"), 0},
                           .count = 4};
    PyObject *keep_qualname = NULL, *keep_filename = NULL;
    if (utf8_text(pt_code_qualname(co), &name.part[1], &name.len[1], &keep_qualname) !=
            0 ||
        utf8_text(co->co_filename, &name.part[3], &name.len[3], &keep_filename) != 0) {
        PyErr_Clear();
        PT_ADD_RELAXED(backend->write_errors, 1);
    }
    else {
        int rc = backend->info->writer->add(backend->writer_state, (uintptr_t)stub, size,
                                            &name);
        if (rc != 0) {
            writer_failed(backend, rc, line);
        }
    }
    Py_XDECREF(keep_qualname);
    Py_XDECREF(keep_filename);
}

/* Whether pt_code_extra_fast() may be used: cleared if it ever disagrees
 * with the API (see compat.h).  Relaxed: it only ever goes from 1 to 0, and
 * either value gives a correct lookup, so no order with anything is needed. */
static int fast_extra_ok = 1;

/* The code object's trampoline, or NULL: read directly while that is
 * trusted (a first call asks twice; the API costs a thread-state lookup
 * each time), else through the API. */
static void *
read_extra(PyCodeObject *co, Py_ssize_t index)
{
    if (PT_LOAD_RELAXED(fast_extra_ok)) {
        return pt_code_extra_fast(co, index);
    }
    void *extra = NULL;
    if (pt_code_get_extra(co, index, &extra) != 0) {
        PyErr_Clear();
        extra = NULL;
    }
    return extra;
}

/* Serializes first calls, so that threads calling a fresh function at once
 * (free-threaded builds) make one trampoline and one map entry for it, not
 * one each, and first calls with close_writers().  Held only while a
 * trampoline is made. */
static pt_mutex first_call_lock;

void
pt_hook_after_fork_child(void)
{
    pt_mutex_reset_in_child(&first_call_lock);
}

int
pt_hook_stop_first_calls(void)
{
    /* A daemon thread may be waiting, inside make_trampoline() and with the
     * lock held, for a critical section it can no longer get once the
     * interpreter is finalized (threads that attach after that hang
     * forever): waiting for the lock could hang the exit, so this waits for
     * a second at most. */
    for (int i = 0; i < 1000; i++) {
        if (pt_mutex_trylock(&first_call_lock)) {
            return 1;
        }
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    return 0;
}

void
pt_hook_resume_first_calls(void)
{
    pt_mutex_unlock(&first_call_lock);
}

/* Kept out of line: inlined, its locals would make every call through the
 * hook save registers and grow the stack for this rare path. */
__attribute__((noinline, cold)) static pt_trampoline
make_trampoline(struct pt_backend *backend, PyCodeObject *co)
{
    void *stub;
    size_t size;
    /* Only the first byte is set: zeroing all 1 KiB would weigh on every
     * first call, and only a failure writes the line. */
    struct pt_failure_line line;
    line.text[0] = '\0';
    pt_mutex_lock(&first_call_lock);
    /* Another thread may have made it while this one waited. */
    void *made = read_extra(co, backend->extra_index);
    if (made != NULL) {
        pt_mutex_unlock(&first_call_lock);
        return (pt_trampoline)made;
    }
    /* writer_state is NULL once close_writers() has run (under this lock). */
    if (PT_LOAD_RELAXED(backend->arena_broken) || backend->writer_state == NULL ||
        pt_arena_take_stub(backend->arena, &stub, &size) != 0) {
        pt_mutex_unlock(&first_call_lock);
        return NULL;
    }
    if (!PT_LOAD_RELAXED(backend->writer_broken)) {
        describe(backend, co, stub, size, &line);
    }
    if (pt_code_set_extra(co, backend->extra_index, stub) != 0) {
        /* The stub is lost to this code object but stays named and harmless. */
        PyErr_Clear();
    }
    else if (pt_code_extra_fast(co, backend->extra_index) != stub) {
        PT_STORE_RELAXED(fast_extra_ok, 0);
    }
    pt_mutex_unlock(&first_call_lock);
    if (line.text[0] != '\0') {
        /* Saves and restores any exception; a line, not a warning, because
         * this runs inside the eval hook where a warning filter may raise.
         * Written whole ("%s"): PySys_FormatStderr would read a % in the
         * path as a format. */
        PySys_WriteStderr("%s", line.text);
    }
    return (pt_trampoline)stub;
}

/* Everything but the common case: the API lookup when the direct read is
 * not trusted, and making the trampoline on a code object's first call. */
__attribute__((noinline)) static PyObject *
eval_frame_slow(struct pt_backend *backend, PyCodeObject *co, PT_EVAL_PARAMS)
{
    /* The hot path's direct read found nothing: asking the API again would
     * only repeat it, unless the direct read is not trusted. */
    pt_trampoline tramp = NULL;
    if (!PT_LOAD_RELAXED(fast_extra_ok)) {
        tramp = (pt_trampoline)read_extra(co, backend->extra_index);
    }
    /* A first call that throws into a generator may carry a pending
     * exception; naming would disturb it, so that call goes unnamed and the
     * next one makes the trampoline. */
    if (tramp == NULL && !throwflag && !PyErr_Occurred()) {
        tramp = make_trampoline(backend, co);
    }
    _PyFrameEvalFunction next = PT_LOAD_RELAXED(pt_state.next_eval);
    if (tramp != NULL) {
        return PT_CALL_TRAMPOLINE(tramp, next);
    }
    return next(PT_EVAL_ARGS);
}

/* The hot path does nothing but tail calls, so it saves no registers and
 * leaves no frame of its own: the stub returns straight to our caller.
 *
 * current is loaded with acquire (a plain load with the GIL, compat.h): it
 * pairs with activation's release store, after which the backend's slot,
 * arena and writer are made.  next_eval needs no order of its own: it is
 * stored before the hook is installed, and installing the hook orders
 * everything before it with every thread that can call us (the GIL, or the
 * stop-the-world pause of a free-threaded build's setter); any value it
 * holds is an evaluator that works. */
PyObject *
pt_eval_frame(PT_EVAL_PARAMS)
{
    struct pt_backend *backend = PT_LOAD_ACQUIRE(pt_state.current);
    if (backend != NULL) {
        PyCodeObject *co = pt_frame_code(frame);
        if (co != NULL) {
            pt_trampoline tramp = NULL;
            if (__builtin_expect(PT_LOAD_RELAXED(fast_extra_ok), 1)) {
                tramp = (pt_trampoline)pt_code_extra_fast(co, backend->extra_index);
            }
            if (__builtin_expect(tramp != NULL, 1)) {
                return PT_CALL_TRAMPOLINE(tramp, PT_LOAD_RELAXED(pt_state.next_eval));
            }
            return eval_frame_slow(backend, co, PT_EVAL_ARGS);
        }
    }
    return PT_LOAD_RELAXED(pt_state.next_eval)(PT_EVAL_ARGS);
}

int
pt_hook_compile(PyCodeObject *co)
{
    struct pt_backend *backend = PT_LOAD_ACQUIRE(pt_state.current);
    if (backend == NULL) {
        return 0;
    }
    if (read_extra(co, backend->extra_index) != NULL) {
        return 1;
    }
    return make_trampoline(backend, co) != NULL;
}

int
pt_hook_in_chain(PyInterpreterState *interp)
{
    if (!PT_LOAD_RELAXED(pt_state.installed)) {
        return 0;
    }
    _PyFrameEvalFunction now = pt_get_eval_frame(interp);
    if (now == pt_eval_frame) {
        return 1;
    }
    return now != PT_LOAD_RELAXED(pt_state.next_eval) && now != pt_default_eval_frame();
}

/* The floor for benchmarks: a PEP 523 hook that only calls the evaluator it
 * replaced.  On 3.11+ installing any hook turns off inlined Python-to-Python
 * calls, so no trampoline can cost less than this. */
static _PyFrameEvalFunction floor_next;

static PyObject *
pt_floor_eval_frame(PT_EVAL_PARAMS)
{
    return floor_next(PT_EVAL_ARGS);
}

void
pt_floor_set(PyInterpreterState *interp, int on)
{
    _PyFrameEvalFunction current = pt_get_eval_frame(interp);
    if (on && current != pt_floor_eval_frame) {
        floor_next = current;
        pt_set_eval_frame(interp, pt_floor_eval_frame);
    }
    else if (!on && current == pt_floor_eval_frame) {
        pt_set_eval_frame(interp, floor_next);
    }
}
