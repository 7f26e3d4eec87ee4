"""What a recording takes of the processes it recorded, once perf is done:
each one's backend files, wherever and in whichever namespace it wrote
them, so that report names its samples also after it is gone.

    in the recording or its jitdumps' directory   nothing to do
    a perf map (no directory variable)            maps/perf-PID.map, PID the
                                                  pid perf gives (the host's);
                                                  moved when the process has
                                                  ended, else copied
    an ELF image elsewhere (no perf inject)       the build-id cache
    a jitdump elsewhere (perf inject)             the jitted objects perf
                                                  inject wrote beside it: into
                                                  the build-id cache, then
                                                  removed from there
    every object of a process in a container      the build-id cache

(buildids.py says why the cache.)  A process that still runs is read
where it is (active.py); one that has ended, where the environment record
gave it would have written.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple

from perftramp import _backends

from . import active, buildids, layout, maps, process
from .active import ActiveFile
from .errors import Failure
from .layout import MAPS
from .process import Process
from .progress import say


@dataclass
class Recorded:
    """One recorded process and its backend files."""
    pid: int
    #: None once it has ended
    running: Optional[Process]
    files: List[ActiveFile] = field(default_factory=list)


def find(pids: List[int], env: Dict[str, str]) -> List[Recorded]:
    """Each recorded process and the backend files it wrote."""
    found = []
    for pid in pids:
        try:
            running: Optional[Process] = process.look(pid)
        except Failure:
            running = None
        if running is not None:
            files = active.files_of(running)
        else:
            files = [ActiveFile(row, path, path) for row in _backends.rows()
                     for path in [_backends.file_path(row, pid, env)] if os.path.isfile(path)]
        found.append(Recorded(pid, running, files))
    return found


def _kept(path: str, kept: List[str]) -> bool:
    return os.path.dirname(os.path.abspath(path)) in kept


def _not_taken(what: str, exc: BaseException) -> None:
    """One line for a file that could not be taken; the recording goes on."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    say("not taken into the recording: %s (%s)" % (what, why))


def take_maps(recorded: List[Recorded], directory: str, kept: List[str],
              move_ended: bool) -> List[str]:
    """The perf maps (files of backends without a directory variable) into
    DIR/maps, named by the pid perf gives; returns their names.  Those of
    processes that have ended are moved when `move_ended` (the recording
    started them), else copied."""
    names = []
    for one in recorded:
        for found in one.files:
            if found.row.dir_env or _kept(found.here, kept):
                continue
            name = found.row.file_pattern % one.pid
            if one.running is None:
                names += maps.gather([found.here], directory, copy=not move_ended)
                continue
            try:
                _copy_map(one.running, found.seen, os.path.join(directory, MAPS, name))
            except (OSError, Failure) as exc:
                _not_taken("the perf map of %s" % one.running.describe(), exc)
                continue
            names.append(name)
    return names


#: a perf map larger than this is not one a process wrote
_MAP_LIMIT = 1 << 32


def _copy_map(running: Process, seen: str, dst: str) -> None:
    fd = running.open_seen(seen)
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != running.uid:
            raise Failure("not a regular file of the process's own")
        if st.st_size > _MAP_LIMIT:
            raise Failure("%d bytes, larger than a perf map" % st.st_size)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as out:
            shutil.copyfileobj(src, out)


#: what a recording's build-id cache takes at most of one object, and of all
_OBJECT_LIMIT = 1 << 30
_OBJECTS_LIMIT = 8 << 30


def take_objects(recorded: List[Recorded], directory: str, kept: List[str]) -> int:
    """The ELF images of running processes written outside the recording,
    and every object a process in a container maps executable, into the
    build-id cache; returns the bytes they take."""
    size = 0
    for one in recorded:
        running = one.running
        if running is None:
            continue
        for found in one.files:
            if found.row.dir_env and not found.row.inject and not _kept(found.here, kept):
                size += _add(directory, functools.partial(running.open_seen, found.seen),
                             "the ELF image of %s" % running.describe(), size)
        if running.foreign_root:
            for link, seen in running.mapped_objects():
                size += _add(directory, functools.partial(process.open_object, link),
                             "%s of %s" % (seen, running.describe()), size)
    return size


