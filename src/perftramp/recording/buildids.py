"""A recording's own build-id cache, DIR/buildid: the objects of processes
whose files the report's machine cannot reach by their paths.

A process in a container maps its interpreter, its libraries and
perftramp's ELF image from its own filesystem, which is gone with it; perf
inject writes the jitted objects of its jitdump beside the dump, inside
it.  perf looks an object up by its build-id in the cache it is given
(`perf --buildid-dir DIR/buildid`) before it tries the object's path, and
reads the cache outside the process's mount namespace, also while the
process still runs.  perf must know each object's build-id for that: every
sample of such a recording carries its object's (`perf record
--buildid-mmap`), except where perf inject runs, which drops those and
lists every object's build-id in its output's header instead.  So record copies each
such object here, named as perf's "old style" cache names a file:
DIR/buildid/.build-id/<first 2 hex digits>/<the other 38>; and report
passes the directory to perf when the recording has one.

Copies keep holes: perftramp's ELF image reserves some 200 MB, of which
a few hundred KB are written.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
from typing import BinaryIO, Iterator, Tuple

from . import elf
from .errors import Failure
from .layout import BUILD_ID_CACHE as CACHE

_BUILD_ID = re.compile(r"[0-9a-f]{8,40}")


def cache_dir(directory: str) -> str:
    return os.path.join(directory, CACHE)


def entry(directory: str, build_id: str) -> str:
    return os.path.join(cache_dir(directory), ".build-id", build_id[:2], build_id[2:])


def add(directory: str, fd: int) -> int:
    """Copies the ELF object open as `fd` into the recording's cache, under
    its build-id; returns the bytes it takes on disk, 0 when it has no
    build-id or is there already."""
    src = os.fdopen(os.dup(fd), "rb")
    with src:
        build_id = elf.build_id(src)
        if build_id is None or _BUILD_ID.fullmatch(build_id) is None:
            return 0
        dst = entry(directory, build_id)
        if os.path.lexists(dst):
            return 0
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        copy_sparse(src, dst)
    return os.stat(dst).st_blocks * 512


def copy_sparse(src: BinaryIO, dst: str) -> None:
    """Copies the file open as `src` into the new file `dst`, its holes
    left holes."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            size = os.fstat(src.fileno()).st_size
            for start, end in _data_extents(src.fileno(), size):
                src.seek(start)
                out.seek(start)
                left = end - start
                while left:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        raise Failure("the file shrank while it was copied")
                    out.write(chunk)
                    left -= len(chunk)
            out.truncate(size)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dst)
        raise


def _data_extents(fd: int, size: int) -> Iterator[Tuple[int, int]]:
    """(start, end) of each stretch of `fd` that holds data (all of it where
    the filesystem cannot tell holes)."""
    at = 0
    while at < size:
        try:
            start = os.lseek(fd, at, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                return
            yield at, size
            return
        yield start, min(end, size)
        at = end
