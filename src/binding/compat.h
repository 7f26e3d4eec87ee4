/*
 * Everything perftramp knows about CPython versions, as named flags and small
 * inline wrappers.  No other file tests PY_VERSION_HEX.
 *
 * The PEP 523 hook changed shape twice:
 *   3.8      eval(PyFrameObject *, int)                 bpo-35886 moved the
 *            interpreter state (and its eval_frame field) into internal
 *            headers, and no setter existed before 3.9.
 *   3.9-3.10 eval(PyThreadState *, PyFrameObject *, int)      bpo-38500 added
 *            _PyInterpreterState_{Get,Set}EvalFrameFunc.
 *   3.11+    eval(PyThreadState *, struct _PyInterpreterFrame *, int)
 *            bpo-44590 replaced frame objects with interpreter frames whose
 *            layout lives only in internal headers (see frame_code() below).
 * Before 3.11 a code object has no co_qualname (bpo-44530), so maps name
 * functions by co_name there, as CPython's own tools did.
 *
 * 3.14 made an interpreter frame's executable a tagged stack reference
 * (Include/internal/pycore_stackref.h), and the free-threaded
 * build (PEP 703, supported from 3.14 by PEP 779) reads code objects' extra
 * slots without a lock: see pt_frame_code() and pt_code_extra_fast().
 */
#ifndef PERFTRAMP_BINDING_COMPAT_H
#define PERFTRAMP_BINDING_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#if PY_VERSION_HEX < 0x03080000
#    error "perftramp needs CPython 3.8 or newer"
#endif

#define PT_PY39 (PY_VERSION_HEX >= 0x03090000)
#define PT_PY311 (PY_VERSION_HEX >= 0x030B0000)
#define PT_PY312 (PY_VERSION_HEX >= 0x030C0000)
#define PT_PY313 (PY_VERSION_HEX >= 0x030D0000)
#define PT_PY314 (PY_VERSION_HEX >= 0x030E0000)
#define PT_PY315 (PY_VERSION_HEX >= 0x030F0000)

/* The free-threaded build (configure --disable-gil, "3.14t"): pyconfig.h
 * defines Py_GIL_DISABLED for it and for the extensions built against it. */
#ifdef Py_GIL_DISABLED
#    define PT_FREE_THREADED 1
#else
#    define PT_FREE_THREADED 0
#endif

/* ThreadSanitizer, when the extension is built with it (GCC defines
 * __SANITIZE_THREAD__, clang has the feature). */
#if defined(__SANITIZE_THREAD__)
#    define PT_TSAN 1
#elif defined(__has_feature)
#    if __has_feature(thread_sanitizer)
#        define PT_TSAN 1
#    endif
#endif
#ifndef PT_TSAN
#    define PT_TSAN 0
#endif
#if PT_TSAN && PT_FREE_THREADED
#    include <sanitizer/tsan_interface.h>
#endif

#if !PT_PY39
/* 3.8 keeps eval_frame in the internal interpreter struct. */
#    define Py_BUILD_CORE 1
#    include "internal/pycore_pystate.h"
#    undef Py_BUILD_CORE
#endif

#if !PT_PY311
#    include <frameobject.h>
#endif

/* 3.8's PyMODINIT_FUNC carries no visibility, and the extension is built
 * with hidden visibility; 3.9 added it. */
#if PT_PY39
#    define PT_MODINIT_FUNC PyMODINIT_FUNC
#else
#    define PT_MODINIT_FUNC __attribute__((visibility("default"))) PyMODINIT_FUNC
#endif

#if PT_PY311
typedef struct _PyInterpreterFrame pt_frame;
#else
typedef PyFrameObject pt_frame;
#endif

/* The evaluator's parameters, and the trampoline that calls an evaluator:
 * the stub passes its first three arguments through and calls its fourth. */
#if PT_PY39
#    define PT_EVAL_PARAMS PyThreadState *tstate, pt_frame *frame, int throwflag
#    define PT_EVAL_ARGS tstate, frame, throwflag
typedef PyObject *(*pt_trampoline)(PyThreadState *, pt_frame *, int,
                                   _PyFrameEvalFunction);
#    define PT_CALL_TRAMPOLINE(tramp, target) (tramp)(tstate, frame, throwflag, (target))
#else
#    define PT_EVAL_PARAMS pt_frame *frame, int throwflag
#    define PT_EVAL_ARGS frame, throwflag
typedef PyObject *(*pt_trampoline)(pt_frame *, int, void *, _PyFrameEvalFunction);
#    define PT_CALL_TRAMPOLINE(tramp, target) (tramp)(frame, throwflag, NULL, (target))
#endif

