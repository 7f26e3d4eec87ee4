"""fork, threads, subinterpreters, and activation churn."""
import platform

import pytest

from perffiles import jitdump_stubs, map_entries
from processes import register_pids, run, run_json

FORK_SCRIPT = """
    import json, os, sys, perftramp
    perftramp.set_persist_after_fork(%r)
    perftramp.activate_stack_trampoline("perf")
    def before_fork(): return 1
    def not_run_in_child(): return 4
    def in_child(): return 2
    before_fork()
    not_run_in_child()
    r, w = os.pipe()
    def forks():
        pid = os.fork()
        if pid == 0:
            in_child()
            before_fork()
            os.write(w, b"x")
            os._exit(0)
        return pid
    pid = forks()
    os.read(r, 1)
    os.waitpid(pid, 0)
    def parent_after_fork(): return 3
    parent_after_fork()
    print(json.dumps({"parent": os.getpid(), "child": pid}))
"""


def _fork_maps(python, persist):
    r = run_json(python, FORK_SCRIPT % persist)
    register_pids(r["child"])
    child = {name: start for start, _, name in map_entries(r["child"])}
    parent = {name: start for start, _, name in map_entries(r["parent"])}
    return child, parent


def test_fork_child_makes_and_names_its_own_trampolines(python):
    # CPython's meaning without persistence (its test_perf_profiler asserts
    # the same): the child's map names only what the child made, not even
    # the frame that forked, which is on its stack; what it calls again it
    # makes again, at an address of its own.
    child, parent = _fork_maps(python, False)
    assert set(child) == {"py::in_child:<string>", "py::before_fork:<string>"}
    assert child["py::before_fork:<string>"] != parent["py::before_fork:<string>"]
    assert "py::forks:<string>" in parent
    assert "py::in_child:<string>" not in parent
    assert "py::parent_after_fork:<string>" in parent


def test_fork_child_persisting_names_everything_it_inherited(python):
    child, parent = _fork_maps(python, True)
    for name in ("before_fork", "not_run_in_child", "forks"):
        key = "py::%s:<string>" % name
        assert key in child, "inherited trampolines must be named"
        assert child[key] == parent[key]
    assert "py::in_child:<string>" in child
    assert "py::in_child:<string>" not in parent
    assert "py::parent_after_fork:<string>" not in child
    # Every inherited entry the parent had before the fork is in the child.
    inherited = [n for n in child if n != "py::in_child:<string>"]
    assert set(inherited) <= set(parent)


def test_perftramp_activate_persists_by_default(python):
    # What `perftramp record` sets: its children keep whole chains.
    # PERFTRAMP_PERSIST_AFTER_FORK decides either way.
    code = ["-c", "import perftramp; print(perftramp._perftramp._persist_after_fork())"]
    for env, expected in (({"PERFTRAMP_ACTIVATE": "perf"}, "True"),
                          ({"PERFTRAMP_ACTIVATE": "perf",
                            "PERFTRAMP_PERSIST_AFTER_FORK": "0"}, "False"),
                          ({"PYTHONPERFSUPPORT": "1"}, "False"),
                          ({"PYTHONPERFSUPPORT": "1",
                            "PERFTRAMP_PERSIST_AFTER_FORK": "1"}, "True")):
        assert run(python, code, env=env).stdout.strip() == expected, env


def test_threads_racing_first_calls(python):
    r = run_json(python, """
        import json, os, threading, perftramp
        perftramp.activate_stack_trampoline("perf")
        N = 200
        funcs = []
        for i in range(N):
            ns = {}
            exec("def fresh_%d(x):\\n    return x + %d" % (i, i), ns)
            funcs.append(ns["fresh_%d" % i])
        barrier = threading.Barrier(8)
        errors = []
        def worker():
            barrier.wait()
            try:
                for f in funcs:
                    assert f(1) == int(f.__name__.split("_")[1]) + 1
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        json.dumps({"warm": [1]})   # its functions get their trampolines now
        stats = perftramp._perftramp._stats("perf")
        print(json.dumps({"pid": os.getpid(), "errors": errors, "stats": stats}))
    """)
    assert r["errors"] == []
    entries = map_entries(r["pid"])
    fresh = [n for _, _, n in entries if n.startswith("py::fresh_")]
    assert sorted(fresh) == sorted("py::fresh_%d:<string>" % i for i in range(200))
    assert len({start for start, _, _ in entries}) == len(entries)
    # One line per trampoline: those counted at the print, plus the few that
    # interpreter shutdown calls for the first time after it.
    assert 0 <= len(entries) - r["stats"]["trampolines"] < 10


