"""`perftramp check --pid PID`: will a running process's samples be named,
and if not, why: can it be read, which CPython it runs, whether it runs
in a container, whether a backend is on in it (and its file), or whether
record -p would switch one on, and whether perf may record it."""
from __future__ import annotations

import os
from typing import List, Optional

from perftramp import _backends
from perftramp._backends import Backend

from . import active, perf, procfs, target
from .doctor import Diagnosis, Finding
from .errors import Failure


def _backend(running: target.Target, findings: List[Finding]) -> Optional[Backend]:
    files = active.files_of(running.process)
    if files:
        found = files[0]
        size = os.stat(found.here).st_blocks * 512  # an ELF image is sparse
        findings.append(Finding(True, "backend", "%s on: it writes %s (%.1f kB so far)%s" % (
            found.row.name, found.seen, size / 1e3,
            ", read here through %s" % running.process.root
            if running.process.foreign_root else "")))
        return found.row
    try:
        target.require_attachable(running)
    except Failure as exc:
        findings.append(Finding(False, "backend", "none on; %s" % exc))
        return None
    if not target.sendable_from_here(running):
        findings.append(Finding(False, "backend", "none on, and attaching into a container "
                                "needs perftramp run by a %d.%d%s interpreter (its own is the "
                                "container's code, not run)" % (
                                    running.version[0], running.version[1],
                                    "t" if running.free_threaded else "")))
        return None
    findings.append(Finding(True, "backend", "none on; record -p switches one on for the "
                            "while (attach%s)" % (
                                ": perftramp must be installed in the container's image"
                                if running.process.foreign_root else "")))
    return _backends.candidates(False)[0]


def _perf_may_record(running: target.Target, findings: List[Finding]) -> None:
    perf_path = perf.find()
    if perf_path is None:
        findings.append(Finding(False, "perf", "not found (%s)" % perf.INSTALL_HINT))
        return
    paranoid = procfs.read_int("kernel.perf_event_paranoid")
    allowed = os.geteuid() == 0 or (
        paranoid is not None and paranoid <= 2 and running.uid == os.geteuid())
    findings.append(Finding(allowed, "perf may record it", "yes" if allowed else (
        "no: it is another user's process, or kernel.perf_event_paranoid is %s; run "
        "perftramp as root (or with CAP_PERFMON and CAP_SYS_PTRACE)" % paranoid)))


def diagnose_process(pid: int) -> Diagnosis:
    findings: List[Finding] = []
    try:
        running = target.inspect(pid)
    except Failure as exc:
        return Diagnosis([Finding(False, "process", str(exc))], None)
    where = ("in a container: pid %d there, its own files and /tmp"
             % running.process.nspid if running.process.foreign_root else "this filesystem")
    findings.append(Finding(True, "process", "%d (%s), %s, %s"
                            % (pid, running.process.comm, running.label, where)))
    if running.process.cgroup:
        findings.append(Finding(None, "cgroup", running.process.cgroup))
    row = _backend(running, findings)
    _perf_may_record(running, findings)
    if any(finding.good is False for finding in findings):
        row = None
    return Diagnosis(findings, row)
