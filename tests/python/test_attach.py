"""perftramp attach / detach / record -p: a long-running CPython started
with no switch at all (3.14+ through sys.remote_exec, 3.8-3.13 through a
pending call queued by ptrace), profiled from outside with real perf, then
left running with the backend off; many cycles on one busy target; and
every refusal, each one line."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from interpreters import INTERPRETERS, in_sid_root
from namespaces import CHAIN, wait_for_line
from namespaces import attached_chain_share as chain_share
from perffiles import jitdump_loads, map_entries
from perfscript import python_names, reaches_start, samples
from processes import cli, popen, register_pids

pytestmark = pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")

SERVER = "import sys, time\n\n" + CHAIN + """
state = "none"
print("ready", flush=True)
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    baz(20000)
    module = sys.modules.get("perftramp")
    now = "none" if module is None else \\
        ("active" if module.is_stack_trampoline_active() else "inactive")
    if now != state:
        print(now, flush=True)
        state = now
    time.sleep(0.001)
"""


def start_server(tmp_path, exe, env=None, options=(), source=SERVER, ready="ready"):
    """The server (`source`), run by `exe` with `options` before the script
    (the bare interpreter has no perftramp on its path), its stdout in a
    file, once it has printed the line `ready`; returns (proc, stdout path)."""
    script = tmp_path / "server.py"
    script.write_text(source)
    out = tmp_path / "server.out"
    full_env = dict(os.environ)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE",
                 "PYTHONPATH"):
        full_env.pop(name, None)
    full_env.update(env or {})
    with open(out, "w") as f:
        proc = popen([exe] + list(options) + [str(script)], stdout=f,
                     stderr=subprocess.STDOUT, env=full_env)
    wait_for_line(out, ready)
    return proc, out


def stop(proc):
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("backend", ["auto", "perf_elf"])
def test_record_p_names_later_calls_and_leaves_it_running(python, tmp_path, backend):
    """record -p on a process started with no switch, by an interpreter that
    does not have perftramp (lent to it): whole chains for the calls made
    after attaching, and afterwards the backend is off and it runs on."""
    proc, out = start_server(tmp_path, python.base)
    try:
        rec = cli(python, ["record", "-p", str(proc.pid), "--duration", "2",
                           "--backend", backend, "-o", "rec"], tmp_path)
        assert "detached from %d" % proc.pid in rec.stderr
        wait_for_line(out, "inactive")
        assert proc.poll() is None, "the target stopped"
        assert out.read_text().splitlines()[1:3] == ["active", "inactive"], out.read_text()
        report = cli(python, ["report", "rec", "--format", "collapsed"], tmp_path)
        foo, whole = chain_share(report.stdout)
        assert foo > 200, rec.stderr + report.stderr + report.stdout[-1500:]
        assert whole >= 0.98 * foo, (foo, whole)
        # the target still works, and makes no trampolines now
        time.sleep(0.3)
        assert proc.poll() is None
    finally:
        stop(proc)


def test_attach_and_detach(python, tmp_path):
    """attach writes the perf map of the functions called afterwards (the
    target's own environment has perftramp), detach switches it off."""
    proc, out = start_server(tmp_path, python.exe)
    try:
        got = cli(python, ["attach", str(proc.pid), "--backend", "perf"], tmp_path)
        assert "perf backend active" in got.stderr
        wait_for_line(out, "active")
        path = "/tmp/perf-%d.map" % proc.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"py::baz:" not in open(path, "rb").read():
            time.sleep(0.05)
        assert b"py::baz:" in open(path, "rb").read()
        cli(python, ["detach", str(proc.pid)], tmp_path)
        wait_for_line(out, "inactive")
        assert proc.poll() is None
    finally:
        stop(proc)


FORKING_SERVER = """\
import os, sys, time

def foo(n):
    return sum(i * i for i in range(n))

def bar(n):
    return foo(n) + 1

def baz(n):
    return bar(n) + 1

def in_child():
    return baz(100)

print("ready", flush=True)
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    baz(2000)
    module = sys.modules.get("perftramp")
    if module is not None and module.is_stack_trampoline_active():
        break
    time.sleep(0.001)
baz(2000)
pid = os.fork()
if pid == 0:
    in_child()
    os._exit(0)
os.waitpid(pid, 0)
print("child %d" % pid, flush=True)
time.sleep(300)
"""


def start_forking_server(python, tmp_path, source):
    """`source` run by the venv's interpreter (perftramp importable, no
    switch on), its stdout in a file; returns (proc, stdout path)."""
    script = tmp_path / "server.py"
    script.write_text(source)
    out = tmp_path / "server.out"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE")}
    with open(out, "w") as f:
        proc = popen([python.exe, str(script)], stdout=f, stderr=subprocess.STDOUT, env=env)
    return proc, out


@pytest.mark.edge_versions
@pytest.mark.parametrize("backend", ["perf", "perf_jit"])
def test_a_worker_forked_after_attach_names_what_it_inherited(python, tmp_path, backend):
    """A pre-fork server attached to before it forks: attach turns
    persistence on, so the worker's own file names the trampolines the
    parent made (at the parent's addresses, none made again) and its own."""
    proc, out = start_forking_server(python, tmp_path, FORKING_SERVER)
    try:
        wait_for_line(out, "ready")
        cli(python, ["attach", str(proc.pid), "--backend", backend], tmp_path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "child" not in out.read_text():
            time.sleep(0.05)
        line = [w for w in out.read_text().splitlines() if w.startswith("child ")]
        assert line, out.read_text()
        child = int(line[0].split()[1])
        register_pids(child)
        script = tmp_path / "server.py"
        names = ["py::%s:%s" % (n, script) for n in ("foo", "bar", "baz", "in_child")]
        if backend == "perf":
            parent_at = {name: start for start, _, name in map_entries(proc.pid)}
            child_at = {name: start for start, _, name in map_entries(child)}
        else:
            parent_at = {name: addr for addr, name in
                         jitdump_loads(Path("/tmp/jit-%d.dump" % proc.pid))}
            child_loads = jitdump_loads(Path("/tmp/jit-%d.dump" % child))
            child_at = {name: addr for addr, name in child_loads}
            made = [name for _, name in child_loads if name in names]
            assert sorted(made) == sorted(names), ("each once", made)
        for name in names[:3]:
            assert child_at.get(name) == parent_at.get(name) is not None, (name, child_at)
        assert names[3] in child_at and names[3] not in parent_at, child_at
    finally:
        stop(proc)


FORK_WHEN_ACTIVE = """\
import os, sys, time

def leaf():
    total = 0
    for i in range(2000):
        total += i
    return total

def middle():
    return leaf()

def work(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        middle()

print("ready", flush=True)
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    middle()
    module = sys.modules.get("perftramp")
    if module is not None and module.is_stack_trampoline_active():
        break
    time.sleep(0.001)
pid = os.fork()
if pid == 0:
    work(1.0)
    os._exit(0)
os.waitpid(pid, 0)
print("child %d" % pid, flush=True)
while time.monotonic() < deadline:  # Python often enough for record's detach
    time.sleep(0.001)
"""


@pytest.mark.edge_versions
def test_a_worker_forked_after_attach_unwinds_whole(python, tmp_path):
    """A server attached to with the perf backend forks a worker once the
    backend is active in it; a system-wide `perf record -g` (perf record -p
    would not follow the worker: it samples the threads it is given) sees
    the worker, and >= 99% of its samples in leaf are whole: unwound to the
    thread's start, work -> middle -> leaf named (<module> began before the
    attach and has no trampoline).  The worker takes its stubs from a chunk
    of its own, named in its own perf map, which perf reads for it."""
    if not python.frame_pointers:
        pytest.skip("the perf backend unwinds with frame pointers; this build has none")
    if in_sid_root():
        pytest.skip("a system-wide perf record in the sid root's chroot names no perf-map "
                    "frame (make test-py-perf7 runs this with perf 7.2 on the host)")
    proc, out = start_forking_server(python, tmp_path, FORK_WHEN_ACTIVE)
    data = tmp_path / "perf.data"
    try:
        wait_for_line(out, "ready")
        # -N: no copy of every object the machine ran into ~/.debug
        perf = popen(["perf", "record", "-q", "-N", "-a", "-g", "-F", "999", "-o", str(data),
                      "--", "sleep", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        cli(python, ["attach", str(proc.pid), "--backend", "perf"], tmp_path)
        _, err = perf.communicate(timeout=120)
        assert perf.returncode == 0, err
        line = [w for w in out.read_text().splitlines() if w.startswith("child ")]
        assert line, out.read_text()
        child = int(line[0].split()[1])
        register_pids(child)
        leaf = whole = 0
        # leaf named: the worker's samples (the parent calls leaf only until
        # the attach has made its trampolines, then forks and waits)
        for frames in samples(data, dsos=True):
            py = python_names([symbol for symbol, _ in reversed(frames)])
            if "leaf" in py:
                leaf += 1
                whole += reaches_start(frames) and py[-3:] == ["work", "middle", "leaf"]
        assert leaf > 300 and whole >= 0.99 * leaf, (leaf, whole)
    finally:
        stop(proc)


def refused(python, tmp_path, pid, *extra):
    got = cli(python, ["attach", str(pid)] + list(extra), tmp_path, check=False)
    assert got.returncode == 2, (got.returncode, got.stderr)
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perftramp: "), got.stderr
    return lines[0]


def refused_and_unchanged(python, tmp_path, exe, said, **server):
    """attach --backend perf to a server (start_server's `exe` and `server`
    arguments) refused with one line saying `said`; the server runs on, its
    output only "ready".  Returns the line."""
    proc, out = start_server(tmp_path, exe, **server)
    try:
        line = refused(python, tmp_path, proc.pid, "--backend", "perf")
        assert said in line, line
        assert proc.poll() is None and out.read_text().splitlines() == ["ready"]
    finally:
        stop(proc)
    return line


@pytest.mark.versions(min=(3, 14))
@pytest.mark.parametrize("how", ["environment", "-X"])
def test_refuses_remote_debugging_disabled(python, tmp_path, how):
    if how == "environment":
        proc, out = start_server(tmp_path, python.exe, env={"PYTHON_DISABLE_REMOTE_DEBUG": "1"})
    else:
        proc, out = start_server(tmp_path, python.exe, options=["-X", "disable_remote_debug"])
    try:
        line = refused(python, tmp_path, proc.pid, "--backend", "perf")
        assert "remote debugging is disabled" in line
        # (any -X option loads perftramp's start-up hook: "inactive")
        assert proc.poll() is None and "active" not in out.read_text().splitlines()
    finally:
        stop(proc)


@pytest.mark.versions(min=(3, 14))
@pytest.mark.edge_versions
def test_an_empty_disable_variable_disables_too(python, tmp_path):
    """As CPython reads it (measured on 3.14.7): PYTHON_DISABLE_REMOTE_DEBUG
    set at all, even empty, disables remote debugging; attach says so from
    /proc before trying."""
    refused_and_unchanged(python, tmp_path, python.exe, "remote debugging is disabled",
                          env={"PYTHON_DISABLE_REMOTE_DEBUG": ""})


@pytest.mark.edge_versions
def test_refuses_what_is_not_python_and_what_is_gone(python, tmp_path):
    sleeper = popen(["sleep", "60"])
    try:
        line = refused(python, tmp_path, sleeper.pid, "--backend", "perf")
        assert "is not a CPython interpreter" in line
    finally:
        stop(sleeper)
    gone = popen(["true"])
    gone.wait()
    line = refused(python, tmp_path, gone.pid, "--backend", "perf")
    assert "no process %d" % gone.pid in line
    line = refused(python, tmp_path, 2 ** 22 + 7, "--backend", "perf")
    assert "no process" in line


@pytest.mark.edge_versions
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv, to attach as another user")
def test_refuses_without_ptrace_permission(python, tmp_path):
    """Another user's process: one line that says ptrace and what to do."""
    as_nobody = _as_nobody_or_skip(python)
    proc, _ = start_server(tmp_path, python.exe)
    try:
        argv = as_nobody + ["-m", "perftramp", "attach", str(proc.pid), "--backend", "perf"]
        got = subprocess.run(argv, capture_output=True, text=True, cwd="/",
                             env=dict(os.environ, HOME="/nonexistent"), timeout=120)
        lines = got.stderr.strip().splitlines()
        assert got.returncode == 2 and len(lines) == 1, got.stderr
        assert "not permitted to attach to it or read its files (ptrace)" in lines[0]
        assert proc.poll() is None
    finally:
        stop(proc)


def _as_nobody_or_skip(python):
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python.exe]
    if subprocess.run(as_nobody + ["-c", "import perftramp"], capture_output=True, cwd="/",
                      timeout=60).returncode != 0:
        pytest.skip("user 65534 cannot run %s: the clone lives where other users cannot "
                    "enter (a 0700 directory such as /root)" % python.exe)
    return as_nobody


@pytest.mark.edge_versions
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv, to run as another user")
def test_a_user_attaches_to_its_own_process(python, tmp_path):
    """Without root (no capability at all): attach and detach a process of
    one's own; its files are read without /proc/PID/map_files, which needs a
    capability even for one's own process."""
    as_nobody = _as_nobody_or_skip(python)
    env = {k: v for k, v in os.environ.items() if k not in (
        "PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE", "PYTHONPATH")}
    env["HOME"] = "/nonexistent"
    proc = popen(as_nobody + ["-c", SERVER], stdout=subprocess.PIPE, text=True, cwd="/",
                 env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        for action, state in (("attach", "active"), ("detach", "inactive")):
            argv = as_nobody + ["-m", "perftramp", action, str(proc.pid)]
            got = subprocess.run(argv + (["--backend", "perf"] if action == "attach" else []),
                                 capture_output=True, text=True, cwd="/", env=env, timeout=120)
            assert got.returncode == 0, got.stderr
            assert proc.stdout.readline().strip() == state
    finally:
        stop(proc)
        # the map is user 65534's, which the pids' cleanup leaves alone
        Path("/tmp/perf-%d.map" % proc.pid).unlink(missing_ok=True)


@pytest.mark.edge_versions
def test_refuses_a_target_perftramp_is_not_built_for(python, tmp_path):
    """perftramp of one Python attaching to a bare interpreter of another
    version (sent to by sys.remote_exec or through ptrace): the target cannot
    import it, so the one line says what to install where."""
    others = [i for i in INTERPRETERS if i.version[:2] != python.version[:2]]
    if not others:
        pytest.skip("only one CPython version here")
    for target in (others[0], others[-1]):
        line = refused_and_unchanged(python, tmp_path, target.base,
                                     "perftramp is not importable there")
        assert "-m pip install perftramp" in line


@pytest.mark.edge_versions
def test_check_reports_attach(python, tmp_path):
    got = cli(python, ["check", "--skip-jit-test"], tmp_path, check=False)
    how = "sys.remote_exec" if python.version >= (3, 14) else "a pending call queued by ptrace"
    assert "attach                 works (%s into a test child)" % how in got.stdout


@pytest.mark.edge_versions
def test_record_p_usage_errors(python, tmp_path):
    for args, said in [(["-p", "1", "--", "true"], "give -p PID, -a or a command, not two of them"),
                       (["-a", "--", "true"], "give -p PID, -a or a command, not two of them"),
                       (["-a", "-p", "1"], "give -p PID or -a, not both"),
                       (["--duration", "2", "--", "true"], "--duration goes with -p PID or -a"),
                       (["-p", str(os.getpid()), "--duration", "0"],
                        "--duration must be positive")]:
        got = cli(python, ["record", "-o", "rec"] + args, tmp_path, check=False)
        assert got.returncode == 2 and got.stderr.strip() == "perftramp: record: " + said, \
            got.stderr
    assert not (tmp_path / "rec").exists()


BUSY = "import os, signal, sys, threading, time\n\n" + CHAIN + """
ticks = [0]
signal.signal(signal.SIGALRM, lambda *_: ticks.__setitem__(0, ticks[0] + 1))
signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)

def spin():
    while True:
        baz(2000)

for _ in range(6):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
n = 0
for line in sys.stdin:
    if line.strip() == "stats":
        fds = len(os.listdir("/proc/self/fd"))
        module = sys.modules.get("perftramp")
        on = module is not None and module.is_stack_trampoline_active()
        print("stats %d %d %d %s" % (n, threading.active_count(), fds, on), flush=True)
        continue
    n += baz(int(line)) % 7 + 1
    time.sleep(0.001)
"""


def busy_stats(proc):
    proc.stdin.write("stats\n")
    proc.stdin.flush()
    line = proc.stdout.readline().split()
    assert line[0] == "stats", line
    return line[1:]


@pytest.mark.edge_versions
def test_fifty_attach_detach_cycles_on_a_busy_target(python, tmp_path):
    """Six threads running Python, a timer signal every 2 ms, the main thread
    between requests on stdin: 50 attach/detach cycles change nothing it
    computes, leak no thread or descriptor (the first attach opens the perf
    map, kept for the process's life), and leave the backend off."""
    script = tmp_path / "busy.py"
    script.write_text(BUSY)
    proc = popen([python.exe, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        expected = 0
        before = None
        for cycle in range(50):
            proc.stdin.write("%d\n" % (100 + cycle))
            proc.stdin.flush()
            expected += (sum(i * i for i in range(100 + cycle)) + 2) % 7 + 1
            cli(python, ["attach", str(proc.pid), "--backend", "perf"], tmp_path)
            cli(python, ["detach", str(proc.pid)], tmp_path)
            if cycle == 0:
                before = busy_stats(proc)
        after = busy_stats(proc)
        assert after == [str(expected)] + before[1:3] + ["False"], (before, after)
        assert proc.poll() is None
    finally:
        stop(proc)


@pytest.mark.edge_versions
@pytest.mark.parametrize("blocked", ["threading.Event().wait()", "time.sleep(600)",
                                     "sum(range(10 ** 12))"])
def test_a_blocked_main_thread_times_out_and_nothing_changes(python, tmp_path, blocked):
    """A main thread waiting in C (the GIL released) or in one C call holding
    the GIL never reaches a safe point: one line after --timeout, and the
    pending script is a no-op (its directory named in the line, and removed
    here once the target is gone); the target is as it was."""
    source = "import threading, time\nprint('ready', flush=True)\n%s\n" % blocked
    proc, out = start_server(tmp_path, python.exe, source=source)
    left = None
    try:
        started = time.monotonic()
        line = refused(python, tmp_path, proc.pid, "--backend", "perf", "--timeout", "2")
        assert time.monotonic() - started < 15
        assert "did not reach a safe point in 2 s" in line
        left = re.search(r"in (/tmp/perftramp-attach-\w+), is now a no-op", line).group(1)
        assert open(os.path.join(left, "a.py")).read() == "pass\n"
        assert proc.poll() is None and out.read_text() == "ready\n"
    finally:
        stop(proc)
        if left:
            shutil.rmtree(left)
    assert not os.path.exists("/tmp/perf-%d.map" % proc.pid)


HTTP_SERVER = "import http.server, sys\n\n" + CHAIN + """

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/state":
            module = sys.modules.get("perftramp")
            body = "none" if module is None else str(module.is_stack_trampoline_active())
        else:
            body = str(baz(int(self.path[1:])))
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("port %d" % server.server_address[1])
print("ready", flush=True)
server.serve_forever()
"""


def _get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (port, path), timeout=30) as r:
        return r.status, r.read().decode()


def _handler_share(collapsed):
    """(samples in foo, of them under do_GET;baz;bar;foo)."""
    foo = whole = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        names = [f[4:].split(":", 1)[0].rsplit(".", 1)[-1]
                 for f in stack.split(";") if f.startswith("py::")]
        if names[-1:] == ["foo"]:
            foo += int(count)
            whole += int(count) if names[-4:] == ["do_GET", "baz", "bar", "foo"] else 0
    return foo, whole


def test_record_p_of_an_http_server_answering_on_loopback(python, tmp_path):
    """http.server started with no switch, answering a client on loopback
    all along: attached, recorded 3 s and detached; at least 98% of foo's
    samples carry the chain through the handler, every answer is right, and
    afterwards its hook is off."""
    proc, out = start_server(tmp_path, python.base, source=HTTP_SERVER)
    port = int(out.read_text().split()[1])  # "port N\nready\n"
    answers, stop_client = [], threading.Event()

    def client():
        while not stop_client.is_set():
            answers.append(_get(port, "20000"))

    worker = threading.Thread(target=client)
    worker.start()
    try:
        rec = cli(python, ["record", "-p", str(proc.pid), "--duration", "3", "-o", "rec"],
                  tmp_path)
        stop_client.set()
        worker.join()
        assert "detached from %d" % proc.pid in rec.stderr, rec.stderr
        right = str(sum(i * i for i in range(20000)) + 2)
        assert len(answers) > 20 and set(answers) == {(200, right)}, answers[:3]
        assert _get(port, "state") == (200, "False") and proc.poll() is None
    finally:
        stop_client.set()
        worker.join()
        stop(proc)
    report = cli(python, ["report", "rec", "--format", "collapsed"], tmp_path).stdout
    foo, whole = _handler_share(report)
    assert foo > 200 and whole >= 0.98 * foo, (foo, whole, report[-2000:])


POOL = "import multiprocessing, os, sys, time\n\n" + CHAIN + """

def hello():
    print("worker %d" % os.getpid(), flush=True)


def task(n):
    return baz(n)


if __name__ == "__main__":
    right = baz(20000)
    with multiprocessing.get_context("fork").Pool(1, initializer=hello) as pool:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert pool.map(task, [20000] * 20) == [right] * 20
            print("round", flush=True)
"""


@pytest.mark.edge_versions
def test_record_p_of_a_multiprocessing_worker(python, tmp_path):
    """A forked multiprocessing pool's worker, attached to by its own pid
    while it works: its chains are whole, its results stay right, and the
    pool goes on."""
    proc, out = start_server(tmp_path, python.base, source=POOL, ready="round")
    try:
        worker = int(re.search(r"worker (\d+)", out.read_text()).group(1))
        register_pids(worker)
        rec = cli(python, ["record", "-p", str(worker), "--duration", "2", "-o", "rec"],
                  tmp_path)
        assert "detached from %d" % worker in rec.stderr, rec.stderr
        rounds = out.read_text().count("round")
        time.sleep(1)
        assert out.read_text().count("round") > rounds and proc.poll() is None, \
            out.read_text()[-2000:]
    finally:
        stop(proc)
    report = cli(python, ["report", "rec", "--format", "collapsed"], tmp_path).stdout
    foo, whole = chain_share(report)
    assert foo > 200 and whole >= 0.98 * foo, (foo, whole, report[-2000:])


TRACER = """\
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_SEIZE = 0x4206
if libc.ptrace(PTRACE_SEIZE, int(sys.argv[1]), None, None) != 0:
    sys.exit("seize: errno %d" % ctypes.get_errno())
print("tracing", flush=True)
time.sleep(300)
"""


@pytest.mark.versions(below=(3, 14))
@pytest.mark.edge_versions
def test_refuses_what_ptrace_cannot_call_into(python, tmp_path):
    """Through ptrace: a SIGSTOPped process (the calls would set it running),
    one traced already, one that ignores SIGSEGV (the fault that marks a
    call's return would be turned into its death): one line each, and each
    is left as it was."""
    proc, out = start_server(tmp_path, python.exe)
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while "\nState:\tT" not in Path("/proc/%d/status" % proc.pid).read_text():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        line = refused(python, tmp_path, proc.pid, "--backend", "perf")
        assert "is stopped (SIGSTOP, or a debugger)" in line
        assert "\nState:\tT" in Path("/proc/%d/status" % proc.pid).read_text()
        os.kill(proc.pid, signal.SIGCONT)
        tracer = popen([python.exe, "-c", TRACER, str(proc.pid)], stdout=subprocess.PIPE,
                       text=True)
        try:
            assert tracer.stdout.readline().strip() == "tracing"
            line = refused(python, tmp_path, proc.pid, "--backend", "perf")
            assert "is traced by process %d already" % tracer.pid in line
        finally:
            stop(tracer)
        time.sleep(0.2)
        assert proc.poll() is None and out.read_text().splitlines() == ["ready"]
    finally:
        stop(proc)
    source = "import signal\nsignal.signal(signal.SIGSEGV, signal.SIG_IGN)\n" + SERVER
    refused_and_unchanged(python, tmp_path, python.exe, "ignores SIGSEGV", source=source)
