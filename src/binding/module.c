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
 *
 * What each backend is comes from the table in core/backend.h; this file
 * keeps only run-time state beside it, and publishes the table to Python as
 * BACKENDS.
 */
#include "compat.h"
#include "capi.h"
#include "hook.h"
#include "report.h"
#include "../core/backend.h"
#include "../core/inject.h"
#include "../core/outfile.h"
#include "../core/perfview.h"
#include "../core/stub.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One entry per row of pt_backends(), in the same order; made at import. */
static struct pt_backend *backends;
static size_t n_backends;

/* Serializes activation, deactivation and the rest that reads or changes
 * the backends' resources or the hook's installation (hook.h's header). */
static pt_mutex module_lock;

/* Registered with pthread_atfork, so that it runs in every forked child, of
 * os.fork or of a C library's fork(): see hook.h. */
static void
reset_locks_in_child(void)
{
    pt_mutex_reset_in_child(&module_lock);
    pt_hook_after_fork_child();
}

static int
make_backend_states(void)
{
    const struct pt_backend_info *rows = pt_backends(&n_backends);
    backends = PyMem_RawCalloc(n_backends, sizeof(*backends));
    if (backends == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < n_backends; i++) {
        backends[i].info = &rows[i];
        backends[i].extra_index = -1;
    }
    return 0;
}

/* The one place a backend name from Python is read: the state of the
 * backend `arg` names, or NULL with an exception set.  TypeError for a
 * non-str (`func` names the caller); ValueError for a name that is no
 * backend's, including a str with no UTF-8 form (lone surrogates) or with a
 * NUL: those are shown with repr(), the rest as they are. */
static struct pt_backend *
parse_backend(PyObject *arg, const char *func)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() argument must be str, not %.200s", func,
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    Py_ssize_t len = 0;
    const char *name = PyUnicode_AsUTF8AndSize(arg, &len);
    if (name == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return NULL; /* out of memory */
        }
        PyErr_Clear();
        len = 0;
    }
    const struct pt_backend_info *info = pt_backend_find(name, (size_t)len);
    if (info != NULL) {
        return &backends[pt_backend_index(info)];
    }
    if (name != NULL && strlen(name) == (size_t)len) {
        PyErr_Format(PyExc_ValueError, "invalid backend: %U", arg);
    }
    else {
        PyErr_Format(PyExc_ValueError, "invalid backend: %R", arg);
    }
    return NULL;
}

static const char *
open_failure_reason(int rc)
{
    switch (rc) {
    case -ELOOP:
        return "it is a symbolic link";
    case -EPERM:
        return "it belongs to another user or has other links";
    case -EINVAL:
        return "it is not a regular file";
    default:
        return strerror(-rc);
    }
}

/* Whether a forked child's own file names the stub at addr, one it
 * inherited (taken before the fork, not since).  It does unless the child
 * got a fresh co_extra slot (see after_fork_fresh_slot): then, as in CPython
 * without persistence, its file names only the stubs it makes itself. */
static int
keeps_inherited_stub(void *ctx, uintptr_t addr)
{
    const struct pt_backend *backend = ctx;
    return pt_arena_inherited(backend->arena, addr) &&
           backend->fresh_slot_generation != pt_fork_generation();
}

/* Once per process, before its first DWARF backend writes: perf may still
 * hold the parent's mappings in this process's view (perfview.h), which cut
 * every DWARF-unwound stack in a process started by fork and exec (a
 * multiprocessing spawn or forkserver worker).  A forked child that did not
 * exec has a real copy of its parent's mappings and keeps its writers, so it
 * gets here only for a backend its parent never used; the ranges free in it
 * are then ones its parent mapped after the fork, which perf never gave it,
 * and covering them changes nothing. */
static void
forget_parent_in_perf(const struct pt_backend_info *info)
{
    static int done;
    if (info->unwind == PT_UNWIND_DWARF && !done) {
        done = 1;
        (void)pt_perfview_forget_parent(getppid()); /* best effort: cannot fail the run */
    }
}

