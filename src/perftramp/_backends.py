"""The backends, as the extension describes them: the one place in Python
that reads perftramp._perftramp.BACKENDS.

Each row is a dict the C registry fills (src/binding/module.c):

    name          what activate_stack_trampoline() and --backend accept
    file_pattern  the file a process writes, "%ld" standing for its pid
    default_dir   where that file goes ...
    dir_env       ... unless this environment variable names a directory
    unwind        "fp" or "dwarf": how perf record must walk the stack
    inject        whether `perf inject --jit` must run after recording
    xoption, env  CPython's -X option and environment variable for it

Everything else (the API's list of names, the start-up switches, the
command line's choices, perf's flags, where record looks for files) is
derived from these rows, so a backend added in C needs no Python edit.
The extension validates names itself; find() is for callers that must know
whether a name is a backend before deciding whom to hand it to.
"""
import os

from . import _perftramp


def rows():
    """Every backend row, in registry order."""
    return _perftramp.BACKENDS


def names():
    return tuple(row["name"] for row in rows())


def find(name):
    """The row called `name`, or None (also for a name that is not a str)."""
    for row in rows():
        if row["name"] == name:
            return row
    return None


def auto(frame_pointers):
    """The backend `record` picks for an interpreter: the first that unwinds
    with frame pointers when it has them, the first DWARF one otherwise."""
    wanted = "fp" if frame_pointers else "dwarf"
    for row in rows():
        if row["unwind"] == wanted:
            return row
    return rows()[0]


def files_dir(row, environ=None):
    """The directory a process started with `environ` writes row's file in."""
    environ = os.environ if environ is None else environ
    if row["dir_env"]:
        chosen = environ.get(row["dir_env"])
        if chosen:
            return chosen
    return row["default_dir"]


def file_path(row, pid, environ=None):
    return os.path.join(files_dir(row, environ), row["file_pattern"] % pid)
