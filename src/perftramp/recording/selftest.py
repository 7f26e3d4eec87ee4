"""Short real runs that show what works on this machine, rather than a
version guess: a backend through this perf (named and unwound Python
frames), and attaching to a process (sys.remote_exec, or ptrace_exec.py).

`record` runs a backend's self-test before choosing a backend that needs
proof (_backends.CHOICES); `check` runs every candidate's.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from typing import List, Optional, Tuple

from perftramp import _backends
from perftramp._backends import Backend

from . import jitdir, perf, remote, target
from .errors import Failure

#: The program a backend's self-test records: the leaf's samples must be
#: named and unwound through the caller's trampoline.
PROGRAM = (
    "import perftramp\n"
    "perftramp.activate_stack_trampoline(%r)\n"
    "def perftramp_leaf(n):\n"
    "    t = 0\n"
    "    for i in range(n):\n"
    "        t += i\n"
    "    return t\n"
    "def perftramp_caller(n):\n"
    "    return perftramp_leaf(n)\n"
    "perftramp_caller(3000000)\n"
)
#: how many of the leaf's samples must reach the caller
WHOLE_SHARE = 0.9


def run(perf_path: str, row: Backend) -> Tuple[bool, str]:
    """(works, detail): whether `row`'s files, recorded and (when the row
    needs it) injected as `record` does, give this perf whole chains."""
    # under a jitdir.py path, as record writes its dumps there (jitdir.make()
    # says why), whether or not the row needs inject
    with tempfile.TemporaryDirectory(prefix=jitdir.PREFIX + "check-", dir=jitdir.HOME) as tmp:
        env = dict(os.environ, **({row.dir_env: tmp} if row.dir_env else {}))
        data = os.path.join(tmp, "perf.data")
        command = [sys.executable, "-c", PROGRAM % row.name]
        rec = subprocess.run(perf.record_command(perf_path, row, perf.Sampling(), data, command,
                                                 quiet=True),
                             capture_output=True, text=True, env=env, cwd=tmp)
        # a row with a directory variable wrote into tmp, removed with it;
        # only the others leave files (perf maps in /tmp) to remove by pid
        outside = rec.returncode == 0 and not row.dir_env
        pids = perf.recorded_pids(perf_path, data) if outside else []
        try:
            if rec.returncode != 0:
                return False, "perf record failed: %s" % rec.stderr.strip()[:300]
            if row.inject:
                injected = os.path.join(tmp, "perf.jit.data")
                inj = subprocess.run(perf.inject_command(perf_path, data, injected),
                                     capture_output=True, text=True, cwd=tmp)
                if inj.returncode != 0:
                    return False, "perf inject --jit failed: %s" % inj.stderr.strip()[:300]
                data = injected
            script = subprocess.run(perf.script_command(perf_path, data, "ip,sym"),
                                    capture_output=True, text=True, cwd=tmp).stdout
        finally:
            _remove_files_of(row, pids, env)
    return judge(script, row)


def _remove_files_of(row: Backend, pids: List[int], env: dict) -> None:
    """The files the test program wrote outside the test's directory (a
    perf map in /tmp): only those of the processes the test started."""
    for pid in pids:
        path = _backends.file_path(row, pid, env)
        try:
            if os.stat(path).st_uid == os.geteuid():
                os.unlink(path)
        except OSError:
            pass


def leaf_chains(script: str) -> Tuple[int, int]:
    """(leaf, whole): samples of perf script (-F ip,sym) in the test's leaf,
    and how many of them reach its caller."""
    leaf = whole = 0
    for block in script.split("\n\n"):
        names = [line.split(None, 1)[1].split(":")[2] for line in block.splitlines()
                 if len(line.split(None, 1)) == 2
                 and line.split(None, 1)[1].startswith("py::")]
        if names and names[0] == "perftramp_leaf":
            leaf += 1
            whole += names[1:2] == ["perftramp_caller"]
    return leaf, whole


def judge(script: str, row: Backend) -> Tuple[bool, str]:
    leaf, whole = leaf_chains(script)
    how = "after perf inject --jit" if row.inject else "no inject"
    if leaf == 0:
        return False, "perf named no Python frame of a test run (%s)" % how
    if whole < WHOLE_SHARE * leaf:
        return False, "perf unwound %d of %d samples of a test run (%s)" % (whole, leaf, how)
    return True, "perf named and unwound a test run: %d of %d samples whole (%s)" % (
        whole, leaf, how)


#: a child that waits to be attached to
ATTACH_CHILD = (
    "import sys, time\n"
    "import perftramp\n"
    "print('ready', flush=True)\n"
    "while sys.stdin.readable():\n"
    "    time.sleep(0.01)\n"
)


def attach() -> Tuple[Optional[bool], str]:
    """(works, detail): whether `perftramp attach` works here, by sending a
    child of this interpreter perftramp's remote script (a detach: nothing is
    written).  None: not for this interpreter (before 3.14, on a machine
    other than x86_64)."""
    how = "sys.remote_exec" if hasattr(sys, "remote_exec") else "a pending call queued by ptrace"
    if not hasattr(sys, "remote_exec") and platform.machine() != "x86_64":
        return None, ("before CPython 3.14 (this is %s) attaching works on x86_64 only so far; "
                      "a process is recorded by starting it under perftramp record"
                      % platform.python_version())
    child = subprocess.Popen([sys.executable, "-c", ATTACH_CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        if child.stdout is None or child.stdout.readline().strip() != "ready":
            return False, "the test child did not start"
        try:
            remote.detach(target.inspect(child.pid), remote.TIMEOUT)
        except Failure as error:
            return False, error.message
        return True, "works (%s into a test child)" % how
    finally:
        child.kill()
        child.wait()
