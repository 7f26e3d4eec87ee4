/*
 * Folding `perf script` output into stacks, for reports.
 *
 * perf script prints each sample as a header line, then one line per frame,
 * innermost first:
 *
 *     python 4242
 *     	    5a1c _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)
 *     	7f01a0c0 py::foo:/app.py (/tmp/perf-4242.map)
 *     ...
 *     <blank line>
 *
 * (fields -F comm,tid,ip,sym,dso).  The folder turns every sample into one
 * stack, outermost first, "comm;frame;frame;...", and counts equal stacks.
 * A profile of Python wants Python frames, not the interpreter's: frames of
 * the interpreter itself (the python binary, libpython, perftramp's own
 * extension, unresolved addresses) that sit between two Python frames are
 * dropped unless keep_internal is set.  Native frames of other libraries
 * (C extensions) stay.  An "(inlined)" frame belongs to the object of the
 * next real frame below it.
 *
 * Plain C11; streaming, so that gigabytes of perf script output need only
 * as much memory as the distinct stacks.
 */
#ifndef PERFTRAMP_REPORT_FOLD_H
#define PERFTRAMP_REPORT_FOLD_H

#include <stddef.h>
#include <stdint.h>

struct pt_fold;

struct pt_fold_options {
    int keep_internal;
    /* Object (dso) base-name prefixes that are the interpreter's, NULL-ended;
     * NULL means the defaults: "python", "libpython", "_perftramp". */
    const char *const *internal_prefixes;
};

int pt_fold_new(struct pt_fold **out, const struct pt_fold_options *options);

/* Feeds the next len bytes of perf script output (any split). 0 or -errno. */
int pt_fold_feed(struct pt_fold *fold, const char *data, size_t len);

/* Ends the input (a last sample without a blank line after it counts). */
int pt_fold_finish(struct pt_fold *fold);

/* Calls fn for every distinct stack with its count, in no set order. */
void pt_fold_each(const struct pt_fold *fold,
                  void (*fn)(void *ctx, const char *stack, size_t len, uint64_t count),
                  void *ctx);

uint64_t pt_fold_samples(const struct pt_fold *fold);
void pt_fold_free(struct pt_fold *fold);

#endif
