"""-X perf / PYTHONPERFSUPPORT through the start-up hook, and the precedence
the documentation gives: the sys call over -X, -X over the environment."""
import json

import pytest

from perffiles import jitdump_stubs, map_entries
from processes import run

PROBE = (
    "import json, os, sys\n"
    "loaded = 'perftramp' in sys.modules\n"
    "def probe_function(): return 1\n"
    "probe_function()\n"
    "print(json.dumps({'pid': os.getpid(), 'active': sys.is_stack_trampoline_active(),"
    " 'loaded': loaded}))\n"
)


def probe(python, xopts=(), env=None, pre=()):
    args = list(pre)
    for x in xopts:
        args += ["-X", x]
    out = run(python, args + ["-c", PROBE], env=env)
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def named_in_map(pid, name="probe_function"):
    try:
        return any(n == "py::%s:<string>" % name for _, _, n in map_entries(pid))
    except FileNotFoundError:
        return False


def test_x_perf(python):
    r, err = probe(python, ["perf"])
    assert r["active"] is True
    assert named_in_map(r["pid"])
    assert err == ""


@pytest.mark.parametrize("value,on", [("1", True), ("2", True), ("0", False), ("", False),
                                      ("yes", False)])
def test_env_var(python, value, on):
    r, _ = probe(python, env={"PYTHONPERFSUPPORT": value})
    assert r["active"] is on
    assert named_in_map(r["pid"]) is on


def test_ignore_environment(python):
    r, _ = probe(python, env={"PYTHONPERFSUPPORT": "1"}, pre=["-E"])
    assert r["active"] is False


def test_unused_hook_loads_nothing(python):
    r, err = probe(python)
    assert r == {"pid": r["pid"], "active": False, "loaded": False}
    assert err == ""


def test_x_perf_beats_jit_env(python):
    """PYTHON_PERF_JIT_SUPPORT=1 python -X perf means "perf": the map names
    the functions (CPython 3.13 alone would run its jitdump backend)."""
    r, _ = probe(python, ["perf"], env={"PYTHON_PERF_JIT_SUPPORT": "1"})
    assert r["active"] is True
    assert named_in_map(r["pid"])


def test_sys_call_beats_x_option(python):
    out = run(python, ["-X", "perf", "-c",
                       "import sys; sys.deactivate_stack_trampoline(); "
                       "print(sys.is_stack_trampoline_active())"])
    assert out.stdout.strip() == "False"


@pytest.mark.versions(below=(3, 13))  # 3.13 has these switches itself
@pytest.mark.parametrize("how", ["x-option", "env", "x-beats-env"])
def test_perf_jit_switches(python, how, tmp_path):
    env = {"PERFTRAMP_JITDUMP_DIR": str(tmp_path)}
    xopts = []
    if how == "x-option":
        xopts = ["perf_jit"]
    elif how == "env":
        env["PYTHON_PERF_JIT_SUPPORT"] = "1"
    else:
        xopts = ["perf_jit"]
        env["PYTHONPERFSUPPORT"] = "1"   # -X perf_jit wins over it
    r, err = probe(python, xopts, env=env)
    assert r["active"] is True
    assert err == ""
    dump = tmp_path / ("jit-%d.dump" % r["pid"])
    assert "py::probe_function:<string>" in jitdump_stubs(dump).values()
    if python.version >= (3, 12) and how == "x-beats-env":
        # CPython's own perf backend, started by the environment, was
        # switched off: its map does not name functions run after start-up.
        assert not named_in_map(r["pid"])
