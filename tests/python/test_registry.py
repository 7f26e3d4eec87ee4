"""The Python side follows the extension's backend registry
(perftramp._perftramp.BACKENDS) with no list of its own: the API's names,
the start-up switches, the command line's choices, perf's flags and where
record finds each backend's files.

A row added in C must need no Python edit.  The registry's test build has a
"test_map" row (frame pointers, no inject, no CPython switch, its file in
$PERFTRAMP_TEST_MAP_DIR); where the extension lacks it, the same row is
added to the registry in-process to check the derivations, and the
end-to-end tests are skipped."""
import json
import os
import shutil

import pytest

from conftest import register_pids, run, run_json, with_test_backend

TEST_MAP = {"name": "test_map", "file_pattern": "perftramp-test-%ld.map",
            "default_dir": "/tmp", "dir_env": "PERFTRAMP_TEST_MAP_DIR", "unwind": "fp",
            "inject": False, "xoption": None, "env": None}

ADD_ROW = ("from perftramp import _perftramp\n"
           "if 'test_map' not in [r['name'] for r in _perftramp.BACKENDS]:\n"
           "    _perftramp.BACKENDS = _perftramp.BACKENDS + (%r,)\n" % (TEST_MAP,))


def registry(python):
    return run_json(python, "import json, perftramp._perftramp as m; "
                            "print(json.dumps(m.BACKENDS))")


def test_registry_rows(python):
    rows = registry(python)
    names = [row["name"] for row in rows]
    assert names[:2] == ["perf", "perf_jit"]
    for row in rows:
        assert set(row) == set(TEST_MAP)
        assert row["unwind"] in ("fp", "dwarf")
    public = run_json(python, "import json, perftramp; print(json.dumps(perftramp.BACKENDS))")
    assert public == names


def test_derived_from_a_new_row(python):
    r = run_json(python, ADD_ROW + """
import json, _perftramp_startup
from perftramp import _backends
from perftramp.recording import choice, perf as _perf
from perftramp.__main__ import main
row = _backends.find("test_map")
out = {
    "record": _perf.record_command("perf", row, _perf.Sampling(99), "o", ["py"]),
    "jit": _perf.record_command("perf", _backends.find("perf_jit"), _perf.Sampling(99, 4096),
                                "o", ["py"]),
    "path": _backends.file_path(row, 42, {"PERFTRAMP_TEST_MAP_DIR": "/x"}),
    "default_path": _backends.file_path(row, 42, {}),
    "chosen": choice.choose_backend("test_map", ["py"], "perf").name,
    "auto_fp": _backends.auto(True).name,
    "auto_dwarf": _backends.auto(False).name,
    "startup": sorted(_perftramp_startup.requested(_backends.rows())[1]),
}
try:
    main(["record", "--help"])
except SystemExit:
    pass
print(json.dumps(out))
""")
    # every perf command: no build-id cache (a directory perf cannot make), -N
    start = ["perf", "--buildid-dir", "/dev/null/perftramp-no-build-id-cache", "record"]
    assert r["record"] == start + ["-F", "99", "-N", "-g", "-o", "o", "--", "py"]
    assert r["jit"] == start + ["-F", "99", "-N", "-k", "1", "--call-graph", "dwarf,4096",
                                "-o", "o", "--", "py"]
    assert r["path"] == "/x/perftramp-test-42.map"
    assert r["default_path"] == "/tmp/perftramp-test-42.map"
    assert r["chosen"] == "test_map"
    assert (r["auto_fp"], r["auto_dwarf"]) == ("perf", "perf_jit")
    assert r["startup"] == []


def test_help_lists_a_new_row(python):
    out = run(python, ["-c", ADD_ROW + "from perftramp.__main__ import main\n"
                       "import sys\nsys.exit(main(sys.argv[1:]))", "run", "--help"])
    assert "test_map" in out.stdout


def test_package_never_imports_the_hook(python):
    """The hook hands its findings to perftramp._cpython.activate_at_startup; the
    package does not import it back.  (-S: no site, so no hook ran.)"""
    purelib = run(python, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                  ).stdout.strip()
    out = run(python, ["-S", "-c", "import sys\nsys.path.insert(0, %r)\n"
                       "import perftramp\n"
                       "perftramp._cpython.activate_at_startup('perf', {'perf'})\n"
                       "print('_perftramp_startup' in sys.modules)" % purelib])
    assert out.stdout.strip() == "False"


