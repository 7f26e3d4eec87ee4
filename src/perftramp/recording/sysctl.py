"""A kernel setting raised for as long as a block runs, and put back after.

perf's frame-pointer unwinding is cut by the kernel at
kernel.perf_event_max_stack frames (127 by default): a deeper Python
program's samples lose their outer frames, `<module>` among them.  record
raises the setting while perf records (perf passes no limit of its own, so
the kernel applies the setting in force when perf opens its events) and puts
the old value back afterwards: on a normal end, an error, Ctrl-C, SIGTERM or
SIGHUP (SIGKILL leaves it raised: nothing can run then).

The kernel refuses a change (EBUSY) while any perf event with call chains
exists, e.g. another perf -g on the machine; a change is retried for a short
while, then given up with one line saying what it means.
"""
from __future__ import annotations

import contextlib
import errno
import signal
import time
from typing import Callable, Iterator, Optional

from . import procfs, signals

MAX_STACK = "kernel.perf_event_max_stack"
#: how long a change waits for another perf's events to go (EBUSY)
_BUSY_WAIT = 3.0


def _write(name: str, value: int, wait: float = _BUSY_WAIT) -> Optional[str]:
    """Writes `value`; None when done, else why not (a short reason)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(procfs.sysctl_path(name), "w") as f:
                f.write("%d\n" % value)
            return None
        except OSError as exc:
            if exc.errno == errno.EBUSY and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if exc.errno == errno.EBUSY:
                return "busy: another perf with call chains is running"
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                return "not permitted (needs root, and a writable /proc/sys)"
            return exc.strerror or str(exc)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """No signal may stop the block half-way (putting a setting back)."""
    handlers = {}
    try:
        for signum in signals.STOPPING + (signal.SIGINT,):
            with contextlib.suppress(ValueError):  # not the main thread
                handlers[signum] = signal.signal(signum, signal.SIG_IGN)
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _put_back(name: str, old: int, say: Callable[[str], None]) -> None:
    with _uninterrupted():
        why = _write(name, old)
    if why is not None:
        say("could not put %s back to %d (%s); `sysctl -w %s=%d` does"
            % (name, old, why, name, old))


@contextlib.contextmanager
def at_least(name: str, wanted: int, say: Callable[[str], None]) -> Iterator[Optional[int]]:
    """For as long as the block runs, `name` is at least `wanted` when it can
    be made so; yields the value in force (None: unknown).  What is changed
    is put back afterwards, also on SIGTERM and SIGHUP (which end the block
    with SystemExit) and Ctrl-C."""
    old = procfs.read_int(name)
    if old is None:
        say("cannot read %s; frame-pointer stacks may be cut at its default of 127 "
            "frames" % name)
        yield None
        return
    if old >= wanted:
        yield old
        return
    why = _write(name, wanted)
    if why is not None:
        say("%s stays %d (%s): stacks deeper than %d frames are cut; as root, "
            "`sysctl -w %s=%d` before recording avoids it" % (name, old, why, old, name, wanted))
        yield old
        return
    with signals.exit_on_signals():
        try:
            yield wanted
        finally:
            _put_back(name, old, say)
