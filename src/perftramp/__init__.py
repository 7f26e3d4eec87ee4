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
import os
import re
import sys
import types

from . import _backends, _perftramp

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
#: Those CPython's own sys.activate_stack_trampoline accepts (3.12, 3.13).
_CPYTHON_BACKENDS = ("perf",)


def _cpython_switches():
    """The backends CPython's own start-up turns on from -X or the
    environment: none before 3.12, perf on 3.12, perf and perf_jit on 3.13+."""
    if sys.version_info < (3, 12):
        return ()
    if sys.version_info < (3, 13):
        return ("perf",)
    return ("perf", "perf_jit")

#: What CPython 3.14+'s sys.activate_stack_trampoline says (ValueError, see
#: Python/sysmodule.c) while its experimental JIT is on: jitted code keeps no
#: frame pointers and is named in no map, so samples in it would silently
#: lose their Python frames.
JIT_REFUSAL = "Cannot activate the perf trampoline if the JIT is active"


def jit_enabled():
    """Whether CPython's experimental JIT is on in this process.  The one
    place perftramp asks: sys._jit (3.14+; 3.13's JIT gives no way to ask).
    CPython turns it on only at start-up (PYTHON_JIT, or the build's default),
    and not at all when -X perf / PYTHONPERFSUPPORT is given, so an answer
    holds for the process."""
    jit = getattr(sys, "_jit", None)
    return bool(jit is not None and jit.is_enabled())


def _jit_will_start():
    """Whether CPython will turn its JIT on once site (and so the start-up
    hook) is done: Python/pylifecycle.c reads PYTHON_JIT (its first
    character; -E hides it) after importing site, else the build's default
    (configure --enable-experimental-jit[=yes] on, =yes-off off)."""
    jit = getattr(sys, "_jit", None)
    if jit is None or not jit.is_available() or jit.is_enabled():
        return False
    value = None if sys.flags.ignore_environment else os.environ.get("PYTHON_JIT")
    if value:
        return value[0] != "0"
    import sysconfig

    found = re.search(r"--enable-experimental-jit(=[^'\s]*)?",
                      sysconfig.get_config_var("CONFIG_ARGS") or "")
    return bool(found) and found.group(1) in (None, "=yes")


def _keep_jit_off_at_startup():
    """For the start-up hook, before an activation of its own: CPython's -X
    perf keeps the JIT off, with a RuntimeWarning, and so does perftramp, by
    setting PYTHON_JIT=0 before CPython reads it (inherited by children,
    which PERFTRAMP_ACTIVATE profiles too).  Under -E CPython does not read
    it, but then no perftramp switch counts either."""
    if _jit_will_start():
        import warnings

        warnings.warn_explicit("JIT deactivated as perf profiling support is active",
                               RuntimeWarning, "perftramp", 0)
    jit = getattr(sys, "_jit", None)
    if jit is not None and jit.is_available() and not jit.is_enabled():
        os.environ["PYTHON_JIT"] = "0"


_SYS_NAMES = (
    "activate_stack_trampoline",
    "deactivate_stack_trampoline",
    "is_stack_trampoline_active",
)


def _cpython_originals():
    """CPython's own sys functions (3.12+), or None before 3.12."""
    if sys.version_info < (3, 12):
        return None
    found = []
    for name in _SYS_NAMES:
        func = getattr(sys, name)
        found.append(getattr(func, "__perftramp_wraps__", func))
    return tuple(found)


_CPYTHON = _cpython_originals()


def _cpython_active():
    return _CPYTHON is not None and _CPYTHON[2]()


def activate_stack_trampoline(backend):
    """Make Python functions visible to perf, with perftramp's backend.

    backend: "perf" writes /tmp/perf-PID.map, for perf's frame-pointer
    unwinding; "perf_jit" writes /tmp/jit-PID.dump with DWARF unwinding
    information, for `perf record --call-graph dwarf -k 1` followed by
    `perf inject --jit`.  Activating again (or switching) is harmless.  If
    the map cannot be written, a RuntimeWarning says why and the program runs
    on unprofiled.  With CPython's JIT on, refuses as CPython does
    (ValueError, JIT_REFUSAL).
    """
    if jit_enabled():
        raise ValueError(JIT_REFUSAL)
    # The extension rejects what is not a backend (TypeError, ValueError);
    # CPython's backend is switched off only for a call that will succeed.
    if _cpython_active() and _backends.find(backend) is not None:
        _stop_cpython()
    _perftramp.activate(backend)


