"""Which of perftramp's backends a running process has switched on, seen
from outside: the files it writes, found where it writes them, in its own
mount namespace (process.py) and under its own pid there.

A backend's file is looked for where the process's environment (as it
started) puts it, and among the files it maps (a jitdump and an ELF image
are mapped; a directory chosen after start-up shows only there).  A file
only counts when it is that process's: its name carries the process's own
pid (its pid in its namespace), it is a regular file reached without a
link (process.open_seen), the process's user owns it, and it was written
since the process started (not an older process's with the same pid).
"""
from __future__ import annotations

import collections
import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

from perftramp import _backends
from perftramp._backends import Backend

from . import process
from .errors import Failure
from .process import Process

#: file times come from a clock that may lag the start time's by a tick
_CLOCK_SLACK = 1.0


@dataclass(frozen=True)
class ActiveFile:
    row: Backend
    #: the path as the process sees it (what perf.data names it by)
    seen: str
    #: the same file's path from here
    here: str


def files_of(running: Process) -> List[ActiveFile]:
    """The backend files `running` has written, one per backend at most,
    in registry order."""
    environ = running.environ()
    mapped = running.mapped_files()
    found = []
    for row in _backends.rows():
        name = row.file_pattern % running.nspid
        candidates = [os.path.join(_backends.files_dir(row, environ), name)]
        candidates += [path for path in mapped
                       if os.path.basename(path) == name and path not in candidates]
        for seen in candidates:
            st = running.regular_file(os.path.normpath(seen)) if seen.startswith("/") else None
            if st is not None and st.st_uid == running.uid and \
                    max(st.st_mtime, st.st_ctime) >= running.started - _CLOCK_SLACK:
                found.append(ActiveFile(row, seen, running.path(seen)))
                break
    return found


def every_active() -> List[Tuple[Process, List[ActiveFile]]]:
    """Every process of this machine (any namespace) with a backend on,
    as far as this one may read them."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            running = process.look(int(name))
        except Failure:
            continue
        files = files_of(running)
        if files:
            found.append((running, files))
    return found


def prevailing(found: List[Tuple[Process, List[ActiveFile]]]) -> Optional[Backend]:
    """The backend most of `found` use (perf unwinds every process one
    way: the others' chains may be cut), or None when there is none."""
    counts = collections.Counter(files[0].row.name for _, files in found)
    if not counts:
        return None
    return _backends.find(counts.most_common(1)[0][0])
