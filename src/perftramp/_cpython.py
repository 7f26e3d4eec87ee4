"""How perftramp lives with CPython's own perf support (3.12+) and its
experimental JIT (3.14+): the one module that speaks of CPython's switches.

The interpreter never runs two hooks at once: activating perftramp's backend
first switches CPython's off, and sys's three functions are wrapped (3.12+)
or provided (before 3.12) so that they see and switch off both.  The
start-up hook (_perftramp_startup.py) calls keep_jit_off_at_startup(),
take_over() and activate_at_startup() here.
"""
from __future__ import annotations

import os
import re
import sys

from . import _backends, _perftramp

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
    # imported only here: this runs at every start-up of an interpreter
    # with a perftramp switch on, and sysconfig's import is dear
    import sysconfig

    found = re.search(r"--enable-experimental-jit(=[^'\s]*)?",
                      sysconfig.get_config_var("CONFIG_ARGS") or "")
    return found is not None and found.group(1) in (None, "=yes")


def keep_jit_off_at_startup():
    """For the start-up hook, before an activation of its own: CPython's -X
    perf keeps the JIT off, with a RuntimeWarning, and so does perftramp, by
    setting PYTHON_JIT=0 before CPython reads it (inherited by children,
    which PERFTRAMP_ACTIVATE profiles too).  Under -E CPython does not read
    it, but then no perftramp switch counts either."""
    if _jit_will_start():
        import warnings  # only when warning: this runs at start-up

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


def cpython_active():
    return _CPYTHON is not None and _CPYTHON[2]()


def activate(backend):
    """perftramp.activate_stack_trampoline (its docstring says what)."""
    if jit_enabled():
        raise ValueError(JIT_REFUSAL)
    # The extension rejects what is not a backend (TypeError, ValueError);
    # CPython's backend is switched off only for a call that will succeed.
    if cpython_active() and _backends.find(backend) is not None:
        _stop_cpython()
    _perftramp.activate(backend)


def deactivate():
    _perftramp.deactivate()
    if cpython_active():
        _CPYTHON[1]()


def is_active():
    return bool(_perftramp.is_active() or cpython_active())


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
    if _perftramp._stats("perf_jit")["path"]:  # CPython's switch of that name
        return  # perftramp's own dump is open: CPython's cannot have started after it
    path = "/tmp/jit-%d.dump" % os.getpid()  # CPython's own jitdump
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


#: Set by take_over() (PERFTRAMP_TAKE_OVER=1 at start-up): CPython's
#: own switches and sys functions use perftramp's backends.
_TAKE_OVER = False


def _sys_activate_stack_trampoline(backend):
    """sys.activate_stack_trampoline, made aware of perftramp: CPython's own
    backend where it has one (after perftramp's is switched off), perftramp's
    for the backends CPython's sys refuses ("perf_jit"), and for every one
    once perftramp has taken over."""
    if _TAKE_OVER or (_backends.find(backend) is not None
                      and backend not in _CPYTHON_BACKENDS):
        activate(backend)
        return
    _perftramp.deactivate()
    _CPYTHON[0](backend)


def install_into_sys(activate_api, deactivate_api, is_active_api):
    """sys's three functions: perftramp's API itself before 3.12 (the
    functions given), wrappers of CPython's that know of perftramp after."""
    if _CPYTHON is None:
        replacements = (activate_api, deactivate_api, is_active_api)
    else:
        replacements = (_sys_activate_stack_trampoline, deactivate_api, is_active_api)
    for name, original, func in zip(_SYS_NAMES, _CPYTHON or (None,) * 3, replacements):
        if original is not None:
            def wrapper(*args, _func=func):
                return _func(*args)

            wrapper.__name__ = wrapper.__qualname__ = name
            wrapper.__doc__ = original.__doc__
            # (through __dict__: the type checker knows no such attribute)
            wrapper.__dict__["__perftramp_wraps__"] = original
            setattr(sys, name, wrapper)
        else:
            setattr(sys, name, func)


def take_over():
    """PERFTRAMP_TAKE_OVER=1 (the start-up hook, 3.12+): from now on
    sys.activate_stack_trampoline uses perftramp's backends, and the
    start-up activation (-X perf, -X perf_jit, the environment) is
    perftramp's too (see activate_at_startup)."""
    global _TAKE_OVER
    _TAKE_OVER = True


def activate_at_startup(backend, asked=()):
    """Called by the start-up hook, once CPython has done its own start-up
    activation (3.12+), with the backend -X / the environment ask for by the
    documented precedence, and the names of every backend some switch asked
    for (CPython 3.13 settles a conflict differently).  Neither activation
    here needs keep_jit_off_at_startup(): the first is for versions before
    any JIT, and CPython's switches, on in the second, keep the JIT off."""
    if _TAKE_OVER or backend not in _cpython_switches():
        # Switches the interpreter lacks (3.12 has no perf_jit), or all of
        # them when perftramp takes over (CPython's backend, started by its
        # own start-up, is switched off first).
        activate(backend)
    elif backend == "perf" and _cpython_chose_jit(asked):
        # CPython 3.13 lets any perf_jit switch beat -X perf; the documented
        # order is -X over the environment.  Its own backend cannot be
        # switched here (deactivating and reactivating it while site is
        # importing crashes 3.13.0), so ours takes over.
        activate("perf")


def _cpython_chose_jit(asked):
    """Whether CPython's start-up (3.13+) activated its perf_jit backend:
    3.13 does whenever any switch (-X or, without -E, the environment) asks
    for perf_jit."""
    return "perf_jit" in _cpython_switches() and cpython_active() and "perf_jit" in asked


