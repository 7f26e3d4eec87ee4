"""report on real recordings: cut stacks counted and said in every format,
native time in the text report, and the folded stacks stored in the
recording, so that later reports run no perf, and a stale or hostile stored
fold is folded again."""
import json
import os
import pty
import re
import shutil
import subprocess
import time

import pytest

from processes import cli, register_pids

pytestmark = [pytest.mark.edge_versions,
              pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")]

# Python driving C (zlib) in work(), pure Python in spin() under a deep
# recursion.  Each part runs for a stated CPU time, not a number of rounds:
# perf samples CPU time (cpu-clock), so the recording has about 0.4 s + 0.6 s
# of samples at any interpreter's speed and on a loaded machine alike.
PROGRAM = """\
import sys
import time
import zlib


def work(seconds):
    data = bytes(range(256)) * 2000
    end = time.process_time() + seconds
    while time.process_time() < end:
        zlib.compress(data, 9)


def spin(n):
    t = 0
    for i in range(n):
        t += i
    return t


def down(n):
    return spin(30000) if n == 0 else down(n - 1)


sys.setrecursionlimit(5000)
work(0.4)
end = time.process_time() + 0.6
while time.process_time() < end:
    down(300)
"""

_CACHE = {}


def record(python, where, *flags):
    where.mkdir(parents=True, exist_ok=True)
    script = where / "prog.py"
    script.write_text(PROGRAM)
    cli(python, ["record"] + list(flags) + ["-o", "rec", "--", python.exe, str(script)], where)
    meta = json.loads((where / "rec" / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    return where / "rec"


def recording(python, tmp_path_factory, tmp_path, kind="default"):
    """A copy, in tmp_path, of one recording of PROGRAM per interpreter and
    kind (copied with its times, so that its stored folds stay current)."""
    key = (python.label, kind)
    if key not in _CACHE:
        where = tmp_path_factory.mktemp("rec-%s-%s" % (kind, python.label))
        # DWARF for both: a frame-pointer walk stops in libz (built without
        # frame pointers), which a report says as cut stacks, not native time
        flags = ["--backend", "perf_jit"] + (["--stack-size", "1024"] if kind == "cut" else [])
        _CACHE[key] = record(python, where, *flags)
    copy = tmp_path / "rec"
    shutil.copytree(str(_CACHE[key]), str(copy), symlinks=True)
    return copy


def report(python, rec, *args, env=None, check=True):
    return cli(python, ["report", str(rec)] + list(args), rec.parent, check=check, env=env)


def no_perf_env(python):
    """PATH with only the venv's bin directory: no perf there."""
    return {"PATH": os.path.dirname(python.exe)}


def collapsed(text):
    out = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        out[stack] = int(count)
    return out


CUT = re.compile(r"(\d+) of (\d+) samples \(([\d.]+)%\) have a cut stack, shown under "
                 r"\[truncated\]")


def test_cut_stacks_are_counted_and_said_in_every_format(python, tmp_path_factory, tmp_path):
    """A deep recursion recorded with a tiny DWARF stack copy: most stacks
    are cut.  The text report says how many and how to record them whole;
    collapsed and speedscope keep the [truncated] frame and say it on
    stderr."""
    rec = recording(python, tmp_path_factory, tmp_path, "cut")
    text = report(python, rec)
    m = CUT.search(" ".join(text.stdout.split()))
    assert m, text.stdout
    cut, samples = int(m.group(1)), int(m.group(2))
    # a second of CPU at 999 Hz: half of it would still be plenty
    assert samples > 500 and cut > 0.3 * samples, (cut, samples)
    assert "--stack-size 65528" in text.stdout
    # how deep a chain the copy holds, from the C stack one call took
    per_call = json.loads((rec / "perftramp.json").read_text())["stack_per_call"]
    assert 200 < per_call < 2000, per_call
    assert ("took %d bytes of C stack in this interpreter, so the 1024-byte stack copy holds "
            "about %d Python frames" % (per_call, 1024 // per_call)) in " ".join(
                text.stdout.split()), text.stdout
    assert "have a cut stack" not in text.stderr, "said once, in the report"
    out = report(python, rec, "--format", "collapsed")
    stacks = collapsed(out.stdout)
    assert sum(stacks.values()) == samples
    assert sum(c for s, c in stacks.items() if s.split(";")[1:2] == ["[truncated]"]) == cut
    assert "%d of %d samples" % (cut, samples) in out.stderr
    assert "--stack-size 65528" in out.stderr
    doc = json.loads(report(python, rec, "--format", "speedscope").stdout)
    names = [f["name"] for f in doc["shared"]["frames"]]
    assert "[truncated]" in names
    kept = report(python, rec, "--format", "collapsed", "--keep-internal")
    assert "%d of %d samples" % (cut, samples) in kept.stderr
    assert sum(c for s, c in collapsed(kept.stdout).items()
               if s.split(";")[1:2] == ["[truncated]"]) == cut


def native_rows(text):
    """[(percent, kind, function, under)] of the text report's native table."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("Native functions by self samples"):
            inside = True
            continue
        if inside:
            m = re.match(r"\s*([\d.]+)%\s+(native|kernel)\s+(\S+)\s+(.*)$", line)
            if m:
                rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4)))
            elif not line.strip():
                break
    return rows


def test_text_report_shows_native_time_under_its_python_function(python, tmp_path_factory,
                                                                 tmp_path):
    rec = recording(python, tmp_path_factory, tmp_path)
    text = report(python, rec).stdout
    assert all(len(line) <= 100 for line in text.splitlines()[1:]), text
    rows = native_rows(text)
    assert rows, text
    under_work = [r for r in rows if r[3] == "work (prog.py)"]
    # zlib's deflate is most of work()'s time
    assert sum(r[0] for r in under_work) > 15, text
    assert any("deflate" in r[2] or "libz" in r[2] or "zlib" in r[2] for r in under_work), text
    assert all(not r[2].endswith("_[k]") for r in rows), "kernel frames by kind, not suffix"
    # the Python tables are there too
    assert re.search(r"^\s*[\d.]+%\s+[\d.]+%\s+work\s+\S*prog\.py$", text, re.M), text


def test_later_reports_read_the_stored_folds(python, tmp_path_factory, tmp_path):
    """The first report runs perf script and stores both views; every later
    one, in any format, runs without perf (none on PATH), in seconds."""
    rec = recording(python, tmp_path_factory, tmp_path)
    first = {}
    for args in ([], ["--format", "collapsed"], ["--format", "collapsed", "--keep-internal"],
                 ["--format", "speedscope"]):
        first[tuple(args)] = report(python, rec, *args).stdout
    header = (rec / "folded.txt").read_text().splitlines()[0]
    assert header.startswith("# perftramp-folded 4 view=default samples="), header
    assert (rec / "folded-internal.txt").read_text().startswith(
        "# perftramp-folded 4 view=internal ")
    # one process, all its samples, each stack with its event and thread
    samples = int(re.search(r" samples=(\d+) ", header).group(1))
    lines = [line.split(" ", 4) for line in (rec / "folded.txt").read_text().splitlines()[1:]]
    # perf's time event without hardware counters: cpu-clock (6.x), task-clock (7.x)
    assert {(event, pid) for event, pid, _, _, _ in lines} in (
        {("cpu-clock", lines[0][1])}, {("task-clock", lines[0][1])})
    assert sum(int(rest.rpartition(" ")[2]) for *_, rest in lines) == samples
    for args, expected in first.items():
        started = time.monotonic()
        out = report(python, rec, *args, env=no_perf_env(python))
        elapsed = time.monotonic() - started
        assert out.stdout == expected, args
        assert "folding" not in out.stderr, out.stderr
        assert elapsed < 5, (args, elapsed)
    page = tmp_path / "page.html"
    report(python, rec, "--format", "html", "-o", str(page), env=no_perf_env(python))
    assert page.read_text().startswith("<!DOCTYPE html>")


HOSTILE = {
    "garbage": b"\x89PNG\r\n\x1a\n\x00\xff garbage",
    "no-header": b"python;main 5\n",
    "bad-count": None,  # filled from the real file: one count changed
    "bad-truncated": None,  # the header's cut samples are not the stacks'
    "bad-line": None,   # a stack without its event and thread
    "huge-header": None,  # a count of 5000 digits (int() refuses it)
    "huge-period": None,  # a period beyond 64 bits
    "control": None,    # a stack with an escape sequence
    "dir": "dir",
    "link": "link",
}


@pytest.mark.parametrize("how", sorted(HOSTILE))
def test_hostile_stored_fold_is_folded_again(python, tmp_path_factory, tmp_path, how):
    rec = recording(python, tmp_path_factory, tmp_path)
    expected = report(python, rec, "--format", "collapsed").stdout
    stored = rec / "folded.txt"
    good = stored.read_text()
    victim = tmp_path / "victim"
    victim.write_text("someone else's\n")
    if how in ("garbage", "no-header"):
        stored.write_bytes(HOSTILE[how])
    elif how == "bad-count":
        lines = good.splitlines()
        lines[1] = lines[1].rpartition(" ")[0] + " 999999"
        stored.write_text("\n".join(lines) + "\n")
    elif how == "bad-truncated":
        header, _, rest = good.partition("\n")
        stored.write_text(re.sub(r"truncated=(\d+)", r"truncated=9\1", header)
                          + "\n" + rest)
    elif how == "huge-header":
        header, _, rest = good.partition("\n")
        stored.write_text(re.sub(r"samples=\d+", "samples=" + "9" * 5000, header) + "\n" + rest)
    elif how == "huge-period":
        lines = good.splitlines()
        words = lines[1].split(" ", 4)
        lines[1] = " ".join(words[:3] + ["9" * 19, words[4]])
        stored.write_text("\n".join(lines) + "\n")
    elif how == "bad-line":
        lines = good.splitlines()
        lines[1] = lines[1].split(" ", 4)[4]
        stored.write_text("\n".join(lines) + "\n")
    elif how == "control":
        stored.write_text(good + "cpu-clock 1 1 1 python;\x1b]0;owned\x07 1\n")
    elif how == "dir":
        stored.unlink()
        stored.mkdir()
    else:
        stored.unlink()
        stored.symlink_to(victim)
    out = report(python, rec, "--format", "collapsed")
    assert out.stdout == expected
    warnings = [line for line in out.stderr.splitlines() if "folding the samples again" in line]
    assert len(warnings) == 1 and str(stored) in warnings[0], out.stderr
    assert victim.read_text() == "someone else's\n"
    if how != "dir":
        assert stored.is_file() and not stored.is_symlink()
        assert stored.read_text() == good
        again = report(python, rec, "--format", "collapsed", env=no_perf_env(python))
        assert again.stdout == expected and "folding" not in again.stderr


def test_stale_fold_is_folded_again(python, tmp_path_factory, tmp_path):
    """New perf data (another size or time than the stored fold's header
    says): folded again, quietly, and stored anew."""
    rec = recording(python, tmp_path_factory, tmp_path)
    expected = report(python, rec).stdout
    meta = json.loads((rec / "perftramp.json").read_text())
    data = rec / (meta.get("pack") or meta.get("data", "perf.data"))  # what report reads
    st = data.stat()
    os.utime(str(data), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    out = report(python, rec)
    assert out.stdout == expected
    assert "folding" in out.stderr and "again" not in out.stderr, out.stderr
    assert "mtime_ns=%d" % (st.st_mtime_ns + 10**9) in (rec / "folded.txt").read_text()


def test_read_only_recording_still_reports(python, tmp_path_factory, tmp_path):
    """A recording that cannot be written to (a read-only bind mount: root
    writes through permissions) is reported from an in-memory fold."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) for a read-only mount")
    rec = recording(python, tmp_path_factory, tmp_path)
    for name in ("folded.txt", "folded-internal.txt"):
        if (rec / name).exists():
            (rec / name).unlink()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro \"$0\" \"$0\" && "
                            "! touch \"$0/x\" 2>/dev/null", str(rec)], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a read-only bind mount here: %s" % probe.stderr.decode())
    out = subprocess.run(["unshare", "-m", "sh", "-c",
                          "mount --bind -o ro \"$0\" \"$0\" && exec \"$@\"", str(rec),
                          python.exe, "-m", "perftramp", "report", str(rec)],
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Python functions by self samples" in out.stdout
    assert "cannot store the folded stacks" in out.stderr
    assert not (rec / "folded.txt").exists()


def test_html_to_a_terminal_goes_to_a_file(python, tmp_path_factory, tmp_path):
    rec = recording(python, tmp_path_factory, tmp_path)
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run([python.exe, "-m", "perftramp", "report", str(rec), "--format",
                               "html"], stdout=slave, stderr=subprocess.PIPE, text=True,
                              cwd=str(tmp_path), timeout=600, env=env)
    finally:
        os.close(slave)
    try:
        shown = os.read(master, 1 << 16)
    except OSError:
        shown = b""
    os.close(master)
    assert proc.returncode == 0, proc.stderr
    page = rec / "flamegraph.html"
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert "wrote %s" % page in proc.stderr
    assert b"<!DOCTYPE" not in shown
