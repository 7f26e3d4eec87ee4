"""perftramp's start-up hook, run by site.py through perftramp.pth.

It runs in every interpreter of the environment, so it must cost next to
nothing when profiling is not asked for: it imports nothing beyond what site
has loaded, and loads perftramp only when a switch is on or a sys function is
called.

What it does:
- CPython < 3.12: puts activate/deactivate/is_stack_trampoline_active into sys
  (code written for 3.12 runs), and honours -X perf and PYTHONPERFSUPPORT.
- CPython < 3.13: honours -X perf_jit and PYTHON_PERF_JIT_SUPPORT.
- Every version: settles -X against the environment as the documentation says
  (-X wins), which CPython 3.13 does not do when both perf and perf_jit appear.
"""
import os
import sys


def _env_switch(name):
    # CPython reads these as integers (strtol): non-zero means on, and a
    # value that is not a number means off.  -E hides them.
    if sys.flags.ignore_environment:
        return False
    value = os.environ.get(name)
    if not value:
        return False
    try:
        return int(value.strip(), 10) != 0
    except ValueError:
        return False


def requested_backend():
    """The backend the command line and environment ask for, or None.

    -X beats the environment; of two -X options the later one wins; of two
    environment variables PYTHON_PERF_JIT_SUPPORT wins, as in CPython 3.13.
    """
    chosen = None
    for option in sys._xoptions:
        if option in ("perf", "perf_jit"):
            chosen = option
    if chosen is not None:
        return chosen
    if _env_switch("PYTHON_PERF_JIT_SUPPORT"):
        return "perf_jit"
    if _env_switch("PYTHONPERFSUPPORT"):
        return "perf"
    return None


def _lazy(name):
    def call(*args):
        import perftramp

        return getattr(perftramp, name)(*args)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = "Backport of sys.%s from CPython 3.12 by perftramp." % name
    return call


def _install_sys_backports():
    for name in (
        "activate_stack_trampoline",
        "deactivate_stack_trampoline",
        "is_stack_trampoline_active",
    ):
        if not hasattr(sys, name):
            setattr(sys, name, _lazy(name))


def _start():
    if sys.version_info < (3, 12):
        _install_sys_backports()
    # Set by `perftramp record` for every process it starts: perftramp's
    # backend, on every version, whatever CPython started by itself.
    forced = os.environ.get("PERFTRAMP_ACTIVATE")
    if forced:
        try:
            import perftramp

            perftramp.activate_stack_trampoline(forced)
        except Exception as exc:
            sys.stderr.write("perftramp: PERFTRAMP_ACTIVATE=%s: %s\n" % (forced, exc))
        return
    backend = requested_backend()
    if backend is None:
        return
    try:
        import perftramp

        perftramp._activate_at_startup(backend)
    except Exception as exc:  # never stop the program from starting
        sys.stderr.write("perftramp: profiling support not started: %s\n" % (exc,))


_start()
