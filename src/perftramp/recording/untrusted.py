"""Reading files of a recording, which may come from someone else: never
through a link, never blocking on a FIFO, only regular files, and only so
much of them."""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from .errors import Failure


class NotReadable(Exception):
    """A file of a recording that is not a regular file of bounded size."""


def read_untrusted(path: str, limit: int) -> Optional[bytes]:
    """The bytes of `path`: only a regular file of at most `limit` bytes.
    None when there is no such file; NotReadable saying why it is not one;
    OSError from open."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
        except OSError:
            regular = False
        if not regular:
            raise NotReadable("not a regular file")
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise NotReadable("larger than %d MiB" % (limit >> 20))
    return raw


def read_in(directory: str, name: str, what: str) -> bytes:
    """The contents of DIRECTORY/NAME, a regular file reached without a link
    (neither DIRECTORY's last component nor NAME may be one); a Failure
    calling it `what` otherwise."""
    where = os.path.join(directory, name)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    dir_fd = fd = None
    try:
        dir_fd = os.open(directory, flags | os.O_DIRECTORY)
        fd = os.open(name, flags, dir_fd=dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Failure("%s is not a regular file; it cannot be %s" % (where, what))
        with os.fdopen(fd, "rb") as f:
            fd = None
            return f.read()
    except OSError as exc:
        why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise Failure("cannot read the recording's %s %s: %s" % (what, where, why)) from None
    finally:
        for opened in (fd, dir_fd):
            if opened is not None:
                os.close(opened)