def test_activation_churn_with_threads_no_leak(python):
    r = run_json(python, """
        import json, os, threading, perftramp
        stop = False
        def spin():
            def leaf(i): return i * 2
            while not stop:
                for i in range(50): leaf(i)
        threads = [threading.Thread(target=spin) for _ in range(3)]
        for t in threads: t.start()
        def fds(): return len(os.listdir("/proc/self/fd"))
        def step(): return 1
        perftramp.activate_stack_trampoline("perf"); step()
        perftramp.deactivate_stack_trampoline()
        first = (perftramp._perftramp._stats("perf"), fds())
        for _ in range(3000):
            perftramp.activate_stack_trampoline("perf")
            step()
            perftramp.deactivate_stack_trampoline()
        last = (perftramp._perftramp._stats("perf"), fds())
        stop = True
        for t in threads: t.join()
        print(json.dumps({"first": first, "last": last}))
    """, timeout=300)
    first_stats, first_fds = r["first"]
    last_stats, last_fds = r["last"]
    assert last_stats["extra_index"] == first_stats["extra_index"]
    assert last_stats["arena_bytes"] == first_stats["arena_bytes"]
    assert last_fds == first_fds
    # Only functions first called during the loop may add trampolines.
    assert last_stats["trampolines"] - first_stats["trampolines"] < 20


def test_subinterpreter_gets_clear_error(python):
    try:
        import_name = "_testcapi"
        run(python, ["-c", "import %s" % import_name])
    except AssertionError:
        pytest.skip("this interpreter has no _testcapi (needed to run a subinterpreter)")
    r = run_json(python, """
        import json, _testcapi, perftramp
        perftramp.activate_stack_trampoline("perf")
        code = (
            "try:\\n"
            "    import perftramp\\n"
            "    perftramp.activate_stack_trampoline('perf')\\n"
            "    result = 'activated'\\n"
            "except Exception as e:\\n"
            "    result = '%%s: %%s' %% (type(e).__name__, e)\\n"
            "def f(): return 1\\n"
            "f()\\n"
            "with open(%r, 'w') as out:\\n"
            "    out.write(result)\\n"
        )
        import tempfile, os
        path = tempfile.mktemp()
        rc = _testcapi.run_in_subinterp(code % path)
        with open(path) as f: result = f.read()
        os.unlink(path)
        def g(): return 1
        g()
        print(json.dumps({"rc": rc, "result": result,
                          "still": perftramp.is_stack_trampoline_active()}))
    """)
    assert r["rc"] == 0
    assert r["result"] in (
        "RuntimeError: perftramp: stack trampolines work in the main interpreter only",
    ) or r["result"].startswith("ImportError")
    assert r["still"] is True


# The stub's code: push, mov, call, pop, ret (src/core/stub_<arch>.S).
STUB_CODE_BYTES = {"x86_64": 8, "aarch64": 20}


@pytest.mark.parametrize("backend", ["perf", "perf_jit"])
def test_in_process_unwinder_walks_through_trampolines(python, backend, tmp_path):
    """glibc's backtrace() (libgcc's unwinder), called from three Python
    frames deep, passes through every one of their trampolines."""
    r = run_json(python, """
        import ctypes, json, os, perftramp
        libc = ctypes.CDLL(None)
        buf = (ctypes.c_void_p * 512)()
        def inner():
            return [a or 0 for a in buf[:libc.backtrace(buf, 512)]]
        def middle(): return inner()
        def outer(): return middle()
        perftramp.activate_stack_trampoline(%r)
        outer()
        addresses = outer()
        print(json.dumps({"pid": os.getpid(), "frames": addresses}))
    """ % backend, env={"PERFTRAMP_JITDUMP_DIR": str(tmp_path)})
    if backend == "perf":
        stubs = {start: name for start, _, name in map_entries(r["pid"])}
    else:
        stubs = jitdump_stubs(tmp_path / ("jit-%d.dump" % r["pid"]))
    # A return address into a stub lies just past its call instruction,
    # inside the stub's code (stubs are packed as tightly as 8 bytes apart).
    code = STUB_CODE_BYTES[platform.machine()]
    seen = [name for addr in r["frames"] for start, name in stubs.items()
            if start < addr <= start + code]
    ours = [n for n in seen if n.startswith(("py::inner:", "py::middle:", "py::outer:"))]
    assert ours == ["py::inner:<string>", "py::middle:<string>", "py::outer:<string>"], seen
    # and on past them: the frames that called outer() (the module's code,
    # entered before activation, so without a trampoline) and main's callers.
    last = max(i for i, addr in enumerate(r["frames"])
               if any(start < addr <= start + code for start in stubs))
    assert len(r["frames"]) - last > 3



@pytest.mark.parametrize("persist", [False, True], ids=["default", "persist"])
def test_fork_child_has_its_own_jitdump(python, persist, tmp_path):
    r = run_json(python, """
        import json, os, perftramp
        perftramp.set_persist_after_fork(%r)
        perftramp.activate_stack_trampoline("perf_jit")
        def before_fork(): return 1
        before_fork()
        pid = os.fork()
        if pid == 0:
            def in_child(): return 2
            in_child()
            os._exit(0)
        os.waitpid(pid, 0)
        print(json.dumps({"parent": os.getpid(), "child": pid}))
    """ % persist, env={"PERFTRAMP_JITDUMP_DIR": str(tmp_path)})
    register_pids(r["child"])
    child = jitdump_stubs(tmp_path / ("jit-%d.dump" % r["child"]))
    parent = jitdump_stubs(tmp_path / ("jit-%d.dump" % r["parent"]))
    by_name = {v: k for k, v in child.items()}
    assert "py::in_child:<string>" in by_name
    assert "py::in_child:<string>" not in parent.values()
    if persist:
        assert by_name["py::before_fork:<string>"] in parent
    else:
        assert "py::before_fork:<string>" not in by_name