def test_other_x_options_start_nothing(python):
    """-X options that are no backend's switch may load perftramp (the hook
    cannot tell without the registry) but activate nothing."""
    out = run(python, ["-X", "dev", "-c", "import sys; print(sys.is_stack_trampoline_active())"])
    assert out.stdout.strip() == "False" and out.stderr == ""


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_record_follows_a_new_row(python, tmp_path):
    """record with a row only the registry knows: perf's flags from "unwind"
    and "inject", the row's dir_env pointed at the recording, PERFTRAMP_ACTIVATE
    naming it.  The child is a shell writing the row's file itself, so this
    needs no backend in C."""
    child = ('echo "$PERFTRAMP_ACTIVATE" > "$PERFTRAMP_TEST_MAP_DIR/perftramp-test-$$.map"; '
             'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done')
    out = run(python, ["-c", ADD_ROW + "from perftramp.__main__ import main\n"
                       "import sys\nsys.exit(main(sys.argv[1:]))",
                       "record", "--backend", "test_map", "-o", "rec", "--", "sh", "-c", child],
              cwd=str(tmp_path), timeout=300)
    assert " -g -o " in out.stderr and "-k 1" not in out.stderr
    assert "$ perf inject" not in out.stderr
    rec = tmp_path / "rec"
    meta = json.loads((rec / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    assert meta["backend"] == "test_map" and meta["data"] == "perf.data"
    assert meta["maps"] == []
    files = list(rec.glob("perftramp-test-*.map"))
    assert len(files) == 1 and files[0].read_text() == "test_map\n"
    assert int(files[0].name.split("-")[2].split(".")[0]) in meta["pids"]


# End to end with the registry's test build: a row compiled into the
# extension only there, and no other edit anywhere.

@pytest.fixture
def test_build(python):
    return with_test_backend(python)


@pytest.fixture
def test_map_row(test_build):
    rows = {row["name"]: row for row in registry(test_build)}
    assert "test_map" in rows, "the test build's registry has no test_map row"
    return rows["test_map"]


def written(row, directory, pid):
    return os.path.join(str(directory), row["file_pattern"] % pid)


PID = "import os; print(os.getpid())\n"


@pytest.mark.edge_versions
def test_test_map_api(test_build, test_map_row, tmp_path):
    r = run_json(test_build, """
        import json, os, perftramp
        perftramp.activate_stack_trampoline("test_map")
        def probe():
            return 1
        probe()
        print(json.dumps({"pid": os.getpid(), "names": list(perftramp.BACKENDS),
                          "active": perftramp.is_stack_trampoline_active()}))
    """, env={"PERFTRAMP_TEST_MAP_DIR": str(tmp_path)})
    assert "test_map" in r["names"] and r["active"]
    with open(written(test_map_row, tmp_path, r["pid"])) as f:
        assert "py::probe:<string>" in f.read()


@pytest.mark.edge_versions
def test_test_map_run(test_build, test_map_row, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PID)
    out = run(test_build, ["-m", "perftramp", "run", "--backend", "test_map", "--", str(script)],
              env={"PERFTRAMP_TEST_MAP_DIR": str(tmp_path)})
    assert os.path.exists(written(test_map_row, tmp_path, int(out.stdout)))


@pytest.mark.edge_versions
def test_test_map_activate_env(test_build, test_map_row, tmp_path):
    out = run(test_build, ["-c", PID], env={"PERFTRAMP_ACTIVATE": "test_map",
                                            "PERFTRAMP_TEST_MAP_DIR": str(tmp_path)})
    assert out.stderr == ""
    assert os.path.exists(written(test_map_row, tmp_path, int(out.stdout)))


@pytest.mark.edge_versions
@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_test_map_record(test_build, test_map_row, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PID)
    out = run(test_build, ["-m", "perftramp", "record", "--backend", "test_map", "-o", "rec",
                           "--", test_build.exe, str(script)], cwd=str(tmp_path), timeout=300)
    assert "$ perf inject" not in out.stderr
    rec = tmp_path / "rec"
    meta = json.loads((rec / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    assert meta["backend"] == "test_map" and meta["data"] == "perf.data"
    pid = int(out.stdout)
    assert os.path.exists(written(test_map_row, rec, pid)), os.listdir(str(rec))


CHOOSE = """
import json, sys
from perftramp import _backends
from perftramp.recording import choice
from perftramp.recording.errors import Failure
row = _backends.find("test_map")
# auto ranks the row first among the backends that unwind as it does; the
# interpreter is taken to be of that kind (choice asks the one it records)
choice.has_frame_pointers = lambda python=None: row.unwind == "fp"
out = {}
_backends.CHOICES["test_map"] = _backends.Choice(rank=-1, needs_proof=False)
out["unproven"] = choice.choose_backend("auto", [sys.executable], "perf").name
_backends.CHOICES["test_map"] = _backends.Choice(rank=-1, needs_proof=True)
out["proven"] = choice.choose_backend("auto", [sys.executable], "perf").name
print(json.dumps(out))
"""


@pytest.mark.edge_versions
@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_test_map_chosen_and_self_tested(test_build, test_map_row, tmp_path):
    """A row's place in auto's choice is a column of its row (_backends.
    CHOICES), not code: ranked first, the test build's row is what auto
    picks; needing proof, it is self-tested through real perf first.  perf
    reads maps from /tmp only and test_map writes its map elsewhere, so perf
    names none of its frames: the self-test fails, says why, and auto takes
    the next backend."""
    out = run(test_build, ["-c", CHOOSE], cwd=str(tmp_path), timeout=300)
    got = json.loads(out.stdout)
    assert got["unproven"] == "test_map"
    names = [row["name"] for row in registry(test_build)]
    assert got["proven"] in names and got["proven"] != "test_map"
    assert "test_map cannot be used here (perf named no Python frame of a test run" \
        in out.stderr, out.stderr
    assert list(tmp_path.iterdir()) == []
