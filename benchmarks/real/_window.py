"""The measurement window of a real program, marked in its thread names.

perf records every change of a thread's name (comm), and `perftramp report
--format collapsed` starts each stack with it, so the benchmark tells the
samples of the main thread taken while the script's <module> ran (named
MAIN) from those of interpreter start-up and shutdown (the interpreter's
own name), of other threads (WORKER, e.g. OpenBLAS's) and after the work
(DONE), without reading perf's data itself.
"""
import ctypes
import json
import os
import threading
import time

MAIN = "rp-main"
WORKER = "rp-worker"
DONE = "rp-done"
_PR_SET_NAME = 15
_libc = ctypes.CDLL(None, use_errno=True)


def _name_me(name):
    if _libc.prctl(_PR_SET_NAME, name.encode(), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def begin():
    """Names the main thread MAIN; returns the start time."""
    _name_me(MAIN)
    return time.perf_counter()


def name_other_threads():
    """Names every other thread of the process WORKER (threads a library
    started while the main thread was MAIN inherited that name)."""
    me = threading.get_native_id()
    for tid in os.listdir("/proc/self/task"):
        if int(tid) != me:
            try:
                with open("/proc/self/task/%s/comm" % tid, "w") as f:
                    f.write(WORKER)
            except OSError:
                pass  # the thread has ended


def seconds():
    """How long the program works (RP_SECONDS, 10)."""
    return float(os.environ.get("RP_SECONDS", "10"))


def end(start, units):
    """Names the main thread DONE and writes the program's own time to
    RP_RESULT (when set)."""
    took = time.perf_counter() - start
    _name_me(DONE)
    path = os.environ.get("RP_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump({"seconds": took, "units": units}, f)
