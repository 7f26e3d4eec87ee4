/* perftramp._perftramp.fold(): the report engine (src/report) for Python. */
#ifndef PERFTRAMP_BINDING_REPORT_H
#define PERFTRAMP_BINDING_REPORT_H

#include "compat.h"

PyObject *pt_fold_fd(PyObject *module, PyObject *args, PyObject *kwargs);

#define PT_FOLD_DOC                                                                      \
    "fold(fd, max_stack=0, internal_prefixes=None)\n--\n\n"                              \
    "Read `perf script -F comm,tid,ip,sym,dso` output from file descriptor fd to "       \
    "its end and return (stacks, internal_stacks, samples, truncated): two dicts "       \
    "{stack: count}, stacks outermost first joined by ';', the first with the "          \
    "interpreter's own frames folded away, the second with every frame; how many "       \
    "samples were read and how many of them have a cut stack (marked "                   \
    "\"[truncated]\").  max_stack is perf script's --max-stack (0: none)."

#endif
