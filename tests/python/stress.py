"""Stress: fresh functions from several threads, while another thread
switches backends (perf, perf_jit, off) and the main thread forks children
that make functions of their own, for a bounded time.

Two halves in one file, so that pytest (tests/python/test_stress.py) and the
sanitizer targets of the Makefile (an ASan or TSan build of the extension,
scripts/stress-sanitized.sh) run the same thing:

  python stress.py --python EXE [--seconds S] [--preload LIBS]
      the checker: runs the workload with EXE (perftramp installed), then
      checks what it left and removes it.  Exit 0 when every check passed.
  EXE stress.py --workload DIR --seconds S
      the workload (started by the checker).

The workload's children fork three ways:
  * os.fork: CPython's at-fork callbacks run, perftramp's among them;
  * libc's fork() through ctypes.PyDLL, as a C extension forks: with the
    GIL held and no Python callback, so the child relies on perftramp's
    pthread_atfork handlers alone.  Such a child never runs
    PyOS_AfterFork_Child and inherits CPython's GIL hand-over state: if a
    thread was waiting for the GIL at the fork, the child hands the GIL to a
    thread it does not have and hangs (CPython's limit, not perftramp's).
    So the main thread parks the others (each blocked on an event, none
    waiting for the GIL) around this kind of fork;
  * "C spawn": tests/c/stress_fork.c through ctypes.CDLL, which releases the
    GIL, as C code that spawns a program forks: the other threads go on
    making trampolines while fork() runs perftramp's pthread_atfork handlers
    (the one place ThreadSanitizer can see perftramp's code from two threads
    at once: everything else runs under the GIL), and the child _exits at
    once, leaving no file.  The checker builds it with $CC or cc; without a
    compiler this kind is left out, and the summary says so.
os.fork children end half with sys.exit (files closed and trimmed), half
with os._exit; libc fork children with os._exit (their threading module
still counts the parent's threads, which an orderly exit would wait for).

What the checker asserts:
  * the workload exited 0 and so did every child: no crash, no hang, no
    sanitizer report (any on stderr fails too, even one a child printed);
  * on a free-threaded build, the GIL stayed off (sys._is_gil_enabled())
    after importing perftramp, in every thread throughout and in every
    child;
  * every line of every /tmp/perf-PID.map it made is "START SIZE py::NAME",
    every jitdump is whole: its header names its pid, each record lies inside
    the file and is laid out as its type says, code-load records carry the
    file's pid, and only zeros follow the last record;
  * no address is named twice in one file (a child that copied a line its
    parent wrote after the fork would name a stub address twice: the parent
    and the child hand out the same addresses next);
  * the parent's files hold a line per trampoline it counted, and each
    child's files name every function the child made, under the backend it
    made it with, and none of any other child's;
  * afterwards only files of pids the workload started are deleted, and a
    decoy dump of a pid that cannot exist is untouched.

Only the standard library is used, on both sides: the workload runs in a
venv that has nothing but perftramp.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback

BACKENDS = ("perf", "perf_jit")
MAX_CHILDREN = 40
CHILD_FUNCTIONS = 20
# Fresh functions per maker thread; after that it calls them again, each
# getting a trampoline of its own from whichever backend is active (the
# bound keeps the files, which every child copies, a few MB).
MAKER_FUNCTIONS = 2000
SANITIZER_MARKS = ("AddressSanitizer", "ThreadSanitizer", "LeakSanitizer",
                   "UndefinedBehaviorSanitizer", "runtime error:")


# ---------------------------------------------------------------- workload

def _fresh(name):
    """A new function, with a new inner function, neither called yet."""
    space = {}
    exec("def %s(x):\n"
         "    def inner(y):\n"
         "        return y + 1\n"
         "    return inner(x) * 2\n" % name, space)
    return space[name]


def _gil_enabled():
    """sys._is_gil_enabled() (3.13+); None on a build without the function."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return probe() if probe is not None else None


