/*
 * perftramp's C API, for embedders and C extensions: the counterparts of
 * CPython 3.13's PyUnstable_PerfTrampoline_CompileCode and
 * PyUnstable_PerfTrampoline_SetPersistAfterFork, on every CPython perftramp
 * supports.  Compile with -I"$(python -c 'import perftramp;
 * print(perftramp.get_include())')"; nothing to link: the functions come
 * from the installed extension through a capsule.
 *
 *     const PerftrampCAPI *pt = Perftramp_Import();   // NULL + exception
 *     if (pt != NULL && pt->compile_code(code) < 0) { ... }
 *
 * compile_code(code): makes the code object's trampoline now, as its first
 * call would (so that forked workers inherit it instead of making their
 * own); 0, also when no backend is active (nothing to do), -1 with TypeError
 * for what is not a code object.  The GIL held, the main interpreter.
 *
 * set_persist_after_fork(enable): CPython's meaning.  On, a forked child
 * keeps calling its parent's trampolines, and its own map or dump names
 * every one it inherited (copied once, at the fork).  Off (the default, as
 * in CPython; `perftramp record` and PERFTRAMP_ACTIVATE turn it on), a child
 * makes its own trampolines and its file names only those.  perf_elf always
 * persists.  Returns 0.
 */
#ifndef PERFTRAMP_H
#define PERFTRAMP_H

#include <Python.h>

#define PERFTRAMP_CAPI_NAME "perftramp._perftramp._C_API"
#define PERFTRAMP_CAPI_VERSION 1

typedef struct {
    int version; /* PERFTRAMP_CAPI_VERSION of the installed extension */
    int (*compile_code)(PyObject *code);
    int (*set_persist_after_fork)(int enable);
} PerftrampCAPI;

static inline const PerftrampCAPI *
Perftramp_Import(void)
{
    const PerftrampCAPI *api =
        (const PerftrampCAPI *)PyCapsule_Import(PERFTRAMP_CAPI_NAME, 0);
    if (api != NULL && api->version < PERFTRAMP_CAPI_VERSION) {
        PyErr_SetString(PyExc_ImportError, "perftramp: the installed C API is older than "
                                           "this perftramp.h");
        return NULL;
    }
    return api;
}

#endif
