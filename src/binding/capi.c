/*
 * The pre-fork API (perftramp.h has the contract for C).
 *
 * Pre-fork servers (gunicorn, uwsgi) import the application once and fork
 * workers from it.  Made before the fork, a function's trampoline is the
 * workers' too when persistence is on: they run it without making their
 * own, and their map or dump names it from the copy of the parent's entries
 * each child gets when it is forked (module.c's fork handler).  Without
 * persistence (the default, as in CPython) each child makes every
 * trampoline again, a cost gh-109587 puts at 1.5% CPU.
 */
#include "capi.h"
#include "hook.h"

#include "../perftramp/include/perftramp.h"

static int persist_after_fork;

/* -1 with TypeError for a non-code object; else whether it has a
 * trampoline now (0 also when no backend is active). */
static int
compile_checked(PyObject *code)
{
    if (!PyCode_Check(code)) {
        PyErr_Format(PyExc_TypeError,
                     "perftramp: compile needs a code object, not %.100s",
                     Py_TYPE(code)->tp_name);
        return -1;
    }
    /* The hook runs in the main interpreter only, and a subinterpreter's
     * code objects have no slot at the main one's extra index. */
    return pt_is_main_interpreter() && pt_hook_compile((PyCodeObject *)code);
}

/* perftramp.h's: -1 with TypeError for a non-code object; else 0, whether
 * or not a trampoline could be made (CPython's compile returns 0 when it
 * cannot make one too: the function runs unnamed, it does not fail). */
static int
compile_code(PyObject *code)
{
    return compile_checked(code) < 0 ? -1 : 0;
}

static int
set_persist_after_fork(int enable)
{
    persist_after_fork = enable != 0;
    return 0;
}

PyObject *
pt_capi_compile_py(PyObject *Py_UNUSED(module), PyObject *code)
{
    int has = compile_checked(code);
    if (has < 0) {
        return NULL;
    }
    return PyBool_FromLong(has);
}

PyObject *
pt_capi_set_persist_py(PyObject *Py_UNUSED(module), PyObject *flag)
{
    int on = PyObject_IsTrue(flag);
    if (on < 0) {
        return NULL;
    }
    set_persist_after_fork(on);
    Py_RETURN_NONE;
}

int
pt_capi_persist_after_fork(void)
{
    return persist_after_fork;
}

PyObject *
pt_capi_persist_py(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(persist_after_fork);
}

static const PerftrampCAPI capi = {
    .version = PERFTRAMP_CAPI_VERSION,
    .compile_code = compile_code,
    .set_persist_after_fork = set_persist_after_fork,
};

int
pt_capi_add(PyObject *module)
{
    return pt_module_add(module, "_C_API",
                         PyCapsule_New((void *)&capi, PERFTRAMP_CAPI_NAME, NULL));
}
