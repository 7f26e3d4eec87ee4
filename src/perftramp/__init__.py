"""perftramp: Python functions by name in Linux perf, on CPython 3.8 and later.

The API mirrors CPython 3.12's sys functions:

    perftramp.activate_stack_trampoline("perf")
    ...                                   # profiled code
    perftramp.deactivate_stack_trampoline()

activate_stack_trampoline() always uses perftramp's own backend.  On
CPython 3.12+, which has a backend of its own, the interpreter never runs two
hooks at once: activating ours first switches CPython's off, and sys's
functions are wrapped so that they see and switch off both.  deactivate and
is_stack_trampoline_active therefore mean "any stack trampoline", as in sys.
"""
from __future__ import annotations

import gc
import os
import types
from typing import Dict

from . import _backends, _cpython, _perftramp

__all__ = [
    "activate_stack_trampoline",
    "deactivate_stack_trampoline",
    "is_stack_trampoline_active",
    "compile_trampolines",
    "set_persist_after_fork",
    "get_include",
    "BACKENDS",
]
__version__ = "0.1.0"

#: Backend names activate_stack_trampoline() accepts, from the extension's
#: registry.
BACKENDS = _backends.names()
#: What activate_stack_trampoline() says (ValueError) while CPython's JIT is
#: on, in CPython's words: jitted code keeps no frame pointers and is named
#: in no map, so samples in it would silently lose their Python frames.
JIT_REFUSAL = _cpython.JIT_REFUSAL
jit_enabled = _cpython.jit_enabled


def activate_stack_trampoline(backend):
    """Make Python functions visible to perf, with perftramp's backend.

    backend: one of BACKENDS.  "perf" writes /tmp/perf-PID.map, for perf's
    frame-pointer unwinding; "perf_jit" writes /tmp/jit-PID.dump with DWARF
    unwinding information, for `perf record --call-graph dwarf -k 1`
    followed by `perf inject --jit`; "perf_elf" writes an ELF image with
    DWARF unwinding information that perf reads as it is, with no inject
    (`perf record --call-graph dwarf`).  Activating again (or switching) is
    harmless.  If the file cannot be written, a RuntimeWarning says why and
    the program runs on unprofiled.  With CPython's JIT on, refuses as
    CPython does (ValueError, JIT_REFUSAL).
    """
    _cpython.activate(backend)


def deactivate_stack_trampoline():
    """Stop making and calling trampolines (perftramp's and, on 3.12+,
    CPython's).  Trampolines already made stay valid and named."""
    _cpython.deactivate()


def is_stack_trampoline_active():
    """Whether a stack trampoline (perftramp's or CPython's) is active."""
    return _cpython.is_active()


def _code_objects(obj, out):
    """Adds to out the code objects of obj (code, function, method, class,
    module, or an iterable of them) and every code object nested in them."""
    if isinstance(obj, types.CodeType):
        todo = [obj]
    elif isinstance(obj, (types.FunctionType, types.MethodType)):
        todo = [getattr(obj, "__func__", obj).__code__]
    elif isinstance(obj, (type, types.ModuleType)):
        for value in list(vars(obj).values()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            elif isinstance(value, property):
                for accessor in (value.fget, value.fset, value.fdel):
                    if accessor is not None:
                        _code_objects(accessor, out)
                continue
            if isinstance(value, (types.FunctionType, types.MethodType)) or (
                    isinstance(value, type) and value is not obj
                    and value.__module__ == getattr(obj, "__name__", None)):
                _code_objects(value, out)
        return
    else:
        for item in obj:
            _code_objects(item, out)
        return
    while todo:
        code = todo.pop()
        if code in out:
            continue
        out[code] = None
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def compile_trampolines(code_or_functions=None):
    """Make trampolines now for code that has not run yet: what a pre-fork
    server calls in the parent, after importing its application and before
    forking its workers, so that the workers share the parent's trampolines
    and name them in their own maps without making one of their own.

    code_or_functions: a code object, a function, a class or module (their
    functions, methods and nested classes), or an iterable of these; nested
    code (inner functions, lambdas, comprehensions) comes along.  None: every
    function alive in the process (gc.get_objects()).  Returns how many code
    objects have a trampoline afterwards; 0 when no backend is active.  The
    counterpart of CPython 3.13's PyUnstable_PerfTrampoline_CompileCode.
    """
    if code_or_functions is None:
        code_or_functions = [o for o in gc.get_objects()
                             if isinstance(o, types.FunctionType)]
    codes: Dict[types.CodeType, None] = {}
    _code_objects(code_or_functions, codes)
    return sum(_perftramp._compile(code) for code in codes)


def set_persist_after_fork(enable):
    """CPython 3.13's PyUnstable_PerfTrampoline_SetPersistAfterFork, with its
    meaning.  On: a forked child keeps calling the parent's trampolines, and
    its own map or dump names every one it inherited (copied once, at the
    fork), so a pre-fork server's workers make none for precompiled code.
    Off (the default, as in CPython): a child makes trampolines of its own,
    and its file names only those; perf still names samples in inherited
    ones from the parent's file.  PERFTRAMP_ACTIVATE (set by `perftramp
    record`) turns it on at start-up; PERFTRAMP_PERSIST_AFTER_FORK=0 or 1
    decides it at start-up either way.  perf_elf always persists."""
    _perftramp._set_persist_after_fork(enable)


def get_include():
    """The directory holding perftramp.h, the C API (see the header)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


_cpython.install_into_sys(activate_stack_trampoline, deactivate_stack_trampoline,
                          is_stack_trampoline_active)
