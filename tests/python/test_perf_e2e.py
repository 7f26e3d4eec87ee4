"""End to end with the real perf: record the seed document's example, read
what perf resolved, and check the Python names and their order."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from perffiles import jitdump_stubs, map_entries
from perfscript import chain_ok, libdw_unwinder_only, python_frames, samples
from processes import register_recorded_pids

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "my_script.py"
# The seed's example, busier: 1,000,000 iterations give ~60 samples at 999 Hz,
# too few for a 99% bound to mean anything.
ITERATIONS = 20_000_000

pytestmark = pytest.mark.skipif(shutil.which("perf") is None,
                                reason="perf is not installed (apt-get install linux-perf)")


def busy_example(tmp_path):
    src = SEED.read_text().replace("baz(1000000)", "baz(%d)" % ITERATIONS)
    assert str(ITERATIONS) in src
    path = tmp_path / "my_script.py"
    path.write_text(src)
    return path


def perf_record(tmp_path, call_graph, argv, env=None):
    data = tmp_path / "perf.data"
    full_env = dict(os.environ)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT"):
        full_env.pop(name, None)
    full_env.update(env or {})
    # -N: no copy of the objects it touched into ~/.debug
    out = subprocess.run(["perf", "record", "-q", "-N", "-F", "999"] + call_graph
                         + ["-o", str(data), "--"] + argv,
                         capture_output=True, text=True, env=full_env, timeout=600)
    register_recorded_pids(data)
    assert out.returncode == 0, out.stderr
    return data


def in_foo(all_samples):
    return [s for s in all_samples if any(f.startswith("py::foo:") for f in s)]


def test_fp_interpreter_full_chain(fp_python, tmp_path):
    """With frame pointers, the "perf" backend gives perf the whole chain:
    of the samples in foo, >= 99% read foo < bar < baz < <module>."""
    script = busy_example(tmp_path)
    data = perf_record(tmp_path, ["-g"], [fp_python.exe, "-X", "perf", str(script)])
    got = samples(data)
    foo = in_foo(got)
    assert len(foo) >= 200, "too few samples in foo: %d of %d" % (len(foo), len(got))
    chain = ["py::foo:%s" % script, "py::bar:%s" % script, "py::baz:%s" % script,
             "py::<module>:%s" % script]
    good = [s for s in foo if chain_ok(s, chain)]
    bad = [python_frames(s) for s in foo if not chain_ok(s, chain)]
    assert len(good) >= 0.99 * len(foo), "chain broken in %d of %d samples, e.g. %r" % (
        len(bad), len(foo), bad[:3])


def test_fp_interpreter_perf_report(fp_python, tmp_path):
    """What a user reads: perf report lists the Python functions."""
    script = busy_example(tmp_path)
    data = perf_record(tmp_path, ["-g"], [fp_python.exe, "-X", "perf", str(script)])
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                          "--sort", "sym"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for fn in ("foo", "bar", "baz", "<module>"):
        assert "py::%s:%s" % (fn, script) in out.stdout


# run_path executes the script's module code with the script's file name, so
# the module frame reads py::<module>:SCRIPT as with `python SCRIPT`.
ACTIVATE_THEN_RUN = (
    "import runpy, sys, perftramp\n"
    "perftramp.activate_stack_trampoline('perf')\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
)


NO_CFI_SKIP = ("this perf unwinds DWARF with libdw only, which drops a sample's whole "
               "chain at a trampoline without CFI (the perf backend's); see perfscript.py")


def test_names_with_dwarf_unwinding(python, tmp_path):
    """Any interpreter, frame pointers or not: with DWARF unwinding perf
    reaches the innermost trampoline, and it carries the right name."""
    if libdw_unwinder_only():
        pytest.skip(NO_CFI_SKIP)
    script = busy_example(tmp_path)
    data = perf_record(tmp_path, ["--call-graph", "dwarf"],
                       [python.exe, "-c", ACTIVATE_THEN_RUN, str(script)])
    got = samples(data)
    foo = in_foo(got)
    assert len(foo) >= 0.5 * len(got), "py::foo in %d of %d samples" % (len(foo), len(got))
    # Nowhere a wrong name: the innermost Python frame of those samples is foo.
    wrong = [python_frames(s)[0] for s in foo if not python_frames(s)[0].startswith("py::foo:")]
    assert wrong == []
    assert python_frames(foo[0])[0] == "py::foo:%s" % script


@pytest.mark.versions(below=(3, 12))  # later, -X perf is CPython's own backend
def test_x_perf_before_312_uses_perftramp(python, tmp_path):
    if libdw_unwinder_only():
        pytest.skip(NO_CFI_SKIP)
    script = busy_example(tmp_path)
    data = perf_record(tmp_path, ["--call-graph", "dwarf"], [python.exe, "-X", "perf",
                                                              str(script)])
    foo = in_foo(samples(data))
    assert len(foo) > 100


def perf_inject(tmp_path, data):
    jit = tmp_path / "perf.jit.data"
    # --buildid-dir under /dev/null: inject would copy every jitted-*.so into ~/.debug
    out = subprocess.run(["perf", "--buildid-dir", "/dev/null/perftramp-no-build-id-cache",
                          "inject", "-i", str(data), "--jit", "-o", str(jit)],
                         capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    return jit


JIT_RECORD = ["-k", "1", "--call-graph", "dwarf"]


def check_jit_chain(tmp_path, data, script, module_name):
    got = samples(perf_inject(tmp_path, data))
    foo = in_foo(got)
    assert len(foo) >= 200, "too few samples in foo: %d of %d" % (len(foo), len(got))
    chain = ["py::foo:%s" % script, "py::bar:%s" % script, "py::baz:%s" % script,
             "py::<module>:%s" % module_name]
    bad = [python_frames(s) for s in foo if not chain_ok(s, chain)]
    assert len(bad) <= 0.01 * len(foo), "chain broken in %d of %d samples, e.g. %r" % (
        len(bad), len(foo), bad[:3])


def test_perf_jit_full_chain_api(python, tmp_path, jit_dir):
    """Any interpreter, no frame pointers needed: perftramp's perf_jit
    backend, perf record -k 1 --call-graph dwarf, perf inject --jit: of the
    samples in foo, >= 99% read foo < bar < baz < <module>."""
    script = busy_example(tmp_path)
    env = {"PERFTRAMP_JITDUMP_DIR": str(jit_dir)}
    data = perf_record(tmp_path, JIT_RECORD,
                       [python.exe, "-c", ACTIVATE_THEN_RUN.replace("'perf'", "'perf_jit'"),
                        str(script)], env=env)
    check_jit_chain(tmp_path, data, script, script)
    # perf inject's ELF files went beside the dump, not into the working
    # directory.
    assert list(jit_dir.glob("jitted-*.so"))
    assert not list(tmp_path.glob("jitted-*.so"))


@pytest.mark.versions(below=(3, 13))  # later, -X perf_jit is CPython's own backend
@pytest.mark.parametrize("switch", ["x-option", "env"])
def test_perf_jit_startup_switches(python, tmp_path, jit_dir, switch):
    script = busy_example(tmp_path)
    env = {"PERFTRAMP_JITDUMP_DIR": str(jit_dir)}
    if switch == "env":
        env["PYTHON_PERF_JIT_SUPPORT"] = "1"
        argv = [python.exe, str(script)]
    else:
        argv = [python.exe, "-X", "perf_jit", str(script)]
    data = perf_record(tmp_path, JIT_RECORD, argv, env=env)
    check_jit_chain(tmp_path, data, script, script)


KILLED = (
    "import os, signal, sys, perftramp\n"
    "perftramp.activate_stack_trampoline(sys.argv[2])\n"
    "exec(compile(open(sys.argv[1]).read(), sys.argv[1], 'exec'), {'__name__': '__main__'})\n"
    "for i in range(2000):\n"
    "    exec('def fresh_%d(): return %d' % (i, i)); eval('fresh_%d()' % i)\n"
    "os.kill(os.getpid(), signal.SIGKILL)\n"
)


@pytest.mark.parametrize("backend", ["perf", "perf_jit"])
def test_sigkill_loses_nothing(python, tmp_path, jit_dir, backend):
    """A process killed with SIGKILL leaves a map (or dump) naming every
    function that ran, and perf still reads it."""
    if backend == "perf" and libdw_unwinder_only():
        pytest.skip(NO_CFI_SKIP)
    script = busy_example(tmp_path)
    env = {"PERFTRAMP_JITDUMP_DIR": str(jit_dir)}
    graph = JIT_RECORD  # DWARF: names without frame pointers, for both backends
    data = tmp_path / "perf.data"
    full_env = dict(os.environ, **env)
    out = subprocess.run(["perf", "record", "-q", "-N", "-F", "999"] + graph
                         + ["-o", str(data), "--", python.exe, "-c", KILLED, str(script),
                            backend],
                         capture_output=True, text=True, env=full_env, timeout=600)
    assert data.exists(), out.stderr
    register_recorded_pids(data)
    if backend == "perf_jit":
        data = perf_inject(tmp_path, data)
    got = samples(data)
    assert len(in_foo(got)) > 100
    pids = {int(p) for p in subprocess.run(["perf", "script", "-i", str(data), "-F", "pid"],
                                           capture_output=True, text=True).stdout.split()}
    if backend == "perf":
        names = {n for pid in pids if os.path.exists("/tmp/perf-%d.map" % pid)
                 for _, _, n in map_entries(pid)}
    else:
        names = {n for pid in pids if (jit_dir / ("jit-%d.dump" % pid)).exists()
                 for n in jitdump_stubs(jit_dir / ("jit-%d.dump" % pid)).values()}
    assert {"py::fresh_%d:<string>" % i for i in range(2000)} <= names
