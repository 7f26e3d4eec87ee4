"""What attaching to a CPython 3.8-3.13 costs the target: how long its main
thread is stopped for the injection (recording/ptrace_exec.py) and for the
page's release, on an idle target and on a busy one (six threads running
Python, a timer signal every 2 ms); and the end-to-end times of
`perftramp attach` and `detach` as a user runs them.

    build/venvs/pyenv-3.12.1/bin/python benchmarks/attach_pause.py [--count N]

The venv's interpreter runs this (it uses that perftramp's extension); the
target is the venv's base interpreter with nothing switched on.  Each
injection queues a text that creates a file; the page is released only once
the file is there (the text was parsed).  The target measures itself too:
the longest gap between two of its main loop's 1 ms sleeps, in a phase
without injections and in one as long with them (on the busy target mostly
the wait for the GIL among its seven threads).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGET = """\
import signal, sys, threading, time
busy = sys.argv[1] == "busy"

def spin():
    while True:
        sum(i * i for i in range(2000))

if busy:
    signal.signal(signal.SIGALRM, lambda *_: None)
    signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
    for _ in range(6):
        threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
last, gaps = time.monotonic(), []
for line in sys.stdin:
    gaps.clear()
    end = time.monotonic() + float(line)
    while time.monotonic() < end:
        time.sleep(0.001)
        now = time.monotonic()
        gaps.append(now - last)
        last = now
    print(max(gaps) * 1000, flush=True)
"""


def base_python():
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def pauses(target, work, count):
    """(injection ms, release ms) of `count` injections into `target`."""
    from perftramp import _perftramp
    from perftramp.recording import ptrace_exec

    where = ptrace_exec.functions(target)
    inject, release = [], []
    for i in range(count):
        marker = os.path.join(work, "%d-%d" % (target.pid, i))  # unique: released after
        text = ("open(%r, 'w').close()\n" % marker).encode()
        t0 = time.perf_counter()
        page, queued = _perftramp._inject_pending_call(
            target.pid, where["mmap"], where["Py_AddPendingCall"],
            where["PyRun_SimpleString"], text, 2000)
        inject.append((time.perf_counter() - t0) * 1000)
        assert queued == 0
        while not os.path.exists(marker):
            time.sleep(0.0005)
        t0 = time.perf_counter()
        _perftramp._inject_unmap(target.pid, where["munmap"], page, 2000)
        release.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.01)
    return inject, release


def cli_times(pid, count):
    attach, detach = [], []
    for _ in range(count):
        for argv, into in ((["attach", str(pid), "--backend", "perf"], attach),
                           (["detach", str(pid)], detach)):
            t0 = time.perf_counter()
            got = subprocess.run([sys.executable, "-m", "perftramp"] + argv,
                                 capture_output=True, text=True)
            if got.returncode != 0:
                sys.exit("attach_pause: %s" % got.stderr.strip())
            into.append((time.perf_counter() - t0) * 1000)
    return attach, detach


def one_shape(shape, count, work):
    from perftramp.recording import target as target_mod

    proc = subprocess.Popen([base_python(), "-c", TARGET, shape], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        target = target_mod.inspect(proc.pid)
        phase = count * 0.03 + 2  # both phases as long: the gap is a maximum
        proc.stdin.write("%f\n" % phase)
        proc.stdin.flush()
        quiet_gap = float(proc.stdout.readline())
        proc.stdin.write("%f\n" % phase)
        proc.stdin.flush()
        inject, release = pauses(target, work, count)
        busy_gap = float(proc.stdout.readline())
        proc.stdin.write("60\n")  # at safe points again, for the commands
        proc.stdin.flush()
        attach, detach = cli_times(proc.pid, 5)
        return {"shape": shape, "injection_ms": summary(inject),
                "release_ms": summary(release), "own_gap_ms": [round(quiet_gap, 2),
                                                                round(busy_gap, 2)],
                "attach_ms": round(statistics.median(attach)),
                "detach_ms": round(statistics.median(detach))}
    finally:
        proc.kill()
        proc.wait()
        for name in ("/tmp/perf-%d.map" % proc.pid,):
            if os.path.exists(name):
                os.unlink(name)


def summary(values):
    values = sorted(values)
    return {"median": round(statistics.median(values), 2),
            "p95": round(values[int(len(values) * 0.95)], 2), "max": round(values[-1], 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100, help="injections per shape")
    args = ap.parse_args()
    if sys.version_info >= (3, 14):
        sys.exit("attach_pause: 3.14+ attaches with sys.remote_exec, not ptrace")
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(__file__))) as work:
        rows = [one_shape(shape, args.count, work) for shape in ("idle", "busy")]
    label = "CPython %d.%d.%d" % sys.version_info[:3]
    for row in rows:
        print(json.dumps(dict(row, python=label)))


if __name__ == "__main__":
    main()
