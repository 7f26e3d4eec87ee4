"""A recording's perf.jit.data and jit/ as one file, PACK (a recording of
thousands of files otherwise), and that file read back strictly: a
recording may come from someone else, so only regular files of the names
record writes, within size limits, each written as a new file into a new
private directory."""
from __future__ import annotations

import contextlib
import errno
import lzma
import os
import re
import stat
import tarfile
from typing import Any, Final, Optional, Set, Tuple

from perftramp import _backends

from .errors import Failure
from .layout import DATA, JIT, JIT_DATA, PACK

#: xz's preset for the pack: 1 packs perf's DWARF samples about 50 MB/s and
#: to a few percent of their size (their stack copies repeat a lot)
PACK_PRESET: Final = 1
#: what a pack may hold, and how large (a recording may come from someone
#: else: these keep a hostile one from filling the disk or naming paths)
_PACK_DATA_LIMIT = 1 << 40
_PACK_FILE_LIMIT = 1 << 32
_PACK_TOTAL_LIMIT = 1 << 41
_PACK_MEMBERS_LIMIT = 1 << 20
#: the names perf inject --jit gives the objects it writes, one per function
_INJECTED_OBJECT = r"jitted-[0-9]+-[0-9]+\.so"


def _is_jit_file(name: str) -> bool:
    """Whether `name` is one jit/ holds: a dump of a backend with inject, or
    one of perf inject's objects."""
    return re.fullmatch("%s|%s" % (_backends.injected_files_regex(), _INJECTED_OBJECT),
                        name) is not None


def pack(directory: str) -> str:
    """Packs DIR/perf.jit.data and DIR/jit into DIR/PACK (xz), then removes
    them and DIR/perf.data (perf.jit.data holds all of it); returns PACK.
    Only the names a pack may hold are taken; anything else in jit/ stays."""
    target = os.path.join(directory, PACK)
    partial = target + ".partial"
    jit = os.path.join(directory, JIT)
    names = sorted(name for name in os.listdir(jit) if _is_jit_file(name)
                   and os.path.isfile(os.path.join(jit, name))
                   and not os.path.islink(os.path.join(jit, name))) \
        if os.path.isdir(jit) else []
    try:
        with tarfile.open(partial, "w:xz", preset=PACK_PRESET,
                          format=tarfile.PAX_FORMAT) as tar:
            def add(path: str, arcname: str) -> None:
                info = tar.gettarinfo(path, arcname)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            add(os.path.join(directory, JIT_DATA), JIT_DATA)
            for name in names:
                add(os.path.join(jit, name), JIT + "/" + name)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    os.unlink(os.path.join(directory, JIT_DATA))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, DATA))
    for name in names:
        os.unlink(os.path.join(jit, name))
    with contextlib.suppress(OSError):  # only when nothing else is there
        os.rmdir(jit)
    return PACK


def _pack_member(info: tarfile.TarInfo, seen: Set[str]) -> Tuple[Optional[str], Optional[str]]:
    """The checks of one member of a pack: its name in the private
    directory, or a Failure's reason."""
    name = info.name
    if name in seen:
        return None, "%s twice" % name
    if name == JIT:
        if not info.isdir():
            return None, "%s, not a directory" % name
        return name, None
    if name == JIT_DATA:
        limit = _PACK_DATA_LIMIT
    elif name.startswith(JIT + "/") and _is_jit_file(name[len(JIT) + 1:]):
        limit = _PACK_FILE_LIMIT
    else:
        return None, "%r, a name a recording never has" % name
    if not info.isreg():
        kind = ("a link" if info.issym() or info.islnk() else "a directory" if info.isdir()
                else "a special file")
        return None, "%s as %s, not a regular file" % (name, kind)
    if info.size > limit:
        return None, "%s of %d bytes, larger than a recording's" % (name, info.size)
    return name, None


def unpack(directory: str, name: str, into: str) -> None:
    """Unpacks DIR/NAME, a pack of record's (read_meta checked the name),
    into the new private directory `into`, strictly (_pack_member); a
    Failure naming the pack when it is anything else."""
    path = os.path.join(directory, name)

    def bad(why: Optional[str]) -> Failure:
        return Failure("%s is not a perftramp recording's pack: %s" % (path, why))

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise bad("a symbolic link" if exc.errno == errno.ELOOP else exc.strerror) from None
    seen: Set[str] = set()
    total = 0
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise bad("not a regular file")
        try:
            # stream mode: members are read in order, none is looked up
            with tarfile.open(fileobj=f, mode="r|xz") as tar:
                for info in tar:
                    member, why = _pack_member(info, seen)
                    if why:
                        raise bad("it holds " + why)
                    assert member is not None  # a name whenever there is no reason
                    seen.add(member)
                    if len(seen) > _PACK_MEMBERS_LIMIT:
                        raise bad("more than %d files" % _PACK_MEMBERS_LIMIT)
                    if info.isdir():
                        os.mkdir(os.path.join(into, member), 0o700)
                        continue
                    total += info.size
                    if total > _PACK_TOTAL_LIMIT:
                        raise bad("more than %d bytes in all" % _PACK_TOTAL_LIMIT)
                    if member.startswith(JIT + "/") and JIT not in seen:
                        os.mkdir(os.path.join(into, JIT), 0o700)
                        seen.add(JIT)
                    _copy_out(tar.extractfile(info), info.size,
                              os.path.join(into, member))
        except (tarfile.TarError, lzma.LZMAError, EOFError) as exc:
            raise bad(str(exc) or type(exc).__name__) from None
        except OSError as exc:
            raise Failure("cannot unpack %s into %s: %s" % (path, into, exc.strerror)) from None
    if JIT_DATA not in seen:
        raise bad("no %s in it" % JIT_DATA)
    if JIT not in seen:  # no jitted object: jit_staged still links a directory
        os.mkdir(os.path.join(into, JIT), 0o700)


def _copy_out(src: Any, size: int, dst: str) -> None:
    """`size` bytes of `src` into the new file `dst` (never an existing
    path, never through a link)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        left = size
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise EOFError("the pack ends inside %s" % os.path.basename(dst))
            out.write(chunk)
            left -= len(chunk)