def _stop_cpython():
    """Switches CPython's own backend off before perftramp's starts.

    sys.deactivate_stack_trampoline() leaves CPython's perf_jit file open,
    with the records its stdio buffer still holds (up to 4 KiB: CPython's
    setvbuf asks for 2 MiB without giving a buffer, and glibc keeps its
    own), which exit() writes at CPython's offset: over whatever perftramp
    appends to the same /tmp/jit-PID.dump meanwhile.  (Switching CPython to
    its perf backend first would close the file, but crashes 3.13.0.)  So
    CPython's descriptor of the file is pointed at /dev/null: the file stays
    whole, without the names of the last few functions CPython made, and
    perftramp continues it after its last whole record."""
    _CPYTHON[1]()
    if _perftramp._stats("perf_jit")["path"]:
        return  # perftramp's own dump is open: CPython's cannot have started after it
    path = "/tmp/jit-%d.dump" % os.getpid()
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return
    null = None
    try:
        for name in fds:
            try:
                if os.readlink("/proc/self/fd/" + name) != path:
                    continue
                if null is None:
                    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
                os.dup2(null, int(name), inheritable=False)
            except OSError:
                continue
    finally:
        if null is not None:
            os.close(null)


def deactivate_stack_trampoline():
    """Stop making and calling trampolines (perftramp's and, on 3.12+,
    CPython's).  Trampolines already made stay valid and named."""
    _perftramp.deactivate()
    if _cpython_active():
        _CPYTHON[1]()


def is_stack_trampoline_active():
    """Whether a stack trampoline (perftramp's or CPython's) is active."""
    return bool(_perftramp.is_active() or _cpython_active())


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
        import gc

        code_or_functions = [o for o in gc.get_objects()
                             if isinstance(o, types.FunctionType)]
    codes = {}
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


#: Set by _take_over_cpython() (PERFTRAMP_TAKE_OVER=1 at start-up): CPython's
#: own switches and sys functions use perftramp's backends.
_TAKE_OVER = False


def _sys_activate_stack_trampoline(backend):
    """sys.activate_stack_trampoline, made aware of perftramp: CPython's own
    backend where it has one (after perftramp's is switched off), perftramp's
    for the backends CPython's sys refuses ("perf_jit"), and for every one
    once perftramp has taken over."""
    if _TAKE_OVER or (_backends.find(backend) is not None
                      and backend not in _CPYTHON_BACKENDS):
        activate_stack_trampoline(backend)
        return
    _perftramp.deactivate()
    _CPYTHON[0](backend)


def _install_into_sys():
    if _CPYTHON is None:
        replacements = (
            activate_stack_trampoline,
            deactivate_stack_trampoline,
            is_stack_trampoline_active,
        )
    else:
        replacements = (
            _sys_activate_stack_trampoline,
            deactivate_stack_trampoline,
            is_stack_trampoline_active,
        )
    for name, original, func in zip(_SYS_NAMES, _CPYTHON or (None,) * 3, replacements):
        if original is not None:
            def wrapper(*args, _func=func):
                return _func(*args)

            wrapper.__name__ = wrapper.__qualname__ = name
            wrapper.__doc__ = original.__doc__
            wrapper.__perftramp_wraps__ = original
            setattr(sys, name, wrapper)
        else:
            setattr(sys, name, func)


def _take_over_cpython():
    """PERFTRAMP_TAKE_OVER=1 (the start-up hook, 3.12+): from now on
    sys.activate_stack_trampoline uses perftramp's backends, and the
    start-up activation (-X perf, -X perf_jit, the environment) is
    perftramp's too (see _activate_at_startup)."""
    global _TAKE_OVER
    _TAKE_OVER = True


def _activate_at_startup(backend, asked=()):
    """Called by the start-up hook, once CPython has done its own start-up
    activation (3.12+), with the backend -X / the environment ask for by the
    documented precedence, and the names of every backend some switch asked
    for (CPython 3.13 settles a conflict differently).  Neither activation
    here needs _keep_jit_off_at_startup(): the first is for versions before
    any JIT, and CPython's switches, on in the second, keep the JIT off."""
    if _TAKE_OVER or backend not in _cpython_switches():
        # Switches the interpreter lacks (3.12 has no perf_jit), or all of
        # them when perftramp takes over (CPython's backend, started by its
        # own start-up, is switched off first).
        activate_stack_trampoline(backend)
    elif backend == "perf" and _cpython_chose_jit(asked):
        # CPython 3.13 lets any perf_jit switch beat -X perf; the documented
        # order is -X over the environment.  Its own backend cannot be
        # switched here (deactivating and reactivating it while site is
        # importing crashes 3.13.0), so ours takes over.
        activate_stack_trampoline("perf")


def _cpython_chose_jit(asked):
    """Whether CPython's start-up (3.13+) activated its perf_jit backend:
    3.13 does whenever any switch (-X or, without -E, the environment) asks
    for perf_jit."""
    return "perf_jit" in _cpython_switches() and _cpython_active() and "perf_jit" in asked


_install_into_sys()