def _add(directory: str, opener: Callable[[], int], what: str, so_far: int) -> int:
    """buildids.add() of the file `opener` opens, within the limits; 0 and
    one line when it cannot be taken."""
    try:
        fd = opener()
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Failure("not a regular file")
            if st.st_blocks * 512 > _OBJECT_LIMIT or so_far > _OBJECTS_LIMIT:
                raise Failure("over the recording's limit for objects (%d MB)"
                              % ((_OBJECT_LIMIT if so_far <= _OBJECTS_LIMIT
                                  else _OBJECTS_LIMIT) >> 20))
            return buildids.add(directory, fd)
        finally:
            os.close(fd)
    except (OSError, Failure) as exc:
        _not_taken(what, exc)
        return 0


_JITTED = r"jitted-%d-[0-9]+\.so"


#: a jitdump's directory: its process, the directory as the process sees
#: it, and the names of perf inject's objects for it there
DumpDir = Tuple[Process, str, "re.Pattern[str]"]


def dump_dirs(recorded: List[Recorded], kept: List[str]) -> List[DumpDir]:
    """The directories of the jitdumps of running processes outside the
    recording: perf inject writes its objects there, named by the pid in
    the dump's name (the process's own)."""
    return [(one.running, os.path.dirname(found.seen),
             re.compile(_JITTED % one.running.nspid)) for one in recorded
            for found in one.files
            if found.row.inject and one.running is not None and not _kept(found.here, kept)]


def jitted_in(dirs: List[DumpDir]) -> Set[Tuple[int, str]]:
    """(pid, name) of perf inject's objects in those directories now."""
    present: Set[Tuple[int, str]] = set()
    for owner, seen_dir, pattern in dirs:
        with contextlib.suppress(OSError):
            fd = owner.open_seen(seen_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                present.update((owner.pid, name) for name in os.listdir(fd)
                               if pattern.fullmatch(name))
            finally:
                os.close(fd)
    return present


def take_jitted(dirs: List[DumpDir], directory: str, before: Set[Tuple[int, str]]) -> int:
    """The objects perf inject wrote beside the jitdumps in `dirs` (those
    not in `before`) into the build-id cache, each under its own build-id
    (perf 6.x lists it in the header, 7.x in each mapping); each taken is
    then removed from where perf wrote it.  Returns the bytes they take."""
    size = 0
    for owner, seen_dir, pattern in dirs:
        try:
            dir_fd = owner.open_seen(seen_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            _not_taken("the jitted objects of %s" % owner.describe(), exc)
            continue
        try:
            for name in sorted(os.listdir(dir_fd)):
                if not pattern.fullmatch(name) or (owner.pid, name) in before:
                    continue
                size += _take_one_jitted(directory, dir_fd, name, owner)
        finally:
            os.close(dir_fd)
    return size


def _take_one_jitted(directory: str, dir_fd: int, name: str, owner: Process) -> int:
    """One object perf inject wrote (as this user): into the cache, then
    removed."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                return 0  # not perf inject's
            size = buildids.add(directory, fd)
        finally:
            os.close(fd)
        os.unlink(name, dir_fd=dir_fd)
        return size
    except (OSError, Failure) as exc:
        _not_taken("%s of %s" % (name, owner.describe()), exc)
        return 0


def cgroups(recorded: List[Recorded]) -> Dict[str, List[int]]:
    """{cgroup: [pids]} of the recorded processes that still run (what
    report --cgroup selects by)."""
    by_cgroup: Dict[str, List[int]] = {}
    for one in recorded:
        # (a name perftramp.json cannot hold, as layout.py checks it, is left out)
        if one.running is not None and layout.is_cgroup(one.running.cgroup):
            by_cgroup.setdefault(one.running.cgroup, []).append(one.pid)
    return by_cgroup
