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

from ._common import has_frame_pointers, perf_path, perf_version

SELF_TEST = (
    "import perftramp\n"
    "perftramp.activate_stack_trampoline('perf_jit')\n"
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


def jit_self_test(perf):
    """Records a tiny perf_jit run and looks for its frame after inject."""
    with tempfile.TemporaryDirectory(prefix="perftramp-check-") as tmp:
        env = dict(os.environ, PERFTRAMP_JITDUMP_DIR=tmp)
        data = os.path.join(tmp, "perf.data")
        rec = subprocess.run([perf, "record", "-q", "-F", "999", "-k", "1", "--call-graph",
                              "dwarf", "-o", data, "--", sys.executable, "-c", SELF_TEST],
                             capture_output=True, text=True, env=env, cwd=tmp)
        if rec.returncode != 0:
            return False, "perf record failed: %s" % rec.stderr.strip()[:300]
        jit = os.path.join(tmp, "perf.jit.data")
        inj = subprocess.run([perf, "inject", "-i", data, "--jit", "-o", jit],
                             capture_output=True, text=True, cwd=tmp)
        if inj.returncode != 0:
            return False, "perf inject --jit failed: %s" % inj.stderr.strip()[:300]
        script = subprocess.run([perf, "script", "-i", jit, "-F", "ip,sym,dso"],
                                capture_output=True, text=True, cwd=tmp)
        if "py::perftramp_self_test" in script.stdout and "jitted-" in script.stdout:
            return True, "perf inject --jit named the Python frames of a test run"
        return False, "perf inject --jit ran, but no Python frame came out of it"


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

    perf = perf_path()
    jit_works = False
    if perf is None:
        line(False, "perf", "not found (Debian/Ubuntu: apt-get install linux-perf)")
        ok = False
    else:
        text, version = perf_version(perf)
        line(True, "perf", "%s (%s)" % (perf, text))
        with tempfile.TemporaryDirectory(prefix="perftramp-check-") as tmp:
            rec = subprocess.run([perf, "record", "-q", "-o", os.path.join(tmp, "p.data"),
                                  "--", "true"], capture_output=True, text=True)
        can_record = rec.returncode == 0
        line(can_record, "perf record",
             "works" if can_record else (rec.stderr.strip().splitlines() or ["failed"])[-1])
        ok &= can_record
        if can_record and not fp:
            if args.skip_jit_test:
                line(None, "perf inject --jit", "self-test skipped")
                jit_works = version is not None and version >= (6, 8)
            else:
                jit_works, detail = jit_self_test(perf)
                line(jit_works, "perf inject --jit", detail)

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

    backend = "perf" if fp else "perf_jit"
    if not fp and not jit_works and perf is not None:
        ok = False
    for entry in report:
        print(entry)
    if ok:
        print("\nverdict: profiling works here, with the %s backend" % backend)
        print("  perftramp record -- %s app.py" % os.path.basename(sys.executable))
        print("  perftramp report")
        if backend == "perf":
            print("  (by hand: perf record -F 999 -g -- python -X perf app.py)")
        else:
            print("  (by hand: perf record -F 999 -k 1 --call-graph dwarf -- python -X perf_jit "
                  "app.py; perf inject --jit -i perf.data -o perf.jit.data)")
        return 0
    print("\nverdict: profiling will not work here until the FAIL lines are fixed")
    return 1
