"""Forked workers unwound through real perf: every shape of
tests/python/forkshapes.py (fork before or after the parent made its
trampolines, a grandchild, a fork from C, a fork while another thread runs
Python, multiprocessing with fork, forkserver and spawn) in one recording,
and of each worker's leaf-function samples at least 99% must carry the whole
chain: from the worker's outermost Python frame (<module>) through
run -> middle -> leaf, unwound to where the thread started.

Each backend is recorded three ways: `perftramp record` + `perftramp report`
with defaults; the same after compile_trampolines() and
set_persist_after_fork(True), as a pre-fork server does; and plain
`perf record` (+ `perf inject --jit` where the backend needs it) +
`perf script`, switched on by PERFTRAMP_ACTIVATE.

Interpreters and backends: interpreters.matrix_pairs() (interp_backend).
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from perfscript import collapsed, python_names, reaches_start, samples
from processes import cli, register_pids, register_recorded_pids

# slow: each case records forked workers of every shape, 6-20 s on one interpreter
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("perf") is None,
                                 reason="perf is not installed (apt-get install linux-perf)")]

PROGRAM = Path(__file__).with_name("forkshapes.py")
SHAPES = ("before", "after", "grandchild", "cfork", "thread", "mp_fork", "mp_forkserver",
          "mp_spawn")
#: the leaves only workers run (leaf_parent is the parent's own)
WORKER_LEAVES = ("leaf_before", "leaf_after", "leaf_child", "leaf_grandchild", "leaf_cfork",
                 "leaf_thread", "leaf_mp_fork", "leaf_mp_forkserver", "leaf_mp_spawn")
#: a worker runs its leaf for 0.3 s of CPU (0.15 s for leaf_child): about
#: 300 samples at 999 Hz; fewer than this means the worker was not sampled
MIN_SAMPLES = 80
SECONDS = "0.3"


def whole(py, leaf):
    """Whether a sample's Python frames (outermost first) are the whole chain
    of a worker's sample in `leaf` (the names are qualified from 3.11 on:
    "run" is also multiprocessing's BaseProcess.run before)."""
    if leaf not in py:
        return False
    upto = py[:py.index(leaf) + 1]
    return py[0] == "<module>" and upto[-3:] == ["run", "middle", leaf]


def tally(stacks):
    """{leaf: [whole, samples]} of (python names, whole, count) triples."""
    out = {leaf: [0, 0] for leaf in WORKER_LEAVES}
    for py, started, count in stacks:
        for leaf in WORKER_LEAVES:
            if leaf in py:
                out[leaf][1] += count
                out[leaf][0] += count if started and whole(py, leaf) else 0
    return out


def assert_whole(counts, how):
    bad = {leaf: "%d of %d" % tuple(c) for leaf, c in counts.items()
           if c[1] < MIN_SAMPLES or c[0] < 0.99 * c[1]}
    assert not bad, "%s: whole chains / samples per worker leaf: %s (all: %s)" % (
        how, bad, {leaf: "%d/%d" % tuple(c) for leaf, c in counts.items()})


def run_record(python, backend, tmp_path, precompile):
    args = ["record", "--backend", backend, "-o", "rec", "--", python.exe, str(PROGRAM)]
    args += (["--precompile"] if precompile else []) + list(SHAPES)
    cli(python, args, tmp_path, env={"FORKSHAPES_SECONDS": SECONDS})
    rec = tmp_path / "rec"
    register_pids(*json.loads((rec / "perftramp.json").read_text())["pids"])
    return rec


@pytest.mark.parametrize("precompile", [False, True], ids=["default", "precompiled"])
def test_every_worker_has_whole_chains_through_perftramp_record(interp_backend, tmp_path,
                                                                precompile):
    python, backend = interp_backend
    rec = run_record(python, backend, tmp_path, precompile)
    out = cli(python, ["report", str(rec), "--format", "collapsed"], tmp_path)
    assert_whole(tally(collapsed(out.stdout)), "perftramp record, %s" % backend)
    # the workers leave with os._exit, their map windows unfilled: the
    # recording keeps their lines, not the windows' NUL bytes
    for path in (rec / "maps").glob("perf-*.map") if (rec / "maps").is_dir() else ():
        data = path.read_bytes()
        assert data.endswith(b"\n") and b"\0" not in data, (path, len(data))
    # report says so per process: the parent and every worker are there,
    # and the workers (busy in their leaves) nearly whole
    text = cli(python, ["report", str(rec)], tmp_path).stdout
    table = text.split("Processes: ", 1)[1].split("\n\n", 1)[0].splitlines()
    assert int(table[0].split(";")[0]) >= len(WORKER_LEAVES) + 1, text
    rows = [line.split() for line in table[2:] if line.split()[0].isdigit()]
    busy_and_whole = [row for row in rows
                      if int(row[1]) >= MIN_SAMPLES and float(row[2].rstrip("%")) >= 95]
    assert len(busy_and_whole) >= len(WORKER_LEAVES), table


def plain_perf(python, backend, tmp_path, jit_dir):
    """`perf record` of the program with PERFTRAMP_ACTIVATE, as the README
    says for each backend, then inject where needed; the data perf script
    reads."""
    env = dict(os.environ, PERFTRAMP_ACTIVATE=backend, FORKSHAPES_SECONDS=SECONDS)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PYTHONPATH"):
        env.pop(name, None)
    data = tmp_path / "perf.data"
    flags = ["-g"] if backend == "perf" else ["--call-graph", "dwarf,65528"]
    if backend == "perf_jit":
        flags = ["-k", "1"] + flags
        env["PERFTRAMP_JITDUMP_DIR"] = str(jit_dir)
    if backend == "perf_elf":
        env["PERFTRAMP_ELF_DIR"] = str(tmp_path / "elf")
    out = subprocess.run(["perf", "record", "-q", "-N", "-F", "999"] + flags
                         + ["-o", str(data), "--", python.exe, str(PROGRAM)] + list(SHAPES),
                         capture_output=True, text=True, env=env, timeout=600,
                         cwd=str(tmp_path))
    register_recorded_pids(data)
    assert out.returncode == 0, out.stderr
    if backend != "perf_jit":
        return data
    injected = tmp_path / "perf.jit.data"
    # --buildid-dir under /dev/null: perf inject would copy every jitted-*.so
    # into ~/.debug
    out = subprocess.run(["perf", "--buildid-dir", "/dev/null/perftramp-no-build-id-cache",
                          "inject", "--jit", "-i", str(data), "-o", str(injected)],
                         capture_output=True, text=True, timeout=600, cwd=str(jit_dir))
    assert out.returncode == 0, out.stderr
    return injected


def test_every_worker_has_whole_chains_through_plain_perf(interp_backend, tmp_path, jit_dir):
    python, backend = interp_backend
    data = plain_perf(python, backend, tmp_path, jit_dir)
    stacks = [(python_names([symbol for symbol, _ in reversed(frames)]),
               reaches_start(frames), 1)
              for frames in samples(data, ["--max-stack", "8192"], dsos=True)]
    assert_whole(tally(stacks), "perf record + perf script, %s" % backend)
