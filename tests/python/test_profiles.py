"""Profiles that travel, on real recordings: pprof read by Go's own pprof
and parsed with pprof's own profile.proto (Debian's golang-go,
golang-github-google-pprof-dev and protobuf-compiler; `make test` installs
them), per-process and per-thread views and filters in every format, diffs
of two recordings, and samples of other events than time."""
import collections
import gzip
import json
import os
import re
import shutil
import subprocess

import pytest
from sourcetree import load_formats

from processes import cli, register_pids

pytestmark = [pytest.mark.edge_versions,
              pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")]

GO = shutil.which("go")
PROTOC = shutil.which("protoc")
PROFILE_PROTO = "/usr/share/gocode/src/github.com/google/pprof/proto/profile.proto"
needs_go = pytest.mark.skipif(
    GO is None, reason="no go: apt-get install golang-go (make test does)")

# CPU time, not rounds: the same samples at any interpreter's speed.
BUSY = """\
import time


def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
"""

SEED = BUSY + """

def foo():
    busy(0.6)


def bar():
    foo()


def baz():
    bar()


baz()
"""

# phase_one, then two forked workers at once, then phase_two
WORKERS = BUSY + """
import multiprocessing


def phase_one():
    busy(0.5)


def worker_one():
    busy(0.5)


def worker_two():
    busy(0.5)


def phase_two():
    busy(0.5)


if __name__ == "__main__":
    context = multiprocessing.get_context("fork")
    phase_one()
    workers = [context.Process(target=f) for f in (worker_one, worker_two)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    phase_two()
    print(" ".join(str(w.pid) for w in workers))
"""

# fresh pages in one function (a new mapping each time, whatever the
# allocator keeps), a second of CPU in another, sleeps in a third
EVENTS = BUSY + """
import mmap


def fresh_memory():
    for _ in range(30):
        block = mmap.mmap(-1, 16 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        block.close()


def spin():
    busy(0.5)


def sleeper():
    for _ in range(300):
        time.sleep(0.001)


fresh_memory()
spin()
sleeper()
"""

# parse, render and save each do their own work; render SLOW times as much
SLOW = BUSY + """
import sys

SLOW = float(sys.argv[1])


def parse():
    busy(0.05)


def render():
    busy(0.05 * SLOW)


def save():
    busy(0.05)


for _ in range(6):
    parse()
    render()
    save()
"""

_CACHE = {}


def recording(python, tmp_path_factory, name, program, *args, record_args=()):
    """One recording of `program` per interpreter (kept for the module's
    tests), and what the program printed."""
    key = (python.label, name, args, tuple(record_args))
    if key not in _CACHE:
        where = tmp_path_factory.mktemp("%s-%s" % (name, python.label))
        (where / "prog.py").write_text(program)
        out = cli(python, ["record"] + list(record_args) + ["-o", "rec", "--", python.exe,
                                                            str(where / "prog.py")] + list(args),
                  where)
        meta = json.loads((where / "rec" / "perftramp.json").read_text())
        register_pids(*meta["pids"])
        _CACHE[key] = (where / "rec", out.stdout)
    return _CACHE[key]


def report(python, rec, *args, check=True):
    return cli(python, ["report", str(rec)] + list(args), rec.parent, check=check)


def collapsed(text):
    out = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        out[stack] = out.get(stack, 0) + int(count)
    return out


def python_share(stacks, name):
    """The share (%) of samples with Python function `name` in their stack."""
    total = sum(stacks.values())
    hits = sum(c for s, c in stacks.items()
               if any(f.startswith("py::%s:" % name) for f in s.split(";")))
    return 100.0 * hits / total if total else 0.0


def pprof(tmp_path, *args):
    """go tool pprof's output; a private HOME, so that it leaves none of its
    files in the user's."""
    home = tmp_path / "gohome"
    home.mkdir(exist_ok=True)
    out = subprocess.run([GO, "tool", "pprof"] + [str(a) for a in args], capture_output=True,
                         text=True, timeout=300,
                         env=dict(os.environ, HOME=str(home), GOCACHE=str(home / "cache")))
    assert out.returncode == 0, out.stderr
    return out.stdout, out.stderr


_TOP = re.compile(r"\s*(\S+)\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+([\d.]+)%\s+(\S.*)")


def top(text):
    """{function: (flat %, cum %)} of pprof -top."""
    out = {}
    for line in text.splitlines():
        m = _TOP.fullmatch(line)
        if m:
            out[m.group(6)] = (float(m.group(2)), float(m.group(5)))
    return out


@needs_go
def test_pprof_read_by_go_pprof(python, tmp_path_factory, tmp_path):
    rec, _ = recording(python, tmp_path_factory, "seed", SEED)
    stacks = collapsed(report(python, rec, "--format", "collapsed").stdout)
    out = tmp_path / "profile.pb.gz"
    said = report(python, rec, "--format", "pprof", "-o", out)
    assert "wrote %s" % out in said.stderr
    raw = gzip.decompress(out.read_bytes())
    text, _ = pprof(tmp_path, "-top", "-sample_index=samples", out)
    found = top(text)
    for name in ("foo", "bar", "baz", "busy"):
        assert name in found, text
        # the same samples as every other format, to pprof's two decimals
        assert abs(found[name][1] - python_share(stacks, name)) < 0.011, (name, text)
    assert found["busy"][1] > 80, text
    # the whole chain, leaf first, in one trace
    traces, _ = pprof(tmp_path, "-traces", out)
    chains = [[line.split()[-1] for line in block.strip().splitlines()
               if line.strip() and ":" not in line.split()[0]]
              for block in traces.split("-----------+")]
    assert any(chain[:5] == ["busy", "foo", "bar", "baz", "<module>"]
               or chain[1:6] == ["busy", "foo", "bar", "baz", "<module>"]
               for chain in chains), traces
    tags, _ = pprof(tmp_path, "-tags", out)
    for label in ("pid:", "tid:", "comm:", "backend:"):
        assert label in tags, tags
    assert "cpu" in pprof(tmp_path, "-raw", out)[0].split("Samples:")[1].splitlines()[1]
    if PROTOC is None or not os.path.exists(PROFILE_PROTO):
        pytest.skip("no protoc or profile.proto: apt-get install protobuf-compiler "
                    "golang-github-google-pprof-dev (make test does)")
    decoded = subprocess.run(
        [PROTOC, "--decode=perftools.profiles.Profile",
         "--proto_path=%s" % os.path.dirname(PROFILE_PROTO), os.path.basename(PROFILE_PROTO)],
        input=raw, capture_output=True, timeout=120)
    assert decoded.returncode == 0, decoded.stderr
    assert b'string_table: "foo"' in decoded.stdout
    assert b"duration_nanos: " in decoded.stdout and b"time_nanos: " in decoded.stdout


@needs_go
def test_per_process_views_and_filters(python, tmp_path_factory, tmp_path):
    rec, printed = recording(python, tmp_path_factory, "workers", WORKERS)
    one, two = (int(pid) for pid in printed.split())
    text = report(python, rec, "--by", "pid").stdout
    sections = re.findall(r"perftramp report \(\S+ (\d+)\): (\d+) samples", text)
    pids = {int(pid) for pid, _ in sections}
    assert {one, two} <= pids and len(pids) >= 3, text
    per_pid = {}
    for section in text.split("perftramp report (")[1:]:
        pid = int(section.split(")")[0].split()[-1])
        per_pid[pid] = section
    assert "worker_one" in per_pid[one] and "worker_two" not in per_pid[one]
    assert "worker_two" in per_pid[two] and "worker_one" not in per_pid[two]
    # collapsed --by: the process in each stack's first frame
    by_pid = collapsed(report(python, rec, "--format", "collapsed", "--by", "pid").stdout)
    firsts = {s.split(";")[0] for s in by_pid}
    assert any(f.endswith(" %d" % one) for f in firsts), firsts
    # --pid and --tid (a worker's main thread) choose the same samples
    only = collapsed(report(python, rec, "--format", "collapsed", "--pid", str(one)).stdout)
    assert python_share(only, "worker_one") > 80 and python_share(only, "worker_two") == 0
    assert collapsed(report(python, rec, "--format", "collapsed", "--tid",
                            str(one)).stdout) == only
    comm = next(iter(only)).split(";")[0]
    assert sum(collapsed(report(python, rec, "--format", "collapsed", "--comm",
                                comm).stdout).values()) > sum(only.values())
    # pprof: every sample labelled, -tagfocus chooses one process
    out = tmp_path / "p.pb.gz"
    report(python, rec, "--format", "pprof", "-o", out)
    text, _ = pprof(tmp_path, "-top", "-sample_index=samples", "-tagfocus=pid=%d" % one, out)
    assert "worker_one" in text and "worker_two" not in text, text
    tags, _ = pprof(tmp_path, "-tags", "-sample_index=samples", "-tagfocus=pid=%d" % one, out)
    assert re.search(r"pid: Total %d(?:\.0)?\n\s+%d(?:\.0)? \(\s*100%%\): %d\n"
                     % (sum(only.values()), sum(only.values()), one), tags), tags
    # --start/--end: seconds after the first sample
    header = (rec / "folded.txt").read_text().split("\n", 1)[0]
    first, last = (int(v) for v in re.search(r"first_ns=(\d+) last_ns=(\d+)", header).groups())
    seconds = (last - first) / 1e9
    early = collapsed(report(python, rec, "--format", "collapsed", "--end",
                             "%.3f" % (0.2 * seconds)).stdout)
    late = collapsed(report(python, rec, "--format", "collapsed", "--start",
                            "%.3f" % (0.85 * seconds)).stdout)
    assert python_share(early, "phase_one") > 50 and python_share(early, "phase_two") == 0
    assert python_share(late, "phase_two") > 50 and python_share(late, "phase_one") == 0
    bad = report(python, rec, "--start", "2", "--end", "1", check=False)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "perftramp: report: --end 1 is not after --start 2"]


