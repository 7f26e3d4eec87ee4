"""Will profiling work here, and with which backend?  The findings of
`perftramp check`: the platform, the interpreter (frame pointers), perf
(installed, its version, that it can record), each backend `record` may
choose, by a short real run through this perf rather than a version guess
(selftest.py), attaching, the kernel's perf_event_paranoid and
kptr_restrict, and that /tmp is writable.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from typing import List, NamedTuple, Optional, Tuple

from perftramp import _backends
from perftramp._backends import Backend

from . import events, perf, procfs, selftest
from .interpreter import STUB_FRAME_BYTES, has_frame_pointers, stack_bytes_per_call


class Finding(NamedTuple):
    #: True: works; False: profiling will not work until it is fixed;
    #: None: worth knowing, not in the way
    good: Optional[bool]
    what: str
    detail: str


class Diagnosis(NamedTuple):
    findings: List[Finding]
    #: the backend record would use, or None when profiling will not work
    backend: Optional[Backend]


def _platform() -> Finding:
    system, machine = platform.system(), platform.machine()
    supported = system == "Linux" and machine in ("x86_64", "aarch64")
    return Finding(supported, "platform", "%s %s%s" % (
        system, machine, "" if supported else " (perftramp supports Linux on x86_64 and aarch64)"))


def _interpreter(frame_pointers: bool) -> Finding:
    return Finding(None, "interpreter", "%s %s, %s" % (
        sys.executable, platform.python_version(),
        "built with frame pointers" if frame_pointers else
        "no frame pointers (DWARF unwinding)"))


def _stack_depth(frame_pointers: bool) -> Finding:
    """How deep a Python chain DWARF unwinding sees here: perf's stack copy
    over the C stack one Python call takes."""
    per_call = stack_bytes_per_call()
    if not per_call:
        return Finding(None, "stack per call", "not measured (perftramp's extension "
                       "could not install its test hook)")
    return Finding(None, "stack per call", "%d bytes of C stack per Python call "
                   "(%d of them perftramp's): DWARF unwinding sees about %d Python frames "
                   "(perf copies at most %s bytes); %s" % (
                       per_call, STUB_FRAME_BYTES, perf.DWARF_STACK_MAX // per_call,
                       format(perf.DWARF_STACK_MAX, ","),
                       "frame pointers see any depth (up to kernel.perf_event_max_stack "
                       "frames)" if frame_pointers else
                       "a frame-pointer build of Python would see any depth"))


def _perf_records(perf_path: str) -> Finding:
    with tempfile.TemporaryDirectory(prefix="perftramp-check-") as tmp:
        # perf_argv and -N: no copy of ld.so, the kernel and the vDSO into ~/.debug
        rec = subprocess.run(perf.perf_argv(perf_path, "record")
                             + ["-q", "-N", "-o", os.path.join(tmp, "p.data"), "--", "true"],
                             capture_output=True, text=True)
    works = rec.returncode == 0
    return Finding(works, "perf record",
                   "works" if works else (rec.stderr.strip().splitlines() or ["failed"])[-1])


def _label(row: Backend) -> str:
    return "perf inject --jit" if row.inject else "%s (no inject)" % row.name


def _backends_found(perf_path: str, version: Optional[Tuple[int, int]], frame_pointers: bool,
                    run_tests: bool, findings: List[Finding]) -> Optional[Backend]:
    """Each candidate backend's self-test (or, without `run_tests`, what
    perf's `version` suggests); the backend record would choose."""
    candidates = _backends.candidates(frame_pointers)
    results = []
    for row in candidates:
        if run_tests:
            results.append((row,) + selftest.run(perf_path, row))
        else:
            likely = not row.needs_proof and (
                not row.inject or (version is not None and version >= (6, 8)))
            results.append((row, likely, "self-test skipped"))
    chosen = next((row for row, works, _ in results if works), None)
    for row, works, detail in results:
        # a failing backend is in the way only when none works
        good = True if works else (None if chosen is not None or not run_tests else False)
        findings.append(Finding(good, _label(row), detail))
    return chosen


def _kernel(findings: List[Finding]) -> None:
    paranoid = procfs.read_int("kernel.perf_event_paranoid")
    if paranoid is not None:
        allowed = os.geteuid() == 0 or paranoid <= 2
        findings.append(Finding(allowed, "perf_event_paranoid", "%d%s" % (
            paranoid, "" if allowed else
            " (too high for a normal user: sysctl kernel.perf_event_paranoid=2)")))
    kptr = procfs.read_int("kernel.kptr_restrict")
    if kptr is not None:
        findings.append(Finding(None, "kptr_restrict", "%d%s" % (
            kptr, " (kernel symbols hidden)" if kptr and os.geteuid() != 0 else "")))


def _events(perf_path: str) -> Finding:
    """Which events record -e can sample here: a note, not a FAIL (time is
    always there, as cpu-clock)."""
    seen = events.survey(perf_path)
    have = [event for event, _, available in seen if available]
    hardware = [event for event, kind, available in seen if kind == "hardware" and available]
    return Finding(None, "events (record -e)", "%s%s" % (
        ", ".join(have) or "none",
        "" if hardware else "; no hardware events (cycles, instructions, cache-misses: no "
        "counters, a virtual machine?): software events only"))


def _tmp() -> Finding:
    try:
        with tempfile.NamedTemporaryFile(dir="/tmp", prefix="perftramp-check-"):
            pass
    except OSError as exc:
        return Finding(False, "/tmp", "not writable: %s" % exc)
    return Finding(True, "/tmp", "writable")


def diagnose(run_tests: bool = True) -> Diagnosis:
    frame_pointers = has_frame_pointers()
    findings = [_platform(), _interpreter(frame_pointers), _stack_depth(frame_pointers)]
    perf_path = perf.find()
    backend = None
    if perf_path is None:
        findings.append(Finding(False, "perf", "not found (%s)" % perf.INSTALL_HINT))
    else:
        version_text, version = perf.version(perf_path)
        findings.append(Finding(True, "perf", "%s (%s)" % (perf_path, version_text)))
        records = _perf_records(perf_path)
        findings.append(records)
        if records.good:
            backend = _backends_found(perf_path, version, frame_pointers, run_tests, findings)
            findings.append(_events(perf_path))
    works, detail = selftest.attach()
    # a note, not a FAIL: recording a program perftramp starts works without it
    findings.append(Finding(True if works else None, "attach", detail))
    _kernel(findings)
    findings.append(_tmp())
    if any(finding.good is False for finding in findings):
        backend = None
    return Diagnosis(findings, backend)


def by_hand(row: Backend) -> str:
    """The perf command lines `record` runs for backend `row`, as a user
    would type them."""
    if row.xoption:
        python = "python -X %s app.py" % row.xoption
    else:
        python = "PERFTRAMP_ACTIVATE=%s python app.py" % row.name
    record = " ".join(perf.record_command("perf", row, perf.Sampling(), "perf.data", [python]))
    lines = [record.replace(" -o perf.data", "")]
    if row.inject:
        lines.append(" ".join(perf.inject_command("perf", "perf.data", "perf.jit.data")))
    return "; ".join(lines)
