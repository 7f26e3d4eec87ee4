/* perftramp._perftramp.fold(): the report engine (src/report) for Python. */
#ifndef PERFTRAMP_BINDING_REPORT_H
#define PERFTRAMP_BINDING_REPORT_H

#include "compat.h"

PyObject *pt_fold_fd(PyObject *module, PyObject *args, PyObject *kwargs);

#define PT_FOLD_DOC                                                                      \
    "fold(fd, keep_internal=False, internal_prefixes=None)\n--\n\n"                      \
    "Read `perf script -F comm,tid,ip,sym,dso` output from file descriptor fd to "       \
    "its end and return ({stack: count}, samples), stacks outermost first, joined "      \
    "by ';'."

#endif
