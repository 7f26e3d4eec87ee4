/*
 * The eval-frame hook and the per-code-object trampolines it calls through.
 *
 * State is process-wide and belongs to the main interpreter: the hook is only
 * ever installed there, and everything below runs with the GIL held.
 */
#ifndef PERFTRAMP_BINDING_HOOK_H
#define PERFTRAMP_BINDING_HOOK_H

#include "compat.h"
#include "../core/arena.h"
#include "../core/writer.h"

struct pt_state {
    /* co_extra slot holding each code object's stub; requested once per
     * process (CPython offers only 255 of them) and kept across
     * deactivation, so a reactivated hook reuses every stub already named. */
    Py_ssize_t extra_index;
    struct pt_arena *arena;
    const struct pt_writer_ops *writer;
    void *writer_state;
    /* Set when the writer failed (e.g. in a child that could not open its
     * own file): stubs are still used, but no more entries are written. */
    int writer_broken;
    /* The evaluator found when the hook was installed, called through each
     * stub; normally CPython's default, another PEP 523 hook if one came
     * first. */
    _PyFrameEvalFunction next_eval;
    int installed; /* our hook is in the interpreter's chain */
    int active;    /* and it makes trampolines */
    size_t write_errors;
};

extern struct pt_state pt_state;

PyObject *pt_eval_frame(PT_EVAL_PARAMS);

#endif
