/*
 * fold(fd, ...): runs the C folder over a file descriptor, typically the
 * pipe from `perf script`, so that no Python code touches each line.
 * Returns a dict: both views' stacks as [(event, pid, tid, stack, count,
 * period)], samples, truncated, processes [(pid, samples, truncated)], the
 * first and last sample's times, and with frames=True each frame name's
 * (object, address).
 */
#include "report.h"
#include "../report/fold.h"
#include "../report/readout.h"

#include <errno.h>
#include <unistd.h>

struct to_list {
    PyObject *list;
    int failed;
};

/* Appends (event, pid, tid, stack, count, period) to the list. */
static void
add_stack(void *ctx, const struct pt_fold_stack *s)
{
    struct to_list *out = ctx;
    if (out->failed) {
        return;
    }
    PyObject *row = Py_BuildValue(
        "(N l l N K K)",
        PyUnicode_DecodeUTF8(s->event, (Py_ssize_t)s->event_len, "surrogateescape"),
        s->pid, s->tid,
        PyUnicode_DecodeUTF8(s->stack, (Py_ssize_t)s->len, "surrogateescape"),
        (unsigned long long)s->count, (unsigned long long)s->period);
    if (row == NULL || PyList_Append(out->list, row) < 0) {
        out->failed = 1;
    }
    Py_XDECREF(row);
}

struct to_dict {
    PyObject *dict;
    int failed;
};

/* frames[name] = (object, address) */
static void
add_frame(void *ctx, const char *name, size_t len, const char *dso, size_t dso_len,
          uint64_t address)
{
    struct to_dict *out = ctx;
    if (out->failed) {
        return;
    }
    PyObject *key = PyUnicode_DecodeUTF8(name, (Py_ssize_t)len, "surrogateescape");
    PyObject *value = key ? Py_BuildValue("(N K)",
                                          PyUnicode_DecodeUTF8(dso, (Py_ssize_t)dso_len,
                                                               "surrogateescape"),
                                          (unsigned long long)address)
                          : NULL;
    if (value == NULL || PyDict_SetItem(out->dict, key, value) < 0) {
        out->failed = 1;
    }
    Py_XDECREF(key);
    Py_XDECREF(value);
}

/* Reads fd to its end into the folder; 0 or -errno.  The GIL is released
 * while waiting for perf. */
static int
feed_fd(struct pt_fold *fold, int fd)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf, sizeof(buf));
        Py_END_ALLOW_THREADS
        if (n < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0) {
                    return -EINTR;
                }
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return pt_fold_finish(fold);
        }
        int rc = pt_fold_feed(fold, buf, (size_t)n);
        if (rc != 0) {
            return rc;
        }
    }
}

/* [(event, pid, tid, stack, count, period)] of one view, or NULL with an
 * exception set. */
static PyObject *
view_rows(const struct pt_fold *fold, enum pt_fold_view view)
{
    struct to_list out = {PyList_New(0), 0};
    if (out.list == NULL) {
        return NULL;
    }
    pt_fold_each(fold, view, add_stack, &out);
    if (out.failed) {
        Py_DECREF(out.list);
        return NULL;
    }
    return out.list;
}

/* {frame name: (object, address)}, or None when they were not kept. */
static PyObject *
frame_dict(const struct pt_fold *fold, int kept)
{
    if (!kept) {
        Py_RETURN_NONE;
    }
    struct to_dict out = {PyDict_New(), 0};
    if (out.dict == NULL) {
        return NULL;
    }
    pt_fold_each_frame(fold, add_frame, &out);
    if (out.failed) {
        Py_DECREF(out.dict);
        return NULL;
    }
    return out.dict;
}

/* [(pid, samples, truncated)] in the order the processes were first seen,
 * or NULL with an exception set. */
