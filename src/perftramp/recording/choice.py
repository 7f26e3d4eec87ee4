"""Which backend records a program, and whether a program can be started
at all (before perf starts it and records nothing)."""
from __future__ import annotations

import os
import shutil
import sys
from typing import List, Optional

from perftramp import _backends
from perftramp._backends import Backend

from . import selftest
from .interpreter import has_frame_pointers, looks_like_python
from .progress import say


def choose_backend(requested: str, command: List[str], perf_path: Optional[str]) -> Backend:
    """The backend row to record `command` with: `requested`, or for "auto"
    the best of the candidates for its interpreter's way of unwinding
    (_backends.candidates), a backend that needs proof only when its
    self-test passes with this perf."""
    if requested != "auto":
        row = _backends.find(requested)
        if row is None:
            raise ValueError("no backend %r" % requested)
        return row
    python = command[0] if looks_like_python(command[0]) else sys.executable
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

