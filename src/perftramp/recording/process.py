"""A running process, read through /proc: its command, its namespaces, its
files as it sees them.

A process in a container sees another filesystem (its mount namespace)
and has another pid there (its pid namespace): it writes its perf map as
/tmp/perf-NSPID.map of its own /tmp, which the host reaches as
/proc/PID/root/tmp/perf-NSPID.map.  Everything here reads; nothing
writes to the process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional

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

    @property
    def root(self) -> str:
        """Where this process reaches the files the process sees."""
        return "/proc/%d/root" % self.pid

    def path(self, seen: str) -> str:
        """The path, here, of the file the process sees at `seen`."""
        return self.root + seen if self.foreign_root else seen

    def environ(self) -> Dict[str, str]:
        """Its environment as it started (what /proc keeps), {} when unreadable."""
        raw = read_bytes("/proc/%d/environ" % self.pid) or b""
        pairs = (item.decode("utf-8", "surrogateescape").partition("=")
                 for item in raw.split(b"\0") if b"=" in item)
        return {name: value for name, _, value in pairs}

    def mapped_files(self) -> List[str]:
        """The files it maps, as it sees them, each once, in address order."""
        text = read_text("/proc/%d/maps" % self.pid) or ""
        seen: List[str] = []
        for line in text.splitlines():
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/") and fields[5] not in seen:
                seen.append(fields[5])
        return seen

    def describe(self) -> str:
        where = " in a container (pid %d there)" % self.nspid if self.foreign_root else ""
        return "process %d (%s)%s" % (self.pid, self.comm, where)


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
    except PermissionError:
        raise Failure("process %d (%s): %s" % (pid, comm, ptrace_advice())) from None
    except FileNotFoundError:
        raise Failure("no process %d (it has exited)" % pid) from None
    status = read_text(proc + "/status") or ""
    try:
        # another mount namespace may share the root and differ below it
        # (a private /tmp): the namespace, not the root, decides
        foreign = os.readlink(proc + "/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    except OSError:
        foreign = True
    return Process(pid, comm, exe, st.st_uid, _nspid(status, pid), foreign, _cgroup(pid))
