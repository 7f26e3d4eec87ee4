/*
 * The eval-frame hook and the per-code-object trampolines it calls through.
 *
 * State is process-wide and belongs to the main interpreter: the hook is only
 * ever installed there.  With the GIL, everything below is serialized by it.
 *
 * Free-threaded builds (3.14t; the extension declares Py_MOD_GIL_NOT_USED):
 * safe today
 *   - a code object's first call: make_trampoline() runs under a PyMutex and
 *     re-checks the slot, so racing threads make one stub and one entry
 *     (a forked child frees that lock first: pt_hook_after_fork_child);
 *   - the hot path's co_extra read: acquire loads pairing with CPython's
 *     release stores, arrays freed by QSBR (compat.h; 3.14.7's codeobject.c;
 *     check the 3.14.x releases before it, and 3.13t, which realloc'd);
 *   - arena stubs (pt_arena_take_stub holds the arena's mutex) and the
 *     writers (add() holds the outfile's mutex; neither calls into Python
 *     while holding it, so a blocked, attached thread delays no pause).
 * still assuming the GIL, with the fix each needs
 *   - pt_state.current, .next_eval, .installed: plain fields that activate
 *     and deactivate write while other threads read them on every call.
 *     Atomic relaxed loads on the hot path; next_eval stored with release
 *     before the hook is installed, current stored with release.
 *   - activate/deactivate/_after_fork_child themselves (module.c): two
 *     threads activating at once can request two co_extra slots, make two
 *     arenas or open the writer twice (ensure_resources).  One module-level
 *     PyMutex around them.
 *   - fast_extra_ok (hook.c), backend->write_errors, writer_broken and
 *     arena_broken: written on the first-call path, by activation or in a
 *     forked child, read elsewhere: relaxed atomics.
 *   - close_writers() (Py_AtExit): closes the writers while a daemon thread
 *     may still be making a trampoline.  Take the first-call lock there and
 *     let make_trampoline() see a closed writer under it.
 *   - pt_arena_owns() and pt_arena_inherited(): read the chunk list and the
 *     fork watermark unlocked; only a forked child (one thread) calls them
 *     today, through the writers' move to the child.
 * and to verify: the 8-thread x fresh functions x toggle x fork stress under
 * ThreadSanitizer on a --with-thread-sanitizer 3.14t (issue 10).
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

/* In a forked child, before anything else runs: frees the first-call lock,
 * which a thread of the parent may have held at the fork. */
void pt_hook_after_fork_child(void);

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
