/* Ahead-of-time trampolines for pre-fork servers (capi.c): Python's
 * perftramp._perftramp._compile / _set_persist_after_fork, and the capsule
 * behind perftramp.h. */
#ifndef PERFTRAMP_BINDING_CAPI_H
#define PERFTRAMP_BINDING_CAPI_H

#include "compat.h"

PyObject *pt_capi_compile_py(PyObject *module, PyObject *code);
PyObject *pt_capi_set_persist_py(PyObject *module, PyObject *flag);
PyObject *pt_capi_persist_py(PyObject *module, PyObject *ignored);

/* The flag set_persist_after_fork set (module.c's fork handler reads it). */
int pt_capi_persist_after_fork(void);

/* Adds the capsule _C_API to the module; 0, or -1 with an exception. */
int pt_capi_add(PyObject *module);

#endif