def _python_table(text):
    """[function name] of diff's Python table, in its order."""
    lines = text.split("Python functions whose share changed most")[1].split("\n\n")[0]
    return [line.split()[-2] for line in lines.splitlines()[2:] if "%" in line]


def test_diff_ranks_the_slowed_function_first(python, tmp_path_factory, tmp_path):
    base, _ = recording(python, tmp_path_factory, "slow", SLOW, "1")
    new, _ = recording(python, tmp_path_factory, "slow", SLOW, "3")
    out = cli(python, ["diff", str(base), str(new)], tmp_path).stdout
    ranked = _python_table(out)
    assert ranked[0] == "render", out
    row = [line for line in out.splitlines() if line.rstrip().endswith("render (prog.py)")][0]
    # its time is in busy(), which parse and save call too: its total grew
    assert float(row.split()[5]) > 10, row
    back = _python_table(cli(python, ["diff", str(new), str(base)], tmp_path).stdout)
    assert back[0] == "render"
    lines = cli(python, ["diff", str(base), str(new), "--format", "collapsed"],
                tmp_path).stdout.splitlines()
    assert all(re.fullmatch(r".+ \d+ \d+", line) for line in lines)
    page = tmp_path / "diff.html"
    cli(python, ["diff", str(base), str(new), "--format", "html", "-o", str(page)], tmp_path)
    assert '"baseTotal":' in page.read_text()
    missing = cli(python, ["diff", str(base), str(tmp_path / "nothing")], tmp_path, check=False)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1


