"""Which backend records a program, and whether a program can be started
at all (before perf starts it and records nothing)."""
from __future__ import annotations

import os
import shutil
import sys
from typing import List, NamedTuple, Optional

from perftramp import _backends
from perftramp._backends import Backend

from . import active, procfs, selftest, target
from .errors import Failure
from .interpreter import has_frame_pointers, looks_like_python
from .progress import say
from .target import Target


def choose_backend(requested: str, command: List[str], perf_path: Optional[str],
                   frame_pointers: Optional[bool] = None) -> Backend:
    """The backend row to record `command` with: `requested`, or for "auto"
    the best of the candidates for its interpreter's way of unwinding
    (_backends.candidates; `frame_pointers` when known without asking it),
    a backend that needs proof only when its self-test passes with this
    perf."""
    if requested != "auto":
        row = _backends.find(requested)
        if row is None:
            raise ValueError("no backend %r" % requested)
        return row
    if frame_pointers is None:
        python = command[0] if command and looks_like_python(command[0]) else sys.executable
        frame_pointers = has_frame_pointers(shutil.which(python) or python)
    for row in _backends.candidates(frame_pointers):
        if not row.needs_proof:
            return row
        if perf_path is None:
            continue
        works, detail = selftest.run(perf_path, row)
        if works:
            return row
        say("%s cannot be used here (%s); trying the next backend" % (row.name, detail))
    return _backends.auto(frame_pointers)


def cannot_start(program: str, path: str) -> Optional[str]:
    """Why `program` cannot be started with PATH `path` (as perf would exec
    it), or None when it can."""
    if os.sep not in program:
        found = shutil.which(program, path=path)
        if not found:
            return "not found on PATH"
        program = found
    if not os.path.exists(program):
        return "no such file"
    if os.path.isdir(program):
        return "it is a directory"
    if not os.access(program, os.X_OK):
        return "not executable"
    return _bad_interpreter(program)


def _bad_interpreter(program: str) -> Optional[str]:
    """Why the #! interpreter of the script `program` cannot run, or None
    (also for a binary, or a file record cannot read)."""
    try:
        with open(program, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].split()
    if not words:
        return "its #! line names no interpreter"
    interpreter = os.fsdecode(words[0])
    if not os.path.isfile(interpreter):
        return "its interpreter %s is not there" % interpreter
    if not os.access(interpreter, os.X_OK):
        return "its interpreter %s is not executable" % interpreter
    return None



class HowToRecord(NamedTuple):
    """How record -p records a running process."""
    row: Backend
    #: whether perftramp is switched on in it for the while
    attach: bool
    #: whether it may be on already (its file is there): left on if it is
    maybe_on: bool


def for_running(requested: str, running: Target, perf_path: str) -> HowToRecord:
    """How to record the running process: which backend, whether perftramp
    is switched on in it for that (attach), whether it may be on already.  A process whose backend
    is on already (started with PERFTRAMP_ACTIVATE, say: any CPython,
    any namespace) is recorded as it runs; otherwise a CPython 3.8+ is
    attached to."""
    files = active.files_of(running.process)
    if files:
        row = files[0].row
        if requested not in ("auto", row.name):
            raise Failure("%s has perftramp's %s backend on already; record it with "
                          "--backend auto (or detach it first)"
                          % (running.process.describe(), row.name))
        # it is asked (its file stays after a detach: it may be off)
        try:
            target.require_attachable(running)
        except Failure:
            return HowToRecord(row, False, True)
        return HowToRecord(
            row, target.sendable_from_here(running), True)
    target.require_attachable(running)
    if running.process.foreign_root:
        # its interpreter is the container's code, not run here: an
        # interpreter of its kind is, and the DWARF backends need no frame
        # pointers of it
        return HowToRecord(choose_backend(requested, [], perf_path, frame_pointers=False),
                           True, False)
    return HowToRecord(choose_backend(requested, [running.exe], perf_path), True, False)


def for_system(requested: str, perf_path: str) -> Backend:
    """The backend whose unwinding records every process (record -a): the
    one most processes with a backend on use now, unless `requested`."""
    paranoid = procfs.read_int("kernel.perf_event_paranoid")
    if os.geteuid() != 0 and (paranoid is None or paranoid > 0):
        raise Failure("record -a: recording every process needs root (or CAP_PERFMON), or "
                      "kernel.perf_event_paranoid at 0 or below (it is %s): run it with sudo"
                      % ("unreadable" if paranoid is None else paranoid))
    if requested != "auto":
        return choose_backend(requested, [], perf_path)
    found = active.every_active()
    row = active.prevailing(found)
    if row is None:
        row = choose_backend("auto", [sys.executable], perf_path)
        say("no process has perftramp's backend on now; perf unwinds as %s needs (those "
            "started with PERFTRAMP_ACTIVATE=%s from now on are named)" % (row.name, row.name))
        return row
    others = ["%d (%s)" % (running.pid, files[0].row.name) for running, files in found
              if files[0].row.unwind != row.unwind]
    if others:
        say("perf unwinds every process one way, as %s needs: the chains of %s may be cut"
            % (row.name, ", ".join(others)))
    return row
