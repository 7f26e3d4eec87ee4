"""pytest's fixtures and hooks for the Python tests; the rest is in plain
modules that the benchmarks import too:

  interpreters.py  which CPythons (every one on the machine, 3.8 and later),
                   each in a venv of its own with perftramp pip-installed
  processes.py     running them (run, cli, popen), and the files in /tmp of
                   the processes a test started, removed after it
  perffiles.py     readers of perf maps and jitdumps

Every test that takes `python` runs once per interpreter (see
interpreters.py for the knobs that choose them), in subprocesses, so a crash
in the hook is a failed test, not a dead test run.

  PERFTRAMP_REQUIRE_FP fail, rather than skip, the tests that need a
                       frame-pointer CPython when there is none (CI sets it:
                       it builds one)

Markers: versions, edge_versions, free_threaded (which interpreters a test
runs on, see pytest_configure) and slow (the few tests that take minutes on
one interpreter: `make check` leaves them out, `make test` runs them).
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Their assertions get pytest's explanations, as the tests' own do.
pytest.register_assert_rewrite("interpreters", "perffiles", "processes")

# with_test_backend and the names from perffiles and processes: test_api.py
# and test_registry.py import them from here.
import processes  # noqa: E402
from interpreters import INTERPRETERS, matrix_pairs, ready, with_test_backend  # noqa: E402,F401
from perffiles import jitdump_loads, jitdump_stubs, map_entries  # noqa: E402,F401
from processes import register_pids, run, run_json  # noqa: E402,F401


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "versions(min=None, below=None): run only on interpreters in [min, below); "
        "a test that does not apply to a version is not generated for it, rather "
        "than skipped")
    config.addinivalue_line(
        "markers",
        "edge_versions: run only on the oldest and newest interpreters and on "
        "frame-pointer builds")
    config.addinivalue_line(
        "markers", "free_threaded: run only on free-threaded (--disable-gil) builds")
    config.addinivalue_line(
        "markers",
        "slow: takes minutes on one interpreter; `make check` deselects these "
        "(-m 'not slow'), `make test` runs them")


def pytest_generate_tests(metafunc):
    if "python" in metafunc.fixturenames:
        chosen = INTERPRETERS
        if metafunc.definition.get_closest_marker("edge_versions") and chosen:
            # the oldest and newest CPython, and every frame-pointer build
            oldest = min(chosen, key=lambda i: i.version)
            newest = max(chosen, key=lambda i: i.version)
            chosen = [i for i in chosen if i in (oldest, newest) or i.frame_pointers]
        marker = metafunc.definition.get_closest_marker("versions")
        if marker is not None:
            low = marker.kwargs.get("min") or (0,)
            below = marker.kwargs.get("below") or (99,)
            chosen = [i for i in chosen if low <= i.version < below]
        if metafunc.definition.get_closest_marker("free_threaded"):
            chosen = [i for i in chosen if i.free_threaded]
        metafunc.parametrize("python", chosen, ids=[i.label for i in chosen], indirect=True)
    if "interp_backend" in metafunc.fixturenames:
        pairs = matrix_pairs()
        metafunc.parametrize("interp_backend", pairs, indirect=True,
                             ids=["%s-%s" % (i.label, b) for i, b in pairs])
    if "fp_python" in metafunc.fixturenames:
        # every frame-pointer build; one None (skip or fail) when there is none
        fp = [i for i in INTERPRETERS if i.frame_pointers] or [None]
        metafunc.parametrize("fp_python", fp, ids=[i.label if i else "none" for i in fp],
                             indirect=True)


@pytest.fixture
def python(request):
    return ready(request.param)


@pytest.fixture
def interp_backend(request):
    """(interpreter with perftramp installed, backend name): matrix_pairs()."""
    interp, backend = request.param
    return ready(interp), backend


@pytest.fixture
def fp_python(request):
    """A frame-pointer CPython (each in turn), with perftramp installed."""
    if request.param is None:
        if os.environ.get("PERFTRAMP_REQUIRE_FP"):
            pytest.fail("PERFTRAMP_REQUIRE_FP is set but no frame-pointer CPython was found")
        pytest.skip("no frame-pointer CPython here: run scripts/build-fp-python.sh "
                    "(make test does)")
    return ready(request.param)


@pytest.fixture
def jit_dir():
    """A directory for jitdumps (PERFTRAMP_JITDUMP_DIR), removed afterwards.

    Named /tmp/jitted-*: perf built with libdw's unwinder and no libunwind
    (Debian's perf 7.x) unwinds through perf inject's jitted-*.so only at
    such paths (src/perftramp/recording/jitdir.py, jitdump_dir())."""
    path = Path(tempfile.mkdtemp(prefix="jitted-perftramp-test-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _remove_files_of_our_pids():
    """The files in /tmp of the processes the test started (processes.py)."""
    since = processes.begin_test()
    try:
        yield
    finally:
        processes.end_test(since)


def pytest_sessionfinish(session, exitstatus):
    left = processes.leftover_files()
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = ("files of processes the tests started are still in %s (%d): %s"
                   % (processes.TMP, len(left), " ".join(left[:20])))
        if reporter is not None:
            reporter.write_line("ERROR: " + message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
