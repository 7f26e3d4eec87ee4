"""record --mode cpu|offcpu|wall on real programs through real perf: where
the wall-clock time goes while a program waits (sleeping, on a lock, for
the GIL), with Python names and the kernel frames it blocked in; per-thread
times that add up to the recording; pprof's types.  The scheduler's
tracepoint needs root."""
import json
import os
import re
import shutil
import subprocess

import pytest
from test_servers import free_port, record_server, with_gunicorn

from processes import cli, register_pids

pytestmark = [
    pytest.mark.edge_versions,
    pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sched:sched_switch needs root"),
]

# crunch computes for 0.4 s of CPU, wait_io sleeps 0.4 s, three times
CRUNCH_AND_WAIT = """\
import time


def crunch():
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass


def wait_io():
    time.sleep(0.4)


for _ in range(3):
    crunch()
    wait_io()
"""

# one thread holds a lock while it sleeps; the other waits for it in
# acquire_it (its own sleeps are in pause)
LOCK = """\
import threading
import time

lock = threading.Lock()


def hold():
    for _ in range(3):
        with lock:
            time.sleep(0.3)
        time.sleep(0.02)


def pause():
    time.sleep(0.05)


def acquire_it():
    for _ in range(3):
        pause()
        with lock:
            pass


holder = threading.Thread(target=hold)
holder.start()
waiter = threading.Thread(target=acquire_it)
waiter.start()
holder.join()
waiter.join()
"""

# two threads that compute at once: each waits for the GIL while the other runs
GIL = """\
import threading
import time


def spin():
    end = time.time() + 0.8
    n = 0
    while time.time() < end:
        n += 1


threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def record(python, tmp_path, program, mode, name="rec"):
    (tmp_path / "prog.py").write_text(program)
    cli(python, ["record", "--mode", mode, "-o", name, "--", python.exe, "prog.py"], tmp_path)
    meta = json.loads((tmp_path / name / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    assert meta.get("mode", "cpu") == mode
    return tmp_path / name


def collapsed(python, rec, *args):
    out = cli(python, ["report", str(rec), "--format", "collapsed"] + list(args), rec.parent)
    stacks = {}
    for line in out.stdout.splitlines():
        stack, _, weight = line.rpartition(" ")
        stacks[stack] = stacks.get(stack, 0) + int(weight)
    return stacks


def share(stacks, name, also=None):
    """The share (%) of the weight of stacks with Python function `name`
    (and, with `also`, a frame containing that text after it)."""
    total = sum(stacks.values())
    got = 0
    for stack, weight in stacks.items():
        frames = stack.split(";")
        at = [i for i, f in enumerate(frames) if f.startswith("py::%s:" % name)]
        if at and (also is None or any(also in f for f in frames[at[0] + 1:])):
            got += weight
    return 100.0 * got / total if total else 0.0


def test_crunch_and_wait_in_each_mode(python, tmp_path):
    cpu = collapsed(python, record(python, tmp_path, CRUNCH_AND_WAIT, "cpu", "cpu"))
    assert share(cpu, "crunch") >= 90, cpu
    waits = collapsed(python, record(python, tmp_path, CRUNCH_AND_WAIT, "offcpu", "off"))
    # every wait marked; those the thread was preempted into (a busy
    # machine's: runnable, not running) apart from those it blocked in
    assert all(s.endswith((";[off-cpu]", ";[off-cpu: preempted]")) for s in waits), waits
    off = {s: w for s, w in waits.items() if s.endswith(";[off-cpu]")}
    assert share(off, "wait_io") >= 90, off
    # the blocking system call under it (clock_nanosleep; select before 3.11)
    assert share(off, "wait_io", "_sys_") >= 0.9 * share(off, "wait_io"), off
    wall_rec = record(python, tmp_path, CRUNCH_AND_WAIT, "wall", "wall")
    # a loaded machine preempts crunch, which stretches its wall-clock time:
    # that time is marked apart, and the shares are of the program's own
    wall = {s: w for s, w in collapsed(python, wall_rec).items()
            if not s.endswith(";[off-cpu: preempted]")}
    crunch, wait = share(wall, "crunch"), share(wall, "wait_io")
    assert abs(crunch - 50) <= 5 and abs(wait - 50) <= 5, (crunch, wait)
    # whole chains: both under <module>
    assert share(wall, "<module>") >= crunch + wait - 1
    text = cli(python, ["report", str(wall_rec)], tmp_path).stdout
    m = re.search(r"perftramp report: ([\d.]+) s of wall-clock time \(([\d.]+) s on the CPU, "
                  r"([\d.]+) s off it in \d+ waits\)", text)
    assert m, text
    threads = text.split("Threads: time on and off the CPU")[1].split("\n\n")[0].splitlines()
    lasted = float(re.search(r"lasted ([\d.]+) s", threads[0]).group(1))
    main = threads[2].split()
    # the one thread lived through the recording: its times add up to it
    assert abs(float(main[4].rstrip("s")) - lasted) <= 0.05 * lasted, threads
    assert float(main[2].rstrip("s")) > 1.0 and float(main[3].rstrip("s")) > 1.0, threads


def test_lock_wait_is_charged_to_the_acquiring_function(python, tmp_path):
    off = {s: w for s, w in collapsed(python, record(python, tmp_path, LOCK, "offcpu")).items()
           if s.endswith(";[off-cpu]")}
    acquire = share(off, "acquire_it")
    assert acquire > 20, off  # ~0.75 s of ~2.5 s of waits
    # pause's sleeps are its own: acquire_it's own waits are on the lock
    own = {s: w for s, w in off.items() if "py::pause:" not in s}
    assert share(own, "acquire_it", "futex") >= 0.9 * share(own, "acquire_it"), own


@pytest.mark.versions(below=(3, 13))
def test_gil_wait_is_said(python, tmp_path):
    if python.free_threaded:
        pytest.skip("no GIL")
    off = collapsed(python, record(python, tmp_path, GIL, "offcpu"))
    # the main thread waits in join() as long: about half are the spinners'
    spin = share(off, "spin")
    assert spin > 25, off
    assert share(off, "spin", "take_gil") >= 0.5 * spin, off


def test_pprof_and_html_say_the_mode(python, tmp_path):
    rec = record(python, tmp_path, CRUNCH_AND_WAIT, "wall")
    page = tmp_path / "wall.html"
    cli(python, ["report", str(rec), "--format", "html", "-o", str(page)], tmp_path)
    text = page.read_text()
    assert "s of wall-clock time" in text and '"unit":"ns"' in text
    refused = cli(python, ["record", "--mode", "wall", "-e", "page-faults", "--", python.exe,
                           "prog.py"], tmp_path, check=False)
    assert refused.returncode != 0 and refused.stderr.strip().splitlines() == [
        "perftramp: record: --mode wall samples its own events; -e goes with --mode cpu"]
    out = tmp_path / "wall.pb.gz"
    cli(python, ["report", str(rec), "--format", "pprof", "-o", str(out)], tmp_path)
    go = shutil.which("go")
    if go is None:
        pytest.skip("no go: apt-get install golang-go (make test does)")
    home = tmp_path / "gohome"
    home.mkdir()
    top = subprocess.run([go, "tool", "pprof", "-top", str(out)], capture_output=True,
                         text=True, env=dict(os.environ, HOME=str(home)), timeout=300)
    assert "Type: wall" in top.stdout, top.stdout + top.stderr
    types = subprocess.run([go, "tool", "pprof", "-raw", str(out)], capture_output=True,
                           text=True, env=dict(os.environ, HOME=str(home)), timeout=300)
    assert "off-cpu/nanoseconds" in types.stdout and "wall/nanoseconds" in types.stdout


# a WSGI app whose every request sleeps 50 ms in handle()
SLEEPY_APP = """\
import time


