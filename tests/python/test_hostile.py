"""Hostile names and hostile /tmp: nothing forged, nothing clobbered, the
program always runs on."""
import os
import shutil
import subprocess
import textwrap
import time

import pytest

from perffiles import map_entries, map_lines
from processes import popen, run

FORGED = "7fff00000000 10 py::forged:f"


def test_newline_in_filename_cannot_forge_a_map_line(python):
    out = run(python, ["-c", textwrap.dedent("""
        import os, perftramp
        perftramp.activate_stack_trampoline("perf")
        exec(compile("def victim():\\n    return 1\\nvictim()\\n",
                     "x\\n%s", "exec"), {})
        print(os.getpid())
    """ % FORGED)])
    pid = int(out.stdout)
    lines = map_lines(pid)
    assert not any(line.startswith("7fff00000000") for line in lines)
    names = [name for _, _, name in map_entries(pid)]
    assert "py::victim:x\\x0a%s" % FORGED in names


@pytest.mark.versions(min=(3, 11))  # co_qualname exists from 3.11
def test_control_characters_in_qualname(python):
    out = run(python, ["-c", textwrap.dedent("""
        import os, perftramp
        def f(): return 1
        f.__code__ = f.__code__.replace(co_qualname="evil\\r\\n1 1 py::x\\\\y\\x00z\\x7f")
        perftramp.activate_stack_trampoline("perf")
        f()
        print(os.getpid())
    """)])
    names = [name for _, _, name in map_entries(int(out.stdout))]
    assert "py::evil\\x0d\\x0a1 1 py::x\\\\y\\x00z\\x7f:<string>" in names


def test_surrogates_in_filename(python):
    out = run(python, ["-c", textwrap.dedent("""
        import os, perftramp
        perftramp.activate_stack_trampoline("perf")
        exec(compile("def g():\\n    return 1\\ng()\\n", "bad\\udcff.py", "exec"), {})
        print(os.getpid())
    """)])
    names = [name for _, _, name in map_entries(int(out.stdout))]
    assert "py::g:bad\\\\udcff.py" in names


WAIT_THEN_ACTIVATE = textwrap.dedent("""
    import os, sys, warnings
    print(os.getpid(), flush=True)
    sys.stdin.readline()
    import perftramp
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        perftramp.activate_stack_trampoline("perf")
    def f(): return 1
    f()
    print(perftramp.is_stack_trampoline_active())
    print("|".join(str(w.message) for w in caught))
    print("alive")
""")


@pytest.mark.parametrize("backend,pattern", [("perf", "/tmp/perf-%d.map"),
                                             ("perf_jit", "/tmp/jit-%d.dump")])
def test_planted_symlink_is_not_followed(python, tmp_path, backend, pattern):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    code = WAIT_THEN_ACTIVATE.replace('"perf"', '"%s"' % backend)
    proc = popen([python.exe, "-c", code], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline())
    planted = pattern % pid
    os.symlink(str(victim), planted)
    try:
        out, err = proc.communicate("go\n", timeout=60)
    finally:
        os.unlink(planted)
    assert proc.returncode == 0, err
    active, warning, alive = out.strip().splitlines()
    assert active == "False"
    assert warning == ("perftramp: cannot write %s (it is a symbolic link); "
                       "the program runs on without perf profiling support" % planted)
    assert alive == "alive"
    assert victim.read_text() == "precious\n"


def test_foreign_file_is_not_filled(python):
    proc = popen([python.exe, "-c", WAIT_THEN_ACTIVATE], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline())
    planted = "/tmp/perf-%d.map" % pid
    with open(planted, "w") as f:
        f.write("1000 10 py::planted:x\n")
    if os.geteuid() == 0:
        os.chown(planted, 65534, 65534)
    try:
        out, _ = proc.communicate("go\n", timeout=60)
        with open(planted) as f:
            content = f.read()
    finally:
        os.unlink(planted)
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a file owned by another user")
    active, warning, alive = out.strip().splitlines()
    assert active == "False"
    assert "belongs to another user" in warning
    assert content == "1000 10 py::planted:x\n"


def _unshare_available():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


def test_unwritable_tmp_warns_once_and_runs(python):
    check_unwritable_tmp(python, "api")


@pytest.mark.versions(below=(3, 12))  # later, -X perf is CPython's own backend
def test_unwritable_tmp_warns_once_and_runs_x_option(python):
    check_unwritable_tmp(python, "x-option")


def check_unwritable_tmp(python, how):
    if not _unshare_available():
        pytest.skip("needs root and unshare(1) to mount a read-only /tmp")
    code = "def f(): return 41\nprint(f() + 1)"
    if how == "api":
        code = "import perftramp\nperftramp.activate_stack_trampoline('perf')\n" + code
        args = "-c \"%s\"" % code
    else:
        args = "-X perf -c \"%s\"" % code
    # /tmp itself, read-only (the interpreter may live under /tmp, so it is
    # not hidden behind an empty mount); with what is mounted below it (the
    # work tree, in the sid root of a clone in /tmp), which stays writable.
    script = ("mount --rbind /tmp /tmp && mount -o remount,bind,ro /tmp && exec %s %s"
              % (python.exe, args))
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "42\n"
    warning_lines = [line for line in out.stderr.splitlines()
                     if "perftramp: cannot write /tmp/perf-" in line]
    assert len(warning_lines) == 1, out.stderr
    assert "(Read-only file system); the program runs on without perf profiling support" \
        in warning_lines[0]


@pytest.mark.parametrize("backend,pattern", [("perf", "/tmp/perf-%d.map"),
                                             ("perf_jit", "/tmp/jit-%d.dump")])
def test_stale_file_of_an_earlier_process_is_emptied(python, backend, pattern):
    """PIDs are reused: a map left by a dead process with our pid must not lend
    its entries (at the same addresses, perhaps) to ours."""
    code = WAIT_THEN_ACTIVATE.replace('"perf"', '"%s"' % backend)
    proc = popen([python.exe, "-c", code], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                 env=dict(os.environ, PERFTRAMP_JITDUMP_DIR="/tmp"))
    pid = int(proc.stdout.readline())
    path = pattern % pid
    with open(path, "w") as f:
        f.write("7f0000000000 10 py::stale_from_a_dead_process:x\n")
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    try:
        out, err = proc.communicate("go\n", timeout=60)
        with open(path, "rb") as f:
            content = f.read()
    finally:
        os.unlink(path)
    assert proc.returncode == 0, err
    assert out.split()[0] == "True"
    assert b"stale_from_a_dead_process" not in content
    assert b"py::f:<string>" in content
