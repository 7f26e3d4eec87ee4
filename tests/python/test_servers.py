"""Pre-fork servers under HTTP load on loopback, started by `perftramp
record` with its defaults, unwound through real perf: gunicorn (from PyPI)
with two sync workers, and an HTTP server handing requests to a
multiprocessing.Pool of forked workers (examples/servers/poolserver.py).  Of the
samples in the request's leaf function (compute), at least 99% carry the
whole chain: from the master's <module>, across the fork into the worker
and its request loop, down to compute.

The load is bounded in count and time and goes to 127.0.0.1 only; the
servers stop on SIGTERM, which ends the recording.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from perfscript import collapsed
from processes import cli, popen, register_pids, run

SERVERS = Path(__file__).resolve().parents[2] / "examples" / "servers"
REQUESTS = 1500       # at most, across all client threads
LOAD_SECONDS = 12     # at most
CLIENTS = 4
MIN_SAMPLES = 100

# slow: each case runs a server under load for up to 12 s, and records it
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("perf") is None,
                                 reason="perf is not installed (apt-get install linux-perf)")]


def with_gunicorn(python):
    """The venv with gunicorn from PyPI (installed once)."""
    if run(python, ["-c", "import gunicorn"], check=False).returncode != 0:
        out = subprocess.run([python.exe, "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", "gunicorn"],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            pytest.fail("pip install gunicorn failed (PyPI is needed): %s" % out.stderr)
    return python


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the recording ended early: %s" % proc.communicate()[1]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("nothing listens on port %d after %d s" % (port, seconds))


def load(port):
    """GETs from CLIENTS threads until REQUESTS or LOAD_SECONDS; the count
    of answered requests."""
    done, lock = [0], threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS

    def client():
        while time.monotonic() < deadline:
            with lock:
                if done[0] >= REQUESTS:
                    return
                done[0] += 1
            with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=30) as r:
                r.read()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0]


def record_server(python, backend, tmp_path, command, port, server_pid, flags=()):
    """Runs `command` under perftramp record (with `flags`), loads it, stops
    it with SIGTERM (server_pid() says whom); the recording's directory."""
    rec = tmp_path / "rec"
    argv = [python.exe, "-m", "perftramp", "record", "--backend", backend, "-o", str(rec)] \
        + list(flags) + ["--"] + command
    # gunicorn 27 puts its control socket in $XDG_RUNTIME_DIR, else in
    # $HOME/.gunicorn: in the test's directory, not under $HOME
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    env.pop("PYTHONPATH", None)
    with popen(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE, text=True) as proc:
        try:
            wait_for_port(port(), proc)
            answered = load(port())
            os.kill(server_pid(), signal.SIGTERM)
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert answered >= 50, answered
    register_pids(*json.loads((rec / "perftramp.json").read_text())["pids"])
    return rec


def assert_whole(python, rec, tail, through):
    """>= 99% of compute's samples are whole: unwound to the thread's start,
    through the master's <module> (under runpy's frames for `python -m`),
    `through` (the fork, the worker's loop) on the way, `tail` innermost.  Names are compared
    without their class: they are qualified from 3.11 on only."""
    out = cli(python, ["report", str(rec), "--format", "collapsed"], rec.parent)
    total = good = 0
    for qualified, started, count in collapsed(out.stdout):
        py = [name.rpartition(".")[2] for name in qualified]
        if "compute" not in py:
            continue
        total += count
        if started and py[:1] in (["<module>"], ["_run_module_as_main"]) \
                and all(f in py for f in ["<module>"] + through) \
                and py[-len(tail):] == tail:
            good += count
    assert total >= MIN_SAMPLES and good >= 0.99 * total, (good, total)
    text = cli(python, ["report", str(rec)], rec.parent).stdout
    assert "Processes: " in text, text


def test_gunicorn_sync_workers(interp_backend, tmp_path):
    python, backend = interp_backend
    with_gunicorn(python)
    port = free_port()
    pidfile = tmp_path / "gunicorn.pid"
    command = [python.exe, "-m", "gunicorn", "--workers", "2", "--bind",
               "127.0.0.1:%d" % port, "--pid", str(pidfile), "--chdir", str(SERVERS),
               "wsgiapp:app"]
    rec = record_server(python, backend, tmp_path, command, lambda: port,
                        lambda: int(pidfile.read_text()))
    assert_whole(python, rec, ["app", "render", "compute"],
                 ["spawn_worker", "handle_request"])


def test_multiprocessing_pool_server(interp_backend, tmp_path):
    python, backend = interp_backend
    portfile = tmp_path / "port"
    command = [python.exe, str(SERVERS / "poolserver.py"), str(portfile)]

    def written():
        deadline = time.monotonic() + 60
        while not portfile.exists():
            assert time.monotonic() < deadline, "the server wrote no port"
            time.sleep(0.1)
        return [int(word) for word in portfile.read_text().split()]

    rec = record_server(python, backend, tmp_path, command, lambda: written()[0],
                        lambda: written()[1])
    assert_whole(python, rec, ["worker", "work", "compute"], ["_repopulate_pool", "_bootstrap"])
