"""Forked workers in every shape a Python service takes, in one program, for
tests/python/test_fork_matrix.py: each shape's worker spends a stated CPU
time in a leaf function of its own, called as run -> middle -> leaf_SHAPE,
so that one recording holds every shape and each sample says which one it is.

    python forkshapes.py [--precompile] SHAPE...

--precompile calls perftramp.compile_trampolines() and
set_persist_after_fork(True) first, as a pre-fork server does.  Times are CPU
times (time.process_time), not rounds: perf samples CPU time, so a worker has
about SECONDS x frequency samples on any interpreter and a loaded machine.
"""
import ctypes
import multiprocessing
import os
import sys
import threading
import time

SECONDS = float(os.environ.get("FORKSHAPES_SECONDS", "0.4"))


def spin():
    total = 0
    for i in range(2000):
        total += i
    return total


# One leaf per shape: the name a sample carries says which worker it is in.
def leaf_parent():
    return spin()


def leaf_before():
    return spin()


def leaf_after():
    return spin()


def leaf_child():
    return spin()


def leaf_grandchild():
    return spin()


def leaf_cfork():
    return spin()


def leaf_thread():
    return spin()


def leaf_sibling():
    return spin()


def leaf_mp_fork():
    return spin()


def leaf_mp_forkserver():
    return spin()


def leaf_mp_spawn():
    return spin()


def middle(leaf):
    return leaf()


def run(leaf, seconds=SECONDS):
    end = time.process_time() + seconds
    while time.process_time() < end:
        middle(leaf)


def in_child(body):
    """Runs body() in an os.fork child; the parent waits for it."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def shape_before():
    """Forked before any of the chain's functions ran in the parent."""
    in_child(lambda: run(leaf_before))


def shape_after():
    """The parent runs the chain first; the child runs it on, with the
    parent's trampolines for run and middle and one of its own for the leaf."""
    run(leaf_parent, SECONDS / 2)
    in_child(lambda: run(leaf_after))


def shape_grandchild():
    """A child that makes trampolines, then forks a grandchild."""
    def child():
        run(leaf_child, SECONDS / 2)
        in_child(lambda: run(leaf_grandchild))
    in_child(child)


def shape_cfork():
    """A child forked by C (libc's fork() through ctypes, GIL held), as a C
    extension forks: Python's own at-fork hooks do not run."""
    libc = ctypes.PyDLL(None)
    libc.fork.restype = ctypes.c_int
    pid = libc.fork()
    if pid == 0:
        try:
            run(leaf_cfork)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def shape_thread():
    """Forked while another thread runs Python (making trampolines)."""
    stop = threading.Event()

    def sibling():
        while not stop.is_set():
            middle(leaf_sibling)

    thread = threading.Thread(target=sibling)
    thread.start()
    try:
        time.sleep(0.05)
        in_child(lambda: run(leaf_thread))
    finally:
        stop.set()
        thread.join()


def mp_worker(leaf_name):
    run(globals()[leaf_name])


def shape_mp(method):
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        pool.map(mp_worker, ["leaf_mp_" + method] * 2)


SHAPES = {
    "before": shape_before,
    "after": shape_after,
    "grandchild": shape_grandchild,
    "cfork": shape_cfork,
    "thread": shape_thread,
    "mp_fork": lambda: shape_mp("fork"),
    "mp_forkserver": lambda: shape_mp("forkserver"),
    "mp_spawn": lambda: shape_mp("spawn"),
}


def main(argv):
    if argv[:1] == ["--precompile"]:
        import perftramp
        perftramp.compile_trampolines()
        perftramp.set_persist_after_fork(True)
        argv = argv[1:]
    for name in argv:
        SHAPES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
