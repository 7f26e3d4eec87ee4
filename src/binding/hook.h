/*
 * The eval-frame hook and the per-code-object trampolines it calls through.
 *
 * State is process-wide and belongs to the main interpreter: the hook is only
 * ever installed there.
 *
 * Free-threaded builds (3.14t; the extension declares Py_MOD_GIL_NOT_USED)
 * run all of this without the GIL, and without a lock on the hot path:
 *   - pt_state's fields are atomics.  activate stores next_eval (release)
 *     before installing the hook and current (release) after making the
 *     backend's slot, arena and writer; pt_eval_frame loads current with
 *     acquire, pairing with that, and next_eval relaxed (see there).
 *     installed is only read and written under the module lock, but
 *     is_active reads it without: atomic for that.  With the GIL the loads
 *     compile to plain loads (compat.h).
 *   - activate, deactivate, _after_fork_child, _floor and _stats (module.c)
 *     hold one module-level lock (a PyMutex; nothing with the GIL, which
 *     never lets go inside them: the one call there that can run Python,
 *     the warning that no file can be written, is made after unlocking;
 *     _after_fork_child's lines on stderr run in a child's only thread), so
 *     two threads activating at once request one co_extra slot, make one
 *     arena and open the writer once.
 *   - a code object's first call: make_trampoline() runs under the
 *     first-call lock and re-checks the slot, so racing threads make one stub
 *     and one entry (the line saying the writer failed is printed after
 *     unlocking: sys.stderr may run Python, which may make a trampoline).
 *     close_writers() (Py_AtExit) takes the same lock before
 *     closing the writers, so a daemon thread still making a trampoline
 *     finishes its entry first, and make_trampoline() sees the writer gone
 *     (writer_state NULL) after; it waits a second at most (a thread holding
 *     the lock may hang, see pt_hook_stop_first_calls).
 *   - fast_extra_ok, write_errors, writer_broken and arena_broken: relaxed
 *     atomics; each is a flag or a counter on its own, ordered with nothing.
 *   - the hot path's co_extra read: acquire loads pairing with CPython's
 *     release stores, arrays freed by QSBR (compat.h; 3.14.7's codeobject.c;
 *     check the 3.14.x releases before it, and 3.13t, which realloc'd);
 *   - arena stubs (pt_arena_take_stub holds the arena's mutex) and the
 *     writers (add() holds its file's mutex, outfile.h's pt_procfile;
 *     neither calls into Python while holding it, so a blocked, attached
 *     thread delays no pause).
 *   - a forked child frees both locks first (the forking thread is its only
 *     one), from a pthread_atfork handler, so also in a child of a C
 *     library's fork() that runs no Python callback.  State a lock guarded
 *     is then as the parent's holder left it: counters and flags, or a
 *     backend half-activated (slot or arena made, not yet current), which
 *     the next activation completes.
 * Still unlocked, and fine only because of who calls them:
 *   - pt_arena_owns() and pt_arena_inherited() read the chunk list and the
 *     fork watermark unlocked; only a forked child (one thread) calls them,
 *     through the writers' move to the child.
 * Verified by tests/python/stress.py (3 threads making fresh functions, one
 * switching backends, forks of three kinds) under ThreadSanitizer on 3.14t:
 * `make test-stress-tsan` (tests/tsan.supp says what it suppresses: reports
 * wholly inside CPython).
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
     * named; requested again in a forked child that does not persist
     * (module.c's fork handler), so that it makes its own stubs. */
    Py_ssize_t extra_index;
    /* pt_fork_generation() of the child that got that fresh slot, else 0:
     * its own file then names none of the stubs it inherited. */
    unsigned fresh_slot_generation;
    struct pt_arena *arena;
    void *writer_state;
    /* Set when the writer failed (e.g. in a child that could not open its
     * own file): stubs are still used, but no more entries are written. */
    int writer_broken; /* relaxed atomic */
    /* Set in a forked child whose copy of the arena could not be made usable
     * (its lock could not be remade): stubs already made are still called,
     * but functions without one run without a trampoline. */
    int arena_broken;    /* relaxed atomic */
    size_t write_errors; /* relaxed atomic */
};

/* Every field is read and written atomically (PT_LOAD_* and PT_STORE_* of
 * compat.h), in the orders the header says. */
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

/* Takes the first-call lock, so that no trampoline is made until
 * pt_hook_resume_first_calls(): 1, or 0 when a second went by without it
 * (its holder may be a daemon thread that hangs at exit). */
int pt_hook_stop_first_calls(void);
void pt_hook_resume_first_calls(void);

/* The hook is installed, and trampolines are made, in the main interpreter
 * only. */
static inline int
pt_is_main_interpreter(void)
{
    return PyThreadState_Get()->interp == PyInterpreterState_Main();
}

/* Makes co's trampoline now, as its first call would (ahead of a fork, for
 * pre-fork servers): 1 when it has one, 0 when no backend is active or it
 * could not be made (said once on stderr, as for a first call).  The GIL
 * held (an attached thread state on free-threaded builds), no exception
 * pending, the main interpreter. */
int pt_hook_compile(PyCodeObject *co);

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