static inline _PyFrameEvalFunction
pt_get_eval_frame(PyInterpreterState *interp)
{
#if PT_PY39
    return _PyInterpreterState_GetEvalFrameFunc(interp);
#else
    return interp->eval_frame;
#endif
}

static inline void
pt_set_eval_frame(PyInterpreterState *interp, _PyFrameEvalFunction func)
{
#if PT_PY39
    /* From 3.11 on, setting the default back also re-enables inlined
     * Python-to-Python calls. */
    _PyInterpreterState_SetEvalFrameFunc(interp, func);
#else
    interp->eval_frame = func;
#endif
}

/* CPython's own evaluator, what an interpreter runs with no PEP 523 hook (and
 * what tools that "reset" the hook put back). */
static inline _PyFrameEvalFunction
pt_default_eval_frame(void)
{
    return (_PyFrameEvalFunction)_PyEval_EvalFrameDefault;
}

/* 3.14+: a _PyStackRef is one machine word (union { uintptr_t bits; }) that
 * holds an object pointer with tag bits in its low bits, which objects'
 * alignment leaves free.  Which bits may be set differs per version and per
 * build, from Include/internal/pycore_stackref.h:
 *   3.14        Py_TAG_REFCNT (1): reference not counted (deferred or
 *               immortal); bits 0b11 (Py_INT_TAG) mark an unboxed int.
 *               Borrowing clears bit 0.
 *   3.14t       Py_TAG_BITS is 1 (Py_TAG_DEFERRED == Py_TAG_REFCNT); unboxed
 *               ints are 0b11 as well.  Borrowing clears bit 0.
 *   3.15 (both) Py_TAG_BITS is 3 in both builds: Py_TAG_REFCNT (1),
 *               Py_TAG_INVALID (2, a reference to no object: ERROR and,
 *               in debug builds, wrapped pointers), Py_INT_TAG (3).
 *               Borrowing clears bit 0.
 * NULL is the bare Py_TAG_REFCNT bit in every one.  A frame's executable is
 * a code object or None, never an unboxed int; the checks below are for
 * robustness, so that a word we cannot read as an object gives NULL rather
 * than a wild pointer.  (A CPython configured with Py_STACKREF_DEBUG, a
 * developer-only switch in pycore_structs.h, stores table indices instead of
 * pointers and is not supported.) */
#if PT_PY314
#    define PT_STACKREF_REFCNT_BIT ((uintptr_t)1)
#    if PT_PY315 || !PT_FREE_THREADED
#        define PT_STACKREF_TAG_BITS ((uintptr_t)3)
#    else
#        define PT_STACKREF_TAG_BITS ((uintptr_t)1)
#    endif
#    define PT_STACKREF_INT_TAG ((uintptr_t)3)

/* The object a stack reference names, borrowed; NULL for NULL, an unboxed
 * int, or (3.15) an invalid reference. */
static inline PyObject *
pt_stackref_borrow(uintptr_t bits)
{
    if ((bits & PT_STACKREF_INT_TAG) == PT_STACKREF_INT_TAG) {
        return NULL; /* unboxed int, in every 3.14+ build */
    }
#    if PT_PY315
    if ((bits & PT_STACKREF_TAG_BITS) == 2) {
        return NULL; /* Py_TAG_INVALID */
    }
#    endif
    return (PyObject *)(bits & ~PT_STACKREF_REFCNT_BIT);
}
#endif

/* The code object a frame runs, borrowed; NULL when the frame runs something
 * else (3.13+ frames may hold a non-code executable, None for the C-stack
 * entry frames).  Interpreter frames are opaque outside CPython; their first
 * fields are mirrored here, one layout per version, from
 * Include/internal/pycore_frame.h (3.11-3.13) and pycore_interpframe_structs.h
 * (3.14+): the executable is the first word from 3.12 on (f_code, then
 * f_executable), and the fields after it are never read. */
static inline PyCodeObject *
pt_frame_code(pt_frame *frame)
{
#if PT_PY314
    /* _PyStackRef f_executable: a deferred or strong reference. */
    PyObject *executable = pt_stackref_borrow(*(uintptr_t *)frame);
    return (executable != NULL && PyCode_Check(executable)) ? (PyCodeObject *)executable
                                                            : NULL;
#elif PT_PY313
    PyObject *executable = *(PyObject **)frame; /* f_executable */
    return PyCode_Check(executable) ? (PyCodeObject *)executable : NULL;
#elif PT_PY312
    return *(PyCodeObject **)frame; /* f_code */
#elif PT_PY311
    /* f_func, f_globals, f_builtins, f_locals, then f_code */
    return ((PyCodeObject **)frame)[4];
#else
    return frame->f_code;
#endif
}

