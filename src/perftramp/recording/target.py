"""A running process, seen from outside: is it a CPython perftramp can
attach to (3.14+, PEP 768's sys.remote_exec), and if not, why, in one line.

Everything here reads /proc and the target's own ELF files; nothing writes
to the target.  The version comes from the `.PyRuntime` section of the
executable or libpython the target maps: CPython 3.13+ starts it with
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
from typing import List, Literal, Optional, Tuple, Union, overload

from perftramp import _backends

from . import procfs
from .errors import Failure
from .interpreter import this_is_free_threaded

MIN_VERSION = (3, 14)
COOKIE = b"xdebugpy"
_SECTION = b".PyRuntime"


class Target:
    def __init__(self, pid: int, exe: str, version: Tuple[int, int, int], free_threaded: bool,
                 uid: int) -> None:
        self.pid = pid
        self.exe = exe          # /proc/PID/exe, resolved
        self.version = version  # (major, minor, micro)
        self.free_threaded = free_threaded
        self.uid = uid

    @property
    def label(self) -> str:
        return "CPython %d.%d.%d%s" % (self.version + ("t" if self.free_threaded else "",))


def _ptrace_advice() -> str:
    scope = procfs.read_text("kernel.yama.ptrace_scope")
    why = ("Yama's kernel.yama.ptrace_scope is %s" % scope) if scope else \
        "attaching needs the same user (or CAP_SYS_PTRACE, which containers often drop)"
    return ("not permitted to attach (ptrace): %s; run as the process's user or as root, "
            "`--cap-add=SYS_PTRACE` in a container, or `setpriv --ptracer any` / "
            "`echo 0 > /proc/sys/kernel/yama/ptrace_scope` where Yama forbids it" % why)


@overload
def _read(path: str, binary: Literal[False] = ...) -> Optional[str]: ...


@overload
def _read(path: str, binary: Literal[True]) -> Optional[bytes]: ...


def _read(path: str, binary: bool = False) -> Union[str, bytes, None]:
    try:
        with open(path, "rb" if binary else "r") as f:
            return f.read()
    except OSError:
        return None


def runtime_section(path: str) -> Optional[bytes]:
    """The first 24 bytes of the ELF file's .PyRuntime section, or None
    (not a 64-bit little-endian ELF, no such section, unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return None
            shoff, = struct.unpack_from("<Q", head, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
            if shentsize != 64 or not 0 < shnum < 65536 or shstrndx >= shnum:
                return None
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            if len(table) != shentsize * shnum:
                return None
            sections = [struct.unpack_from("<IIQQQQ", table, i * 64) for i in range(shnum)]
            names_offset, names_size = sections[shstrndx][4], sections[shstrndx][5]
            f.seek(names_offset)
            names = f.read(min(names_size, 1 << 20))
            for name, _type, _flags, _addr, offset, size in sections:
                if names[name:name + len(_SECTION) + 1] == _SECTION + b"\0" and size >= 24:
                    f.seek(offset)
                    return f.read(24)
    except (OSError, struct.error):
        return None
    return None


def _mapped_files(pid: int) -> Optional[List[str]]:
    maps = _read("/proc/%d/maps" % pid)
    if maps is None:
        return None
    seen = []
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/") and fields[5] not in seen:
            seen.append(fields[5])
    return seen


def inspect(pid: int) -> Target:
    """The Target at `pid`; Failure (one line) when it is not one perftramp
    can attach to."""
    proc = "/proc/%d" % pid
    try:
        st = os.stat(proc)
    except FileNotFoundError:
        raise Failure("no process %d (it has exited, or never was)" % pid) from None
    comm = (_read(proc + "/comm") or "?").strip()
    try:
        exe = os.readlink(proc + "/exe")
        files = _mapped_files(pid)
        if files is None:
            raise PermissionError
    except PermissionError:
        raise Failure("process %d (%s): %s" % (pid, comm, _ptrace_advice())) from None
    except FileNotFoundError:
        raise Failure("no process %d (it has exited)" % pid) from None
    candidates = [exe] + [f for f in files if "libpython" in os.path.basename(f)]
    for path in candidates:
        # as the process sees its files (another mount namespace: a container)
        head = runtime_section(proc + "/root" + path) or runtime_section(path)
        if head is None or head[:8] != COOKIE:
            continue
        hexversion, free_threaded = struct.unpack_from("<QQ", head, 8)
        version = (hexversion >> 24 & 0xFF, hexversion >> 16 & 0xFF, hexversion >> 8 & 0xFF)
        if version < MIN_VERSION:
            free_threaded = 0  # 3.13's record has no such field
        target = Target(pid, exe, version, bool(free_threaded), st.st_uid)
        _refuse_old(target, comm)
        _refuse_disabled(target, comm)
        return target
    older = _older_python(exe, files)
    if older:
        raise Failure("process %d (%s) runs Python %s: %s" % (pid, comm, older, _old_advice()))
    raise Failure("process %d (%s, %s) is not a CPython interpreter (no CPython runtime "
                   "in its executable or libraries)" % (pid, comm, exe))


def _old_advice() -> str:
    return ("attaching needs CPython 3.14+ (sys.remote_exec, PEP 768); start it under "
            "perftramp instead: `perftramp record -- CMD`, or PERFTRAMP_ACTIVATE=%s in its "
            "environment" % _backends.candidates(False)[0].name)


def _older_python(exe: str, files: List[str]) -> Optional[str]:
    for path in [exe] + files:
        m = re.match(r"(?:lib)?python(\d+\.\d+)", os.path.basename(path))
        if m:
            return m.group(1)
    return None


def _refuse_old(target: Target, comm: str) -> None:
    if target.version < MIN_VERSION:
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
    environ = (_read(proc + "/environ", binary=True) or b"").split(b"\0")
    argv = (_read(proc + "/cmdline", binary=True) or b"").split(b"\0")
    env_off = b"-E" not in argv and b"-I" not in argv and any(
        v.startswith(b"PYTHON_DISABLE_REMOTE_DEBUG=") for v in environ)  # even empty
    x_off = any(a in (b"disable_remote_debug", b"-Xdisable_remote_debug") for a in argv)
    if env_off or x_off:
        raise Failure("process %d (%s): %s" % (target.pid, comm, DISABLED_ADVICE))


def same_kind_as_me(target: Target) -> bool:
    return (sys.version_info[:2] == target.version[:2]
            and this_is_free_threaded() == target.free_threaded)


def remote_exec_argv(target: Target, script: str) -> Optional[List[str]]:
    """How to run sys.remote_exec(target, script): None to call it here (this
    interpreter is of the target's version and kind), else an argv running
    the target's own interpreter."""
    if same_kind_as_me(target):
        return None
    exe = target.exe
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
        return "process %d: %s" % (target.pid, _ptrace_advice())
    if not os.path.exists("/proc/%d" % target.pid):
        return "no process %d (it has exited)" % target.pid
    return "process %d: sys.remote_exec failed: %s" % (target.pid, message)
