"""Faults from the field: a full filesystem, a small RLIMIT_FSIZE, a forked
child naming its parent's post-fork functions, and entries lost behind the
NUL tail of a map or dump left open (exec) or shared with CPython's own
backend.

Every test removes the files of the processes it started, by pid."""
import json
import os
import shlex
import shutil
import subprocess
import textwrap

import pytest

from perffiles import jitdump_loads, jitdump_stubs, map_entries
from processes import interpreter_paths, private_tmp, register_pids, run, run_json

BACKENDS = ["perf", "perf_jit"]

MAKE_FUNCTIONS = """
def make(prefix, n):
    for i in range(n):
        space = {}
        name = prefix + "_" + str(i)
        exec("def " + name + "(): return 0", space)
        space[name]()
"""


def _script(body):
    """The dedented body, after make(prefix, n), which makes n fresh
    functions and calls each once."""
    return MAKE_FUNCTIONS + textwrap.dedent(body)


def _remove(*paths):
    for path in paths:
        try:
            os.unlink(str(path))
        except OSError:
            pass


def _warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("perftramp:")]


def _can_mount():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.parametrize("backend,where", [("perf", "tmp"), ("perf_jit", "tmp"),
                                           ("perf_jit", "jitdump_dir")])
def test_full_filesystem_warns_once_and_runs_on(python, backend, where, tmp_path):
    if not _can_mount():
        pytest.skip("needs root and unshare -m to mount a 64 KiB tmpfs")
    target = "/tmp" if where == "tmp" else str(tmp_path / "jit")
    os.makedirs(target, exist_ok=True)
    env = {"PERFTRAMP_JITDUMP_DIR": target} if where == "jitdump_dir" else {}
    code = _script("""
        import json, os, perftramp
        perftramp.activate_stack_trampoline(%r)
        make("fresh", 1000)
        stats = perftramp._perftramp._stats(%r)
        # the file is only visible in this mount namespace: hand it out
        with open(stats["path"], "rb") as f:
            data = f.read()
        print(json.dumps({"stats": stats, "data": data.hex()}))
    """) % (backend, backend)
    tmpfs = "mount -t tmpfs -o size=64k tmpfs %s"
    if where == "tmp":
        # a full /tmp that still shows the venv and its interpreter, should
        # they live in /tmp (a clone there)
        stage = tmp_path / "stage"
        stage.mkdir()
        mount = private_tmp(tmpfs, stage, interpreter_paths(python))
    else:
        mount = tmpfs % shlex.quote(target)
    script = mount + ' && exec "$0" -c "$1"'
    full_env = dict(os.environ)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PYTHONPATH"):
        full_env.pop(name, None)
    full_env.update(env)
    result = subprocess.run(["unshare", "-m", "sh", "-c", script, python.exe, code],
                            env=full_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, "exit %d (135 = SIGBUS)\n%s" % (result.returncode,
                                                                   result.stderr)
    assert len(_warnings(result.stderr)) == 1, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    data = bytes.fromhex(out["data"])
    if backend == "perf":
        lines = data.decode().splitlines()
        names = [line.split(" ", 2)[2] for line in lines if line.strip("\0")]
    else:
        copy = tmp_path / "copy.dump"
        copy.write_bytes(data)
        names = list(jitdump_stubs(copy).values())
    # What fit was written and is readable, in order, up to the full disk.
    fresh = [n for n in names if n.startswith("py::fresh_")]
    assert len(fresh) > 10
    assert fresh == ["py::fresh_%d:<string>" % i for i in range(len(fresh))]
    assert out["stats"]["trampolines"] >= 1000


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_rlimit_fsize_warns_once_and_runs_on(python, backend, tmp_path):
    result = run(python, ["-c", _script("""
        import json, os, resource, perftramp
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        perftramp.activate_stack_trampoline(%r)
        make("fresh", 2000)
        print(json.dumps({"pid": os.getpid(),
                          "stats": perftramp._perftramp._stats(%r)}))
    """) % (backend, backend)],
        env={"PERFTRAMP_JITDUMP_DIR": str(tmp_path)})
    out = json.loads(result.stdout.strip().splitlines()[-1])
    path = out["stats"]["path"]
    try:
        warnings = _warnings(result.stderr)
        assert len(warnings) == 1, result.stderr
        assert path in warnings[0] and "File too large" in warnings[0]
        assert out["stats"]["trampolines"] >= 2000
        assert 0 < os.path.getsize(path) <= 20000
        if backend == "perf":
            assert len(map_entries(out["pid"])) > 10
        else:
            assert len(jitdump_stubs(tmp_path / os.path.basename(path))) > 10
    finally:
        if backend == "perf":
            _remove(path)


FORKERS = {
    # Python's at-fork callbacks run first: a C one that waits for the parent
    # (no Python frame, no trampoline), then a Python one, which makes the
    # child's first trampoline before perftramp's own callback runs.
    "os.fork": """
        import functools
        os.register_at_fork(after_in_child=functools.partial(os.read, parent_wrote, 1))
        def at_fork_in_child(): return 0
        os.register_at_fork(after_in_child=at_fork_in_child)
        def fork():
            return os.fork()
        child_wait = int  # done above; a builtin makes no trampoline
    """,
    # A fork from C: no Python at-fork callback at all.
    "libc.fork": """
        import ctypes, functools
        libc = ctypes.CDLL(None, use_errno=True)
        fork = libc.fork
        # a builtin: waiting makes no trampoline, child_new is the first
        child_wait = functools.partial(os.read, parent_wrote, 1)
    """,
}


@pytest.mark.parametrize("forker", sorted(FORKERS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_fork_child_names_only_what_it_has(python, backend, forker, tmp_path):
    code = _script("""
        import json, os, sys
        parent_wrote, tell_child = os.pipe()
        child_done, tell_parent = os.pipe()
    """) + textwrap.dedent(FORKERS[forker]) + textwrap.dedent("""
        import perftramp
        # What a child that keeps its parent's trampolines names (without
        # persistence it names none of them: test_fork_threads).
        perftramp.set_persist_after_fork(True)
        perftramp.activate_stack_trampoline(%r)
        make("inherited", 20)
        pid = fork()
        if pid == 0:
            child_wait()
            def child_new(): return 2
            child_new()
            os.write(tell_parent, b"x")
            os._exit(0)
        def parent_after(): return 3
        parent_after()
        os.write(tell_child, b"x")
        os.read(child_done, 1)
        os.waitpid(pid, 0)
        print(json.dumps({"parent": os.getpid(), "child": pid}))
    """) % backend
    r = run_json(python, code, env={"PERFTRAMP_JITDUMP_DIR": str(tmp_path)})
    register_pids(r["child"])
    try:
        if backend == "perf":
            entries = [(start, name) for start, _, name in map_entries(r["child"])]
        else:
            entries = jitdump_loads(tmp_path / ("jit-%d.dump" % r["child"]))
        names = [name for _, name in entries]
        assert "py::parent_after:<string>" not in names
        assert "py::child_new:<string>" in names
        for i in range(20):
            assert "py::inherited_%d:<string>" % i in names
        by_addr = {}
        for start, name in entries:
            by_addr.setdefault(start, set()).add(name)
        assert all(len(n) == 1 for n in by_addr.values()), by_addr
    finally:
        _remove("/tmp/perf-%d.map" % r["child"], "/tmp/perf-%d.map" % r["parent"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_exec_same_pid_continues_after_the_data(python, backend, tmp_path):
    after = textwrap.dedent("""
        import json, os, perftramp
        perftramp.activate_stack_trampoline(%r)
        def after_exec(): return 2
        after_exec()
        print(json.dumps({"pid": os.getpid()}))
    """) % backend
    r = run_json(python, """
        import os, sys, perftramp
        perftramp.activate_stack_trampoline(%r)
        def before_exec(): return 1
        before_exec()
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-c", %r])
    """ % (backend, after), env={"PERFTRAMP_JITDUMP_DIR": str(tmp_path)})
    try:
        if backend == "perf":
            data = open("/tmp/perf-%d.map" % r["pid"], "rb").read()
            assert b"\0" not in data
            names = [name for _, _, name in map_entries(r["pid"])]
        else:
            # a dump holds NUL bytes of its own; its reader stops at a record
            # of size 0, as perf inject does
            names = list(jitdump_stubs(tmp_path / ("jit-%d.dump" % r["pid"])).values())
        assert "py::before_exec:<string>" in names
        assert "py::after_exec:<string>" in names
    finally:
        _remove("/tmp/perf-%d.map" % r["pid"])


@pytest.mark.versions(min=(3, 12))  # CPython's own perf backend exists from 3.12 on
def test_cpython_own_backend_appends_after_ours(python):
    r = run_json(python, """
        import json, os, sys, perftramp
        perftramp.activate_stack_trampoline("perf")
        def ours(): return 1
        ours()
        sys.activate_stack_trampoline("perf")   # CPython's own, ours off
        def theirs(): return 2
        theirs()
        sys.deactivate_stack_trampoline()
        perftramp.activate_stack_trampoline("perf")
        def ours_again(): return 3
        ours_again()
        print(json.dumps({"pid": os.getpid()}))
    """)
    try:
        data = open("/tmp/perf-%d.map" % r["pid"], "rb").read()
        assert b"\0" not in data
        names = [name for _, _, name in map_entries(r["pid"])]
        for name in ("ours", "theirs", "ours_again"):
            assert "py::%s:<string>" % name in names
    finally:
        _remove("/tmp/perf-%d.map" % r["pid"])


ENV_SWITCHES = {"PERFTRAMP_ACTIVATE": "perf", "PYTHONPERFSUPPORT": "1",
                "PYTHON_PERF_JIT_SUPPORT": "1"}


@pytest.mark.parametrize("flag", ["-E", "-I"])
def test_isolated_and_ignore_environment_ignore_every_env_switch(python, flag):
    """-E and -I hide the environment, as CPython hides PYTHONPERFSUPPORT:
    PERFTRAMP_ACTIVATE too.  The start-up hook still runs under both (site
    processes the venv's .pth files in isolated mode), and -X still works."""
    code = ("import json, os, sys\n"
            "def probe(): return 1\n"
            "probe()\n"
            "print(json.dumps({'pid': os.getpid(), 'hook': '_perftramp_startup' in sys.modules,"
            " 'loaded': 'perftramp' in sys.modules,"
            " 'active': sys.is_stack_trampoline_active()}))\n")
    out = run(python, [flag, "-c", code], env=ENV_SWITCHES)
    r = json.loads(out.stdout)
    assert r == {"pid": r["pid"], "hook": True, "loaded": False, "active": False}, out.stderr
    assert out.stderr == ""
    assert not os.path.exists("/tmp/perf-%d.map" % r["pid"])
    r = json.loads(run(python, [flag, "-X", "perf", "-c", code]).stdout)
    assert r["active"] is True
    assert "py::probe:<string>" in [name for _, _, name in map_entries(r["pid"])]
