"""perftramp record with its defaults, end to end with real perf: whole
stacks, nothing under $HOME, a recording of few files that report reads
back (and a hostile one it refuses), the program's output live and its exit
status passed on, kernel.perf_event_max_stack put back."""
import io
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from processes import cli, popen, register_pids, run
from processes import seed_app as app

pytestmark = [pytest.mark.edge_versions,
              pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")]

NO_CACHE = "--buildid-dir /dev/null/perftramp-no-build-id-cache"
MAX_STACK = Path("/proc/sys/kernel/perf_event_max_stack")


def meta_of(rec):
    meta = json.loads((rec / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    return meta


def files_in(directory):
    return [os.path.join(where, name) for where, _, names in os.walk(str(directory))
            for name in names]


def report_dirs():
    return {name for name in os.listdir("/tmp") if name.startswith("perftramp-report-")}


def test_record_defaults(python, tmp_path):
    """With no option: perf's largest stack copy (or frame pointers with the
    kernel's limit raised), no build-id cache under $HOME on record or
    report, a recording of at most 20 files that `report` reads back into
    whole py:: chains, and no unpacked copy left behind."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home)}
    script = app(tmp_path)
    before = report_dirs()
    out = cli(python, ["record", "-o", "rec", "--", python.exe, str(script)], tmp_path,
              env=env)
    rec = tmp_path / "rec"
    meta = meta_of(rec)
    commands = [line for line in out.stderr.splitlines() if line.startswith("perftramp: $ ")]
    assert commands and all(NO_CACHE in line for line in commands), out.stderr
    if python.frame_pointers:
        assert meta["backend"] == "perf" and " -g " in commands[0]
        if os.access(str(MAX_STACK), os.W_OK):
            assert meta["max_stack"] >= 1024 or "stays" in out.stderr, out.stderr
    elif meta["backend"] == "perf_elf":
        # no frame pointers, and this perf reads perf_elf's image (choose_backend)
        assert "--call-graph dwarf,65528" in commands[0]
        assert not any(" inject " in line for line in commands)
        assert list(rec.glob("perf-elf-*.so")), "the image is in the recording"
    else:
        assert meta["backend"] == "perf_jit"
        assert "--call-graph dwarf,65528" in commands[0]
        assert meta["stack_size"] == 65528 and meta["pack"] == "perf-jit.tar.xz"
        assert any(" inject " in line for line in commands)
        assert not (rec / "jit").exists() and not (rec / "perf.data").exists()
    assert meta["active_pids"], "perftramp was active in the program"
    files = files_in(rec)
    assert len(files) <= 20, files
    m = re.search(r"recording: (\d+) files, ([0-9.]+) MB", out.stderr)
    assert m and int(m.group(1)) == len(files), out.stderr
    size = sum(os.lstat(f).st_blocks * 512 for f in files)  # on disk: the image is sparse
    assert abs(float(m.group(2)) - size / 1e6) < 0.1

    collapsed = cli(python, ["report", "rec", "--format", "collapsed"], tmp_path, env=env)
    chain = ";".join("py::%s:%s" % (f, script) for f in ("<module>", "baz", "bar", "foo"))
    total = in_chain = 0
    for line in collapsed.stdout.splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        in_chain += int(count) * (chain in stack)
    assert total > 0 and in_chain > 0.5 * total, collapsed.stdout[:2000]
    assert list(home.iterdir()) == [], "perf wrote under $HOME"
    assert report_dirs() <= before, "report left its unpacked copy"


def lines_of(stream, into):
    for line in iter(stream.readline, ""):
        into.put((time.monotonic(), line))
    into.put((time.monotonic(), None))


def test_record_streams_output_and_passes_exit_status(python, tmp_path):
    """The program's stdout and stderr arrive while it runs, not when it
    ends; record exits with the program's status."""
    program = ("import sys, time\n"
               "print('out-line', flush=True)\n"
               "print('err-line', file=sys.stderr, flush=True)\n"
               "time.sleep(3)\n"
               "sys.exit(3)\n")
    proc = popen([python.exe, "-m", "perftramp", "record", "-F", "99", "-o", "rec", "--",
                  python.exe, "-c", program], cwd=str(tmp_path), stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    seen = {}
    streams = []
    try:
        for name, stream in (("out", proc.stdout), ("err", proc.stderr)):
            q = queue.Queue()
            threading.Thread(target=lines_of, args=(stream, q), daemon=True).start()
            streams.append((name, q))
        deadline = time.monotonic() + 60
        for name, q in streams:
            while name not in seen:
                at, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
                assert line is not None, "%s ended without the program's line" % name
                if line.strip() == "%s-line" % name:
                    seen[name] = proc.poll()
        assert seen == {"out": None, "err": None}, "a line came only after record ended"
        assert proc.wait(timeout=120) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    meta = meta_of(tmp_path / "rec")
    assert meta["exit_code"] == 3


def test_record_command_that_cannot_start(python, tmp_path):
    """A script whose #! interpreter is missing: one line, and neither perf
    nor a recording."""
    script = tmp_path / "tool"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    out = cli(python, ["record", "-o", "rec", "--", str(script)], tmp_path, check=False)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "perftramp: record: cannot run %s: its interpreter /nonexistent/interpreter is not "
        "there" % script], out.stderr
    assert not (tmp_path / "rec").exists()


def test_record_warns_when_no_process_had_perftramp(python, tmp_path):
    """The interpreter the venv was made from has no perftramp: record says
    so in one line (and still records)."""
    probe = subprocess.run([python.base, "-c", "import perftramp"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("%s has perftramp installed" % python.base)
    out = cli(python, ["record", "-F", "99", "-o", "rec", "--", python.base, "-c",
                       "sum(range(10**6))"], tmp_path)
    meta_of(tmp_path / "rec")
    warned = [line for line in out.stderr.splitlines()
              if "no recorded process had perftramp's backend active" in line]
    assert len(warned) == 1 and python.base in warned[0], out.stderr


# A recording may come from someone else: its pack is read strictly.

def member(name, data=b"x", kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


ESCAPE = "perftramp-test-escape-" + secrets.token_hex(6)

HOSTILE = {
    "traversal": lambda: [member("perf.jit.data"), member("../" + ESCAPE)],
    "absolute": lambda: [member("perf.jit.data"), member("/tmp/" + ESCAPE)],
    "jit-traversal": lambda: [member("perf.jit.data"), member("jit/../../" + ESCAPE)],
    "symlink": lambda: [member("perf.jit.data"), member("jit/jitted-1-1.so", kind=tarfile.SYMTYPE,
                                                        target="/etc/passwd")],
    "hardlink": lambda: [member("perf.jit.data"), member("jit/jitted-1-1.so", kind=tarfile.LNKTYPE,
                                                         target="perf.jit.data")],
    "fifo": lambda: [member("perf.jit.data"), member("jit/jit-1.dump", kind=tarfile.FIFOTYPE)],
    "data-as-dir": lambda: [member("perf.jit.data", kind=tarfile.DIRTYPE)],
    "other-name": lambda: [member("perf.jit.data"), member("jit/run.sh")],
    "twice": lambda: [member("perf.jit.data"), member("perf.jit.data")],
    "no-data": lambda: [member("jit/jit-1.dump")],
}


def hostile_recording(tmp_path, members):
    rec = tmp_path / "rec"
    rec.mkdir()
    jit_dir = "/tmp/jitted-perftramp-" + secrets.token_hex(8)
    (rec / "perftramp.json").write_text(json.dumps(
        {"backend": "perf_jit", "data": "perf.jit.data", "pack": "perf-jit.tar.xz",
         "jit_dir": jit_dir}))
    if members is None:
        (rec / "perf-jit.tar.xz").write_bytes(b"not xz at all")
    else:
        with tarfile.open(str(rec / "perf-jit.tar.xz"), "w:xz") as tar:
            for info, data in members():
                tar.addfile(info, data)
    return rec, jit_dir


@pytest.mark.parametrize("how", sorted(HOSTILE) + ["not-xz"])
def test_report_refuses_a_hostile_pack(python, tmp_path, how):
    rec, jit_dir = hostile_recording(tmp_path, HOSTILE.get(how))
    before = report_dirs()
    out = cli(python, ["report", str(rec)], tmp_path, check=False)
    lines = out.stderr.splitlines()
    assert out.returncode != 0 and len(lines) == 1, out.stderr
    assert lines[0].startswith("perftramp: %s is not a perftramp recording's pack: "
                               % (rec / "perf-jit.tar.xz")), lines
    assert not os.path.lexists("/tmp/" + ESCAPE) and not os.path.lexists(str(tmp_path / ESCAPE))
    assert not os.path.lexists(jit_dir)
    assert report_dirs() <= before, "report left its unpacked copy"


def test_report_refuses_a_pack_that_is_a_link(python, tmp_path):
    rec, _ = hostile_recording(tmp_path, HOSTILE["traversal"])
    (rec / "perf-jit.tar.xz").unlink()
    (rec / "perf-jit.tar.xz").symlink_to("/etc/passwd")
    out = cli(python, ["report", str(rec)], tmp_path, check=False)
    assert out.returncode != 0 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "not a regular file" in out.stderr or "symbolic link" in out.stderr


# kernel.perf_event_max_stack: raised while recording with frame pointers,
# then put back, also when record is stopped by SIGTERM.

needs_sysctl = pytest.mark.skipif(
    not os.access(str(MAX_STACK), os.W_OK),
    reason="kernel.perf_event_max_stack is not writable here (needs root)")

READ_MAX_STACK = ("import sys, time\n"
                  "print(open('/proc/sys/kernel/perf_event_max_stack').read().strip(), "
                  "flush=True)\n"
                  "time.sleep(float(sys.argv[1]))\n")


@needs_sysctl
@pytest.mark.parametrize("stop", ["exit", "sigterm"])
def test_record_puts_max_stack_back(python, tmp_path, stop):
    old = int(MAX_STACK.read_text())
    if old >= 1024:
        pytest.skip("kernel.perf_event_max_stack is %d already: nothing to raise" % old)
    proc = popen([python.exe, "-m", "perftramp", "record", "--backend", "perf", "-F", "99",
                  "-o", "rec", "--", python.exe, "-c", READ_MAX_STACK,
                  "0.2" if stop == "exit" else "30"],
                 cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        during = proc.stdout.readline().strip()
        if stop == "sigterm":
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert int(MAX_STACK.read_text()) == old, "kernel.perf_event_max_stack not put back"
    if "kernel.perf_event_max_stack stays" in err:
        pytest.skip("another perf with call chains held the setting: %s" % err)
    assert during == "1024", err
    meta = meta_of(tmp_path / "rec")
    assert meta["max_stack"] == 1024 and meta["max_stack_wanted"] == 1024
    if stop == "sigterm":
        # perf stopped the program and wrote what it had: still a recording
        assert proc.returncode in (128 + signal.SIGTERM, -signal.SIGTERM, 143), err
        assert (tmp_path / "rec" / "perf.data").exists()
    else:
        assert proc.returncode == 0, err


@pytest.mark.edge_versions
def test_a_moved_map_keeps_only_whole_lines(python, tmp_path):
    """A worker that ended with os._exit leaves its window's NUL bytes, and
    on free-threaded 3.14t once a line another thread was writing, cut
    short: the map taken into the recording ends after its last whole line."""
    whole = b"7f0000001000 8 py::foo:/a.py\n7f0000001008 8 py::bar:/a.py\n"
    cases = {"window.map": (whole + b"\0" * 70000, whole),
             "cut.map": (whole + b"7f0000001010 8 " + b"\0" * 9000, whole),
             "clean.map": (whole, whole)}
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    run(python, ["-c", "import sys\nfrom perftramp.recording.maps import trim_unused_window\n"
                 "for p in sys.argv[1:]: trim_unused_window(p)"]
        + [str(tmp_path / name) for name in cases])
    for name, (_, expected) in cases.items():
        assert (tmp_path / name).read_bytes() == expected, name
