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
import contextlib
import errno
import os
import signal
import time

MAX_STACK = "kernel.perf_event_max_stack"
#: how long a change waits for another perf's events to go (EBUSY)
_BUSY_WAIT = 3.0


def path(name):
    return os.path.join("/proc/sys", *name.split("."))


def read(name):
    """The setting's integer value, or None when it cannot be read."""
    try:
        with open(path(name)) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _write(name, value, wait=_BUSY_WAIT):
    """Writes `value`; None when done, else why not (a short reason)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(path(name), "w") as f:
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


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def at_least(name, wanted, say):
    """For as long as the block runs, `name` is at least `wanted` when it can
    be made so; yields the value in force (None: unknown).  What is changed
    is put back afterwards, also on SIGTERM and SIGHUP (which end the block
    with SystemExit) and Ctrl-C."""
    old = read(name)
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
    handlers = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread
                handlers[signum] = signal.signal(signum, _raise_exit)
        yield wanted
    finally:
        # no signal may stop the restoring half-way
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            with contextlib.suppress(ValueError):
                handlers.setdefault(signum, signal.signal(signum, signal.SIG_IGN))
        try:
            why = _write(name, old)
            if why is not None:
                say("could not put %s back to %d (%s); `sysctl -w %s=%d` does"
                    % (name, old, why, name, old))
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
