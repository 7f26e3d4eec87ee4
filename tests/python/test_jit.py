"""CPython's experimental JIT (3.14+) and perftramp: as in CPython, no
trampoline while the JIT is on.  CPython's sys.activate_stack_trampoline
refuses (ValueError, "Cannot activate the perf trampoline if the JIT is
active"), and its -X perf / PYTHONPERFSUPPORT switch the JIT off at start-up
with a RuntimeWarning.  perftramp's activate refuses the same way; its
PERFTRAMP_ACTIVATE switch turns the JIT off with the same warning (site runs
before CPython reads PYTHON_JIT); `perftramp record` switches it off
(PYTHON_JIT=0) with a message; `perftramp run`, too late for that, refuses in
one line.

Generated for 3.14+; skipped, saying so, on a build without the JIT compiled
in (sys._jit.is_available() False: the builds of scripts/build-python314.sh).
Debian sid's python3.14 and python3.15 have it (off unless PYTHON_JIT=1)."""
import json
import shutil
import textwrap

import pytest

from perffiles import map_entries
from processes import register_pids, run, run_json

pytestmark = pytest.mark.versions(min=(3, 14))

REFUSAL = "Cannot activate the perf trampoline if the JIT is active"
JIT_ON = {"PYTHON_JIT": "1"}


@pytest.fixture
def jit_python(python):
    if not run_json(python, "import json, sys; print(json.dumps(sys._jit.is_available()))"):
        pytest.skip("%s has no JIT compiled in (sys._jit.is_available() is False)"
                    % python.label)
    return python


def test_activate_refuses_while_the_jit_is_on(jit_python):
    got = run_json(jit_python, """
        import json, os, sys, perftramp
        out = {"jit": sys._jit.is_enabled(), "pid": os.getpid()}
        for name, func in (("perftramp", perftramp.activate_stack_trampoline),
                           ("sys", sys.activate_stack_trampoline)):
            for backend in ("perf", "perf_jit"):
                try:
                    func(backend)
                    out[name + "." + backend] = "activated"
                except ValueError as exc:
                    out[name + "." + backend] = str(exc)
        def later(): return 1
        later()
        out["active"] = sys.is_stack_trampoline_active()
        print(json.dumps(out))
    """, env=JIT_ON)
    assert got["jit"] is True
    for key in ("perftramp.perf", "perftramp.perf_jit", "sys.perf", "sys.perf_jit"):
        assert got[key] == REFUSAL, (key, got)
    assert got["active"] is False
    with pytest.raises(FileNotFoundError):
        map_entries(got["pid"])


def test_activate_works_with_the_jit_compiled_in_but_off(jit_python):
    got = run_json(jit_python, """
        import json, sys, perftramp
        perftramp.activate_stack_trampoline("perf")
        print(json.dumps([sys._jit.is_enabled(), perftramp.is_stack_trampoline_active()]))
    """, env={"PYTHON_JIT": "0"})
    assert got == [False, True]


PROBE = textwrap.dedent("""
    import json, os, sys
    print(json.dumps({"jit": sys._jit.is_enabled(), "active": sys.is_stack_trampoline_active(),
                      "pid": os.getpid()}))
""")


def test_perftramp_activate_switch_turns_the_jit_off(jit_python):
    # site (so the start-up hook) runs before CPython turns its JIT on: the
    # hook sets PYTHON_JIT=0 in time, and says so as -X perf does
    out = run(jit_python, ["-c", PROBE], env=dict(JIT_ON, PERFTRAMP_ACTIVATE="perf_jit"))
    got = json.loads(out.stdout)
    assert got["jit"] is False and got["active"] is True
    assert out.stderr == ("perftramp:0: RuntimeWarning: JIT deactivated as perf profiling "
                          "support is active\n")


def test_perftramp_activate_switch_quiet_when_the_jit_is_off_anyway(jit_python):
    out = run(jit_python, ["-c", PROBE], env={"PERFTRAMP_ACTIVATE": "perf"})
    got = json.loads(out.stdout)
    assert got["jit"] is False and got["active"] is True
    assert out.stderr == ""


@pytest.mark.parametrize("how", [["-X", "perf"], ["-X", "perf_jit"], "PYTHONPERFSUPPORT"])
def test_cpython_switches_turn_the_jit_off(jit_python, how):
    env = dict(JIT_ON)
    args = ["-c", PROBE]
    if how == "PYTHONPERFSUPPORT":
        env[how] = "1"
    else:
        args = how + args
    out = run(jit_python, args, env=env)
    got = json.loads(out.stdout)
    assert got == {"jit": False, "active": True, "pid": got["pid"]}
    assert out.stderr.count("\n") == 1
    assert "RuntimeWarning: JIT deactivated as perf profiling support is active" in out.stderr


def test_cli_run_refuses_in_one_line(jit_python, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text("print('ran')\n")
    out = run(jit_python, ["-m", "perftramp", "run", str(script)], env=JIT_ON, check=False)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("perftramp: run: %s: " % REFUSAL)
    assert out.stderr.count("\n") == 1


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_cli_record_switches_the_jit_off(jit_python, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text("import json, sys\n"
                      "json.dump([sys._jit.is_enabled(), sys.is_stack_trampoline_active()],\n"
                      "          open(sys.argv[1], 'w'))\n")
    result = tmp_path / "probe.json"
    out = run(jit_python, ["-m", "perftramp", "record", "--backend", "perf_jit", "-o", "rec",
                           "--", jit_python.exe, str(script), str(result)],
              env=JIT_ON, cwd=str(tmp_path), timeout=600)
    register_pids(*json.loads((tmp_path / "rec" / "perftramp.json").read_text())["pids"])
    assert json.loads(result.read_text()) == [False, True]
    assert "perftramp: JIT deactivated as perf profiling support is active" in out.stderr
    assert REFUSAL not in out.stderr
