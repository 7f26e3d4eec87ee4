"""Fixtures shared by the Python tests.

Every test that takes `python` runs once per CPython on the machine (3.8 and
later: pyenv's, the system's, the frame-pointer 3.11 CI makes, and the
frame-pointer 3.14 and free-threaded 3.14t of scripts/build-python314.sh;
inside the Debian sid root of scripts/in-sid.sh, every /usr/bin/python3.X
there: 3.14 and 3.15, and the free-threaded 3.14t when mounted in), each in
its own virtual environment with perftramp installed by `pip install`, the
way a user gets it.  The tests drive those interpreters in subprocesses, so a
crash in the hook is a failed test, not a dead test run.

Environment knobs:
  PERFTRAMP_PYTHONS    colon-separated interpreters to use instead of the
                       discovered ones
  PERFTRAMP_FP_PYTHON  the frame-pointer CPython (default: the one
                       scripts/build-fp-python.sh installs)
  PERFTRAMP_PY314_PREFIX  where scripts/build-python314.sh installed its
                       builds (default /opt/perftramp-py314)
  PERFTRAMP_REQUIRE_FP fail, rather than skip, the tests that need it when it
                       is missing (CI sets it: it builds one)
"""
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FP_PYTHON = "/opt/perftramp-fp/python3.11/bin/python3.11"
PY314_PREFIX = os.environ.get("PERFTRAMP_PY314_PREFIX", "/opt/perftramp-py314")


def in_sid_root():
    """Whether the tests run inside the Debian sid root (scripts/in-sid.sh)."""
    try:
        return Path("/etc/debian_version").read_text().strip().endswith("/sid")
    except OSError:
        return False


# The sid root has venvs of its own: the free-threaded 3.14.7t is mounted
# there at the host's path, so both would label it ft-3.14.7t, and an
# extension built inside against sid's newer glibc does not load on the host.
VENVS = ROOT / "build" / ("venvs-sid" if in_sid_root() else "venvs")


@dataclass(frozen=True)
class Interpreter:
    label: str
    base: str  # the interpreter the venv is made from
    version: tuple
    frame_pointers: bool
    venv: Path = None
    free_threaded: bool = False

    @property
    def exe(self):
        return str(self.venv / "bin" / "python")


