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
#include "../core/backend.h"

/* One backend's run-time state, beside its row of the table (backend.h):
 * the stubs it has made and the file describing them.  Each has its own
 * co_extra slot and arena, because a stub is described in one format only
 * (and jitdump stubs need wider slots): switching backends gives code
 * objects new stubs, named in the new backend's file. */
struct pt_backend {
    const struct pt_backend_info *info;
    /* Requested once per process (CPython offers only 255 slots) and kept
     * across deactivation, so a reactivated hook reuses every stub already
     * named. */
    Py_ssize_t extra_index;
    struct pt_arena *arena;
    void *writer_state;
    /* Set when the writer failed (e.g. in a child that could not open its
     * own file): stubs are still used, but no more entries are written. */
    int writer_broken;
    /* Set in a forked child whose copy of the arena could not be made usable
     * (its lock could not be remade): stubs already made are still called,
     * but functions without one run without a trampoline. */
    int arena_broken;
    size_t write_errors;
};

struct pt_state {
    /* The backend making and calling stubs; NULL while inactive (the hook,
     * if still installed, then passes every call straight through). */
    struct pt_backend *current;
    /* The evaluator found when the hook was installed, called through each
     * stub; normally CPython's default, another PEP 523 hook if one came
     * first. */
    _PyFrameEvalFunction next_eval;
    int installed; /* our hook is in the interpreter's chain */
};

extern struct pt_state pt_state;

/* Trims the backend's file to what it wrote, so that another writer (CPython's
 * own backend) can append right after it; called when the backend stops. */
void pt_backend_pause(struct pt_backend *backend);

PyObject *pt_eval_frame(PT_EVAL_PARAMS);

/* Whether the interpreter still calls our hook: it is the interpreter's
 * evaluator, or a hook installed on top of ours (which calls ours in turn).
 * A tool that sets the evaluator back to CPython's default, or to the one
 * ours replaced (debuggers do), has taken ours out; a hook that replaced
 * ours without calling it cannot be told from one that chains to it. */
int pt_hook_in_chain(PyInterpreterState *interp);

/* Installs (on) or removes the benchmarks' no-op hook; either is a no-op
 * when already so.  Cannot fail. */
void pt_floor_set(PyInterpreterState *interp, int on);

#endif
