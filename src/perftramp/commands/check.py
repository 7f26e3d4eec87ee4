"""perftramp check: will profiling work here, and with which command?

Checks the platform, the interpreter (frame pointers), perf (installed, its
version, that it can record), the kernel's perf_event_paranoid and
kptr_restrict, that /tmp is writable, and, by a short real run rather than a
version guess, that `perf inject --jit` gives Python frames.  Ends with a
verdict and the command to use; exits 0 only when profiling will work.
"""
import os
import platform
import subprocess
import sys
import tempfile

from perftramp import _backends

from . import _perf, _recording
from ._common import has_frame_pointers
from ._errors import CliError

SELF_TEST = (
    "import perftramp\n"
    "perftramp.activate_stack_trampoline(%r)\n"
    "def perftramp_self_test(n):\n"
    "    t = 0\n"
    "    for i in range(n):\n"
    "        t += i\n"
    "    return t\n"
    "perftramp_self_test(3000000)\n"
)


def add_parser(subparsers):
    p = subparsers.add_parser("check", help="tell whether profiling will work here")
    p.add_argument("--skip-jit-test", action="store_true",
                   help="do not run the perf inject --jit self-test")
    p.set_defaults(func=main)


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def jit_self_test(perf, row):
    """Records a tiny run with backend `row` (one that needs perf inject) and
    looks for its frame after inject."""
    # /tmp/jitted-*, as record writes its dumps, for the same reason (perf's
    # libdw unwinder: _recording.make_jit_dir())
    with tempfile.TemporaryDirectory(prefix=_recording.JIT_PREFIX + "check-",
                                     dir=_recording.JIT_HOME) as tmp:
        env = dict(os.environ)
        if row["dir_env"]:
            env[row["dir_env"]] = tmp
        data = os.path.join(tmp, "perf.data")
        command = [sys.executable, "-c", SELF_TEST % row["name"]]
        rec = subprocess.run(_perf.record_command(perf, row, 999, data, command, quiet=True),
                             capture_output=True, text=True, env=env, cwd=tmp)
        if rec.returncode != 0:
            return False, "perf record failed: %s" % rec.stderr.strip()[:300]
        jit = os.path.join(tmp, "perf.jit.data")
        inj = subprocess.run(_perf.inject_command(perf, data, jit),
                             capture_output=True, text=True, cwd=tmp)
        if inj.returncode != 0:
            return False, "perf inject --jit failed: %s" % inj.stderr.strip()[:300]
        script = subprocess.run(_perf.script_command(perf, jit, "ip,sym,dso"),
                                capture_output=True, text=True, cwd=tmp)
        if "py::perftramp_self_test" in script.stdout and "jitted-" in script.stdout:
            return True, "perf inject --jit named the Python frames of a test run"
        return False, "perf inject --jit ran, but no Python frame came out of it"


ELF_SELF_TEST = (
    "import perftramp\n"
    "perftramp.activate_stack_trampoline('perf_elf')\n"
    "def perftramp_leaf(n):\n"
    "    t = 0\n"
    "    for i in range(n):\n"
    "        t += i\n"
    "    return t\n"
    "def perftramp_caller(n):\n"
    "    return perftramp_leaf(n)\n"
    "perftramp_caller(3000000)\n"
)


def elf_self_test(perf):
    """Whether this machine's perf reads the perf_elf backend's image: a
    tiny run recorded with plain `--call-graph dwarf` (no inject), then
    looked for in perf script: the leaf's samples must be named and unwound
    through the caller's trampoline.  (ok, detail)."""
    row = _backends.find("perf_elf")
    if row is None:
        return False, "this build has no perf_elf backend"
    with tempfile.TemporaryDirectory(prefix="perftramp-check-elf-") as tmp:
        env = dict(os.environ, **{row["dir_env"]: tmp})
        data = os.path.join(tmp, "perf.data")
        command = [sys.executable, "-c", ELF_SELF_TEST]
        # record_flags' -N: the image is big and sparse; perf's build-id cache
        # would copy it
        rec = subprocess.run(_perf.perf_argv(perf, "record") + ["-q", "-F", "999"]
                             + _perf.record_flags(row) + ["-o", data, "--"] + command,
                             capture_output=True, text=True, env=env, cwd=tmp)
        if rec.returncode != 0:
            return False, "perf record failed: %s" % rec.stderr.strip()[:300]
        script = subprocess.run(_perf.script_command(perf, data, "ip,sym"),
                                capture_output=True, text=True, cwd=tmp).stdout
    leaf = whole = 0
    for block in script.split("\n\n"):
        names = [line.split(None, 1)[1].split(":")[2] for line in block.splitlines()
                 if len(line.split(None, 1)) == 2
                 and line.split(None, 1)[1].startswith("py::")]
        if names and names[0] == "perftramp_leaf":
            leaf += 1
            whole += names[1:2] == ["perftramp_caller"]
    if leaf == 0:
        return False, "perf named no Python frame from the ELF image"
    if whole < 0.9 * leaf:
        return False, "perf unwound %d of %d samples through the ELF image" % (whole, leaf)
    return True, "perf read the ELF image: %d of %d samples whole, no inject" % (whole, leaf)


ATTACH_CHILD = (
    "import sys, time\n"
    "import perftramp\n"
    "print('ready', flush=True)\n"
    "while sys.stdin.readable():\n"
    "    time.sleep(0.01)\n"
)


