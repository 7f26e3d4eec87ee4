"""Running perftramp's remote script in a CPython 3.8-3.13 process, which
has no sys.remote_exec (PEP 768), through ptrace (core/inject.h).

The target's main thread is stopped for two calls made in it: mmap gives a
page, which gets a short text, and Py_AddPendingCall queues
PyRun_SimpleString(text).  Its registers, vector state included, are then
written back as they were, and it goes on (a system call it was in is
restarted); a few milliseconds.  At its next safe point, between two
bytecodes and holding the GIL, the main thread runs the text: the same
thread, place and state sys.remote_exec runs a script in on 3.14+, and no
debugger is needed.  The text runs the script file in a namespace of its own
and swallows what it raises, so a script made a no-op (Exchange.defuse) or
gone prints nothing.  Once the script's result is seen, one more stop
unmaps the page.

Not gdb: Debian 12's gdb 13 cannot write the registers back on a CPU with
AMX (its XSAVE area is larger than gdb assumes: "Couldn't write extended
state status"), and a call it abandons leaves the thread in a state the
program sees (an interrupted sleep failing with errno 514), measured here.

Needs: x86_64 (aarch64 is not written yet: ENOSYS), ptrace permission (as
sys.remote_exec), Py_AddPendingCall and PyRun_SimpleString exported by the
target's python or libpython (every CPython build), mmap and munmap in its C
library (glibc or musl).
"""
from __future__ import annotations

import errno
import os
import signal
from typing import Dict, List, NamedTuple, Tuple

from perftramp import _perftramp

from . import elf, process
from .errors import Failure
from .target import Target

_PYTHON_FUNCTIONS = ("Py_AddPendingCall", "PyRun_SimpleString")
_LIBC_FUNCTIONS = ("mmap", "munmap")
#: each stop's limit: the stop itself, and each call made in it
STOP_TIMEOUT_MS = 2000

TEXT = """try:
    with open(%(path)r, 'rb') as perftramp_file:
        exec(compile(perftramp_file.read(), %(path)r, 'exec'), {'__name__': '__perftramp__'})
    del perftramp_file
except Exception:
    pass
"""


class Page(NamedTuple):
    """The page send() made in the target, and the munmap that releases it
    (found with the rest: the files are read once)."""
    address: int
    munmap: int


def _loaded_objects(pid: int) -> List[Tuple[str, str, int, int]]:
    """(map_files link, path as it sees it, inode, load address) of each file
    mapped from offset 0, once per file, the executable first."""
    seen: Dict[str, Tuple[str, str, int, int]] = {}
    for line in (process.read_text("/proc/%d/maps" % pid) or "").splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or not fields[5].startswith("/") or int(fields[2], 16) != 0:
            continue
        start, _, end = fields[0].partition("-")
        link = "/proc/%d/map_files/%x-%x" % (pid, int(start, 16), int(end, 16))
        seen.setdefault(fields[5], (link, fields[5], int(fields[4]), int(start, 16)))
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        exe = ""
    return sorted(seen.values(), key=lambda item: item[1] != exe)


def _open_mapped(pid: int, link: str, path: str, inode: int) -> int:
    """The file behind a mapping: through map_files (root), or else by its
    path in the process's root when it is still the same file (map_files
    needs CAP_CHECKPOINT_RESTORE even for one's own process)."""
    try:
        return process.open_object(link)
    except OSError:
        fd = os.open("/proc/%d/root%s" % (pid, path), os.O_RDONLY | os.O_CLOEXEC)
        if os.fstat(fd).st_ino != inode:
            os.close(fd)
            raise OSError(errno.ESTALE, "%s was replaced" % path) from None
        return fd


def functions(target: Target) -> Dict[str, int]:
    """The addresses in the target of the functions the injection calls;
    Failure (one line) when one is missing."""
    found: Dict[str, int] = {}
    wanted = _PYTHON_FUNCTIONS + _LIBC_FUNCTIONS
    for link, path, inode, start in _loaded_objects(target.pid):
        try:
            fd = _open_mapped(target.pid, link, path, inode)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            base = elf.first_load_address(f)
            if base is None:
                continue
            for name, value in elf.dynamic_functions(f, wanted).items():
                found.setdefault(name, start - base + value)
    missing = [name for name in wanted if name not in found]
    if missing:
        raise Failure("process %d (%s): cannot find %s in its executable or libraries, "
                      "which attaching to %s calls"
                      % (target.pid, target.process.comm, ", ".join(missing), target.label))
    return found


def _error(target: Target, exc: OSError) -> Failure:
    if exc.errno == errno.EPERM:
        return Failure("process %d: %s" % (target.pid, process.ptrace_advice()))
    if exc.errno == errno.ESRCH or not os.path.exists("/proc/%d" % target.pid):
        return Failure("no process %d (it has exited)" % target.pid)
    if exc.errno == errno.ENOSYS:
        return Failure("attaching to %s (before 3.14) works on x86_64 only so far; this is %s"
                       % (target.label, os.uname().machine))
    return Failure("process %d (%s): injecting the call failed, nothing was changed: %s"
                   % (target.pid, target.process.comm, exc.strerror or exc))


def _refuse_unsafe(target: Target) -> None:
    """Refused: a stopped process (SIGSTOP, a debugger), which the calls
    would set running; one traced already (ptrace allows one tracer); one
    that ignores SIGSEGV, whose fault marks a call's return (the kernel
    would reset it to kill the process)."""
    status = process.read_text("/proc/%d/status" % target.pid) or ""
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    comm = target.process.comm
    if fields.get("State", "")[:1] in ("T", "t"):
        raise Failure("process %d (%s) is stopped (SIGSTOP, or a debugger): nothing was "
                      "changed; attach once it runs" % (target.pid, comm))
    tracer = fields.get("TracerPid", "0").strip()
    if tracer != "0":
        raise Failure("process %d (%s) is traced by process %s already (a debugger, strace?): "
                      "detach that first" % (target.pid, comm, tracer))
    if int(fields.get("SigIgn", "0"), 16) & (1 << (signal.SIGSEGV - 1)):
        raise Failure("process %d (%s) ignores SIGSEGV, which attaching before CPython 3.14 "
                      "needs to catch; start it under perftramp record instead"
                      % (target.pid, comm))


def send(target: Target, script: str) -> Page:
    """Queues the script (its path as the target sees it) to run in the
    target's main thread; returns the page to release() once it has run."""
    _refuse_unsafe(target)
    where = functions(target)
    text = (TEXT % {"path": script}).encode()
    try:
        address, queued = _perftramp._inject_pending_call(
            target.pid, where["mmap"], where["Py_AddPendingCall"], where["PyRun_SimpleString"],
            text, STOP_TIMEOUT_MS)
    except OSError as exc:
        raise _error(target, exc) from None
    page = Page(address, where["munmap"])
    if queued != 0:
        release(target, page)
        raise Failure("process %d (%s): its queue of pending calls is full (Py_AddPendingCall); "
                      "nothing was changed, try again" % (target.pid, target.process.comm))
    return page


def release(target: Target, page: Page) -> None:
    """Unmaps the page, once its text has run (or was never queued)."""
    try:
        _perftramp._inject_unmap(target.pid, page.munmap, page.address, STOP_TIMEOUT_MS)
    except OSError:
        pass  # one page left in a process that is gone or will not let us in
