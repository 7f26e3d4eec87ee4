"""Forked workers as a new user records them: `perftramp record` and
`perftramp report --format collapsed` with defaults, and how many of the
leaf function's samples carry the whole chain; then what the workers'
files cost.

    python benchmarks/forked_workers.py --python /root/.pyenv/versions/3.12.1/bin/python3
    python benchmarks/forked_workers.py --python ... --backend perf   # fp builds
    python benchmarks/forked_workers.py --python ... --workers 200    # the cost of many

Shapes (issue 24's table): the parent runs <module> -> run -> baz -> bar ->
foo for 1 s, forks, the child runs it 2 s more; the parent forks first and
only the child runs it; a multiprocessing Pool (fork start method) whose
workers run it; gunicorn with 2 sync workers under HTTP load on 127.0.0.1
(WSGI app -> render -> compute; needs network access to PyPI once, for
gunicorn).  "whole" counts samples unwound to the thread's start (no
[truncated]) whose Python frames end in the shape's chain.

--workers N instead forks N short-lived workers that each run a function of
their own, and prints the recording's size on disk (apparent and real) and
how long the first report takes.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHAIN = """
import os, sys, time
def foo():
    t = 0
    for i in range(2000):
        t += i
    return t
def bar(): return foo()
def baz(): return bar()
def run(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        baz()
"""

SHAPES = {
    "parent 1 s, fork, child 2 s more": CHAIN + textwrap.dedent("""
        run(1.0)
        pid = os.fork()
        if pid == 0:
            run(2.0)
            os._exit(0)
        os.waitpid(pid, 0)
        """),
    "parent forks first, only the child runs": CHAIN + textwrap.dedent("""
        pid = os.fork()
        if pid == 0:
            run(1.5)
            os._exit(0)
        os.waitpid(pid, 0)
        """),
    "multiprocessing Pool, fork": CHAIN + textwrap.dedent("""
        import multiprocessing
        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(2) as pool:
                pool.map(run, [1.5] * 2)
        """),
}

#: the WSGI application the tests serve too
SERVERS = os.path.join(ROOT, "examples", "servers")

MANY = """
import os, sys
n = int(sys.argv[1])
for k in range(n):
    pid = os.fork()
    if pid == 0:
        exec("def w%d():\\n    return sum(range(20000))\\nw%d()" % (k, k))
        os._exit(0)
    os.waitpid(pid, 0)
"""


def venv_with_perftramp(python, where, extra=()):
    """A venv in `where` with perftramp (and `extra`) pip-installed; its own
    TMPDIR there, since ensurepip's pip on 3.8 and 3.9 leaves a CA bundle in
    $TMPDIR."""
    venv = os.path.join(where, "venv")
    tmp = os.path.join(where, "tmp")
    os.makedirs(tmp, exist_ok=True)
    subprocess.run([python, "-m", "venv", venv], check=True, env=dict(os.environ, TMPDIR=tmp))
    exe = os.path.join(venv, "bin", "python")
    subprocess.run([exe, "-m", "pip", "install", "-q", "--disable-pip-version-check", ROOT]
                   + list(extra), check=True)
    return exe


def record(exe, backend, where, argv):
    rec = os.path.join(where, "rec-%d" % time.monotonic_ns())
    cmd = [exe, "-m", "perftramp", "record", "-o", rec]
    cmd += ["--backend", backend] if backend else []
    # gunicorn 27's control socket: here, not in $HOME/.gunicorn
    env = dict(os.environ, XDG_RUNTIME_DIR=where)
    return subprocess.Popen(cmd + ["--"] + argv, cwd=where, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env), rec


def whole_share(exe, rec, leaf, tail):
    out = subprocess.run([exe, "-m", "perftramp", "report", rec, "--format", "collapsed"],
                         capture_output=True, text=True, check=True)
    total = whole = 0
    for line in out.stdout.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        py = [f.split(":")[2].rpartition(".")[2] for f in frames if f.startswith("py::")]
        if leaf not in py:
            continue
        total += int(count)
        if frames[1] != "[truncated]" and py[-len(tail):] == tail:
            whole += int(count)
    return whole, total


def files_cost(rec):
    """(per-process files, apparent bytes, bytes on disk) of a recording:
    perf_elf's images, the perf maps record keeps under maps/, a jitdump
    pack counts as one."""
    apparent = real = files = 0
    for top, _, names in os.walk(rec):
        for name in names:
            st = os.stat(os.path.join(top, name))
            apparent += st.st_size
            real += st.st_blocks * 512
            files += name.startswith(("perf-elf-", "perf-")) or name.endswith(".tar.xz")
    return files, apparent, real


def gunicorn(exe, backend, where, requests=5000, seconds=20):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pidfile = os.path.join(where, "gunicorn.pid")
    proc, rec = record(exe, backend, where, [exe, "-m", "gunicorn", "-w", "2", "-b",
                                             "127.0.0.1:%d" % port, "--pid", pidfile,
                                             "--chdir", SERVERS, "wsgiapp:app"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    done, lock, stop_at = [0], threading.Lock(), time.monotonic() + seconds

    def client():
        while time.monotonic() < stop_at:
            with lock:
                if done[0] >= requests:
                    return
                done[0] += 1
            urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=30).read()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(pidfile) as f:
        os.kill(int(f.read()), signal.SIGTERM)
    proc.communicate(timeout=300)
    return rec, done[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--backend", help="record's --backend (default: record's choice)")
    p.add_argument("--workers", type=int, help="fork this many short workers instead")
    args = p.parse_args()
    where = tempfile.mkdtemp(prefix="perftramp-forks-", dir=os.path.join(ROOT, "build"))
    try:
        exe = venv_with_perftramp(args.python, where,
                                  [] if args.workers else ["gunicorn"])
        if args.workers:
            script = os.path.join(where, "many.py")
            with open(script, "w") as f:
                f.write(MANY)
            proc, rec = record(exe, args.backend, where, [exe, script, str(args.workers)])
            proc.communicate()
            images, apparent, real = files_cost(rec)
            started = time.monotonic()
            subprocess.run([exe, "-m", "perftramp", "report", rec], check=True,
                           capture_output=True)
            took = time.monotonic() - started
            backend = json.load(open(os.path.join(rec, "perftramp.json")))["backend"]
            print("| %d workers | %s | %d files | %.0f MiB apparent | %.1f MiB on disk "
                  "(%.0f KiB a worker) | first report %.1f s |"
                  % (args.workers, backend, images, apparent / 2**20, real / 2**20,
                     real / 1024 / max(1, args.workers), took))
            return
        print("| shape | backend | whole / leaf samples | files | on disk |")
        print("|---|---|---|---|---|")
        for name, source in SHAPES.items():
            script = os.path.join(where, "shape.py")
            with open(script, "w") as f:
                f.write(source)
            proc, rec = record(exe, args.backend, where, [exe, script])
            proc.communicate()
            whole, total = whole_share(exe, rec, "foo", ["run", "baz", "bar", "foo"])
            backend = json.load(open(os.path.join(rec, "perftramp.json")))["backend"]
            images, _, real = files_cost(rec)
            print("| %s | %s | %d / %d (%.1f%%) | %d | %.1f MiB |"
                  % (name, backend, whole, total, 100.0 * whole / max(1, total), images,
                     real / 2**20))
        rec, answered = gunicorn(exe, args.backend, where)
        whole, total = whole_share(exe, rec, "compute", ["app", "render", "compute"])
        backend = json.load(open(os.path.join(rec, "perftramp.json")))["backend"]
        images, _, real = files_cost(rec)
        print("| gunicorn, 2 sync workers, %d requests | %s | %d / %d (%.1f%%) | %d | "
              "%.1f MiB |" % (answered, backend, whole, total, 100.0 * whole / max(1, total),
                              images, real / 2**20))
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
