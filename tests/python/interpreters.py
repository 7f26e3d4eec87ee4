"""The CPythons the tests and the benchmarks run, each in a venv of its own.

Every CPython on the machine, 3.8 and later: pyenv's, the system's, the
frame-pointer 3.11 of scripts/build-fp-python.sh, and the frame-pointer 3.14
and free-threaded 3.14t of scripts/build-python314.sh; inside the Debian sid
root of scripts/in-sid.sh, every /usr/bin/python3.X there (3.14 and 3.15) and
the free-threaded 3.14t when mounted in.  Each gets a venv in build/venvs
with perftramp installed by `pip install`, the way a user gets it, rebuilt
when the sources change.

A plain module, not a pytest plugin: tests/python/conftest.py parametrises
the tests over INTERPRETERS, and the benchmarks (benchmarks/*.py) import it
to measure the same interpreters.

Environment knobs:
  PERFTRAMP_PYTHONS    colon-separated interpreters to use instead of the
                       discovered ones
  PERFTRAMP_FP_PYTHON  the frame-pointer CPython (default: the one
                       scripts/build-fp-python.sh installs)
  PERFTRAMP_PY314_PREFIX  where scripts/build-python314.sh installed its
                       builds (default /opt/perftramp-py314)
"""
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


def ready(interp):
    """The interpreter with its venv built (once per process) and perftramp
    installed; what the tests' fixtures and the benchmarks run."""
    if interp.label not in _READY:
        _READY[interp.label] = Interpreter(interp.label, interp.base, interp.version,
                                           interp.frame_pointers, _make_venv(interp),
                                           interp.free_threaded)
    return _READY[interp.label]


def with_test_backend(interp):
    """The interpreter with the registry's test build of perftramp installed
    (an extra "test_map" backend row, compiled in by -Dtest_backend=true)."""
    label = interp.label + "-test-backend"
    if label not in _READY:
        _READY[label] = Interpreter(label, interp.base, interp.version, interp.frame_pointers,
                                    _make_venv(interp, label, ("-Dtest_backend=true",)))
    return _READY[label]


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
