"""perftramp's start-up hook, run by site.py through perftramp.pth.

It runs in every interpreter of the environment, so it must cost next to
nothing when profiling is not asked for: it imports nothing beyond what site
has loaded, and loads perftramp only when a switch could be on (any -X
option, PERFTRAMP_ACTIVATE, or a PYTHON...PERF... environment variable) or
a sys function is called.  Which -X options and variables are switches, and
for which backend, comes from the extension's registry once it is loaded.
The findings are handed to perftramp._cpython, the named internal API for
this hook; the package never imports this module.

What it does:
- CPython < 3.12: puts activate/deactivate/is_stack_trampoline_active into sys
  (code written for 3.12 runs), and honours -X perf and PYTHONPERFSUPPORT.
- CPython < 3.13: honours -X perf_jit and PYTHON_PERF_JIT_SUPPORT.
- Every version: settles -X against the environment as the documentation says
  (-X wins), which CPython 3.13 does not do when both perf and perf_jit appear.
- 3.14+: keeps CPython's JIT off when it activates, as -X perf does.
- PERFTRAMP_PERSIST_AFTER_FORK=0/1 sets set_persist_after_fork(); it is on
  by default under PERFTRAMP_ACTIVATE, off (CPython's default) otherwise.
- 3.12+, PERFTRAMP_TAKE_OVER=1 (or a file _perftramp_take_over beside this
  module, which -E and -I do not hide): CPython's -X perf, -X perf_jit, their
  environment variables and sys functions start perftramp's backends.
"""
import os
import sys


def _environment_ignored():
    """-E or -I: CPython then reads none of its PYTHON* variables (not
    PYTHONPERFSUPPORT either), and none of perftramp's switches count."""
    return bool(sys.flags.ignore_environment or sys.flags.isolated)


def _env_switch(name):
    # CPython reads these as integers (strtol): non-zero means on, and a
    # value that is not a number means off.  -E and -I hide them.
    if _environment_ignored():
        return False
    value = os.environ.get(name)
    if not value:
        return False
    try:
        return int(value.strip(), 10) != 0
    except ValueError:
        return False


def _persist_choice(default):
    """PERFTRAMP_PERSIST_AFTER_FORK: 1 (or any non-zero number) makes forked
    children keep the parent's trampolines, 0 makes them make their own, as
    CPython's do; unset or not a number, the default."""
    value = None if _environment_ignored() else os.environ.get("PERFTRAMP_PERSIST_AFTER_FORK")
    try:
        return int(value.strip(), 10) != 0
    except (AttributeError, ValueError):
        return default


def _take_over_installed():
    """Whether this installation takes over CPython's switches for every
    interpreter it starts, -I and -E included (where no variable counts): a
    file named _perftramp_take_over beside this module.  One stat, on 3.12+
    only."""
    return os.path.exists(os.path.join(os.path.dirname(__file__), "_perftramp_take_over"))


def requested(rows):
    """(backend, asked): the backend the command line and environment ask for
    (or None), and the names of every backend some switch asks for.

    rows are perftramp._backends.rows(); their xoption and env name
    CPython's switches.  -X beats the environment; of two -X options the
    later one wins; of two environment variables the later row's wins
    (PYTHON_PERF_JIT_SUPPORT over PYTHONPERFSUPPORT, as in CPython 3.13).
    """
    by_option = {row.xoption: row.name for row in rows if row.xoption}
    from_options = from_env = None
    asked = set()
    for option in sys._xoptions:
        if option in by_option:
            from_options = by_option[option]
            asked.add(from_options)
    for row in rows:
        if row.env and _env_switch(row.env):
            from_env = row.name
            asked.add(from_env)
    return from_options or from_env, asked


def _may_be_asked():
    """Whether some switch could be on, judged without the registry (which
    lives in the extension, too dear to load in every interpreter): any -X
    option, or an environment variable shaped like CPython's perf switches
    (PYTHON...PERF...)."""
    if sys._xoptions:
        return True
    if _environment_ignored():
        return False
    return any(name.startswith("PYTHON") and "PERF" in name for name in os.environ)


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
    # backend, on every version, whatever CPython started by itself.  An
    # environment switch like the others: -E and -I hide it.
    forced = None if _environment_ignored() else os.environ.get("PERFTRAMP_ACTIVATE")
    if forced:
        try:
            import perftramp
            from perftramp import _cpython

            _cpython.keep_jit_off_at_startup()
            # perftramp's own tools want whole chains in forked children.
            perftramp.set_persist_after_fork(_persist_choice(True))
            perftramp.activate_stack_trampoline(forced)
        except Exception as exc:
            sys.stderr.write("perftramp: PERFTRAMP_ACTIVATE=%s: %s\n" % (forced, exc))
        return
    # PERFTRAMP_TAKE_OVER=1 (3.12+): CPython's own switches and sys
    # functions mean perftramp's backends (how CPython's own perf tests run
    # against perftramp).
    take_over = sys.version_info >= (3, 12) and (
        _env_switch("PERFTRAMP_TAKE_OVER") or _take_over_installed())
    if not (take_over or _may_be_asked()):
        return
    try:
        import perftramp
        from perftramp import _backends, _cpython

        if take_over:
            _cpython.take_over()
        backend, asked = requested(_backends.rows())
        if _persist_choice(False):
            perftramp.set_persist_after_fork(True)
        if backend is not None:
            _cpython.activate_at_startup(backend, asked)
    except Exception as exc:  # never stop the program from starting
        sys.stderr.write("perftramp: profiling support not started: %s\n" % (exc,))


_start()
