"""A running process, seen from outside: which CPython it runs, and can
perftramp attach to it (3.14+ through PEP 768's sys.remote_exec, 3.8-3.13
through ptrace: ptrace_exec.py); if not, why, in one line.

Everything here reads /proc and the target's own ELF files; nothing writes
to the target.  The version comes from the `.PyRuntime` section of the
executable or libpython the target maps (before 3.13, from their names:
enough to say the version is too old to attach to): CPython 3.13+ starts it with
_Py_DebugOffsets, "xdebugpy", then PY_VERSION_HEX (u64) and, from 3.14,
whether the build is free-threaded (u64).  That is the same record
sys.remote_exec reads, and it also needs the caller to be of the same
version and kind (a 3.14 cannot send to a 3.14t), which remote_exec_argv()
settles by running the target's own interpreter when this one differs.
"""
from __future__ import annotations

import os
import re
import struct
import sys
from typing import List, Optional, Tuple

from perftramp import _backends

from . import elf, process
from .errors import Failure
from .interpreter import this_is_free_threaded
from .process import Process

#: sys.remote_exec's; older ones down to PTRACE_MIN_VERSION through ptrace_exec.py
MIN_VERSION = (3, 14)
PTRACE_MIN_VERSION = (3, 8)
COOKIE = b"xdebugpy"
_SECTION = b".PyRuntime"


class Target:
    def __init__(self, running: Process, version: Tuple[int, int, int],
                 free_threaded: bool) -> None:
        self.process = running
        self.pid = running.pid
        self.exe = running.exe  # /proc/PID/exe, as the process sees it
        self.version = version  # (major, minor, micro); micro 0 before 3.13 (unknown)
        self.free_threaded = free_threaded
        self.uid = running.uid

    @property
    def label(self) -> str:
        if self.version < (3, 13):
            return "CPython %d.%d" % self.version[:2]
        return "CPython %d.%d.%d%s" % (self.version + ("t" if self.free_threaded else "",))


def runtime_section(link: str) -> Optional[bytes]:
    """The first 24 bytes of the .PyRuntime section of the ELF file behind
    the magic link (/proc/PID/exe, /proc/PID/map_files/...), or None."""
    try:
        fd = process.open_object(link)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return elf.section(f, _SECTION, 24)


def inspect(pid: int) -> Target:
    """The CPython at `pid`, of any version; Failure (one line) when there
    is no such process, it cannot be read, or it is no CPython."""
    running = process.look(pid)
    # the files it maps, not what their paths lead to now: an interpreter
    # upgraded under a running server is "(deleted)" there
    links = ["/proc/%d/exe" % pid] + [link for link, path in running.mapped_objects()
                                       if "libpython" in os.path.basename(path)]
    for link in links:
        head = runtime_section(link)
        if head is None or head[:8] != COOKIE:
            continue
        hexversion, free_threaded = struct.unpack_from("<QQ", head, 8)
        version = (hexversion >> 24 & 0xFF, hexversion >> 16 & 0xFF, hexversion >> 8 & 0xFF)
        if version < MIN_VERSION:
            free_threaded = 0  # 3.13's record has no such field
        return Target(running, version, bool(free_threaded))
    older = _older_python(running.exe, running.mapped_files())
    if older:
        major, minor = older.split(".")
        return Target(running, (int(major), int(minor), 0), False)
    raise Failure("%s, %s, is not a CPython interpreter (no CPython runtime in its "
                  "executable or libraries)" % (running.describe(), running.exe))


def require_attachable(target: Target) -> None:
    """Failure (one line) unless perftramp can attach to `target`."""
    _refuse_old(target, target.process.comm)
    if uses_remote_exec(target):
        _refuse_disabled(target, target.process.comm)


def uses_remote_exec(target: Target) -> bool:
    """Whether the script is sent with sys.remote_exec (else ptrace_exec)."""
    return target.version >= MIN_VERSION