def test_events_per_python_function(python, tmp_path_factory, tmp_path):
    rec, _ = recording(python, tmp_path_factory, "events", EVENTS,
                       record_args=["-e", "page-faults,context-switches,cpu-clock"])
    text = report(python, rec).stdout
    assert text.startswith("perftramp report: ") and " samples of page-faults" in text
    table = text.split("Events per Python function")[1].split("\n\n")[0].splitlines()
    assert table[0].endswith("by self page-faults:"), table
    assert table[1].split()[1:] == ["page-faults", "context-switches", "cpu-clock"], table
    assert table[2].startswith("fresh_memory (prog.py)"), table
    if GO is None:
        pytest.skip("no go: apt-get install golang-go (make test does)")
    out = tmp_path / "e.pb.gz"
    report(python, rec, "--format", "pprof", "-o", out)
    faults, _ = pprof(tmp_path, "-top", "-sample_index=page-faults", out)
    assert "Type: page-faults" in faults, faults
    pythons = [name for name in top(faults) if name in ("fresh_memory", "spin", "sleeper")]
    flat_order = [n for n in sorted(top(faults), key=lambda n: -top(faults)[n][1])
                  if n in pythons]
    assert flat_order[0] == "fresh_memory", faults
    cpu, _ = pprof(tmp_path, "-top", "-sample_index=cpu", out)
    assert top(cpu)["spin"][1] > top(cpu).get("sleeper", (0, 0))[1], cpu