def _probe(exe):
    out = subprocess.run(
        [
            exe,
            "-c",
            "import sys, sysconfig; print(sys.version_info[0], sys.version_info[1], "
            "sys.version_info[2]); print('no-omit-frame-pointer' in "
            "(sysconfig.get_config_var('CFLAGS') or '') + "
            "(sysconfig.get_config_var('PY_CFLAGS') or ''));"
            "print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        return None
    words = out.stdout.split()
    major, minor, micro = map(int, words[:3])
    return (major, minor, micro), words[3] == "True", words[4] == "True"


def discover():
    if os.environ.get("PERFTRAMP_PYTHONS"):
        candidates = [("custom", p) for p in os.environ["PERFTRAMP_PYTHONS"].split(":") if p]
    elif in_sid_root():
        # Debian's python3.X packages, all of them (python3 is one of these).
        candidates = [("sid", p) for p in sorted(glob.glob("/usr/bin/python3.[0-9]*"))
                      if re.fullmatch(r"python3\.\d+t?", os.path.basename(p))]
        # Debian has no free-threaded 3.14: the one scripts/build-python314.sh
        # makes, which `make test-py-sid` mounts in, meets perf 7.x here.
        candidates.append(("ft", PY314_PREFIX + "/ft/bin/python3.14t"))
    else:
        candidates = [("pyenv", p)
                      for p in sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3"))]
        candidates.append(("system", "/usr/bin/python3"))
        candidates.append(("fp", os.environ.get("PERFTRAMP_FP_PYTHON", DEFAULT_FP_PYTHON)))
        candidates.append(("fp", PY314_PREFIX + "/fp/bin/python3.14"))
        candidates.append(("ft", PY314_PREFIX + "/ft/bin/python3.14t"))
    found, seen = [], set()
    for kind, exe in candidates:
        if not os.path.exists(exe) or os.path.realpath(exe) in seen:
            continue
        seen.add(os.path.realpath(exe))
        probed = _probe(exe)
        if probed is None or probed[0] < (3, 8):
            continue
        version, fp, ft = probed
        label = "%s-%d.%d.%d%s" % ((kind,) + version + ("t" if ft else "",))
        found.append(Interpreter(label, exe, version, fp, free_threaded=ft))
    return found


INTERPRETERS = discover()


def _source_digest():
    h = hashlib.sha256()
    build_files = [ROOT / name for name in ("meson.build", "meson.options", "pyproject.toml")]
    for path in sorted(ROOT.glob("src/**/*")) + build_files:
        if path.is_file():
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


_READY = {}


def make_venv(base, venv):
    """`base -m venv venv`, with a TMPDIR of its own, removed after: the pip
    that ensurepip runs from its bundled wheel on 3.8 and 3.9 extracts its
    CA bundle (275 KB) into $TMPDIR and never removes it."""
    parent = Path(venv).parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=str(parent), prefix=".tmp-") as tmp:
        subprocess.run([base, "-m", "venv", str(venv)], check=True,
                       env=dict(os.environ, TMPDIR=tmp))


def _make_venv(interp, label=None, setup_args=()):
    """A venv of `interp` with perftramp pip-installed, rebuilt when the
    sources change; `setup_args` go to meson (e.g. "-Dtest_backend=true")."""
    venv = VENVS / (label or interp.label)
    stamp = venv / "perftramp-source.sha256"
    digest = _source_digest() + " ".join(setup_args)
    if not (stamp.exists() and stamp.read_text() == digest):
        shutil.rmtree(venv, ignore_errors=True)
        make_venv(interp.base, venv)
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check"]
            + ["--config-settings=setup-args=%s" % arg for arg in setup_args] + [str(ROOT)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError("pip install . failed for %s:\n%s%s"
                               % (interp.label, result.stdout, result.stderr))
        stamp.write_text(digest)
    return venv


def with_test_backend(interp):
    """The interpreter with the registry's test build of perftramp installed
    (an extra "test_map" backend row, compiled in by -Dtest_backend=true)."""
    label = interp.label + "-test-backend"
    if label not in _READY:
        _READY[label] = Interpreter(label, interp.base, interp.version, interp.frame_pointers,
                                    _make_venv(interp, label, ("-Dtest_backend=true",)))
    return _READY[label]


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


def matrix_pairs():
    """(interpreter, backend) pairs for the tests of forked workers and
    servers (interp_backend): without frame pointers, the oldest
    interpreter, 3.12, 3.13 and the newest, with the DWARF backends; every
    frame-pointer build with the perf backend (what it is for)."""
    plain = [i for i in INTERPRETERS if not i.frame_pointers]
    wanted = {min(i.version for i in plain), max(i.version for i in plain)} if plain else set()
    pairs = []
    for interp in INTERPRETERS:
        if interp.frame_pointers:
            pairs.append((interp, "perf"))
        elif interp.version in wanted or interp.version[:2] in ((3, 12), (3, 13)):
            pairs += [(interp, "perf_elf"), (interp, "perf_jit")]
    return pairs


def ready(interp):
    """The interpreter with its venv built (once per session) and perftramp
    installed; used by the fixtures and by the benchmark scripts."""
    if interp.label not in _READY:
        _READY[interp.label] = Interpreter(interp.label, interp.base, interp.version,
                                           interp.frame_pointers, _make_venv(interp),
                                           interp.free_threaded)
    return _READY[interp.label]


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
                    "(CI does)")
    return ready(request.param)


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


def seed_app(tmp_path):
    """The seed document's example (examples/my_script.py) as tmp_path/app.py,
    running ten times as long, so that foo has samples enough."""
    path = tmp_path / "app.py"
    path.write_text((ROOT / "examples" / "my_script.py").read_text()
                    .replace("baz(1000000)", "baz(10000000)"))
    return path


def run_json(python, code, **kw):
    """Runs dedented `code` with the venv's interpreter; its last stdout line,
    parsed as JSON."""
    out = run(python, ["-c", textwrap.dedent(code)], **kw)
    return json.loads(out.stdout.strip().splitlines()[-1])


def jitdump_stubs(path):
    """{code_addr: name} of a jitdump's code-load records."""
    data = path.read_bytes()
    pos, out = 40, {}
    while pos + 16 <= len(data):
        rid, size = struct.unpack_from("<II", data, pos)
        if size == 0:
            break  # the unused rest of a dump whose process did not exit normally
        if rid == 0:
            addr = struct.unpack_from("<Q", data, pos + 32)[0]
            end = data.index(b"\0", pos + 56)
            out[addr] = data[pos + 56:end].decode()
        pos += size
    return out


def jitdump_loads(path):
    """[(code_addr, name)] of every code-load record, in file order (unlike
    jitdump_stubs, a later record does not hide an earlier one for the same
    address); asserts every record is whole, laid end to end up to the
    file's end or a record of size 0 (the unused rest of a window)."""
    data = path.read_bytes()
    pos, out = 40, []
    while pos + 8 <= len(data):
        rid, size = struct.unpack_from("<II", data, pos)
        if size == 0:
            break
        assert rid <= 7 and 16 <= size <= len(data) - pos, ("corrupt record", pos, rid, size)
        if rid == 0:
            end = data.index(b"\0", pos + 56)
            out.append((struct.unpack_from("<Q", data, pos + 32)[0],
                        data[pos + 56:end].decode()))
        pos += size
    return out


def map_lines(pid):
    path = "/tmp/perf-%d.map" % pid
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read().splitlines()


MAP_LINE = re.compile(r"^([0-9a-f]+) ([0-9a-f]+) (.*)$")


def map_entries(pid):
    """[(start, size, name)] of /tmp/perf-PID.map; asserts every line parses.

    Blank lines, and the NUL bytes of a window the process had reserved but
    not filled when it ended without closing the map (os._exit, a crash), are
    skipped, as perf skips them."""
    entries = []
    for line in map_lines(pid):
        if not line.strip("\0"):
            continue
        m = MAP_LINE.match(line)
        assert m, "malformed map line: %r" % line
        entries.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    return entries


# Files in /tmp, and only those, of processes the tests started.
#
# /tmp is shared: other users, other programs being profiled, and other test
# runs on the same machine keep their perf-PID.map and jit-PID.dump there.
# So a test deletes nothing by pattern alone: the processes it starts are
# registered (run() and popen() do it; a test registers the children its
# processes fork, and the programs it runs under perf, with register_pids),
# and after the test the files of those pids are removed, if they are ours
# and were written since the test began (not an older process's, with the
# same pid).  At the end of the session any such file still there fails the
# run: a test whose processes wrote after it ended, or a pattern missing here.
#
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


@pytest.fixture
def jit_dir():
    """A directory for jitdumps (PERFTRAMP_JITDUMP_DIR), removed afterwards.

    Named /tmp/jitted-*: perf built with libdw's unwinder and no libunwind
    (Debian's perf 7.x) unwinds through perf inject's jitted-*.so only at
    such paths (src/perftramp/commands/record.py, jitdump_dir())."""
    path = Path(tempfile.mkdtemp(prefix="jitted-perftramp-test-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _remove_files_of_our_pids():
    global _test_pids
    since = time.time()
    _test_pids = set()
    try:
        yield
    finally:
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


def pytest_sessionfinish(session, exitstatus):
    left = []
    for pid, (since, until) in sorted(_session_pids.items()):
        for path in pid_files(pid, since):
            st = os.lstat(path)
            if max(st.st_mtime, st.st_ctime) <= until + _STRAGGLER_WINDOW:
                left.append(path)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = ("files of processes the tests started are still in %s (%d): %s"
                   % (TMP, len(left), " ".join(left[:20])))
        if reporter is not None:
            reporter.write_line("ERROR: " + message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