def handle():
    time.sleep(0.05)


def app(environ, start_response):
    handle()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""

#: what a 10 s --mode wall recording of two busy gunicorn workers may take
#: on disk (measured: README, "Off-CPU and wall-clock time")
SERVER_RECORDING_MAX = 64 << 20


@pytest.mark.slow
def test_gunicorn_worker_wall_time_is_the_handlers_sleep(python, tmp_path):
    with_gunicorn(python)
    (tmp_path / "sleepy.py").write_text(SLEEPY_APP)
    port = free_port()
    pidfile = tmp_path / "gunicorn.pid"
    command = [python.exe, "-m", "gunicorn", "--workers", "2", "--bind",
               "127.0.0.1:%d" % port, "--pid", str(pidfile), "--chdir", str(tmp_path),
               "sleepy:app"]
    rec = record_server(python, "auto", tmp_path, command, lambda: port,
                        lambda: int(pidfile.read_text()), flags=["--mode", "wall"])
    # on disk: the perf_elf images are sparse
    size = sum(f.stat().st_blocks * 512 for f in rec.rglob("*") if f.is_file())
    assert size < SERVER_RECORDING_MAX, size
    text = cli(python, ["report", str(rec), "--by", "pid"], tmp_path).stdout

    def handle_total(section):
        """handle()'s total share in one process's report, or None."""
        if "by total samples:" not in section:
            return None  # a process without Python frames
        rows = [line.split() for line in
                section.split("by total samples:")[1].split("\n\n")[0].splitlines()[2:]]
        shares = [float(row[1].rstrip("%")) for row in rows if row[2:3] == ["handle"]]
        return shares[0] if shares else None

    shares = [handle_total(section) for section in text.split("perftramp report (")[1:]]
    workers = [share for share in shares if share is not None]
    # the two workers' wall-clock time is their requests' sleep, nearly all
    assert len(workers) == 2 and min(workers) >= 70, text
