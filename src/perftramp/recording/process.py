"""A running process, read through /proc: its command, its namespaces, its
files as it sees them.

A process in a container sees another filesystem (its mount namespace)
and has another pid there (its pid namespace): it writes its perf map as
/tmp/perf-NSPID.map of its own /tmp, which the host reaches as
/proc/PID/root/tmp/perf-NSPID.map.  Everything here reads; nothing
writes to the process.
"""
from __future__ import annotations

import errno
import functools
import os
import stat
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from . import procfs
from .errors import Failure


def read_bytes(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def read_text(path: str) -> Optional[str]:
    raw = read_bytes(path)
    return None if raw is None else raw.decode("utf-8", "replace")


def ptrace_advice() -> str:
    scope = procfs.read_text("kernel.yama.ptrace_scope")
    why = ("Yama's kernel.yama.ptrace_scope is %s" % scope) if scope else \
        "reading it needs the same user (or CAP_SYS_PTRACE, which containers often drop)"
    return ("not permitted to attach to it or read its files (ptrace): %s; run as the "
            "process's user or as root, `--cap-add=SYS_PTRACE` in a container, or "
            "`setpriv --ptracer any` / `echo 0 > /proc/sys/kernel/yama/ptrace_scope` "
            "where Yama forbids it" % why)


@dataclass
class Process:
    pid: int
    comm: str
    #: /proc/PID/exe as the process sees it (a path in its mount namespace)
    exe: str
    uid: int
    #: its pid in its own pid namespace (the last of NSpid); pid when the same
    nspid: int
    #: whether it sees another filesystem than this process (a container)
    foreign_root: bool
    #: its cgroup (v2: "/system.slice/x.service"; v1: the first hierarchy's)
    cgroup: str
    #: when it started (time.time()'s clock), 0.0 when unknown
    started: float = 0.0

    @property
    def root(self) -> str:
        """Where this process reaches the files the process sees."""
        return "/proc/%d/root" % self.pid

    def path(self, seen: str) -> str:
        """The path, here, of the file the process sees at `seen`."""
        return self.root + seen if self.foreign_root else seen

    def open_seen(self, seen: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
        """A descriptor of the file the process sees at the absolute path
        `seen`, reached without following any link on the way, nor at its
        end, and without blocking on a FIFO: a process (a container) owns
        its links, and through /proc/PID/root an absolute one would lead
        into this machine's filesystem.  OSError when it cannot."""
        parts = seen.split("/")[1:]
        if not seen.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise OSError(errno.EINVAL, "not a plain absolute path: %r" % seen)
        at = os.open(self.root if self.foreign_root else "/", os.O_PATH | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                step = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=at)
                os.close(at)
                at = step
            return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                           mode, dir_fd=at)
        finally:
            os.close(at)

    def regular_file(self, seen: str) -> Optional[os.stat_result]:
        """The status of the regular file at `seen` (open_seen), or None."""
        try:
            fd = self.open_seen(seen, os.O_PATH)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return st if stat.S_ISREG(st.st_mode) else None

    def environ(self) -> Dict[str, str]:
        """Its environment as it started (what /proc keeps), {} when unreadable."""
        raw = read_bytes("/proc/%d/environ" % self.pid) or b""
        pairs = (item.decode("utf-8", "surrogateescape").partition("=")
                 for item in raw.split(b"\0") if b"=" in item)
        return {name: value for name, _, value in pairs}

    def _mappings(self) -> Iterator[Tuple[str, str, str]]:
        """(range, permissions, path as it sees it) of each mapping of a file."""
        for line in (read_text("/proc/%d/maps" % self.pid) or "").splitlines():
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/"):
                yield fields[0], fields[1], fields[5]

    def mapped_files(self) -> List[str]:
        """The files it maps, as it sees them, each once, in address order."""
        return list(dict.fromkeys(path for _, _, path in self._mappings()))

    def mapped_objects(self) -> List[Tuple[str, str]]:
        """(/proc/PID/map_files/RANGE, path as it sees it) of each file it
        maps executable, once per file: the exact file mapped, whatever its
        path leads to now (root may open those)."""
        seen: Dict[str, str] = {}
        for span, perms, path in self._mappings():
            if "x" in perms and path not in seen:
                # named as the kernel prints the range there: no leading zeros
                start, _, end = span.partition("-")
                seen[path] = "/proc/%d/map_files/%x-%x" % (self.pid, int(start, 16),
                                                           int(end, 16))
        return [(link, path) for path, link in seen.items()]

    def describe(self) -> str:
        where = " in a container (pid %d there)" % self.nspid if self.foreign_root else ""
        return "process %d (%s)%s" % (self.pid, self.comm, where)


def open_object(link: str) -> int:
    """A read descriptor of the regular file behind a magic link of /proc
    (/proc/PID/exe, /proc/PID/map_files/...), opened only once it is seen
    to be one: opening a device has effects of its own."""
    at = os.open(link, os.O_PATH | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(at).st_mode):
            raise OSError(errno.EINVAL, "%s is not a regular file" % link)
        return os.open("/proc/self/fd/%d" % at, os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(at)


def _nspid(status: str, pid: int) -> int:
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            fields = line.split()[1:]
            if fields and fields[-1].isdigit():
                return int(fields[-1])
    return pid


def _cgroup(pid: int) -> str:
    text = read_text("/proc/%d/cgroup" % pid) or ""
    lines = text.splitlines()
    for line in lines:  # cgroup v2's unified line first
        if line.startswith("0::"):
            return line[3:]
    return lines[0].split(":", 2)[2] if lines and lines[0].count(":") >= 2 else ""


def look(pid: int) -> Process:
    """The Process `pid`; a one-line Failure when there is none or it
    cannot be read."""
    proc = "/proc/%d" % pid
    try:
        st = os.stat(proc)
    except FileNotFoundError:
        raise Failure("no process %d (it has exited, or never was)" % pid) from None
    comm = (read_text(proc + "/comm") or "?").strip()
    try:
        exe = os.readlink(proc + "/exe")
        os.listdir(proc + "/root/")
        if read_text(proc + "/maps") is None:
            raise PermissionError
    except OSError as exc:
        if not os.path.exists(proc):
            raise Failure("no process %d (it has exited)" % pid) from None
        if isinstance(exc, PermissionError):
            raise Failure("process %d (%s): %s" % (pid, comm, ptrace_advice())) from None
        raise Failure("process %d (%s) cannot be read: %s" % (pid, comm, exc.strerror or exc)) \
            from None
    status = read_text(proc + "/status") or ""
    try:
        # another mount namespace may share the root and differ below it
        # (a private /tmp): the namespace, not the root, decides
        foreign = os.readlink(proc + "/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    except OSError:
        foreign = True
    return Process(pid, comm, exe, st.st_uid, _nspid(status, pid), foreign, _cgroup(pid),
                   _started(pid))


@functools.lru_cache(maxsize=None)
def _boot_time() -> Optional[int]:
    """When this machine booted (/proc/stat's btime), read once: record -a
    looks at every process."""
    for line in (read_text("/proc/stat") or "").splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    return None


def _started(pid: int) -> float:
    """When the process started: the boot time plus its start in clock
    ticks after boot (/proc/PID/stat's 22nd field), or 0.0."""
    stat_text = read_text("/proc/%d/stat" % pid) or ""
    try:
        boot = _boot_time()
        ticks = int(stat_text.rsplit(")", 1)[1].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK") if boot else 0.0
    except (IndexError, ValueError, OSError):
        return 0.0
