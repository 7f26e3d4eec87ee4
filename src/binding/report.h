/* perftramp._perftramp.fold(): the report engine (src/report) for Python. */
#ifndef PERFTRAMP_BINDING_REPORT_H
#define PERFTRAMP_BINDING_REPORT_H

#include "compat.h"

PyObject *pt_fold_fd(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *pt_fold_data(PyObject *module, PyObject *args, PyObject *kwargs);

#define PT_FOLD_DOC                                                                      \
    "fold(fd, max_stack=0, internal_prefixes=None, start_ns=0, end_ns=0, frames=False, " \
    "offcpu=False)"                                                                      \
    "\n--\n\n"                                                                           \
    "Read `perf script -F comm,pid,tid,time,period,event,ip,sym,symoff,dso` output "     \
    "from file descriptor fd to its end and return a dict: 'default' and 'internal', "   \
    "lists of (event, pid, tid, stack, count, period), stacks outermost first joined "   \
    "by ';', the first with the interpreter's own frames folded away, the second with "  \
    "every frame; 'samples' read and 'truncated' (a cut stack, marked "                  \
    "\"[truncated]\"); 'processes' [(pid, samples, truncated)]; 'first_ns' and "         \
    "'last_ns', the first and last sample's times; 'frames', with frames=True, "         \
    "{frame: (object, function address)}.  max_stack is perf script's --max-stack (0: "  \
    "none); start_ns/end_ns keep the samples in that window after the first (0: none); " \
    "offcpu counts each sched:sched_switch sample as an 'offcpu' wait ending at its "    \
    "thread's next PERF_RECORD_SWITCH IN (perf script --show-switch-events)."

#define PT_FOLD_DATA_DOC                                                                 \
    "fold_data(path, max_stack=0, internal_prefixes=None, start_ns=0, end_ns=0, "        \
    "frames=False, build_id_dir=None, kallsyms=None, perf_map_dir=None, "                \
    "legacy_plt=False, libdw_inlines=False)"                                             \
    "\n--\n\n"                                                                           \
    "Fold the perf.data file at path without perf script: its samples read and "         \
    "unwound here (src/report/readout.h), the same dict as fold().  build_id_dir: a "    \
    "recording's own build-id cache; kallsyms: the kernel's symbols (default "           \
    "/proc/kallsyms, '' for none); perf_map_dir: where perf maps are (default /tmp); "   \
    "legacy_plt: name PLT entries as perf before 6.3.  "                                 \
    "NotImplementedError names what this reader does not read (fold with perf script "   \
    "then); OSError for a file it cannot read."

#endif
