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
import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from perftramp import _backends

from . import active, buildids, maps, process
from .active import ActiveFile
from .errors import Failure
from .layout import MAPS
from .process import Process


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


def take_maps(recorded: List[Recorded], directory: str, kept: List[str]) -> List[str]:
    """The perf maps (files of backends without a directory variable) into
    DIR/maps, named by the pid perf gives; returns their names."""
    names = []
    for one in recorded:
        for found in one.files:
            if found.row.dir_env or _kept(found.here, kept):
                continue
            name = found.row.file_pattern % one.pid
            if one.running is None and name == os.path.basename(found.here):
                names += maps.gather([found.here], directory)
                continue
            st = os.lstat(found.here)
            if one.running is None or st.st_uid not in (os.geteuid(), one.running.uid):
                continue  # a file of someone else's, not the process's
            os.makedirs(os.path.join(directory, MAPS), exist_ok=True)
            shutil.copyfile(found.here, os.path.join(directory, MAPS, name))
            names.append(name)
    return names


def take_objects(recorded: List[Recorded], directory: str, kept: List[str]) -> int:
    """The ELF images of running processes written outside the recording,
    and every object a process in a container maps, into the build-id
    cache; returns the bytes they take."""
    size = 0
    for one in recorded:
        if one.running is None:
            continue
        for found in one.files:
            if found.row.dir_env and not found.row.inject and not _kept(found.here, kept):
                size += buildids.add(directory, found.here)
        if one.running.foreign_root:
            for path in one.running.mapped_files():
                size += buildids.add(directory, one.running.path(path))
    return size


_JITTED = re.compile(r"jitted-\d+-\d+\.so")


def dump_dirs(recorded: List[Recorded], kept: List[str]) -> Dict[str, Process]:
    """The directories, as perf names them, of the jitdumps of running
    processes outside the recording, and whose they are."""
    return {os.path.dirname(found.seen): one.running for one in recorded
            for found in one.files
            if found.row.inject and one.running is not None and not _kept(found.here, kept)}


def jitted_in(dirs: Dict[str, Process]) -> Set[str]:
    """The jitted objects in those directories now (paths from here)."""
    present: Set[str] = set()
    for seen_dir, owner in dirs.items():
        with contextlib.suppress(OSError):
            present.update(os.path.join(owner.path(seen_dir), name)
                           for name in os.listdir(owner.path(seen_dir))
                           if _JITTED.fullmatch(name))
    return present


def take_jitted(dirs: Dict[str, Process], directory: str, before: Set[str]) -> int:
    """The objects perf inject wrote beside the jitdumps in `dirs` (those
    not in `before`) into the build-id cache, each under the build-id perf
    inject gave it (which perf 6.x lists in the header, 7.x in each mapping:
    it is read from the object itself); each is then removed from where
    perf wrote it.  Returns the bytes they take."""
    size = 0
    for path in sorted(jitted_in(dirs) - before):
        with contextlib.suppress(OSError):
            size += buildids.add(directory, path)
            os.unlink(path)
    return size


def cgroups(recorded: List[Recorded]) -> Dict[str, List[int]]:
    """{cgroup: [pids]} of the recorded processes that still run (what
    report --cgroup selects by)."""
    by_cgroup: Dict[str, List[int]] = {}
    for one in recorded:
        if one.running is not None:
            by_cgroup.setdefault(one.running.cgroup, []).append(one.pid)
    return by_cgroup
