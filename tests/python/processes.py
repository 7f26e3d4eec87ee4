"""The processes the tests start, and the files in /tmp they leave.

run(), cli(), run_json() and popen() start the venvs' interpreters (see
interpreters.py) in subprocesses, so that a crash in the hook is a failed
test, not a dead test run; seed_app() writes the program most end-to-end tests
profile.

/tmp is shared: other users, other programs being profiled, and other test
runs on the same machine keep their perf-PID.map and jit-PID.dump there.
So a test deletes nothing by pattern alone: the processes it starts are
registered (run() and popen() do it; a test registers the children its
processes fork, and the programs it runs under perf, with register_pids),
and after the test the files of those pids are removed, if they are ours
and were written since the test began (not an older process's, with the
same pid).  At the end of the session any such file still there fails the
run: a test whose processes wrote after it ended, or a pattern missing here.
conftest.py's fixture and hook drive that through begin_test(), end_test()
and leftover_files().
"""
import glob
import json
import os
import re
import shlex
import subprocess
import textwrap
import time

from interpreters import ROOT

# The names every backend and perf inject give, per pid (the registry's
# test_map row too, in builds that have it).
TMP = "/tmp"
PID_FILES = ("perf-%d.map", "jit-%d.dump", "jitted-%d-*.so", "perftramp-test-%d.map")
# File times come from a clock that may lag time.time() by a tick.
_CLOCK_SLACK = 1.0
# How long after its test a registered process could still be writing, for
# the session's check (pids wrap only after every other pid was used).
_STRAGGLER_WINDOW = 120.0

_test_pids = None     # the running test's registered pids, or None between tests
_session_pids = {}    # pid -> (since, until): when its test ran


def register_pids(*pids):
    """Marks processes the running test started, directly or not (forked
    children, programs run under perf), as its own: their files in /tmp are
    removed when the test ends."""
    if _test_pids is not None:
        _test_pids.update(int(pid) for pid in pids)


def register_recorded_pids(data):
    """Registers every process perf recorded in `data` (sampled or not: its
    fork, comm and exit events count) as the test's; returns their pids."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid",
                          "--show-task-events"], capture_output=True, text=True, timeout=600)
    pids = set(int(m) for m in re.findall(r"^\s*(\d+)", out.stdout, re.M))
    pids.update(int(m) for m in re.findall(r"PERF_RECORD_(?:FORK|EXIT)\((\d+):", out.stdout))
    pids.discard(0)
    register_pids(*pids)
    return pids


def pid_files(pid, since, directory=TMP):
    """Paths of pid's files in `directory` that we own and that were written
    at or after `since` (a time.time())."""
    found = []
    for pattern in PID_FILES:
        for path in glob.glob(os.path.join(directory, pattern % pid)):
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if st.st_uid == os.geteuid() and \
                    max(st.st_mtime, st.st_ctime) >= since - _CLOCK_SLACK:
                found.append(path)
    return found


def begin_test():
    """Starts collecting the pids of the test about to run; returns the time
    it began, for end_test()."""
    global _test_pids
    _test_pids = set()
    return time.time()


def end_test(since):
    """Removes the files in /tmp of the pids the test registered, written
    since it began, and remembers the pids for leftover_files()."""
    global _test_pids
    pids, _test_pids = _test_pids, None
    for pid in pids:
        for path in pid_files(pid, since):
            try:
                os.unlink(path)
            except OSError:
                pass
    until = time.time()
    for pid in pids:
        _session_pids[pid] = (since, until)


def leftover_files():
    """Files in /tmp of processes the session's tests started, written while
    their test ran or soon after: what end_test() could not remove."""
    left = []
    for pid, (since, until) in sorted(_session_pids.items()):
        for path in pid_files(pid, since):
            st = os.lstat(path)
            if max(st.st_mtime, st.st_ctime) <= until + _STRAGGLER_WINDOW:
                left.append(path)
    return left


def private_tmp(mount, stage, keep=()):
    """Shell commands, for `unshare -m sh -c` as root, that put a private
    /tmp over the real one in the namespace, keeping what the program run
    there needs from the real one.

    `mount` is a command with one %s, the staging directory `stage` (an empty
    directory), that mounts the new /tmp's file system there ("mount -t tmpfs
    tmpfs %s", "mount --bind %s %s").  Each path of `keep` that lies in /tmp
    (a venv and its interpreter, when the clone lives in /tmp) is
    bind-mounted at its place in the new one; then the whole goes over /tmp.
    Without that, a project cloned into /tmp would lose its own venvs there."""
    q = shlex.quote
    steps = [mount.replace("%s", q(str(stage)))]
    real_tmp = os.path.realpath(TMP)
    for path in keep:
        rel = os.path.relpath(os.path.realpath(str(path)), real_tmp)
        if rel == "." or rel == ".." or rel.startswith("../"):
            continue
        inside = os.path.join(str(stage), rel)
        steps.append("mkdir -p %s && mount --bind %s %s" % (q(inside), q(str(path)), q(inside)))
    steps.append("mount --rbind %s /tmp" % q(str(stage)))
    return " && ".join(steps)


def interpreter_paths(python):
    """The paths `python` (an Interpreter with its venv) runs from: its venv
    and its base interpreter's installation."""
    base_prefix = subprocess.run([python.base, "-c", "import sys; print(sys.base_prefix)"],
                                 stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    return [str(python.venv), base_prefix]


def popen(args, **kw):
    """subprocess.Popen, with the child's pid registered as the test's (see
    register_pids): its files in /tmp are removed after the test."""
    proc = subprocess.Popen(args, **kw)
    register_pids(proc.pid)
    return proc


def run(python, args, env=None, input=None, timeout=120, check=True, cwd=None):
    """Runs the venv's interpreter with `args`; returns CompletedProcess.
    Its pid is registered as the test's (register_pids)."""
    full_env = dict(os.environ)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PYTHONPATH"):
        full_env.pop(name, None)
    full_env.update(env or {})
    argv = [python.exe] + list(args)
    with popen(argv, env=full_env, stdin=subprocess.PIPE if input is not None else None,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd) as proc:
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise AssertionError("exit %d\nstdout:\n%s\nstderr:\n%s"
                             % (result.returncode, result.stdout, result.stderr))
    return result


def cli(python, args, cwd, check=True, env=None):
    """`python -m perftramp ARGS` in `cwd` (run's checks, a longer timeout:
    record and report run perf)."""
    return run(python, ["-m", "perftramp"] + list(args), cwd=str(cwd), check=check, env=env,
               timeout=600)


def run_json(python, code, **kw):
    """Runs dedented `code` with the venv's interpreter; its last stdout line,
    parsed as JSON."""
    out = run(python, ["-c", textwrap.dedent(code)], **kw)
    return json.loads(out.stdout.strip().splitlines()[-1])


def seed_app(tmp_path):
    """The seed document's example (examples/my_script.py) as tmp_path/app.py,
    running ten times as long, so that foo has samples enough."""
    path = tmp_path / "app.py"
    path.write_text((ROOT / "examples" / "my_script.py").read_text()
                    .replace("baz(1000000)", "baz(10000000)"))
    return path