def test_events_the_machine_lacks_are_one_line(python, tmp_path):
    (tmp_path / "prog.py").write_text("pass\n")
    bogus = cli(python, ["record", "-e", "no-such-event", "-o", "r", "--", python.exe,
                         "prog.py"], tmp_path, check=False)
    assert bogus.returncode != 0
    assert bogus.stderr.strip().splitlines() == [
        line for line in bogus.stderr.strip().splitlines() if "no-such-event" in line]
    assert not (tmp_path / "r").exists()
    garbage = cli(python, ["record", "-e", "a b;c", "--", python.exe, "prog.py"], tmp_path,
                  check=False)
    assert garbage.returncode == 2 and "not an event name" in garbage.stderr
    check = cli(python, ["check", "--skip-jit-test"], tmp_path, check=False).stdout
    line = [line for line in check.splitlines() if "events (record -e)" in line]
    assert line and "page-faults" in line[0] and "context-switches" in line[0], check
    if "cycles" in line[0]:
        return  # a machine with hardware counters
    assert "software events only" in line[0]
    cycles = cli(python, ["record", "-e", "cycles", "-o", "r", "--", python.exe, "prog.py"],
                 tmp_path, check=False)
    assert cycles.returncode != 0 and len(cycles.stderr.strip().splitlines()) == 1
    assert "no hardware counters" in cycles.stderr, cycles.stderr


def test_event_columns_and_instructions_per_cycle():
    """The text report's event table from folded rows: perf's estimated
    counts per Python function, self/total, ranked by the first event, and
    IPC where cycles and instructions were both recorded (this machine has
    no hardware counters: the rows are made here)."""
    formats, text = load_formats("text")
    row = collections.namedtuple("Row", "event pid tid stack count period")
    outer, inner = "python;py::outer:/a.py", "python;py::outer:/a.py;py::inner:/a.py"
    rows = [row("cycles", 1, 1, inner, 30, 3000000), row("cycles", 1, 1, outer, 10, 1000000),
            row("instructions", 1, 1, inner, 30, 1500000),
            row("instructions", 1, 2, outer, 10, 4000000)]
    profile = formats.Profile.of_rows(rows, {"events": ["cycles", "instructions"]})
    assert profile.samples == 40 and profile.events == ["cycles", "instructions"]
    out = text.render(profile, None)
    assert out.startswith("perftramp report: 40 samples of cycles")
    table = out.split("Events per Python function")[1].split("\n\n")[0].splitlines()
    assert table[0].endswith("by self cycles:")
    assert table[1].split() == ["function", "cycles", "instructions", "IPC"]
    assert table[2].split() == ["inner", "(a.py)", "3M/3M", "1.5M/1.5M", "0.50"]
    assert table[3].split() == ["outer", "(a.py)", "1M/4M", "4M/5.5M", "4.00"]
