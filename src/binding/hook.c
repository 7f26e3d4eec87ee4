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

#include <string.h>

struct pt_state pt_state;

/* The UTF-8 bytes of a str; falls back to escaping lone surrogates, which a
 * file name decoded with surrogateescape may hold. */
static PyObject *
utf8_bytes(PyObject *text)
{
    if (text == NULL || !PyUnicode_Check(text)) {
        return PyBytes_FromString("?");
    }
    PyObject *bytes = PyUnicode_AsUTF8String(text);
    if (bytes == NULL) {
        PyErr_Clear();
        bytes = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
    }
    return bytes;
}

/* "py::QUALNAME:FILENAME", the names CPython's own perf support writes.
 * Built by length, not by format: a name may hold a NUL byte. */
static PyObject *
trampoline_name(PyCodeObject *co)
{
    PyObject *qualname = utf8_bytes(pt_code_qualname(co));
    PyObject *filename = qualname ? utf8_bytes(co->co_filename) : NULL;
    if (filename == NULL) {
        Py_XDECREF(qualname);
        return NULL;
    }
    Py_ssize_t qlen = PyBytes_GET_SIZE(qualname);
    Py_ssize_t flen = PyBytes_GET_SIZE(filename);
    PyObject *name = PyBytes_FromStringAndSize(NULL, 4 + qlen + 1 + flen);
    if (name != NULL) {
        char *p = PyBytes_AS_STRING(name);
        memcpy(p, "py::", 4);
        memcpy(p + 4, PyBytes_AS_STRING(qualname), (size_t)qlen);
        p[4 + qlen] = ':';
        memcpy(p + 5 + qlen, PyBytes_AS_STRING(filename), (size_t)flen);
    }
    Py_DECREF(qualname);
    Py_DECREF(filename);
    return name;
}

static pt_trampoline
make_trampoline(struct pt_backend *backend, PyCodeObject *co)
{
    void *stub;
    size_t size;
    if (pt_arena_take_stub(backend->arena, &stub, &size) != 0) {
        return NULL;
    }
    if (!backend->writer_broken) {
        PyObject *name = trampoline_name(co);
        if (name == NULL) {
            PyErr_Clear();
            backend->write_errors++;
        }
        else {
            int rc = backend->writer->add(backend->writer_state, (uintptr_t)stub, size,
                                          PyBytes_AS_STRING(name),
                                          (size_t)PyBytes_GET_SIZE(name));
            if (rc != 0) {
                backend->write_errors++;
            }
            Py_DECREF(name);
        }
    }
    if (pt_code_set_extra(co, backend->extra_index, stub) != 0) {
        /* The stub is lost to this code object but stays named and harmless. */
        PyErr_Clear();
    }
    return (pt_trampoline)stub;
}

PyObject *
pt_eval_frame(PT_EVAL_PARAMS)
{
    _PyFrameEvalFunction next = pt_state.next_eval;
    if (pt_state.active) {
        struct pt_backend *backend = pt_state.current;
        PyCodeObject *co = pt_frame_code(frame);
        if (co != NULL) {
            void *extra = NULL;
            if (pt_code_get_extra(co, backend->extra_index, &extra) != 0) {
                PyErr_Clear();
                extra = NULL;
            }
            pt_trampoline tramp = (pt_trampoline)extra;
            /* A first call that throws into a generator may carry a pending
             * exception; naming would disturb it, so that call goes
             * unnamed and the next one makes the trampoline. */
            if (tramp == NULL && !throwflag && !PyErr_Occurred()) {
                tramp = make_trampoline(backend, co);
            }
            if (tramp != NULL) {
                return PT_CALL_TRAMPOLINE(tramp, next);
            }
        }
    }
    return next(PT_EVAL_ARGS);
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

int
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
    return 0;
}
