"""perftramp check: will profiling work here, and with which command?
(recording/doctor.py finds out.)  Ends with a verdict and the command to
use; exits 0 only when profiling will work."""
import os
import sys

from perftramp.recording import doctor, process_doctor

MARKS = {True: "ok  ", False: "FAIL", None: "note"}


def add_parser(subparsers):
    p = subparsers.add_parser("check", help="tell whether profiling will work here")
    p.add_argument("--skip-jit-test", action="store_true",
                   help="do not run the backends' self-tests (short perf runs)")
    p.add_argument("--pid", type=int,
                   help="instead: will this running process's samples be named, and why not")
    p.set_defaults(func=main)


def _main_pid(pid):
    diagnosis = process_doctor.diagnose_process(pid)
    _print(diagnosis)
    if diagnosis.backend is None:
        print("\nverdict: the samples of process %d will not be named until the FAIL lines "
              "are fixed" % pid)
        return 1
    print("\nverdict: its samples will be named (%s backend)" % diagnosis.backend.name)
    print("  perftramp record -p %d --duration 10" % pid)
    print("  perftramp report")
    return 0


def _print(diagnosis):
    for finding in diagnosis.findings:
        print("[%s] %-22s %s" % (MARKS[finding.good], finding.what, finding.detail))


def main(args):
    if args.pid is not None:
        return _main_pid(args.pid)
    diagnosis = doctor.diagnose(run_tests=not args.skip_jit_test)
    _print(diagnosis)
    row = diagnosis.backend
    if row is None:
        if any(finding.good is False for finding in diagnosis.findings):
            print("\nverdict: profiling will not work here until the FAIL lines are fixed")
        else:
            print("\nverdict: no backend was seen to work here; run `perftramp check` "
                  "without --skip-jit-test to try each")
        return 1
    print("\nverdict: profiling works here, with the %s backend" % row.name)
    print("  perftramp record -- %s app.py" % os.path.basename(sys.executable))
    print("  perftramp report")
    print("  (by hand: %s)" % doctor.by_hand(row))
    return 0