/* Creates what the backend needs, under the module lock.  Returns 0, -1 with
 * an exception set, or 1 when profiling cannot work here: *open_rc is then
 * why, for the caller to warn once it has let the lock go. */
static int
ensure_resources(struct pt_backend *backend, int *open_rc)
{
    if (backend->extra_index < 0) {
        Py_ssize_t index = pt_request_code_extra_index();
        if (index < 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "perftramp: no free co_extra slot on code objects");
            return -1;
        }
        backend->extra_index = index;
    }
    const struct pt_backend_info *info = backend->info;
    if (backend->arena == NULL) {
        int rc = pt_arena_new(&backend->arena, 0, pt_backend_slot_size(info));
        if (rc != 0) {
            errno = -rc;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    if (backend->writer_state == NULL) {
        forget_parent_in_perf(info);
        const char *dir = pt_backend_dir(info);
        int rc = info->writer->open(&backend->writer_state, dir, info->file_pattern,
                                    getpid(), keeps_inherited_stub, backend);
        if (rc == 0 && info->writer->attach_arena != NULL) {
            rc = info->writer->attach_arena(backend->writer_state, backend->arena);
            if (rc != 0) {
                info->writer->close(backend->writer_state);
                backend->writer_state = NULL;
            }
        }
        if (rc != 0) {
            *open_rc = rc;
            return 1;
        }
        PT_STORE_RELAXED(backend->writer_broken, 0);
    }
    return 0;
}

/* The warning for ensure_resources() returning 1: made without the module
 * lock, since a warning may run Python (filters, showwarning), which may
 * activate in turn.  0, or -1 with an exception set. */
static int
warn_cannot_write(struct pt_backend *backend, int rc)
{
    const struct pt_backend_info *info = backend->info;
    char file[256];
    snprintf(file, sizeof(file), info->file_pattern, (long)getpid());
    return PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                            "perftramp: cannot write %s/%s (%s); "
                            "the program runs on without perf profiling support",
                            pt_backend_dir(info), file, open_failure_reason(rc));
}

static PyObject *
pt_activate(PyObject *Py_UNUSED(module), PyObject *arg)
{
    struct pt_backend *backend = parse_backend(arg, "activate_stack_trampoline");
    if (backend == NULL) {
        return NULL;
    }
    if (!pt_is_main_interpreter()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "perftramp: stack trampolines work in the main interpreter only");
        return NULL;
    }
    pt_mutex_lock(&module_lock);
    int open_rc = 0;
    int rc = ensure_resources(backend, &open_rc);
    if (rc == 0) {
        PyInterpreterState *interp = PyThreadState_Get()->interp;
        /* Also when another tool took ours out of the interpreter: installed
         * again on top of whatever it put there.  next_eval is stored before
         * the hook can be called (see pt_eval_frame). */
        if (!pt_hook_in_chain(interp)) {
            PT_STORE_RELEASE(pt_state.next_eval, pt_get_eval_frame(interp));
            pt_set_eval_frame(interp, pt_eval_frame);
            PT_STORE_RELEASE(pt_state.installed, 1);
        }
        /* Publishes the backend's slot, arena and writer, made above, to
         * every thread that loads it with acquire. */
        PT_STORE_RELEASE(pt_state.current, backend);
    }
    pt_mutex_unlock(&module_lock);
    if (rc < 0 || (rc > 0 && warn_cannot_write(backend, open_rc) < 0)) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
pt_deactivate(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (!pt_is_main_interpreter()) {
        Py_RETURN_NONE;
    }
    pt_mutex_lock(&module_lock);
    /* Written only under the module lock: a relaxed load sees the last
     * store. */
    pt_backend_pause(PT_LOAD_RELAXED(pt_state.current));
    PT_STORE_RELEASE(pt_state.current, NULL);
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    /* Another hook installed after ours keeps ours in its chain; ours then
     * stays there, inactive, passing every call straight through. */
    if (PT_LOAD_RELAXED(pt_state.installed) &&
        pt_get_eval_frame(interp) == pt_eval_frame) {
        pt_set_eval_frame(interp, PT_LOAD_RELAXED(pt_state.next_eval));
        PT_STORE_RELEASE(pt_state.installed, 0);
    }
    else if (!pt_hook_in_chain(interp)) {
        PT_STORE_RELEASE(pt_state.installed, 0); /* taken out by another tool */
    }
    pt_mutex_unlock(&module_lock);
    Py_RETURN_NONE;
}