static PyObject *
process_list(const struct pt_fold *fold)
{
    size_t count = 0;
    const struct pt_fold_process *procs = pt_fold_processes(fold, &count);
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *item =
            Py_BuildValue("(lKK)", procs[i].pid, (unsigned long long)procs[i].samples,
                          (unsigned long long)procs[i].truncated);
        if (item == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

/* The folder's options from the keywords fold() and fold_data() share;
 * prefix_list (17 entries) holds internal_prefixes' texts.  0, or -1 with an
 * exception set. */
static int
fold_options(struct pt_fold_options *options, Py_ssize_t max_stack, PyObject *prefixes,
             const char **prefix_list)
{
    if (max_stack < 0) {
        PyErr_SetString(PyExc_ValueError, "max_stack must be >= 0");
        return -1;
    }
    options->max_stack = (size_t)max_stack;
    if (prefixes == Py_None) {
        return 0;
    }
    if (!PyTuple_Check(prefixes) || PyTuple_GET_SIZE(prefixes) > 16) {
        PyErr_SetString(PyExc_TypeError,
                        "internal_prefixes must be a tuple of at most 16 str");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        prefix_list[i] = PyUnicode_AsUTF8(PyTuple_GET_ITEM(prefixes, i));
        if (prefix_list[i] == NULL) {
            return -1;
        }
    }
    options->internal_prefixes = prefix_list;
    return 0;
}

/* fold()'s dict of a finished folder, which it frees; NULL with an
 * exception set. */
static PyObject *
fold_result(struct pt_fold *fold, int frames)
{
    PyObject *stacks = view_rows(fold, PT_FOLD_DEFAULT);
    PyObject *internal = stacks ? view_rows(fold, PT_FOLD_INTERNAL) : NULL;
    PyObject *processes = internal ? process_list(fold) : NULL;
    PyObject *frame_names = processes ? frame_dict(fold, frames) : NULL;
    unsigned long long samples = pt_fold_samples(fold);
    unsigned long long truncated = pt_fold_truncated(fold);
    uint64_t first_ns = 0, last_ns = 0;
    pt_fold_times(fold, &first_ns, &last_ns);
    pt_fold_free(fold);
    if (frame_names == NULL) {
        Py_XDECREF(stacks);
        Py_XDECREF(internal);
        Py_XDECREF(processes);
        return NULL;
    }
    return Py_BuildValue("{sNsNsKsKsNsKsKsN}", "default", stacks, "internal", internal,
                         "samples", samples, "truncated", truncated, "processes",
                         processes, "first_ns", (unsigned long long)first_ns, "last_ns",
                         (unsigned long long)last_ns, "frames", frame_names);
}

/* Frees the folder and sets OSError from rc, unless an exception is set. */
static PyObject *
fold_failed(struct pt_fold *fold, int rc)
{
    pt_fold_free(fold);
    if (!PyErr_Occurred()) {
        errno = -rc;
        PyErr_SetFromErrno(PyExc_OSError);
    }
    return NULL;
}

PyObject *
pt_fold_fd(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fd",       "max_stack", "internal_prefixes",
                               "start_ns", "end_ns",    "frames",
                               "offcpu",   NULL};
    int fd, frames = 0, offcpu = 0;
    Py_ssize_t max_stack = 0;
    unsigned long long start_ns = 0, end_ns = 0;
    PyObject *prefixes = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "i|nOKKpp:fold", keywords, &fd,
                                     &max_stack, &prefixes, &start_ns, &end_ns, &frames,
                                     &offcpu)) {
        return NULL;
    }
    const char *prefix_list[17] = {NULL};
    struct pt_fold_options options = {
        .start_ns = start_ns, .end_ns = end_ns, .frames = frames, .offcpu = offcpu};
    if (fold_options(&options, max_stack, prefixes, prefix_list) != 0) {
        return NULL;
    }
    struct pt_fold *fold = NULL;
    int rc = pt_fold_new(&fold, &options);
    if (rc == 0) {
        rc = feed_fd(fold, fd);
    }
    return rc != 0 ? fold_failed(fold, rc) : fold_result(fold, frames);
}

PyObject *
pt_fold_data(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path",         "max_stack",     "internal_prefixes",
                               "start_ns",     "end_ns",        "frames",
                               "build_id_dir", "kallsyms",      "perf_map_dir",
                               "legacy_plt",   "libdw_inlines", NULL};
    PyObject *path = NULL, *prefixes = Py_None;
    int frames = 0, legacy_plt = 0, libdw_inlines = 0;
    Py_ssize_t max_stack = 0;
    unsigned long long start_ns = 0, end_ns = 0;
    const char *build_id_dir = NULL, *kallsyms = NULL, *perf_map_dir = NULL;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O&|nOKKpzzzpp:fold_data", keywords, PyUnicode_FSConverter,
            &path, &max_stack, &prefixes, &start_ns, &end_ns, &frames, &build_id_dir,
            &kallsyms, &perf_map_dir, &legacy_plt, &libdw_inlines)) {
        return NULL;
    }
    const char *prefix_list[17] = {NULL};
    struct pt_fold_options options = {
        .start_ns = start_ns, .end_ns = end_ns, .frames = frames};
    struct pt_fold *fold = NULL;
    int rc = fold_options(&options, max_stack, prefixes, prefix_list) == 0
                 ? pt_fold_new(&fold, &options)
                 : -EINVAL;
    struct pt_readout_options read = {.build_id_dir = build_id_dir,
                                      .kallsyms = kallsyms,
                                      .perf_map_dir = perf_map_dir,
                                      .max_stack = (size_t)max_stack,
                                      .legacy_plt = legacy_plt,
                                      .libdw_inlines = libdw_inlines};
    char err[512] = "";
    if (rc == 0) {
        Py_BEGIN_ALLOW_THREADS
        rc =
            pt_readout_fold(PyBytes_AS_STRING(path), &read, fold, NULL, err, sizeof(err));
        if (rc == 0) {
            rc = pt_fold_finish(fold);
        }
        Py_END_ALLOW_THREADS
    }
    Py_DECREF(path);
    if (rc != 0 && err[0] != '\0' && !PyErr_Occurred()) {
        PyErr_SetString(rc == -ENOTSUP ? PyExc_NotImplementedError : PyExc_OSError, err);
    }
    return rc != 0 ? fold_failed(fold, rc) : fold_result(fold, frames);
}