def _child(how, rng, dir_, exit_normally):
    import perftramp

    pid = os.getpid()
    plan = [rng.choice(BACKENDS)]
    if rng.random() < 0.5:
        plan.append("perf_jit" if plan[0] == "perf" else "perf")
    made = {}
    for step, backend in enumerate(plan):
        perftramp.activate_stack_trampoline(backend)
        names = []
        for i in range(CHILD_FUNCTIONS // len(plan)):
            name = "child_%d_%d_%d" % (pid, step, i)
            _fresh(name)(i)
            names.append(name)
        made[backend] = names
    with open(os.path.join(dir_, "child-%d.json" % pid), "w") as f:
        json.dump({"how": how, "made": made, "gil": _gil_enabled()}, f)
    if exit_normally:
        sys.exit(0)
    os._exit(0)


class Parking:
    """Lets the main thread stop the worker threads at a point of their
    loop, each blocked on an event, so that none is waiting for the GIL:
    no parked worker is woken before the main thread lets them all go, and
    the switch interval is long meanwhile, so that a worker still on its
    way to the event asks for the GIL too late to matter."""

    def __init__(self, workers):
        import threading

        self.lock = threading.Lock()
        self.all_parked = threading.Event()
        self.resume = threading.Event()
        self.wanted = False
        self.parked = 0
        self.workers = workers
        self.interval = None

    def _count(self, parked, workers):
        with self.lock:
            self.parked += parked
            self.workers += workers
            if self.wanted and self.parked >= self.workers:
                self.all_parked.set()

    def checkpoint(self):
        if self.wanted:
            self._count(1, 0)
            self.resume.wait()

    def leave(self):
        """A worker's last call: it parks no more."""
        self._count(0, -1)

    def __enter__(self):
        self.interval = sys.getswitchinterval()
        sys.setswitchinterval(1.0)
        with self.lock:
            self.parked = 0
            self.resume.clear()
            self.all_parked.clear()
            self.wanted = True
        self._count(0, 0)
        self.all_parked.wait()
        if sysconfig.get_config_var("Py_GIL_DISABLED"):
            self._until_blocked()

    def _until_blocked(self):
        """Free-threaded: no GIL keeps a worker that has counted itself
        parked from running on to its event, and one still running (its
        thread state attached) at the fork leaves the child's first
        stop-the-world pause (setting the evaluator, a collection) waiting
        for it for ever.  So wait until every parked worker waits on the
        event (a waiter of its condition), then a little more for the last
        one's few steps from there into its lock."""
        cond = self.resume._cond
        end = time.monotonic() + 5
        while len(cond._waiters) < self.parked and time.monotonic() < end:
            time.sleep(0.001)
        time.sleep(0.02)

    def __exit__(self, *exc):
        self.wanted = False
        sys.setswitchinterval(self.interval)
        self.resume.set()


class _Crew:
    """The workload's worker threads: three makers, each making fresh
    functions and calling them, and a switcher, switching backends, with
    what they share with the main thread."""

    def __init__(self):
        import threading

        import perftramp

        self.perftramp = perftramp
        self.stop = threading.Event()
        self.errors = []
        # every thread's samples of sys._is_gil_enabled(): a free-threaded
        # interpreter turns the GIL on for good if an extension asks for it
        self.gil_seen = set()
        self.threads = [threading.Thread(target=self._maker, args=(t,)) for t in range(3)]
        self.threads.append(threading.Thread(target=self._switcher))
        self.parking = Parking(len(self.threads))

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def _maker(self, t):
        # Allocated whole: a list grown by append is realloc'd, and on 3.14t
        # ThreadSanitizer reports mimalloc handing a block one maker's
        # realloc freed to another's (its memcpy in each, ordered inside
        # uninstrumented mimalloc), with perftramp's hook among the callers.
        n, made, mine = 0, 0, [None] * MAKER_FUNCTIONS
        try:
            while not self.stop.is_set():
                self.parking.checkpoint()
                if made < MAKER_FUNCTIONS:
                    mine[made] = _fresh("made_%d_%d" % (t, n))
                    made += 1
                f = mine[n % made]
                assert f(n) == (n + 1) * 2
                if n % 256 == 0:
                    self.gil_seen.add(_gil_enabled())
                n += 1
        except BaseException as e:
            self.errors.append("maker %d: %r" % (t, e))
        finally:
            self.parking.leave()

    def _switcher(self):
        import random

        local = random.Random(1)
        try:
            while not self.stop.is_set():
                self.parking.checkpoint()
                self._switch(local.random())
                self.gil_seen.add(_gil_enabled())
                time.sleep(local.random() * 0.002)
        except BaseException as e:
            self.errors.append("switcher: %r" % (e,))
        finally:
            self.parking.leave()

    def _switch(self, r):
        """perf for r < 0.4, perf_jit for r < 0.8, else off."""
        if r < 0.4:
            self.perftramp.activate_stack_trampoline("perf")
        elif r < 0.8:
            self.perftramp.activate_stack_trampoline("perf_jit")
        else:
            self.perftramp.deactivate_stack_trampoline()


def _forks(helper):
    """{how: fork(parking) -> pid} for every way the workload forks (see
    the module's docstring), in the order the workload picks from."""
    import ctypes

    libc = ctypes.PyDLL(None)  # PyDLL: calls keep the GIL
    libc.fork.restype = ctypes.c_int

    def libc_fork(parking):
        with parking:
            return libc.fork()

    forks = {"os.fork": lambda parking: os.fork(), "libc.fork": libc_fork}
    if helper:
        spawner = ctypes.CDLL(helper).pt_stress_fork_exit  # CDLL: calls release the GIL
        forks["C spawn"] = lambda parking: spawner()
    return forks


def _be_child(how, rng, dir_, exit_normally):
    """The child's side of a fork; never returns."""
    try:
        _child(how, rng, dir_, exit_normally)
    except SystemExit:
        raise  # the orderly exit: up to the interpreter's own
    except BaseException:
        traceback.print_exc()
    os._exit(70)


def _fork_children(dir_, seconds, rng, forks, crew):
    """Forks children, each a way rng picks, one every seconds / MAX_CHILDREN
    until `seconds` have passed or MAX_CHILDREN were forked; returns them."""
    hows = list(forks)
    # every pid, as soon as it exists: the checker removes their files even
    # if this process hangs and is killed
    with open(os.path.join(dir_, "pids"), "a") as journal:
        journal.write("%d\n" % os.getpid())
        journal.flush()
        children = []
        deadline = time.monotonic() + seconds
        pause = seconds / MAX_CHILDREN
        while time.monotonic() < deadline and len(children) < MAX_CHILDREN:
            crew.gil_seen.add(_gil_enabled())
            how = rng.choice(hows)
            exit_normally = how == "os.fork" and rng.random() < 0.5
            pid = forks[how](crew.parking)
            if pid == 0:
                _be_child(how, rng, dir_, exit_normally)
            if pid < 0:
                crew.errors.append("libc fork failed")
                break
            children.append({"pid": pid, "how": how, "exit_normally": exit_normally})
            journal.write("%d\n" % pid)
            journal.flush()
            time.sleep(pause)
    return children


def workload(dir_, seconds, helper):
    import random
    import warnings

    import perftramp

    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    # 3.12+ warns that forking a threaded process may deadlock the child:
    # forking one is the point here.
    warnings.simplefilter("ignore", DeprecationWarning)
    forks = _forks(helper)
    rng = random.Random(os.getpid())

    perftramp.activate_stack_trampoline("perf")
    crew = _Crew()
    crew.start()
    children = _fork_children(dir_, seconds, rng, forks, crew)
    crew.finish()
    crew.gil_seen.add(_gil_enabled())
    for child in children:
        child["status"] = _wait(child["pid"], 60)
    perftramp.deactivate_stack_trampoline()
    stats = {b: perftramp._perftramp._stats(b) for b in BACKENDS}
    with open(os.path.join(dir_, "workload.json"), "w") as f:
        json.dump({"pid": os.getpid(), "children": children, "stats": stats,
                   "errors": crew.errors, "free_threaded": free_threaded,
                   "gil_seen": sorted(crew.gil_seen, key=repr)}, f)


def _wait(pid, timeout):
    """The child's exit status as "exit N" or "signal N"; "hung" (after
    killing it) when it has not ended within timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            if os.WIFSIGNALED(status):
                return "signal %d" % os.WTERMSIG(status)
            return "exit %d" % os.WEXITSTATUS(status)
        if time.monotonic() > end:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "hung"
        time.sleep(0.01)


# ----------------------------------------------------------------- checker

MAP_LINE = re.compile(rb"^([0-9a-f]+) ([0-9a-f]+) (py::[^\n]*)$")


def parse_map(path):
    """[(start, size, name)]; raises AssertionError at the first line that is
    not "START SIZE py::NAME".  Empty lines (the rest of a window filled
    when it could not be trimmed) and the NUL rest of a window left open by
    a process that did not close it are skipped, as perf skips them."""
    with open(path, "rb") as f:
        data = f.read()
    data = data.rstrip(b"\0")
    assert b"\0" not in data, "%s: NUL bytes before its end" % path
    assert data == b"" or data.endswith(b"\n"), "%s: last line cut short" % path
    entries = []
    for line in data.split(b"\n")[:-1]:
        if not line:
            continue
        m = MAP_LINE.match(line)
        assert m, "%s: malformed line %r" % (path, line)
        entries.append((int(m.group(1), 16), int(m.group(2), 16),
                        m.group(3).decode("utf-8", "surrogateescape")))
    return entries


def parse_dump(path, pid):
    """[(code_addr, code_size, name)] of a jitdump's code-load records;
    raises AssertionError unless the dump is whole (see the module's
    docstring)."""
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) >= 40, "%s: no header" % path
    magic, version, header_size, _mach, _pad, header_pid = struct.unpack_from("<6I", data)
    assert (magic, version, header_size) == (0x4A695444, 1, 40), "%s: bad header" % path
    assert header_pid == pid, "%s: header of pid %d" % (path, header_pid)
    pos, loads, pending_unwind = 40, [], False
    while pos + 16 <= len(data):
        rid, size = struct.unpack_from("<II", data, pos)
        if size == 0:
            break
        where = "%s at %d" % (path, pos)
        assert size >= 16 and pos + size <= len(data), "%s: record overruns the file" % where
        if rid == 0:
            assert size >= 57, "%s: code load too short" % where
            rec_pid, _tid, vma, addr, code_size, _index = struct.unpack_from("<IIQQQQ", data,
                                                                             pos + 16)
            end = data.find(b"\0", pos + 56, pos + size)
            assert end >= 0, "%s: name not terminated inside its record" % where
            assert end + 1 + code_size == pos + size, "%s: code size disagrees" % where
            assert rec_pid == pid and vma == addr, "%s: pid or address wrong" % where
            assert pending_unwind, "%s: code load without unwinding info" % where
            name = data[pos + 56:end].decode("utf-8", "surrogateescape")
            assert name.startswith("py::"), "%s: name %r" % (where, name)
            loads.append((addr, code_size, name))
            pending_unwind = False
        elif rid == 4:
            assert size >= 40, "%s: unwinding record too short" % where
            unwinding_size, hdr_size, _mapped = struct.unpack_from("<QQQ", data, pos + 16)
            assert 40 + unwinding_size <= size and hdr_size <= unwinding_size, \
                "%s: unwinding sizes disagree" % where
            pending_unwind = True
        else:
            assert rid in (1, 2, 3), "%s: unknown record %d" % (where, rid)
        pos += size
    assert not data[pos:].strip(b"\0"), "%s: data after the end of the records" % path
    return loads


def _unique(entries, path):
    seen, twice = set(), set()
    for e in entries:
        (twice if e[0] in seen else seen).add(e[0])
    twice = sorted("%x" % a for a in twice)
    assert not twice, "%s: addresses named more than once: %s" % (path, twice[:5])


def files_of(pid, dump_dir):
    return {"perf": "/tmp/perf-%d.map" % pid,
            "perf_jit": os.path.join(dump_dir, "jit-%d.dump" % pid)}


def read_files(pid, dump_dir):
    """{backend: entries} of the files pid left, each checked whole."""
    out = {}
    for backend, path in files_of(pid, dump_dir).items():
        if os.path.exists(path):
            entries = parse_map(path) if backend == "perf" else parse_dump(path, pid)
            _unique(entries, path)
            out[backend] = entries
    return out


def check(result, dump_dir, stderr):
    """Every assertion of the module's docstring but the last; returns a
    one-line summary."""
    assert not result["errors"], result["errors"]
    marks = [line for line in stderr.splitlines() if any(m in line for m in SANITIZER_MARKS)]
    assert not marks, "sanitizer reports on stderr:\n" + "\n".join(marks[:20])
    if result["free_threaded"]:
        assert result["gil_seen"] == [False], \
            "free-threaded, but sys._is_gil_enabled() gave %s" % result["gil_seen"]
    pid = result["pid"]
    parent = read_files(pid, dump_dir)
    for backend in BACKENDS:
        counted = result["stats"][backend]["trampolines"]
        written = len(parent.get(backend, []))
        assert result["stats"][backend]["write_errors"] == 0
        # the few functions interpreter shutdown runs first are written after
        # the count was taken
        assert counted <= written <= counted + 30, (backend, counted, written)
    assert sum(len(e) for e in parent.values()) > 1000, "the workload made too few functions"
    children = result["children"]
    assert children, "no child was forked"
    own_prefix = "py::child_"
    for child in children:
        cpid = child["pid"]
        assert child["status"] == "exit 0", "child %d (%s): %s" % (cpid, child["how"],
                                                                   child["status"])
        files = read_files(cpid, dump_dir)
        if child["how"] == "C spawn":
            assert not files, "child %d made no trampoline but has files" % cpid
            continue
        with open(os.path.join(dump_dir, "child-%d.json" % cpid)) as f:
            child_result = json.load(f)
        made = child_result["made"]
        if result["free_threaded"]:
            assert child_result["gil"] is False, "child %d: the GIL is on" % cpid
        for backend, names in made.items():
            assert backend in files, "child %d made no %s file" % (cpid, backend)
            named = {e[2] for e in files[backend]}
            for name in names:
                assert "py::%s:<string>" % name in named, \
                    "child %d: %s not in its %s file" % (cpid, name, backend)
        for backend, entries in files.items():
            strangers = [e[2] for e in entries if e[2].startswith(own_prefix)
                         and not e[2].startswith("%schild_%d_" % ("py::", cpid))]
            assert not strangers, "child %d's %s file names %s" % (cpid, backend, strangers[:3])
    hows = sorted({c["how"] for c in children})
    gil = ", GIL off throughout" if result["free_threaded"] else ""
    return "%d children (%s), parent named %s%s" % (
        len(children), ", ".join("%d %s" % (sum(c["how"] == h for c in children), h)
                                 for h in hows),
        ", ".join("%d %s" % (len(parent.get(b, [])), b) for b in BACKENDS), gil)


def cleanup(pids, dump_dir):
    """Removes the maps of `pids` (and dump_dir); returns what was removed
    from /tmp."""
    removed = []
    for pid in pids:
        path = "/tmp/perf-%d.map" % pid
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass
    shutil.rmtree(dump_dir, ignore_errors=True)
    return removed


def build_helper(dir_):
    """tests/c/stress_fork.c as a shared library in dir_; None without a C
    compiler."""
    cc = os.environ.get("CC") or shutil.which("cc")
    if not cc:
        return None
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "c",
                          "stress_fork.c")
    out = os.path.join(dir_, "stress_fork.so")
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", out, source], check=True)
    return out


def run_and_check(python, seconds, preload=None, env=None):
    """Runs the workload with `python` and checks it; returns the summary,
    raises AssertionError on a failed check."""
    dump_dir = tempfile.mkdtemp(prefix="perftramp-stress-")
    helper = build_helper(dump_dir)
    with open("/proc/sys/kernel/pid_max") as f:
        impossible = int(f.read()) + 1
    decoy = os.path.join(dump_dir, "jit-%d.dump" % impossible)
    with open(decoy, "wb") as f:
        f.write(b"not ours")
    full_env = dict(os.environ)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE",
                 "PYTHONPATH"):
        full_env.pop(name, None)
    full_env.update(env or {})
    full_env["PERFTRAMP_JITDUMP_DIR"] = dump_dir
    if preload:
        full_env["LD_PRELOAD"] = preload
    pids, proc = [], None
    try:
        start = time.monotonic()
        proc = subprocess.Popen([python, os.path.abspath(__file__), "--workload", dump_dir,
                                 "--seconds", str(seconds), "--helper", helper or ""],
                                env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            _out, err = proc.communicate(timeout=seconds * 10 + 300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the workload and its children: a session of their own
            _out, err = proc.communicate()
            raise AssertionError("the workload hung; its stderr:\n" + err[-5000:]) from None
        took = time.monotonic() - start
        sys.stderr.write(err[-20000:])
        assert proc.returncode == 0, "the workload exited with %d" % proc.returncode
        with open(os.path.join(dump_dir, "workload.json")) as f:
            result = json.load(f)
        summary = check(result, dump_dir, err)
        if not helper:
            summary += " (no C compiler: no C spawn children)"
        with open(decoy, "rb") as f:
            assert f.read() == b"not ours", "the decoy dump was changed"
    finally:
        # the workload's own pid even if it died before its journal had it
        pids = [proc.pid] if proc is not None else []
        try:
            with open(os.path.join(dump_dir, "pids")) as f:
                pids += [int(line) for line in f]
        except (OSError, ValueError):
            pass
        removed = cleanup(pids, dump_dir)
    ours = {"/tmp/perf-%d.map" % p for p in pids}
    assert set(removed) <= ours, set(removed) - ours
    return "%s; %.1f s" % (summary, took)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", help="the interpreter to stress (perftramp installed)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--preload", help="LD_PRELOAD for the workload (sanitizer runtimes)")
    parser.add_argument("--workload", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        workload(args.workload, args.seconds, args.helper)
        return 0
    if not args.python:
        parser.error("--python is required")
    print("stress %s: %s" % (args.python, run_and_check(args.python, args.seconds,
                                                         args.preload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
