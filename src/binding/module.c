/*
 * perftramp._perftramp: the Python-facing switch for the trampoline hook.
 *
 * activate(backend) / deactivate() / is_active() mirror sys's functions of
 * the same names (3.12+); the package layer decides precedence and how to
 * share the interpreter with CPython's own perf support.  This file owns the
 * process-wide resources (arena, writer, co_extra slot), which are created on
 * first activation and kept for the life of the process: a stub may be on the
 * native stack long after deactivation, and reusing them keeps an
 * activate/deactivate loop from growing anything.
 */
#include "compat.h"
#include "hook.h"
#include "../core/stub.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* perf looks for maps here and nowhere else. */
#define PT_MAP_DIR "/tmp"

static int
is_main_interpreter(void)
{
    return PyThreadState_Get()->interp == PyInterpreterState_Main();
}

static const struct pt_writer_ops *
writer_for_backend(const char *backend)
{
    if (strcmp(backend, "perf") == 0) {
        return &pt_perfmap_writer;
    }
    return NULL;
}

/* Creates what the hook needs.  Returns 0, -1 with an exception set, or 1 when
 * profiling cannot work here and a warning was issued instead. */
static int
ensure_resources(const struct pt_writer_ops *writer)
{
    if (pt_state.extra_index < 0) {
        Py_ssize_t index = pt_request_code_extra_index();
        if (index < 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "perftramp: no free co_extra slot on code objects");
            return -1;
        }
        pt_state.extra_index = index;
    }
    if (pt_state.arena == NULL) {
        int rc = pt_arena_new(&pt_state.arena, 0, 0);
        if (rc != 0) {
            errno = -rc;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    if (pt_state.writer_state == NULL) {
        int rc = writer->open(&pt_state.writer_state, PT_MAP_DIR, getpid());
        if (rc != 0) {
            const char *why = rc == -ELOOP ? "it is a symbolic link"
                            : rc == -EPERM ? "it belongs to another user or has other links"
                            : rc == -EINVAL ? "it is not a regular file"
                                            : strerror(-rc);
            if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                 "perftramp: cannot write %s/perf-%ld.map (%s); "
                                 "the program runs on without perf profiling support",
                                 PT_MAP_DIR, (long)getpid(), why) < 0) {
                return -1;
            }
            return 1;
        }
        pt_state.writer = writer;
        pt_state.writer_broken = 0;
    }
    return 0;
}

static PyObject *
pt_activate(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError,
                     "activate_stack_trampoline() argument must be str, not %.200s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const char *backend = PyUnicode_AsUTF8(arg);
    if (backend == NULL) {
        return NULL;
    }
    const struct pt_writer_ops *writer = writer_for_backend(backend);
    if (writer == NULL) {
        PyErr_Format(PyExc_ValueError, "invalid backend: %s", backend);
        return NULL;
    }
    if (!is_main_interpreter()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "perftramp: stack trampolines work in the main interpreter only");
        return NULL;
    }
    int rc = ensure_resources(writer);
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0) {
        Py_RETURN_NONE;
    }
    if (!pt_state.installed) {
        PyInterpreterState *interp = PyThreadState_Get()->interp;
        pt_state.next_eval = pt_get_eval_frame(interp);
        pt_set_eval_frame(interp, pt_eval_frame);
        pt_state.installed = 1;
    }
    pt_state.active = 1;
    Py_RETURN_NONE;
}

static PyObject *
pt_deactivate(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (!is_main_interpreter()) {
        Py_RETURN_NONE;
    }
    pt_state.active = 0;
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    /* Another hook installed after ours keeps ours in its chain; ours then
     * stays there, inactive, passing every call straight through. */
    if (pt_state.installed && pt_get_eval_frame(interp) == pt_eval_frame) {
        pt_set_eval_frame(interp, pt_state.next_eval);
        pt_state.installed = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *
pt_is_active(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(pt_state.active && is_main_interpreter());
}

static int
inherited_stub(void *ctx, uintptr_t addr)
{
    return pt_arena_owns(ctx, addr);
}

static PyObject *
pt_after_fork_child(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (pt_state.arena != NULL) {
        pt_arena_after_fork(pt_state.arena);
    }
    if (pt_state.writer_state == NULL || pt_state.writer_broken) {
        Py_RETURN_NONE;
    }
    int rc = pt_state.writer->after_fork(pt_state.writer_state, PT_MAP_DIR, getpid(),
                                         inherited_stub, pt_state.arena);
    if (rc != 0) {
        pt_state.writer_broken = 1;
        PySys_FormatStderr("perftramp: process %ld cannot write its own %s (%s); "
                           "functions it runs will not be named in perf's output\n",
                           (long)getpid(), pt_state.writer->name, strerror(-rc));
    }
    Py_RETURN_NONE;
}

static PyObject *
pt_stats(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    const char *path = pt_state.writer_state ? pt_state.writer->path(pt_state.writer_state)
                                             : "";
    size_t stubs = pt_state.arena ? pt_arena_stub_count(pt_state.arena) : 0;
    size_t mapped = pt_state.arena ? pt_arena_mapped_bytes(pt_state.arena) : 0;
    return Py_BuildValue("{s:n,s:n,s:n,s:s,s:n}", "trampolines", (Py_ssize_t)stubs,
                         "arena_bytes", (Py_ssize_t)mapped, "write_errors",
                         (Py_ssize_t)pt_state.write_errors, "map_path", path,
                         "extra_index", pt_state.extra_index);
}

static PyMethodDef pt_methods[] = {
    {"activate", pt_activate, METH_O,
     "activate(backend)\n--\n\nInstall perftramp's trampoline hook with the given backend."},
    {"deactivate", pt_deactivate, METH_NOARGS,
     "deactivate()\n--\n\nStop making and calling trampolines."},
    {"is_active", pt_is_active, METH_NOARGS,
     "is_active()\n--\n\nWhether perftramp's hook is active."},
    {"_after_fork_child", pt_after_fork_child, METH_NOARGS,
     "Give a forked child its own perf map (registered with os.register_at_fork)."},
    {"_stats", pt_stats, METH_NOARGS, "Counters for tests and benchmarks."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef pt_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "perftramp._perftramp",
    .m_doc = "perftramp's native trampoline hook.",
    .m_size = -1,
    .m_methods = pt_methods,
};

static int
register_fork_handler(PyObject *module)
{
    PyObject *handler = PyObject_GetAttrString(module, "_after_fork_child");
    if (handler == NULL) {
        return -1;
    }
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL) {
        Py_DECREF(handler);
        return -1;
    }
    PyObject *register_at_fork = PyObject_GetAttrString(os, "register_at_fork");
    Py_DECREF(os);
    if (register_at_fork == NULL) {
        Py_DECREF(handler);
        return -1;
    }
    PyObject *args = PyTuple_New(0);
    PyObject *kwargs = Py_BuildValue("{s:O}", "after_in_child", handler);
    PyObject *res = NULL;
    if (args != NULL && kwargs != NULL) {
        res = PyObject_Call(register_at_fork, args, kwargs);
    }
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_DECREF(register_at_fork);
    Py_DECREF(handler);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

PT_MODINIT_FUNC
PyInit__perftramp(void)
{
    PyObject *module = PyModule_Create(&pt_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(module, "ARCH", PT_STUB_ARCH) < 0 ||
        register_fork_handler(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
