"""A Python server in a container, recorded from the host as a new user
would, with defaults: `perftramp record -p HOSTPID --duration S` and
`perftramp record -a --duration S`, then `perftramp report` after the
container is gone.  Prints, per backend: foo's samples and how many carry
the whole chain (<module> -> baz -> bar -> foo), the recording's size on
disk, and how long record and the first report took.

    python benchmarks/containers.py --python build/venvs/pyenv-3.12.1/bin/python
    python benchmarks/containers.py --python build/venvs/fp-3.14.7/bin/python \\
        --backend perf --backend perf_elf --backend perf_jit

The container is the simplest kind (tests/python/namespaces.py): its own
pid and mount namespaces and a private /tmp.  Needs root.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

from namespaces import SERVER, chain_share, server_env, unshared  # noqa: E402


def timed(argv, cwd):
    start = time.monotonic()
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(argv), out.stderr))
    return time.monotonic() - start, out.stdout


def disk(path):
    total = 0
    for where, _, names in os.walk(path):
        for name in names:
            total += os.lstat(os.path.join(where, name)).st_blocks * 512
    return total


def one(python, backend, duration, work):
    cli = [python, "-m", "perftramp"]
    rows = []
    with unshared([python, "-c", SERVER], server_env(PERFTRAMP_ACTIVATE=backend),
                  Path(work) / ("out-" + backend)) as pid:
        for mode, flags in (("record -p", ["-p", str(pid)]), ("record -a", ["-a"])):
            name = "%s-%s" % (backend, mode[-1])
            took, _ = timed(cli + ["record"] + flags + ["--duration", str(duration),
                                                        "-o", name], work)
            rows.append((mode, name, took, pid))
    results = []
    for mode, name, took, pid in rows:
        only = ["--pid", str(pid)] if mode == "record -a" else []
        first, collapsed = timed(cli + ["report", name, "--format", "collapsed"] + only, work)
        foo, whole = chain_share(collapsed)
        results.append((backend, mode, foo, whole, disk(os.path.join(work, name)), took, first))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="a venv's python with perftramp")
    parser.add_argument("--backend", action="append", help="(default: perf_elf, perf_jit)")
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    python = os.path.abspath(args.python)
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip()
    perf = subprocess.run(["perf", "version"], capture_output=True, text=True).stdout.strip()
    print("CPython %s, %s, %g s, defaults (-F 999)" % (version, perf, args.duration))
    print("%-9s %-10s %6s %12s %9s %8s %9s" % ("backend", "mode", "foo", "whole", "size MB",
                                              "record s", "report s"))
    work = tempfile.mkdtemp(prefix="perftramp-containers-")
    try:
        for backend in args.backend or ["perf_elf", "perf_jit"]:
            for row in one(python, backend, args.duration, work):
                backend_, mode, foo, whole, size, took, first = row
                print("%-9s %-10s %6d %6d %4.1f%% %9.1f %8.1f %9.1f"
                      % (backend_, mode, foo, whole, 100.0 * whole / max(foo, 1), size / 1e6,
                         took, first))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
