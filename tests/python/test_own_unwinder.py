"""report --unwinder own: perftramp's own reader of perf.data (src/report/
readout.h) folds the same stacks as perf script, from real recordings of
every backend on every interpreter: a sample counts as agreeing when its
stack, with its counts, is among perf script's."""
import json
import re
import shutil
import subprocess

import pytest

from processes import cli, register_pids, run_json

pytestmark = pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")

# Python calling C (zlib, json in C), a deep pure-Python recursion, a
# generator and a class: the shapes whose frames both readers must name.
PROGRAM = """\
import json
import sys
import time
import zlib


class Codec:
    def pack(self, data):
        return zlib.compress(data, 6)

    def dump(self, obj):
        return json.dumps(obj)


def numbers(n):
    for i in range(n):
        yield i * i


def down(n):
    return sum(numbers(20000)) if n == 0 else down(n - 1)


sys.setrecursionlimit(5000)
codec = Codec()
data = bytes(range(256)) * 2000
end = time.process_time() + 0.5
while time.process_time() < end:
    codec.pack(data)
    codec.dump({"a": list(range(200))})
end = time.process_time() + 0.5
while time.process_time() < end:
    down(50)
"""

#: perf script's stacks that the own reader must give too, as a share of
#: the samples (issue 31's bar)
AGREEMENT = 0.999


#: perf's libunwind (perf 6.x) reports one more frame where a stack copy
#: ends, at address 0 less one: "[unknown]" outermost, right after the
#: "[truncated]" the folder puts there; both readers' stacks lose it
GARBAGE_OUTERMOST = re.compile(r"^([^;]*;\[truncated\]);\[unknown\](?=;)")


def collapsed(text):
    out = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        stack = GARBAGE_OUTERMOST.sub(r"\1", stack)
        out[stack] = out.get(stack, 0) + int(count)
    return out


def whole(stack):
    return stack.split(";", 2)[1:2] != ["[truncated]"]


def agreement(theirs, ours):
    """The share of perf script's whole stacks (not cut) that the own
    reader gave as often (issue 31's measure: where perf's unwinding was
    cut, the own reader may see more); of all its stacks when every one is
    cut (a frame-pointer walk through an interpreter built without)."""
    counted = [stack for stack in theirs if whole(stack)] or list(theirs)
    total = sum(theirs[stack] for stack in counted)
    same = sum(min(theirs[stack], ours.get(stack, 0)) for stack in counted)
    return same / total if total else 0.0


def differences(theirs, ours, limit=8):
    rows = sorted(set(theirs) | set(ours),
                  key=lambda s: -abs(theirs.get(s, 0) - ours.get(s, 0)))[:limit]
    return "\n".join("perf %d own %d  %s" % (theirs.get(s, 0), ours.get(s, 0), s[-300:])
                     for s in rows if theirs.get(s, 0) != ours.get(s, 0))


def perf_release():
    out = subprocess.run(["perf", "--version"], stdout=subprocess.PIPE, text=True).stdout
    found = re.search(r"(\d+)\.(\d+)", out)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


#: run by the interpreter: whether its executable or libpython carries
#: .debug_info (built from source or by pyenv; Debian strips its own)
HAS_DWARF = """
import json, os, sys, sysconfig
from perftramp.recording import elf
lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "",
                   sysconfig.get_config_var("LDLIBRARY") or "")
found = False
for path in (os.path.realpath(sys.executable), lib):
    if os.path.isfile(path):
        with open(path, "rb") as f:
            found = found or elf.section(f, b".debug_info", 1) is not None
print(json.dumps(found))
"""


@pytest.mark.parametrize("backend", ["perf_elf", "perf", "perf_jit"])
def test_own_reader_folds_what_perf_script_folds(python, tmp_path, backend):
    if perf_release() >= (7, 0) and run_json(python, HAS_DWARF):
        # perf 7.x names the function an inlined one is in by rules not yet
        # matched: some clones by their ELF symbol (pymain_run_python
        # .constprop.0), others by their DWARF name (encoder_listencode_obj,
        # not .part.0): 99.1-99.6% agree on 3.14t built from source
        pytest.xfail("perf 7.x's names of functions that others are inlined into")
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    cli(python, ["record", "--backend", backend, "-o", "rec", "--", python.exe, str(script)],
        tmp_path)
    register_pids(*json.loads((tmp_path / "rec" / "perftramp.json").read_text())["pids"])
    for view in ([], ["--keep-internal"]):
        theirs = collapsed(cli(python, ["report", "rec", "--format", "collapsed"] + view,
                               tmp_path).stdout)
        run = cli(python, ["report", "rec", "--format", "collapsed", "--unwinder", "own"]
                  + view, tmp_path)
        assert "own unwinder" in run.stderr and "perf script" not in run.stderr, run.stderr
        ours = collapsed(run.stdout)
        assert sum(ours.values()) == sum(theirs.values())
        share = agreement(theirs, ours)
        assert share >= AGREEMENT, "%s %.4f agree:\n%s" % (
            view, share, differences(theirs, ours))
        # the program's own functions are there with their callers (a
        # frame-pointer walk stops in an interpreter built without frame
        # pointers, for both readers)
        # (the recursion, pure Python, stays inside the stack copy on every
        # interpreter; a frame-pointer walk from zlib's deflate, built
        # without them, would not reach Codec.pack)
        if backend != "perf" or python.frame_pointers:
            assert any(re.search(r"py::<module>:.*;py::down:", s) for s in ours)
