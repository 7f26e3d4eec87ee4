"""The backends, as typed rows: the one place in Python that reads
perftramp._perftramp.BACKENDS, and the one that names a backend.

Each C row (src/binding/module.c) gives:

    name          what activate_stack_trampoline() and --backend accept
    file_pattern  the file a process writes, "%ld" standing for its pid
    default_dir   where that file goes ...
    dir_env       ... unless this environment variable names a directory
    unwind        "fp" or "dwarf": how perf record must walk the stack
    inject        whether `perf inject --jit` must run after recording
    xoption, env  CPython's -X option and environment variable for it

and this module adds what perftramp's tools decide about a backend
(CHOICES): where `record` ranks it among the backends of one way of
unwinding, and whether it is taken only once a self-test shows that this
machine's perf reads its files.  Everything else (the API's list of names,
the start-up switches, the command line's choices, perf's flags, where
record looks for files, which files a recording may hold) is derived from
the rows, so a backend added in C needs no Python edit.
"""
from __future__ import annotations

import os
import re
from typing import List, Mapping, NamedTuple, Optional, Tuple

from . import _perftramp


class Choice(NamedTuple):
    #: auto's order among the backends that unwind alike (lower first)
    rank: int
    #: auto takes this backend only after a self-test run through this
    #: machine's perf gives whole chains with it
    needs_proof: bool


#: What is decided per backend beyond its C row.  perf_elf (DWARF unwinding
#: from an ELF image, no perf inject: one file per process, not one per
#: function) comes first where perf is seen to read its image; older perfs
#: do not, and record falls back to the next (perf_jit).  A backend not
#: named here follows those named, in the registry's order, unproven.
CHOICES = {"perf_elf": Choice(rank=0, needs_proof=True)}
_UNRANKED = 100


class Backend(NamedTuple):
    name: str
    file_pattern: str
    default_dir: str
    dir_env: Optional[str]
    unwind: str
    inject: bool
    xoption: Optional[str]
    env: Optional[str]
    rank: int
    needs_proof: bool

    @property
    def file_regex(self) -> str:
        """A regular expression matching the names of this backend's files."""
        return re.escape(self.file_pattern).replace("%ld", "[0-9]+")

    def describe(self) -> str:
        how = "frame pointers" if self.unwind == "fp" else "DWARF"
        return "%s (%s%s)" % (self.name, how, ", then perf inject --jit" if self.inject else "")


def rows() -> Tuple[Backend, ...]:
    """Every backend row, in registry order.  Built at each call, from the
    registry and CHOICES as they are then (a handful of rows, read when a
    command starts, never on a hot path)."""
    return tuple(Backend(rank=choice.rank, needs_proof=choice.needs_proof, **row)
                 for index, row in enumerate(_perftramp.BACKENDS)
                 for choice in [CHOICES.get(row["name"], Choice(_UNRANKED + index, False))])


def names() -> Tuple[str, ...]:
    return tuple(row.name for row in rows())


def find(name: object) -> Optional[Backend]:
    """The row called `name`, or None (also for a name that is not a str)."""
    for row in rows():
        if row.name == name:
            return row
    return None


def candidates(frame_pointers: bool) -> List[Backend]:
    """The backends `record` may pick for an interpreter, best first: those
    that unwind with frame pointers when it has them, DWARF ones otherwise."""
    wanted = "fp" if frame_pointers else "dwarf"
    return sorted((row for row in rows() if row.unwind == wanted), key=lambda row: row.rank)


def auto(frame_pointers: bool) -> Backend:
    """The best backend for an interpreter that needs no proof."""
    for row in candidates(frame_pointers):
        if not row.needs_proof:
            return row
    return rows()[0]


def files_dir(row: Backend, environ: Optional[Mapping[str, str]] = None) -> str:
    """The directory a process started with `environ` writes row's file in."""
    environ = os.environ if environ is None else environ
    if row.dir_env:
        chosen = environ.get(row.dir_env)
        if chosen:
            return chosen
    return row.default_dir


def file_path(row: Backend, pid: int, environ: Optional[Mapping[str, str]] = None) -> str:
    return os.path.join(files_dir(row, environ), row.file_pattern % pid)


def moved_files_regex() -> str:
    """The names of the files `record` moves into a recording's maps/: those
    of backends whose directory cannot be chosen (perf's /tmp/perf-PID.map)."""
    return "|".join(row.file_regex for row in rows() if not row.dir_env) or "(?!)"


def injected_files_regex() -> str:
    """The names of the files of backends that need perf inject and whose
    directory record chooses (perf_jit's jit-PID.dump): a recording's jit/."""
    return "|".join(row.file_regex for row in rows() if row.dir_env and row.inject) or "(?!)"