/* co_extra access; 3.12 renamed these PyUnstable_* and deprecated the old
 * names (gh-101101). */
static inline Py_ssize_t
pt_request_code_extra_index(void)
{
#if PT_PY312
    return PyUnstable_Eval_RequestCodeExtraIndex(NULL);
#else
    return _PyEval_RequestCodeExtraIndex(NULL);
#endif
}

static inline int
pt_code_get_extra(PyCodeObject *co, Py_ssize_t index, void **extra)
{
#if PT_PY312
    return PyUnstable_Code_GetExtra((PyObject *)co, index, extra);
#else
    return _PyCode_GetExtra((PyObject *)co, index, extra);
#endif
}

static inline int
pt_code_set_extra(PyCodeObject *co, Py_ssize_t index, void *extra)
{
#if PT_PY312
    return PyUnstable_Code_SetExtra((PyObject *)co, index, extra);
#else
    return _PyCode_SetExtra((PyObject *)co, index, extra);
#endif
}

/* The hot path reads a code object's extra slot directly: the API function
 * is an out-of-line call that re-checks the type on every Python call.  The
 * co_extra layout (Objects/codeobject.c, _PyCodeObjectExtra) has been
 * { Py_ssize_t ce_size; void *ce_extras[]; } since PEP 523 (3.6) through
 * 3.15; module.c checks it against the API once before relying on it.
 *
 * Free-threaded: PyUnstable_Code_SetExtra publishes a grown array, and a
 * value in an existing one, with release stores under the code object's
 * critical section, and frees a replaced array only after every thread has
 * passed a quiescent point (QSBR, _PyMem_FreeDelayed); readers, like
 * PyUnstable_Code_GetExtra, take no lock and load with acquire.  A thread
 * inside the eval hook holds its thread state attached, so the array it
 * loaded stays allocated until it returns. */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} pt_code_extra_layout;

/* Atomic access to fields that threads share without a lock, with the
 * __atomic builtins (GCC 4.7+, clang), which take plain fields.  An acquire
 * load pairs with a release store of the same field; relaxed ones are for
 * fields ordered with nothing else.  Free-threaded builds need them.  With
 * the GIL, which orders every access to these fields (each runs with it
 * held), loads stay plain loads: GCC schedules atomic loads, even relaxed
 * ones, more conservatively (an indirect tail call through a relaxed load
 * takes a register move more), and a GIL build's hot path needs none of
 * that.  Stores, none of them on the hot path, are atomic in every build. */
#if PT_FREE_THREADED
#    define PT_LOAD_ACQUIRE(lvalue) __atomic_load_n(&(lvalue), __ATOMIC_ACQUIRE)
#    define PT_LOAD_RELAXED(lvalue) __atomic_load_n(&(lvalue), __ATOMIC_RELAXED)
#else
#    define PT_LOAD_ACQUIRE(lvalue) (lvalue)
#    define PT_LOAD_RELAXED(lvalue) (lvalue)
#endif
#define PT_STORE_RELEASE(lvalue, value)                                                  \
    __atomic_store_n(&(lvalue), (value), __ATOMIC_RELEASE)
#define PT_STORE_RELAXED(lvalue, value)                                                  \
    __atomic_store_n(&(lvalue), (value), __ATOMIC_RELAXED)
#define PT_EXCHANGE_RELAXED(lvalue, value)                                               \
    __atomic_exchange_n(&(lvalue), (value), __ATOMIC_RELAXED)
#define PT_ADD_RELAXED(lvalue, value)                                                    \
    ((void)__atomic_fetch_add(&(lvalue), (value), __ATOMIC_RELAXED))

/* Under ThreadSanitizer these loads are left uninstrumented, as CPython's
 * own readers are: the stores they pair with are made inside uninstrumented
 * libpython, so ThreadSanitizer sees the new array's memset there (an
 * intercepted call) and never the release store that publishes it, and would
 * report every first call that grows the array as a race with the next
 * thread's read.  GCC's no_sanitize("thread") skips the whole pass, atomics
 * included; clang needs disable_sanitizer_instrumentation for that.  Such a
 * function is not inlined into an instrumented one: a call more, in
 * sanitized builds only. */
#if PT_TSAN && defined(__clang__)
#    define PT_TSAN_UNSEEN __attribute__((disable_sanitizer_instrumentation))
#elif PT_TSAN
#    define PT_TSAN_UNSEEN __attribute__((no_sanitize("thread")))
#else
#    define PT_TSAN_UNSEEN
#endif

