"""CPython's own perf test suite, run against perftramp: the conformance suite.

Lib/test/test_perf_profiler.py of CPython 3.13 (Debian's
libpython3.13-testsuite, fetched by scripts/fetch-cpython-tests.sh) and 3.14
(the source tarball in ../shared/cpython), taken where they live at test time
and never committed, run on every interpreter with perftramp's backend doing
the work: on 3.12+ through the take-over switch (CPython's -X perf, -X
perf_jit and sys functions start perftramp's backends), before 3.12 through
perftramp's own start-up hook, which is all there is.

This file is the whole adaptation, and it is small on purpose:
- SUBSTITUTIONS: the "no trampoline support" skip goes (perftramp brings its
  own trampolines to every CPython), and the two _testinternalcapi functions
  of test_pre_fork_compile are imported from perftramp under their names.
  Each must match exactly once, so a changed upstream file fails loudly
  rather than running half adapted.
- PROLOGUE: the test.support helpers the files use that older CPythons lack
  (has_subprocess_support, check_sanitizer's newer keywords,
  check_bolt_optimized, os_helper.temp_dir, assertNotStartsWith); added only
  where missing, with CPython's meaning.
- The run: `python -m unittest -v` in a mount namespace of its own with a
  private /tmp and $HOME (its tearDown removes every /tmp/perf-*.map that
  appeared during a test, whoever made it, and perf may write under $HOME);
  the venv and its interpreter are mounted back into it where they live in
  /tmp (processes.private_tmp).
- The verdict: every test passes; the only skips allowed are those for what
  the machine lacks (perf older than 6.6 for the DWARF class, an interpreter
  built without frame pointers, or for 3.13's file with the JIT, for the
  frame-pointer class).
"""
import glob
import os
import re
import subprocess
import tarfile
import textwrap

import pytest

from interpreters import ROOT
from processes import interpreter_paths, private_tmp, register_pids

SHARED_CPYTHON = os.environ.get("PERFTRAMP_CPYTHON_SRC", str(ROOT.parent / "shared" / "cpython"))
DEB_DIR = ROOT / "build" / "cpython-tests"
MEMBER = "Lib/test/test_perf_profiler.py"


def _from_tarball():
    found = sorted(glob.glob(os.path.join(SHARED_CPYTHON, "Python-3.14*.tar.xz")))
    if not found:
        return None, "no Python-3.14*.tar.xz in %s" % SHARED_CPYTHON
    with tarfile.open(found[-1]) as tar:
        name = os.path.basename(found[-1])[:-len(".tar.xz")] + "/" + MEMBER
        return tar.extractfile(name).read().decode(), os.path.basename(found[-1])


def _from_deb():
    found = sorted(DEB_DIR.glob("libpython3.13-testsuite_*.deb"))
    if not found:
        return None, ("no libpython3.13-testsuite .deb in %s: run "
                      "scripts/fetch-cpython-tests.sh (make test does)" % DEB_DIR)
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(found[-1])],
                          stdout=subprocess.PIPE, check=True).stdout
    import io

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return (tar.extractfile("./usr/lib/python3.13/test/test_perf_profiler.py")
                .read().decode(), found[-1].name)


SOURCES = {"3.13": _from_deb, "3.14": _from_tarball}

# (upstream text, replacement): each must occur exactly once.
SUBSTITUTIONS = [
    ('    perf_trampoline = sysconfig.get_config_var("PY_HAVE_PERF_TRAMPOLINE")\n',
     "    perf_trampoline = 1  # perftramp: its own trampolines, on every CPython\n"),
    (re.compile(r"from _testinternalcapi import \(\s*compile_perf_trampoline_entry,"
                r"\s*perf_trampoline_set_persist_after_fork,\s*\)"),
     "from perftramp import compile_trampolines as compile_perf_trampoline_entry, "
     "set_persist_after_fork as perf_trampoline_set_persist_after_fork"),
]

PROLOGUE = textwrap.dedent('''\
    # perftramp's prologue (tests/python/test_cpython_perf_suite.py): the
    # test.support helpers of newer CPythons, where this one lacks them.
    import inspect as _inspect, sys as _sys, types as _types, unittest as _unittest
    from test import support as _support
    if not hasattr(_support, "has_subprocess_support"):
        _support.has_subprocess_support = True
    if not hasattr(_support, "check_sanitizer"):
        _support.check_sanitizer = lambda **kinds: False
    else:
        _known = _inspect.signature(_support.check_sanitizer).parameters
        if not all(k in _known for k in ("address", "memory", "ub", "function")):
            _check = _support.check_sanitizer
            _support.check_sanitizer = lambda **kinds: _check(
                **{k: v for k, v in kinds.items() if k in _known})
    if not hasattr(_support, "check_bolt_optimized"):
        _support.check_bolt_optimized = lambda: False
    try:
        from test.support import os_helper as _os_helper
    except ImportError:  # 3.8, 3.9: the helper lived in test.support
        _os_helper = _types.ModuleType("test.support.os_helper")
        _os_helper.temp_dir = _support.temp_dir
        _sys.modules["test.support.os_helper"] = _support.os_helper = _os_helper
    if not hasattr(_unittest.TestCase, "assertNotStartsWith"):
        def _assert_not_starts_with(self, s, prefix, msg=None):
            if s.startswith(prefix):
                self.fail(msg or "%r starts with %r" % (s, prefix))
        _unittest.TestCase.assertNotStartsWith = _assert_not_starts_with
    # end of perftramp's prologue
    ''')