def attach_self_test():
    """(works, detail): whether `perftramp attach` works here, by sending a
    child of this interpreter perftramp's remote script (a detach: nothing is
    written).  Needs CPython 3.14+ (sys.remote_exec)."""
    if not hasattr(sys, "remote_exec"):
        return None, ("needs CPython 3.14+ (sys.remote_exec), this is %s; an older "
                      "process is recorded by starting it under perftramp record"
                      % platform.python_version())
    from . import _target, attach

    child = subprocess.Popen([sys.executable, "-c", ATTACH_CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        if child.stdout.readline().strip() != "ready":
            return False, "the test child did not start"
        try:
            attach.detach(_target.inspect(child.pid), attach.TIMEOUT)
        except CliError as error:
            return False, error.message
        return True, "works (sys.remote_exec into a test child)"
    finally:
        child.kill()
        child.wait()


def by_hand(row):
    """The perf command lines `record` runs for backend `row`, as a user
    would type them."""
    if row["xoption"]:
        python = "python -X %s app.py" % row["xoption"]
    else:
        python = "PERFTRAMP_ACTIVATE=%s python app.py" % row["name"]
    record = " ".join(_perf.record_command("perf", row, 999, "perf.data", [python]))
    lines = [record.replace(" -o perf.data", "")]
    if row["inject"]:
        lines.append(" ".join(_perf.inject_command("perf", "perf.data", "perf.jit.data")))
    return "; ".join(lines)


def main(args):
    ok = True
    report = []

    def line(good, what, detail):
        mark = {True: "ok  ", False: "FAIL", None: "note"}[good]
        report.append("[%s] %-22s %s" % (mark, what, detail))

    system, machine = platform.system(), platform.machine()
    supported = system == "Linux" and machine in ("x86_64", "aarch64")
    line(supported, "platform", "%s %s%s" % (system, machine, "" if supported else
                                            " (perftramp supports Linux on x86_64 and aarch64)"))
    ok &= supported

    fp = has_frame_pointers()
    line(None, "interpreter", "%s %s, %s" % (
        sys.executable, platform.python_version(),
        "built with frame pointers" if fp else "no frame pointers (use perf_jit)"))

    row = _backends.auto(fp)
    perf = _perf.find()
    jit_works = False
    if perf is None:
        line(False, "perf", "not found (%s)" % _perf.INSTALL_HINT)
        ok = False
    else:
        text, version = _perf.version(perf)
        line(True, "perf", "%s (%s)" % (perf, text))
        with tempfile.TemporaryDirectory(prefix="perftramp-check-") as tmp:
            # perf_argv and -N: no copy of ld.so, the kernel and the vDSO into ~/.debug
            rec = subprocess.run(_perf.perf_argv(perf, "record")
                                 + ["-q", "-N", "-o", os.path.join(tmp, "p.data"), "--", "true"],
                                 capture_output=True, text=True)
        can_record = rec.returncode == 0
        line(can_record, "perf record",
             "works" if can_record else (rec.stderr.strip().splitlines() or ["failed"])[-1])
        ok &= can_record
        if can_record and row["inject"]:
            if args.skip_jit_test:
                line(None, "perf inject --jit", "self-test skipped")
                jit_works = version is not None and version >= (6, 8)
            else:
                jit_works, detail = jit_self_test(perf, row)
                line(jit_works, "perf inject --jit", detail)
        if can_record and not fp:
            if args.skip_jit_test:
                line(None, "perf_elf", "self-test skipped")
            else:
                elf_works, detail = elf_self_test(perf)
                line(True if elf_works else None, "perf_elf (no inject)", detail)

    attach_works, detail = attach_self_test()
    # a note, not a FAIL: recording a program perftramp starts works without it
    line(True if attach_works else None, "attach", detail)

    paranoid = read_int("/proc/sys/kernel/perf_event_paranoid")
    if paranoid is not None:
        allowed = os.geteuid() == 0 or paranoid <= 2
        line(allowed, "perf_event_paranoid", "%d%s" % (paranoid, "" if allowed else
             " (too high for a normal user: sysctl kernel.perf_event_paranoid=2)"))
        ok &= allowed
    kptr = read_int("/proc/sys/kernel/kptr_restrict")
    if kptr is not None:
        line(None, "kptr_restrict", "%d%s" % (kptr, " (kernel symbols hidden)" if kptr and
                                              os.geteuid() != 0 else ""))

    try:
        with tempfile.NamedTemporaryFile(dir="/tmp", prefix="perftramp-check-"):
            pass
        tmp_ok = True
    except OSError as exc:
        tmp_ok = False
        line(False, "/tmp", "not writable: %s" % exc)
    if tmp_ok:
        line(True, "/tmp", "writable")
    ok &= tmp_ok

    backend = row["name"]
    if row["inject"] and not jit_works and perf is not None:
        ok = False
    for entry in report:
        print(entry)
    if ok:
        print("\nverdict: profiling works here, with the %s backend" % backend)
        print("  perftramp record -- %s app.py" % os.path.basename(sys.executable))
        print("  perftramp report")
        print("  (by hand: %s)" % by_hand(row))
        return 0
    print("\nverdict: profiling will not work here until the FAIL lines are fixed")
    return 1
