"""SIGTERM and SIGHUP as SystemExit, so that cleanup in finally clauses runs
when perftramp itself is stopped that way."""
import contextlib
import signal
from typing import Iterator

#: the signals a terminal or a service manager stops perftramp with
STOPPING = (signal.SIGTERM, signal.SIGHUP)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the block with SystemExit, for as long as it
    runs (only the main thread can set handlers; elsewhere nothing changes)."""
    old_handlers = {}
    try:
        for signum in STOPPING:
            with contextlib.suppress(ValueError):
                old_handlers[signum] = signal.signal(signum, _raise_exit)
        yield
    finally:
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)