static PyObject *
pt_is_active(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (PT_LOAD_ACQUIRE(pt_state.current) == NULL || !pt_is_main_interpreter()) {
        Py_RETURN_FALSE;
    }
    return PyBool_FromLong(pt_hook_in_chain(PyThreadState_Get()->interp));
}

static PyObject *
pt_backend_name(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    /* Loaded once: another thread may deactivate meanwhile. */
    struct pt_backend *current = PT_LOAD_ACQUIRE(pt_state.current);
    if (current == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(current->info->name);
}

/* CPython's meaning of persist-after-fork, off by default: a forked child
 * makes its own trampolines, in a fresh co_extra slot, and its file names
 * only those, not the parent's (CPython's test_perf_profiler asserts both).
 * perf still names samples in inherited stubs from the parent's file, since
 * it gives a forked child its parent's mappings.  With persistence the child
 * keeps calling the parent's stubs and its file names them.  A format whose
 * file holds the code itself (perf_elf) always persists: the child's image
 * carries the code, and dropping the names would only cost unnamed frames.
 * So does a child whose slot request fails (CPython has 255 per process). */
static void
after_fork_fresh_slot(struct pt_backend *backend)
{
    if (pt_capi_persist_after_fork() || backend->extra_index < 0 ||
        backend->info->writer->attach_arena != NULL) {
        return;
    }
    Py_ssize_t index = pt_request_code_extra_index();
    if (index >= 0) {
        backend->extra_index = index;
        backend->fresh_slot_generation = pt_fork_generation();
    }
}

static PyObject *
pt_after_fork_child(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    /* The pthread_atfork handler has freed the locks already; this thread
     * is the only one, but the lock keeps the rule simple. */
    pt_mutex_lock(&module_lock);
    for (size_t i = 0; i < n_backends; i++) {
        struct pt_backend *backend = &backends[i];
        const struct pt_writer_ops *writer = backend->info->writer;
        /* Before the move below, which asks keeps_inherited_stub(). */
        after_fork_fresh_slot(backend);
        if (backend->arena != NULL && !PT_LOAD_RELAXED(backend->arena_broken)) {
            int rc = pt_arena_after_fork(backend->arena);
            if (rc != 0) {
                PT_STORE_RELAXED(backend->arena_broken, 1);
                PySys_FormatStderr("perftramp: process %ld cannot make new trampolines "
                                   "for %s (%s); functions it runs first from now on "
                                   "will not be named in perf's output\n",
                                   (long)getpid(), backend->info->name, strerror(-rc));
            }
        }
        if (backend->writer_state == NULL || PT_LOAD_RELAXED(backend->writer_broken)) {
            continue;
        }
        int rc = writer->after_fork(backend->writer_state);
        if (rc != 0) {
            PT_STORE_RELAXED(backend->writer_broken, 1);
            PySys_FormatStderr("perftramp: process %ld cannot write its own %s (%s); "
                               "functions it runs will not be named in perf's output\n",
                               (long)getpid(), writer->name, open_failure_reason(rc));
        }
    }
    pt_mutex_unlock(&module_lock);
    Py_RETURN_NONE;
}

static PyObject *
pt_stats(PyObject *Py_UNUSED(module), PyObject *arg)
{
    struct pt_backend *backend = parse_backend(arg, "_stats");
    if (backend == NULL) {
        return NULL;
    }
    pt_mutex_lock(&module_lock);
    const char *path =
        backend->writer_state ? backend->info->writer->path(backend->writer_state) : "";
    size_t stubs = backend->arena ? pt_arena_stub_count(backend->arena) : 0;
    size_t mapped = backend->arena ? pt_arena_mapped_bytes(backend->arena) : 0;
    /* Built under the lock: path points into the writer's state. */
    PyObject *stats =
        Py_BuildValue("{s:n,s:n,s:n,s:s,s:n}", "trampolines", (Py_ssize_t)stubs,
                      "arena_bytes", (Py_ssize_t)mapped, "write_errors",
                      (Py_ssize_t)PT_LOAD_RELAXED(backend->write_errors), "path", path,
                      "extra_index", backend->extra_index);
    pt_mutex_unlock(&module_lock);
    return stats;
}

static PyObject *
pt_floor(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) {
        return NULL;
    }
    pt_mutex_lock(&module_lock);
    int installed = PT_LOAD_RELAXED(pt_state.installed);
    if (!(on && installed)) {
        pt_floor_set(PyThreadState_Get()->interp, on);
    }
    pt_mutex_unlock(&module_lock);
    if (on && installed) {
        PyErr_SetString(PyExc_RuntimeError, "perftramp's hook is installed");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The C stack's depth here, for recording/interpreter.py's c_stack_per_call
 * (perftramp check, record, benchmarks/run.py's stack workload): two calls
 * made N Python frames apart differ by N frames' worth of C stack.  Out of line, so
 * that its frame is where every caller's is. */
__attribute__((noinline)) static PyObject *
pt_stack_address(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t((size_t)(uintptr_t)__builtin_frame_address(0));
}

/* OSError(errno, what inject.c said) */
static PyObject *
inject_error(const struct pt_inject_result *result)
{
    PyObject *exc = Py_BuildValue("(is)", errno, result->error);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_OSError, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* _inject_pending_call(pid, mmap, add_pending, run_string, text, timeout_ms):
 * core/inject.h, for `attach` on 3.8-3.13 (recording/ptrace_exec.py). */
static PyObject *
pt_inject_py(PyObject *Py_UNUSED(module), PyObject *args)
{
    int pid, timeout_ms;
    unsigned long long mmap_fn, add_pending_fn, run_string_fn;
    const char *text;
    Py_ssize_t text_len;
    if (!PyArg_ParseTuple(args, "iKKKy#i", &pid, &mmap_fn, &add_pending_fn,
                          &run_string_fn, &text, &text_len, &timeout_ms)) {
        return NULL;
    }
    struct pt_inject_plan plan = {mmap_fn, add_pending_fn,   run_string_fn,
                                  text,    (size_t)text_len, timeout_ms};
    struct pt_inject_result result;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pt_inject_pending_call((pid_t)pid, &plan, &result);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        return inject_error(&result);
    }
    return Py_BuildValue("KL", (unsigned long long)result.page,
                         (long long)result.pending_rc);
}

/* _inject_unmap(pid, munmap, page, timeout_ms): the page's release. */
static PyObject *
pt_inject_unmap_py(PyObject *Py_UNUSED(module), PyObject *args)
{
    int pid, timeout_ms;
    unsigned long long munmap_fn, page;
    if (!PyArg_ParseTuple(args, "iKKi", &pid, &munmap_fn, &page, &timeout_ms)) {
        return NULL;
    }
    struct pt_inject_result result;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pt_inject_unmap((pid_t)pid, munmap_fn, page, timeout_ms, &result);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        return inject_error(&result);
    }
    Py_RETURN_NONE;
}

static PyMethodDef pt_methods[] = {
    {"activate", pt_activate, METH_O,
     "activate(backend)\n--\n\nInstall perftramp's trampoline hook with the given "
     "backend."},
    {"deactivate", pt_deactivate, METH_NOARGS,
     "deactivate()\n--\n\nStop making and calling trampolines."},
    {"is_active", pt_is_active, METH_NOARGS,
     "is_active()\n--\n\nWhether perftramp's hook is active."},
    {"_after_fork_child", pt_after_fork_child, METH_NOARGS,
     "Give a forked child its own perf map (registered with os.register_at_fork)."},
    {"backend", pt_backend_name, METH_NOARGS,
     "backend()\n--\n\nThe active backend's name, or None."},
    {"fold", (PyCFunction)(void (*)(void))pt_fold_fd, METH_VARARGS | METH_KEYWORDS,
     PT_FOLD_DOC},
    {"fold_data", (PyCFunction)(void (*)(void))pt_fold_data, METH_VARARGS | METH_KEYWORDS,
     PT_FOLD_DATA_DOC},
    {"_compile", pt_capi_compile_py, METH_O,
     "_compile(code)\n--\n\nMake code's trampoline now; whether it has one."},
    {"_set_persist_after_fork", pt_capi_set_persist_py, METH_O,
     "Set CPython's persist-after-fork flag (children keep the parent's trampolines)."},
    {"_persist_after_fork", pt_capi_persist_py, METH_NOARGS,
     "The flag _set_persist_after_fork recorded."},
    {"_floor", pt_floor, METH_O,
     "Install (True) or remove the no-op eval-frame hook benchmarks compare with."},
    {"_stats", pt_stats, METH_O, "Counters of one backend, for tests and benchmarks."},
    {"_stack_address", pt_stack_address, METH_NOARGS,
     "The C stack's address in this call (c_stack_per_call)."},
    {"_inject_pending_call", pt_inject_py, METH_VARARGS,
     "Queue PyRun_SimpleString(text) in another process (core/inject.h)."},
    {"_inject_unmap", pt_inject_unmap_py, METH_VARARGS,
     "Unmap the page _inject_pending_call made there."},
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

/* At the very end of a normal exit, after the last Python code ran: the
 * writers trim what they reserved (a perf map's unused window).  Stubs stay
 * mapped; the process is about to go.  A daemon thread may still be making a
 * trampoline: under the first-call lock, so that it finishes its entry
 * first and none is made after (make_trampoline() sees no writer).  When
 * that lock cannot be had the writers stay open, as after a crash: a window
 * left untrimmed, which perf reads past. */
static void
close_writers(void)
{
    PT_STORE_RELEASE(pt_state.current, NULL);
    if (!pt_hook_stop_first_calls()) {
        return;
    }
    for (size_t i = 0; i < n_backends; i++) {
        if (backends[i].writer_state != NULL) {
            backends[i].info->writer->close(backends[i].writer_state);
            backends[i].writer_state = NULL;
        }
    }
    pt_hook_resume_first_calls();
}

/* BACKENDS: the table, one dict per row, in its order, for the Python
 * package (which picks, explains and drives backends from it). */
static PyObject *
backends_tuple(void)
{
    size_t n;
    const struct pt_backend_info *rows = pt_backends(&n);
    PyObject *tuple = PyTuple_New((Py_ssize_t)n);
    if (tuple == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pt_backend_info *b = &rows[i];
        PyObject *row = Py_BuildValue(
            "{s:s,s:s,s:s,s:z,s:s,s:O,s:z,s:z}", "name", b->name, "file_pattern",
            b->file_pattern, "default_dir", pt_backend_default_dir(b), "dir_env",
            b->dir_env, "unwind", pt_unwind_name(b->unwind), "inject",
            b->inject ? Py_True : Py_False, "xoption", b->xoption, "env", b->env);
        if (row == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, row);
    }
    return tuple;
}

PT_MODINIT_FUNC
PyInit__perftramp(void)
{
    if (backends == NULL && make_backend_states() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&pt_module);
    if (module == NULL) {
        return NULL;
    }
    /* Free-threaded builds: see compat.h, and the list of what still
     * assumes the GIL in hook.h. */
    if (pt_module_declare_no_gil(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    /* Once per process, like the Py_AtExit below (an import after the
     * module was dropped from sys.modules initializes it again). */
    static int atfork_registered;
    if (!atfork_registered) {
        int rc = pthread_atfork(NULL, NULL, reset_locks_in_child);
        if (rc != 0) {
            Py_DECREF(module);
            errno = rc;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        atfork_registered = 1;
    }
    if (Py_AtExit(close_writers) != 0) {
        Py_DECREF(module);
        PyErr_SetString(PyExc_RuntimeError, "perftramp: no room for an exit function");
        return NULL;
    }
    if (PyModule_AddStringConstant(module, "ARCH", PT_STUB_ARCH) < 0 ||
        pt_module_add(module, "BACKENDS", backends_tuple()) < 0 ||
        register_fork_handler(module) < 0 || pt_capi_add(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
