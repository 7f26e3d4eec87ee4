"""What perf needs to read a recording, put where perf looks for as long as
a report runs, and taken away afterwards, also when report is stopped by
SIGTERM or SIGHUP: the unpacked pack, the maps in /tmp, and the link from
the path the jitted objects were recorded at to where they are now.

Only new files are written outside the recording (never over an existing
path), and only the names layout.read_meta allows; the link is made only
where no path is and removed only while it is still that link.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from typing import Any, Callable, Dict, Iterator, List, Optional

from . import jitdir, layout, pack, perf, signals, untrusted
from .errors import Failure


@contextlib.contextmanager
def maps_staged(directory: str, names: List[str], home: str) -> Iterator[None]:
    """perf reads maps from `home` only: puts the recording's maps there (as
    layout.read_meta checked them: names of moved files) for as long as the block
    runs, never over an existing file, then takes them away, also when
    report is ended by SIGTERM or SIGHUP."""
    for name in names:
        if not layout.is_moved_file(name):
            raise Failure("%r is not the name of a file record moves into maps/" % (name,))
    maps = os.path.join(directory, layout.MAPS)
    contents = [(name, untrusted.read_in(maps, name, "map")) for name in names]
    placed = []
    with signals.exit_on_signals():
        try:
            for name, data in contents:
                dst = os.path.join(home, name)
                try:
                    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 0o600)
                except FileExistsError:
                    continue
                placed.append(dst)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            yield
        finally:
            for path in placed:
                with contextlib.suppress(OSError):
                    os.unlink(path)


@contextlib.contextmanager
def jit_staged(directory: str, link: Optional[str], warn: Callable[[str], None],
               target: Optional[str] = None) -> Iterator[None]:
    """perf.jit.data names the jitted objects by the directory they were
    written in, `link` (meta["jit_dir"], a jitdir.make() path as read_meta
    checked it; None: nothing to do): for as long as the block runs, `link`
    is a symbolic link to `target` (default DIR/jit).  It is made only where no path is
    (symlink() neither replaces nor follows one: when anything is there,
    `warn` says so and perf reads without the link), and removed afterwards,
    also on SIGTERM or SIGHUP, only while it is still the link made here."""
    if link is None:
        yield
        return
    if not jitdir.is_jit_dir(link):
        raise Failure("%r is not a directory perftramp record makes" % (link,))
    if target is None:
        target = os.path.join(os.path.abspath(directory), layout.JIT)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        raise Failure("%s is missing: the recording's jitted objects were there" % target) from None
    if not stat.S_ISDIR(st.st_mode):
        raise Failure("%s is not a directory (a recording's jit/ is)" % target)
    placed = False
    with signals.exit_on_signals():
        try:
            try:
                os.symlink(target, link)
                placed = True
            except FileExistsError:
                warn("%s exists already, so it was left alone; perf reads the jitted "
                     "objects from it, not from %s" % (link, target))
            except OSError as exc:
                warn("cannot link %s to %s (%s); perf will not find the jitted objects"
                     % (link, target, exc.strerror))
            yield
        finally:
            if placed:
                with contextlib.suppress(OSError):
                    if os.readlink(link) == target:
                        os.unlink(link)


@contextlib.contextmanager
def unpacked(directory: str, meta: Dict[str, Any]) -> Iterator[Optional[str]]:
    """The recording's pack (meta["pack"]; None: no pack) unpacked into a new
    private directory (mode 0700) for as long as the block runs, then
    removed, also on SIGTERM or SIGHUP: yields that directory, or None."""
    name = meta.get("pack")
    if not name:
        yield None
        return
    with signals.exit_on_signals():
        into = tempfile.mkdtemp(prefix="perftramp-report-")
        try:
            pack.unpack(directory, name, into)
            yield into
        finally:
            shutil.rmtree(into, ignore_errors=True)


@contextlib.contextmanager
def staged(directory: str, meta: Dict[str, Any],
           warn: Callable[[str], None]) -> Iterator[str]:
    """Everything perf script needs to read the recording in `directory`
    (meta as read_meta checked it), put where perf looks while the block
    runs: yields the path of the perf data file to read."""
    with unpacked(directory, meta) as into, \
            maps_staged(directory, meta.get("maps", []), perf.MAP_DIR), \
            jit_staged(directory, meta.get("jit_dir"), warn,
                       None if into is None else os.path.join(into, layout.JIT)):
        if into is None:
            yield layout.data_path(directory, meta)
        else:
            yield os.path.join(into, layout.JIT_DATA)
