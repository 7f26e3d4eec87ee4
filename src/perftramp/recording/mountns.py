"""sys.remote_exec into a process in a container, from this interpreter.

CPython's sys.remote_exec finds the target's runtime by opening the files
it maps, by the paths it maps them at (Python/remote_debug.h): a
container's paths, which this machine's filesystem does not have.  So a
child of this process first joins the target's mount namespace, then makes
a private copy of it whose /proc is a new one of this machine's pid
namespace (where the target's pid is the one given), and calls
sys.remote_exec there.  No program of the container's runs: running its
interpreter to send the script would run the container's code with this
machine's root privileges (nsenter keeps them), which a hostile image
could use to escape.  So this interpreter must be of the target's version
and kind.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Optional

_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def _in_child(pid: int, script: str) -> None:
    """Runs in the forked child: raises on any failure."""
    libc = _libc()
    fd = os.open("/proc/%d/ns/mnt" % pid, os.O_RDONLY | os.O_CLOEXEC)
    _check(libc.setns(fd, _CLONE_NEWNS), "joining its mount namespace")
    os.close(fd)
    _check(libc.unshare(_CLONE_NEWNS), "a private mount namespace")
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "private mounts")
    _check(libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None),
           "this machine's /proc")
    # mypy checks as 3.10, whose sys has no remote_exec (3.14+, PEP 768)
    sys.remote_exec(pid, script)  # type: ignore[attr-defined]


def remote_exec(pid: int, script: str) -> Optional[str]:
    """sys.remote_exec(pid, script) with the target's mount namespace's
    files in view; `script` is a path as the target sees it.  Returns
    None, or why it failed (one line)."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (a child of the test's process)
        os.close(read)
        code = 0
        try:
            _in_child(pid, script)
        except BaseException as exc:  # everything goes back to the parent
            os.write(write, str(exc).encode("utf-8", "replace")[:4000])
            code = 1
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        said = f.read().decode("utf-8", "replace").strip()
    _, status = os.waitpid(child, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    return said or "its sender ended with status %d" % status