PT_TSAN_UNSEEN static inline void *
pt_code_extra_fast(PyCodeObject *co, Py_ssize_t index)
{
    pt_code_extra_layout *extra = (pt_code_extra_layout *)PT_LOAD_ACQUIRE(co->co_extra);
    return (extra != NULL && index < extra->ce_size)
               ? PT_LOAD_ACQUIRE(extra->ce_extras[index])
               : NULL;
}

/* A lock for the rare paths that a GIL, where there is one, serializes: a
 * code object's first call through the hook, and module.c's activation and
 * deactivation.
 * Free-threaded: a PyMutex (public from 3.13), whose lock detaches the
 * thread state while it waits, so that a thread blocked here never holds up
 * a stop-the-world pause (which setting the evaluator makes) that the holder
 * may be waiting for.  With the GIL: nothing, the GIL already serializes (the
 * code it guards never lets the GIL go: nothing in it calls Python).
 *
 * Under ThreadSanitizer the lock's order is announced to it (acquire after
 * locking, release before unlocking): CPython is not instrumented, and when
 * PyMutex_Lock has to wait it is handed the lock inside libpython, where
 * ThreadSanitizer sees no ordering (only the uncontended inline
 * compare-and-swap of cpython/lock.h).  Only the order: announced as a mutex
 * (__tsan_mutex_pre_lock...) it would join ThreadSanitizer's lock-order
 * graph, which a forked child confuses (it sees the arenas' locks, taken by
 * the pthread_atfork handlers inside its fork interceptor, still held) into
 * cycles that no thread makes. */
#if PT_FREE_THREADED
typedef PyMutex pt_mutex;
static inline void
pt_mutex_lock(pt_mutex *m)
{
    PyMutex_Lock(m);
#    if PT_TSAN
    __tsan_acquire(m);
#    endif
}
/* Takes the lock only if it is free: 1 when taken.  A compare-and-swap of
 * its state byte, from unlocked to locked, as PyMutex_Lock's inline fast path
 * does (cpython/lock.h, 3.13-3.15: uint8_t _bits, _Py_LOCKED 1); the public
 * API has no try-lock. */
static inline int
pt_mutex_trylock(pt_mutex *m)
{
    uint8_t expected = 0;
    int taken = __atomic_compare_exchange_n(&m->_bits, &expected, (uint8_t)1, 0,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
#    if PT_TSAN
    if (taken) {
        __tsan_acquire(m);
    }
#    endif
    return taken;
}
static inline void
pt_mutex_unlock(pt_mutex *m)
{
#    if PT_TSAN
    __tsan_release(m);
#    endif
    PyMutex_Unlock(m);
}
#else
typedef struct {
    char unused;
} pt_mutex;
static inline void
pt_mutex_lock(pt_mutex *m)
{
    (void)m;
}
static inline int
pt_mutex_trylock(pt_mutex *m)
{
    (void)m;
    return 1;
}
static inline void
pt_mutex_unlock(pt_mutex *m)
{
    (void)m;
}
#endif

/* In a forked child: the lock is free.  The forking thread is the child's
 * only one, so a lock that another thread of the parent held at the fork is
 * held by nobody now; whatever it guarded was left as that thread left it,
 * which the child's callers accept (see hook.h). */
static inline void
pt_mutex_reset_in_child(pt_mutex *m)
{
    memset(m, 0, sizeof(*m));
}

/* PEP 703: a free-threaded interpreter turns the GIL back on, for the whole
 * process and with a RuntimeWarning, when it imports an extension that has
 * not declared it runs without one.  Single-phase init declares it with
 * PyUnstable_Module_SetGIL (free-threaded 3.13+ only; multi-phase init would
 * use the Py_mod_gil slot instead). */
static inline int
pt_module_declare_no_gil(PyObject *module)
{
#if PT_FREE_THREADED
    return PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED);
#else
    (void)module;
    return 0;
#endif
}

/* Adds value to the module as `name` and takes the reference whatever
 * happens, as 3.13's PyModule_Add does (PyModule_AddObject leaves it with
 * the caller on failure), so a maker's result is passed straight in: a NULL
 * one (the maker failed) is -1.  0, or -1 with an exception. */
static inline int
pt_module_add(PyObject *module, const char *name, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, name, value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
}

static inline PyObject *
pt_code_qualname(PyCodeObject *co)
{
#if PT_PY311
    return co->co_qualname;
#else
    return co->co_name;
#endif
}

#endif
