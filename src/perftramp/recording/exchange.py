"""The directory an attach exchanges files with its target through: the
script the target runs, and the result file it writes back.

It is made in the /tmp the target sees (a container's own, reached through
/proc/PID/root), and from then on handled only through file descriptors:
the target, or anyone owning that /tmp, may replace any of its names with
a link at any moment, and this process runs as root.  So nothing is ever
opened by a path that could lead elsewhere, nothing is followed, and the
result is read as untrusted input.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from typing import Optional

from .process import Process

PREFIX = "perftramp-attach-"
SCRIPT = "a.py"
RESULT = "result.json"
#: a result larger than this is not one the script wrote
_RESULT_LIMIT = 1 << 20


class Exchange:
    def __init__(self, running: Process) -> None:
        self._tmp = running.open_seen("/tmp", os.O_PATH | os.O_DIRECTORY)
        self.name = PREFIX + secrets.token_hex(8)
        os.mkdir(self.name, 0o700, dir_fd=self._tmp)
        self._dir = os.open(self.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                            dir_fd=self._tmp)
        # the target may run as another user: it reads the script, writes the result
        os.fchmod(self._dir, 0o711)
        #: the directory as the target sees it, and as a person here reaches it
        self.seen = "/tmp/" + self.name
        self.shown = running.path(self.seen)

    def _create(self, name: str, mode: int) -> int:
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode,
                       dir_fd=self._dir)

    def write_script(self, text: str, name: str = SCRIPT) -> None:
        fd = self._create(name, 0o644)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o644)  # whatever the umask
            f.write(text)

    def make_result(self, uid: Optional[int]) -> None:
        """The empty result file, the target's (`uid`) to write."""
        fd = self._create(RESULT, 0o600)
        try:
            if uid is not None:
                os.fchown(fd, uid, -1)
        finally:
            os.close(fd)

    def read_result(self) -> str:
        """What the target wrote so far ("" when nothing, or not a regular
        file of ours any more)."""
        try:
            fd = os.open(RESULT, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self._dir)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return ""
            return f.read(_RESULT_LIMIT).decode("utf-8", "replace")

    def defuse(self) -> None:
        """The target may still run the script at a later safe point: it
        becomes a no-op (atomically), and stays, since a missing script
        would make the target print an error of its own."""
        with contextlib.suppress(OSError):
            self.write_script("pass\n", SCRIPT + ".new")
            os.replace(SCRIPT + ".new", SCRIPT, src_dir_fd=self._dir, dst_dir_fd=self._dir)
        self.close()

    def remove(self) -> None:
        for name in (SCRIPT, SCRIPT + ".new", RESULT):
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self._dir)
        with contextlib.suppress(OSError):
            os.rmdir(self.name, dir_fd=self._tmp)
        self.close()

    def close(self) -> None:
        for fd in (self._dir, self._tmp):
            with contextlib.suppress(OSError):
                os.close(fd)