def adapt(text):
    for old, new in SUBSTITUTIONS:
        if isinstance(old, str):
            count = text.count(old)
            text = text.replace(old, new)
        else:
            text, count = old.subn(new, text)
        assert count == 1, "upstream changed: %r matched %d times" % (
            getattr(old, "pattern", old), count)
    return PROLOGUE + text


RESULT = re.compile(r"^(test_\w+) \(([\w.]+)\)\s*\.\.\.\s*(.*)$")
# Skips for what the machine lacks, and when each is right.
ALLOWED_SKIPS = {
    "perf command may not work due to a perf bug": "perf < 6.6",
    "Unwinding is unreliable with frame pointers": "no frame pointers",  # or 3.13's JIT rule
}


def perf_version():
    try:
        out = subprocess.run(["perf", "--version"], stdout=subprocess.PIPE, text=True).stdout
    except OSError:
        return None
    found = re.search(r"(\d+)\.(\d+)", out)
    return (int(found.group(1)), int(found.group(2))) if found else None


def parse_results(output):
    """{test id: outcome} from `unittest -v` output; a result may be on a
    line of its own when the test printed something."""
    results, pending = {}, None
    for line in output.splitlines():
        m = RESULT.match(line)
        if m:
            # "(module.Class)" before 3.11, "(module.Class.test)" since
            where = m.group(2).split(".")
            if where[-1] == m.group(1):
                where.pop()
            pending = "%s.%s" % (where[-1], m.group(1))
            rest = m.group(3).strip()
            if rest:
                results[pending], pending = rest, None
        elif pending and re.match(r"^(ok|FAIL|ERROR|skipped .*|expected failure)$", line):
            results[pending], pending = line.strip(), None
    return results


def run_suite(python, private, module):
    """`python -m unittest -v module` in private/suite, with `private` as its
    /tmp; returns (exit status, output)."""
    site = subprocess.run([python.exe, "-c", "import _perftramp_startup, os; "
                           "print(os.path.dirname(_perftramp_startup.__file__))"],
                          stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    take_over = os.path.join(site, "_perftramp_take_over")
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PYTHON") or k.startswith("PERFTRAMP_"))}
    env.update(HOME="/tmp/home", TMPDIR="/tmp")
    # The private /tmp is mounted over /tmp in a namespace of the run's own,
    # which ends with it; the venv and its interpreter stay visible when they
    # live in /tmp (a clone there).
    script = (private_tmp("mount --bind %s %s", private, interpreter_paths(python))
              + ' && cd /tmp/suite && exec "$1" -m unittest -v "$2"')
    if python.version >= (3, 12):
        open(take_over, "x").close()
    try:
        proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
             python.exe, module],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        register_pids(proc.pid)
        output, _ = proc.communicate(timeout=900)
    finally:
        if python.version >= (3, 12):
            os.unlink(take_over)
    return proc.returncode, output


@pytest.mark.parametrize("upstream", sorted(SOURCES))
def test_cpython_perf_suite(python, upstream, tmp_path):
    text, origin = SOURCES[upstream]()
    if text is None:
        pytest.skip(origin)
    private = tmp_path / "tmp"
    (private / "suite").mkdir(parents=True)
    (private / "home").mkdir()
    module = "test_perf_profiler_%s" % upstream.replace(".", "")
    (private / "suite" / (module + ".py")).write_text(adapt(text))
    returncode, output = run_suite(python, private, module)
    results = parse_results(output)
    assert results, output
    outcomes = [o.split()[0] for o in results.values()]
    print("%s file on %s: %d ok, %d skipped, of %d" % (
        upstream, python.label, outcomes.count("ok"), outcomes.count("skipped"), len(outcomes)))
    # The frame-pointer class skips where the file judges unwinding
    # unreliable: no frame pointers, or (3.13's file) a JIT build.
    cflags = subprocess.run([python.exe, "-c", "import sysconfig; "
                             "print(sysconfig.get_config_var('PY_CORE_CFLAGS') or '')"],
                            stdout=subprocess.PIPE, text=True, check=True).stdout
    no_fp = "no-omit-frame-pointer" not in cflags or (upstream == "3.13" and "_Py_JIT" in cflags)
    old_perf = (perf_version() or (0, 0)) < (6, 6)
    bad = {}
    for test, outcome in results.items():
        if outcome == "ok":
            continue
        reason = outcome[len("skipped "):].strip("'\"") if outcome.startswith("skipped") else None
        why = ALLOWED_SKIPS.get(reason)
        if (why == "perf < 6.6" and old_perf) or (why == "no frame pointers" and no_fp):
            continue
        bad[test] = outcome
    assert not bad, "%s (%s) on %s:\n%s\n%s" % (upstream, origin, python.label, bad, output)
    assert returncode == 0, output
    # The fork and pre-fork tests are the point: they must have run.
    for test in ("TestPerfTrampoline.test_trampoline_works_with_forks",
                 "TestPerfTrampoline.test_sys_api"):
        assert results.get(test) == "ok", (test, output)
    if not no_fp:
        assert results.get("TestPerfProfiler.test_pre_fork_compile") == "ok", output