def _old_advice() -> str:
    return ("attaching needs CPython 3.8+; start it under "
            "perftramp instead: `perftramp record -- CMD`, or PERFTRAMP_ACTIVATE=%s in its "
            "environment" % _backends.candidates(False)[0].name)


def _older_python(exe: str, files: List[str]) -> Optional[str]:
    for path in [exe] + files:
        m = re.match(r"(?:lib)?python(\d+\.\d+)", os.path.basename(path))
        if m:
            return m.group(1)
    return None


def _refuse_old(target: Target, comm: str) -> None:
    if target.version < PTRACE_MIN_VERSION:
        raise Failure("process %d (%s) runs CPython %d.%d: %s"
                       % (target.pid, comm, target.version[0], target.version[1],
                          _old_advice()))


DISABLED_ADVICE = ("remote debugging is disabled in it (PYTHON_DISABLE_REMOTE_DEBUG, "
                   "-X disable_remote_debug, or a build configured --without-remote-debug); "
                   "restart it without, or under `perftramp record -- CMD`")


def _refuse_disabled(target: Target, comm: str) -> None:
    """What /proc shows of the switches (the build flag shows only when
    sys.remote_exec says so: remote_exec_error())."""
    proc = "/proc/%d" % target.pid
    environ = (process.read_bytes(proc + "/environ") or b"").split(b"\0")
    argv = (process.read_bytes(proc + "/cmdline") or b"").split(b"\0")
    env_off = b"-E" not in argv and b"-I" not in argv and any(
        v.startswith(b"PYTHON_DISABLE_REMOTE_DEBUG=") for v in environ)  # even empty
    x_off = any(a in (b"disable_remote_debug", b"-Xdisable_remote_debug") for a in argv)
    if env_off or x_off:
        raise Failure("process %d (%s): %s" % (target.pid, comm, DISABLED_ADVICE))


def same_kind_as_me(target: Target) -> bool:
    return (sys.version_info[:2] == target.version[:2]
            and this_is_free_threaded() == target.free_threaded)


def sendable_from_here(target: Target) -> bool:
    """Whether this perftramp can send a script to the target: a container's
    3.14+ only from an interpreter of its kind (remote_exec_argv())."""
    return not target.process.foreign_root or not uses_remote_exec(target) \
        or same_kind_as_me(target)


def remote_exec_argv(target: Target, script: str) -> Optional[List[str]]:
    """How to run sys.remote_exec(target, script): None to call it here (this
    interpreter is of the target's version and kind), else an argv running
    the target's own interpreter.  A target in a container is sent to from
    here only (mountns.py says why): this interpreter must be of its kind."""
    exe = target.exe
    if target.process.foreign_root and not same_kind_as_me(target):
        raise Failure("%s runs %s; attaching into a container is done by an interpreter of "
                      "its version and kind (its own is not run, as it is the container's "
                      "code): run perftramp with a %d.%d%s interpreter"
                      % (target.process.describe(), target.label, target.version[0],
                         target.version[1], "t" if target.free_threaded else ""))
    if same_kind_as_me(target):
        return None
    if exe.endswith(" (deleted)") or not os.access(exe, os.X_OK) or \
            not os.path.basename(exe).startswith("python"):
        raise Failure("process %d runs %s inside %s, which is not a python this can run; "
                       "run perftramp with a %d.%d%s interpreter"
                       % (target.pid, target.label, exe, target.version[0], target.version[1],
                          "t" if target.free_threaded else ""))
    return [exe, "-I", "-c", "import sys; sys.remote_exec(int(sys.argv[1]), sys.argv[2])",
            str(target.pid), script]


def remote_exec_error(target: Target, message: str) -> str:
    """The one line for sys.remote_exec's failure `message`."""
    if "not enabled" in message:
        return "process %d: %s" % (target.pid, DISABLED_ADVICE)
    if "ermission" in message or "ptrace" in message.lower():
        return "process %d: %s" % (target.pid, process.ptrace_advice())
    if not os.path.exists("/proc/%d" % target.pid):
        return "no process %d (it has exited)" % target.pid
    return "process %d: sys.remote_exec failed: %s" % (target.pid, message)
